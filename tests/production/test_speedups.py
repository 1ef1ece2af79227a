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


LOAD_AND_PARSE = r"""
import asyncio, json, sys
import rasa.utils.tensorflow.models as models
slow_load = models.RasaModel.__dict__["load"]
import bot.nlu.components  # installs the fast loader, as when Rasa loads our model
fast_load = models.RasaModel.__dict__["load"]
assert getattr(fast_load.__func__, "_oss_fast", False), "importing the components must install the fast loader"
calls = []
if sys.argv[2] == "slow":
    models.RasaModel.load = slow_load
else:
    original = fast_load.__func__
    def counting(cls, *args, **kwargs):
        calls.append(1)
        return original(cls, *args, **kwargs)
    models.RasaModel.load = classmethod(counting)
import logging
fallbacks = []
logging.getLogger("bot.stores.speedups").addHandler(type("H", (logging.Handler,), {"emit": lambda self, r: fallbacks.append(r.getMessage())})())
from rasa.core.agent import Agent
agent = Agent.load(sys.argv[1])
texts = json.loads(sys.stdin.read())
out = [[(i["name"], i["confidence"]) for i in asyncio.run(agent.parse_message(t))["intent_ranking"]] for t in texts]
print(json.dumps({"out": out, "fast_calls": len(calls), "fallbacks": fallbacks}))
"""
TEXTS = ["hola", "quiero volver a Perú, ¿me ayudan?", "how do I get my nursing degree recognised in Brazil?",
         "olá, preciso de ajuda para voltar ao Brasil", "borra mis datos", "me pegan en casa, tengo miedo",
         "what documents do I need", "sim", "no", "obrigado", "asdf qwer", "¿dónde está la oficina en Lima?"]


def test_the_fast_model_loading_predicts_exactly_what_rasa_s_loading_does() -> None:
    """Load the trained model both ways in fresh processes and compare every intent score."""
    import json
    import os
    import subprocess
    import sys

    from devtools import ROOT
    from devtools.train import ensure_model

    model = ensure_model(quiet=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    results = {}
    for mode in ("slow", "fast"):
        run = subprocess.run([sys.executable, "-c", LOAD_AND_PARSE, str(model), mode], input=json.dumps(TEXTS),  # noqa: S603
                             capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=True)
        results[mode] = json.loads(run.stdout.strip().splitlines()[-1])
    assert results["fast"]["fast_calls"] >= 1, "DIET was not loaded through the fast loader"
    assert results["fast"]["fallbacks"] == []
    for slow, fast in zip(results["slow"]["out"], results["fast"]["out"], strict=True):
        assert [name for name, _ in slow] == [name for name, _ in fast]
        assert [round(c, 6) for _, c in slow] == [round(c, 6) for _, c in fast]
