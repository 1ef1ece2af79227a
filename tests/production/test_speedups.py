"""The cached validation of action server responses checks exactly what Rasa checks."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from bot.stores.speedups import (
    event_validators,
    install_cached_action_validation,
    install_sequential_graph_runs,
    passes_by_kind,
)


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



EVENT_KINDS = [branch["properties"]["event"]["const"]
               for branch in RemoteAction.action_response_format_spec()["properties"]["events"]["items"]["oneOf"]]
VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=3),
                   st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))


def mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` three times in four (one_of would flatten `odd`'s branches and drown it)."""
    return st.sampled_from([True, True, True, False]).flatmap(lambda pick: usual if pick else odd)


# Mostly well-formed events (what the quick check has to be right about), some malformed.
EVENTS = mostly(st.fixed_dictionaries(
    {"event": mostly(st.sampled_from(EVENT_KINDS), st.one_of(st.text(max_size=4), VALUES))},
    optional={"name": mostly(st.text(max_size=3), VALUES), "value": VALUES, "text": mostly(st.text(max_size=3), VALUES),
              "parse_data": VALUES, "confidence": VALUES,
              "timestamp": mostly(st.one_of(st.none(), st.floats(allow_nan=False)), VALUES),
              "metadata": mostly(st.one_of(st.none(), st.just({})), VALUES),
              "entities": mostly(st.lists(st.dictionaries(st.sampled_from(["entity", "value", "start", "end"]),
                                                          VALUES, max_size=4), max_size=2), VALUES)},
), VALUES)
RESPONSES = mostly(st.lists(st.just({}), max_size=2), st.one_of(st.lists(VALUES, max_size=2), VALUES))
RESULTS = mostly(
    st.fixed_dictionaries({}, optional={"events": mostly(st.lists(EVENTS, max_size=3), VALUES), "responses": RESPONSES}),
    VALUES,
)


@settings(max_examples=1000, deadline=None)
@given(RESULTS)
def test_the_quick_check_accepts_nothing_rasa_s_check_refuses(result: Any) -> None:
    """Responses of any shape: the quick per-kind path never lets through what the full schema refuses."""
    schema = RemoteAction.action_response_format_spec()
    cls = jsonschema.validators.validator_for(schema)
    if passes_by_kind(result, event_validators(schema, cls)):
        assert cls(schema).is_valid(result)


def test_what_our_actions_answer_takes_the_quick_path() -> None:
    schema = RemoteAction.action_response_format_spec()
    by_kind = event_validators(schema, jsonschema.validators.validator_for(schema))
    result = {"events": [{"event": "slot", "timestamp": None, "name": "language", "value": "es"},
                         {"event": "active_loop", "name": None},
                         {"event": "bot", "text": "hola", "data": {}, "metadata": {}},
                         {"event": "followup", "name": "action_listen"}],
              "responses": [{"response": "utter_greet", "template": "utter_greet"}]}
    assert passes_by_kind(result, by_kind)
    assert not passes_by_kind({"events": [{"event": "slot", "value": 1}]}, by_kind)  # no name: full check

TEXTS = ["hola", "quiero volver a Perú, ¿me ayudan?", "how do I get my nursing degree recognised in Brazil?",
         "olá, preciso de ajuda para voltar ao Brasil", "borra mis datos", "me pegan en casa, tengo miedo",
         "what documents do I need", "sim", "no", "obrigado", "asdf qwer", "¿dónde está la oficina en Lima?"]


# Rasa lists this one among its own expected warnings (rasa/utils/common.py) when it loads a domain.
@pytest.mark.filterwarnings("ignore:Slot auto-fill has been removed:UserWarning")
async def test_sequential_graph_runs_parse_and_predict_exactly_what_dask_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trained model's NLU and next-action predictions, through dask and through the loop."""
    from rasa.core.agent import Agent
    from rasa.engine.runner.dask import DaskGraphRunner
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from devtools.train import ensure_model

    agent = Agent.load(str(ensure_model(quiet=True)))

    async def answers() -> list[Any]:
        out = []
        for text in TEXTS:
            parsed = await agent.parse_message(text)
            tracker = DialogueStateTracker.from_events(
                "t", [ActionExecuted("action_listen"), UserUttered(text, parsed["intent"], parsed["entities"], parsed)],
                slots=agent.domain.slots)
            prediction = agent.processor.predict_next_with_tracker(tracker)
            out.append((parsed, {key: prediction[key] for key in ("scores", "policy", "confidence")}))
        return out

    dask_run = getattr(DaskGraphRunner.run, "_oss_original", DaskGraphRunner.run)  # another test may have installed it
    monkeypatch.setattr(DaskGraphRunner, "run", dask_run)
    through_dask = await answers()
    install_sequential_graph_runs()
    assert getattr(DaskGraphRunner.run, "_oss_sequential", False)
    assert await answers() == through_dask
