"""The cached validation of action server responses checks exactly what Rasa checks."""

from __future__ import annotations

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from bot.stores.speedups import install_cached_action_validation


@pytest.fixture
def action() -> RemoteAction:
    install_cached_action_validation()
    return RemoteAction("action_answer", EndpointConfig("http://127.0.0.1:1/webhook"))


def test_a_valid_response_passes(action: RemoteAction) -> None:
    result = {"events": [{"event": "slot", "name": "language", "value": "es"}],
              "responses": [{"response": "utter_greet"}]}
    assert action._validate_action_result(result) is True  # noqa: SLF001


def test_an_invalid_response_fails_as_in_rasa(action: RemoteAction) -> None:
    with pytest.raises(jsonschema.ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result({"events": [{"no_event_key": 1}]})  # noqa: SLF001
    with pytest.raises(jsonschema.ValidationError):
        action._validate_action_result({"events": "not a list"})  # noqa: SLF001


def test_the_schema_is_checked_once(action: RemoteAction, monkeypatch: pytest.MonkeyPatch) -> None:
    checks = []
    cls = jsonschema.validators.validator_for(RemoteAction.action_response_format_spec())
    original = cls.check_schema
    monkeypatch.setattr(cls, "check_schema", classmethod(lambda c, s: checks.append(1) or original(s)))
    for _ in range(5):
        action._validate_action_result({"events": [], "responses": []})  # noqa: SLF001
    assert len(checks) <= 1
