"""Form turns reach the action server with the domain's digest, and answer as with the domain.

Rasa's side (bot/stores/speedups.py) against the real rasa_sdk action server with our
actions (bot/serve.py's app), served on 127.0.0.1 in the test's event loop.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import rasa
import ujson
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from rasa_sdk import endpoint
from sanic import Sanic

from bot.domain_digest import DIGEST_KEY, DOMAIN_KEY, DomainCache, domain_digest
from bot.serve import install_on_created_apps
from bot.stores.speedups import DigestOnlyCall, held_digests, install_domain_by_digest
from tests.production.action_server import action_server, close_pooled_sessions


def eligibility_turn(domain: Domain, text: str = "soy peruano") -> DialogueStateTracker:
    """Someone in Spain answering the nationality question of the eligibility form."""
    events = [
        ActionExecuted("action_listen"),
        UserUttered("quiero saber si puedo", {"name": "request_return_help", "confidence": 0.99}),
        ActionExecuted("eligibility_form"),
        ActiveLoop("eligibility_form"),
        SlotSet("language", "es"),
        SlotSet("country_residence", "ES"),
        SlotSet("requested_slot", "elig_nationality"),
        ActionExecuted("action_listen"),
        UserUttered(text, {"name": "inform", "confidence": 0.99},
                    [{"entity": "country", "value": "PE", "start": 4, "end": 11}]),
    ]
    return DialogueStateTracker.from_events("digest-test", events, domain.slots)


async def validate(config: EndpointConfig, domain: Domain, tracker: DialogueStateTracker) -> list[Any]:
    """One call to the form's validation action, as Rasa makes it (one endpoint per agent)."""
    action = RemoteAction("validate_eligibility_form", config)
    try:
        return await action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(domain.responses),
                                tracker, domain)
    finally:
        await close_pooled_sessions(config)


async def test_after_the_first_call_only_the_digest_travels_and_the_answer_is_the_same(domain: Domain) -> None:
    install_domain_by_digest()
    tracker = eligibility_turn(domain)
    async with action_server() as (url, sent):
        config = EndpointConfig(url, enable_selective_domain=True)
        first = await validate(config, domain, tracker)
        second = await validate(config, domain, tracker)
    assert [DOMAIN_KEY in body for body in sent.bodies] == [True, False]
    assert all(body[DIGEST_KEY] == domain_digest(domain.as_dict()) for body in sent.bodies)
    assert len(ujson.dumps(sent.bodies[1])) < len(ujson.dumps(sent.bodies[0])) / 4
    assert SlotSet("elig_nationality", "PE") in second
    assert second == first


async def test_the_domain_matters_to_this_call(domain: Domain) -> None:
    """The control for the test above: without the domain the form validation goes wrong,
    so the same answer there means the action server had the domain back."""
    async with action_server(ours=False) as (url, _):
        tracker = eligibility_turn(domain)
        with_domain = await validate(EndpointConfig(url, enable_selective_domain=True), domain, tracker)
        call = {"next_action": "validate_eligibility_form", "sender_id": tracker.sender_id,
                "tracker": tracker.current_state(), "version": rasa.__version__, DOMAIN_KEY: {}}
        async with aiohttp.ClientSession() as session, session.post(url, json=call) as answer:
            without = answer.status, (await answer.json()).get("events")
    assert SlotSet("elig_nationality", "PE") in with_domain
    assert without != (200, [event.as_dict() for event in with_domain])


async def test_a_restarted_action_server_is_sent_the_domain_again_and_runs_the_action_once(domain: Domain) -> None:
    install_domain_by_digest()
    tracker = eligibility_turn(domain)
    config = EndpointConfig("http://127.0.0.1:1/webhook", enable_selective_domain=True)  # url set below
    async with action_server() as (url, _):
        config.url = url
        expected = await validate(config, domain, tracker)
    assert held_digests(config)
    async with action_server() as (url, sent):  # a new process: holds nothing
        config.url = url
        answer = await validate(config, domain, tracker)
    assert [DOMAIN_KEY in body for body in sent.bodies] == [False, True]  # 449, then the domain
    assert sent.runs == 1
    assert answer == expected


async def test_plain_rasa_sdk_keeps_receiving_the_whole_domain(domain: Domain) -> None:
    install_domain_by_digest()
    tracker = eligibility_turn(domain)
    async with action_server(ours=False) as (url, sent):
        config = EndpointConfig(url, enable_selective_domain=True)
        answers = [await validate(config, domain, tracker) for _ in range(2)]
    assert [DOMAIN_KEY in body for body in sent.bodies] == [True, True]
    assert not held_digests(config)
    assert SlotSet("elig_nationality", "PE") in answers[1]


async def test_actions_that_do_not_need_the_domain_are_not_sent_it_or_its_digest(domain: Domain) -> None:
    install_domain_by_digest()
    action = RemoteAction("action_answer", EndpointConfig("http://127.0.0.1:1/webhook", enable_selective_domain=True))
    call = action._action_call_format(eligibility_turn(domain), domain)
    assert DOMAIN_KEY not in call
    assert DIGEST_KEY not in call
    assert not isinstance(call, DigestOnlyCall)


def test_a_domain_with_a_digest_that_is_not_its_own_is_not_kept() -> None:
    cache = DomainCache()
    call = {DIGEST_KEY: "0" * 64, DOMAIN_KEY: {"intents": ["greet"]}}
    assert cache.complete(call) == (True, None)  # runs with the domain it came with
    assert cache.complete({DIGEST_KEY: "0" * 64}) == (False, None)


def test_the_cache_keeps_the_most_recently_used_domains() -> None:
    cache = DomainCache(size=2)
    domains = [{"intents": [f"intent_{n}"]} for n in range(3)]
    digests = [domain_digest(d) for d in domains]
    for digest, domain in zip(digests[:2], domains[:2], strict=True):
        assert cache.keep(digest, domain)
    assert cache.get(digests[0]) == domains[0]  # used: now the newest
    cache.keep(digests[2], domains[2])
    assert cache.get(digests[1]) is None
    assert cache.get(digests[0]) == domains[0]
    assert cache.get(digests[2]) == domains[2]


def test_the_action_server_of_bot_serve_keeps_domains() -> None:
    Sanic.test_mode = True
    original = endpoint.create_app
    try:
        install_on_created_apps()
        app = endpoint.create_app("bot.actions")
    finally:
        endpoint.create_app = original
    assert isinstance(app.ctx.domain_cache, DomainCache)
