"""An action that fails leaves what the person wrote out of every answer and every log.

A bug is simulated in `action_answer` (it raises with the person's words in its message,
as a careless `raise ValueError(f"... {text}")` would); Rasa calls it through its real
RemoteAction against the real rasa_sdk app with our actions (tests/production/action_server.py).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.utils.endpoints import EndpointConfig

from bot.actions.answers import ActionAnswer
from bot.stores.speedups import failure_text, install_pooled_endpoint_sessions
from tests.production.action_server import action_server, close_pooled_sessions

WORDS = "me llamo Lucía Quispe y mi número es +34 611 222 333"
# The number whole, spaced or not: its first three digits alone also turn up in ephemeral
# port numbers in the logs ("127.0.0.1:36611"), which made this check fail by chance.
PERSONAL = ("Lucía", "Quispe", "611 222 333", "611222333")


@pytest.fixture
def broken_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    async def run(self: ActionAnswer, dispatcher: Any, tracker: Any, domain: Any) -> list[Any]:
        raise ValueError(f"cannot answer {tracker.latest_message['text']!r}")

    monkeypatch.setattr(ActionAnswer, "run", run)


def tracker_of(domain: Domain) -> DialogueStateTracker:
    events = [ActionExecuted("action_listen"), UserUttered(WORDS, {"name": "ask_return_programs", "confidence": 0.9})]
    return DialogueStateTracker.from_events("failure-test", events, domain.slots)


async def call_through_rasa(url: str, domain: Domain) -> RasaException:
    install_pooled_endpoint_sessions()
    config = EndpointConfig(url)
    action = RemoteAction("action_answer", config)
    try:
        with pytest.raises(RasaException) as failure:
            await action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(domain.responses),
                             tracker_of(domain), domain)
    finally:
        await close_pooled_sessions(config)
    return failure.value


def everything_said(error: BaseException) -> str:
    """The exception and its causes, as a logged traceback would print them."""
    parts = []
    while error is not None:
        parts.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return "\n".join(parts)


async def test_the_failure_answer_and_the_logs_carry_no_personal_data(
    domain: Domain, broken_answer: None, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with action_server() as (url, sent):
        error = await call_through_rasa(url, domain)
        async with aiohttp.ClientSession() as session, session.post(url, json=sent.bodies[0]) as answer:
            status, body = answer.status, await answer.text()
    assert WORDS in str(sent.bodies[0])  # the call did carry them
    assert status == 500
    assert '"error":"ValueError"' in body.replace(" ", "")
    assert '"action_name":"action_answer"' in body.replace(" ", "")
    said = everything_said(error) + "\n" + caplog.text
    for word in PERSONAL:
        assert word not in body
        assert word not in said
    assert "action_answer failed with ValueError" in caplog.text  # and staff still learn what broke
    assert "bot/actions" in caplog.text or "tests/production" in caplog.text  # with the frames


async def test_rasa_keeps_no_personal_data_from_a_plain_rasa_sdk_failure(
    domain: Domain, broken_answer: None,
) -> None:
    async with action_server(ours=False) as (url, sent):
        error = await call_through_rasa(url, domain)
        async with aiohttp.ClientSession() as session, session.post(url, json=sent.bodies[0]) as answer:
            body = await answer.text()
    assert "Quispe" in body  # plain rasa_sdk sends the conversation back (the control)
    said = everything_said(error)
    for word in PERSONAL:
        assert word not in said
    assert "action_answer" in said


async def test_a_malformed_body_is_still_a_400(domain: Domain) -> None:
    async with action_server() as (url, _), aiohttp.ClientSession() as session, \
            session.post(url, data=b"{not json", headers={"Content-Type": "application/json"}) as answer:
        assert answer.status == 400


@pytest.mark.parametrize(("status", "body", "kept"), [
    (400, b'{"error": "Falta el nombre", "action_name": "validate_intake_form"}',
     {"action_name": "validate_intake_form", "error": "Falta el nombre"}),
    (500, b'{"error": "cannot answer Luc\\u00eda", "request_body": {"tracker": {}}, "action_name": "action_answer"}',
     {"action_name": "action_answer"}),
    (500, b'{"error": "ValueError", "action_name": "action_answer"}', {"action_name": "action_answer", "error": "ValueError"}),
    (502, b"<html>Bad gateway</html>", None),
])
def test_what_rasa_keeps_of_an_error_answer(status: int, body: bytes, kept: dict[str, str] | None) -> None:
    text = failure_text(status, body)
    assert (json.loads(text) if text else None) == kept
