"""One error tree: every error the engine defines is in ``expansion.errors`` and derives from
``ExpansionError`` (so the CLI, the bot and the scheduler can catch the engine's errors as one),
and the modules that raise them still export them under the names callers use."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import expansion
from expansion import errors

MODULES = [
    info.name
    for info in pkgutil.walk_packages(expansion.__path__, "expansion.")
    if not info.name.startswith("expansion.migrations") and info.name != "expansion.__main__"
]


@pytest.mark.parametrize("name", MODULES)
def test_every_error_a_module_defines_is_in_the_one_tree(name):
    module = importlib.import_module(name)
    for attr, value in vars(module).items():
        if attr.startswith("_") or not isinstance(value, type):
            continue
        if issubclass(value, BaseException) and value.__module__.startswith("expansion"):
            assert value.__module__ == "expansion.errors", f"{name}.{attr} is defined outside"
            assert issubclass(value, errors.ExpansionError), f"{name}.{attr}"


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("expansion.connectors", "SourceError"),
        ("expansion.schedule", "ScheduleError"),
        ("expansion.workflow", "UnknownOpportunityError"),
        ("expansion.generate", "OutputExistsError"),
        ("expansion.digest", "LeaseLostError"),
        ("expansion.chunks", "ResultsNotStorable"),
        ("expansion.chunks", "ChunkScoringError"),
        ("expansion.chunks", "WorkerLost"),
        ("expansion.crm", "CrmError"),
        ("expansion.crm", "CrmBusyError"),
        ("expansion.team", "TeamError"),
    ],
)
def test_the_raising_modules_still_export_their_errors(module, name):
    assert getattr(importlib.import_module(module), name) is getattr(errors, name)


def test_the_docstring_draws_the_whole_tree():
    defined = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.ExpansionError)
    }
    drawn = {m.group(1) for m in re.finditer(r"── (\w+)", errors.__doc__)}
    assert drawn | {"ExpansionError"} == defined
