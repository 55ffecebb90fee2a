"""``expansion find --format json`` streams the same document ``FindResult.to_dict`` describes,
and ``--fields`` picks the fields of each opportunity (issue 22)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from test_cli import cli

from expansion import pipeline

AS_OF = "2026-11-16"


def _reference(result: pipeline.FindResult):
    """The document as ``find --format json`` wrote it before it streamed."""
    return json.loads(json.dumps(result.to_dict(), indent=2, default=str))


class Writes(io.StringIO):
    """A stream that remembers the size of each write."""

    def __init__(self):
        super().__init__()
        self.sizes: list[int] = []

    def write(self, text: str) -> int:
        self.sizes.append(len(text))
        return super().write(text)


@pytest.mark.parametrize("scope", ["", "enterprise", "renewing in Q1 60"])
@pytest.mark.parametrize("chunk_rows", [1, 7, 10_000])
def test_the_streamed_document_is_the_documents_value_for_value(sample_engine, scope, chunk_rows):
    result = pipeline.find(sample_engine, scope, as_of=pipeline.SAMPLE_AS_OF, keep=False)
    out = Writes()
    result.write_json(out, chunk_rows=chunk_rows)
    doc = json.loads(out.getvalue())
    assert doc == _reference(result)
    assert list(doc) == list(result.to_dict())  # the keys in the same order
    # The same as what the bot's kept run gives.
    kept = pipeline.find(sample_engine, scope, as_of=pipeline.SAMPLE_AS_OF)
    assert doc == _reference(kept)
    if chunk_rows == 1 and len(result.opportunities) > 3:
        # Written a record at a time: no write holds more than one record of the list.
        assert max(out.sizes) < len(out.getvalue()) / 3


def test_records_with_hostile_text_and_dates_encode_as_before():
    stamps = pd.to_datetime(["2026-01-01", "2026-01-02 10:30:00", None], format="ISO8601")
    frame = pd.DataFrame(
        {
            "opportunity_id": ['},{"opportunity_id":', "x\ny", 'q"},{"opportunity_id":"z'],
            "text": ["2026-03-01T00:00:00", "é😀 / \\ \x01", None],
            "looks_like_a_date": ["abcdefghijT00:00:00", "2026-03-01T00:00:01", "T00:00:00"],
            "when": stamps,
            "number": [1.0, np.nan, 1e17],
            "count": pd.array([1, None, 3], dtype="Int64"),
            "flag": pd.array([True, None, False], dtype="boolean"),
            "mixed": pd.Series(
                [pd.Timestamp("2026-02-02"), "2026-02-03T00:00:00", 4], dtype=object
            ),
            "evidence": [["a", "2026-01-01T00:00:00"], [], ["},{"]],
        }
    )
    text = "[\n    " + pipeline._records_text(frame) + "\n  ]"
    assert json.loads(text) == pipeline._frame_records(frame)
    assert len(text.splitlines()) == 2 + len(frame)  # one record a line


def test_find_json_fields_and_their_errors(tmp_path):
    done = cli("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    args = ("find", "all", "--as-of", AS_OF)
    whole = json.loads(cli(*args, "--format", "json", cwd=tmp_path).stdout)

    done = cli(*args, "--format", "json", "--fields", "account_name, expansion_arr,evidence",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    picked = json.loads(done.stdout)
    assert [list(o) for o in picked["opportunities"]] == [
        ["account_name", "expansion_arr", "evidence"]
    ] * len(whole["opportunities"])
    assert picked["opportunities"] == [
        {k: o[k] for k in ("account_name", "expansion_arr", "evidence")}
        for o in whole["opportunities"]
    ]
    assert picked["summary"] == whole["summary"]  # the rest of the document as it was

    done = cli(*args, "--format", "csv", "--fields", "opportunity_id,tier,evidence", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()
    assert rows[0] == "opportunity_id,tier,evidence"
    first = whole["opportunities"][0]
    assert rows[1].startswith(f"{first['opportunity_id']},{first['tier']},")
    assert len(rows) == 1 + len(whole["opportunities"])

    bad = cli(*args, "--format", "json", "--fields", "account_name,arr_typo,[/x]", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stdout == ""
    message = " ".join(bad.stderr.split())
    assert "unknown field(s) arr_typo, [/x]" in message  # as typed, never read as markup
    assert "Valid fields: opportunity_id, account_id" in message and "evidence" in message

    bad = cli(*args, "--fields", "account_name", cwd=tmp_path)  # the table has its columns
    assert bad.returncode == 2 and "--fields works with --format json or csv" in bad.stderr
    bad = cli(*args, "--format", "json", "--fields", " , ", cwd=tmp_path)
    assert bad.returncode == 2 and "give field names separated by commas" in bad.stderr
