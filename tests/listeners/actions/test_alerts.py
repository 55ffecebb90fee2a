"""App Home's alerts choice: the listener called directly."""

from __future__ import annotations

import pytest

from bot.listeners.actions.alerts import alerts_mode
from expansion import alerts


@pytest.mark.parametrize("mode", ["daily", "off", "on"])
def test_the_choice_is_stored_for_the_one_who_made_it(context, runtime, mode):
    body = {"type": "block_actions", "user": {"id": "U2"}}
    alerts_mode(body=body, action={"selected_option": {"value": mode}}, context=context)
    stored = alerts.preferences(runtime.engine, team_id="")
    assert stored["U2"] == mode
    assert "U1" not in stored
