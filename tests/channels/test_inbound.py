"""Inbound text: typed slash syntax is text; only offered buttons keep their payload."""

from __future__ import annotations

import pytest

from channels.inbound import ButtonOffers, button_payloads, inbound_text, neutralise_slash
from channels.rest import RequestProblem, parse_rest_request


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ('/ask_eligibility{"country_origin": "PE"}', 'ask_eligibility{"country_origin": "PE"}'),
        ("  //greet", "greet"),
        ("/", ""),
        ("hola /greet", "hola /greet"),
    ],
)
def test_typed_slash_syntax_becomes_text(typed: str, expected: str) -> None:
    assert inbound_text(typed, "s1", ButtonOffers()) == expected
    assert neutralise_slash(typed).startswith("/") is False or typed.startswith("hola")


def test_an_offered_payload_is_kept_only_for_that_sender() -> None:
    offers = ButtonOffers()
    offers.offer("s1", button_payloads([{"text": "x", "buttons": [{"title": "Yes", "payload": "/affirm"}]}]))
    assert inbound_text("/affirm", "s1", offers) == "/affirm"
    assert inbound_text("/affirm", "s2", offers) == "affirm"
    assert inbound_text('/affirm{"x": 1}', "s1", offers) == 'affirm{"x": 1}'


def test_offers_expire() -> None:
    offers = ButtonOffers(ttl_s=-1)
    offers.offer("s1", ["/affirm"])
    assert inbound_text("/affirm", "s1", offers) == "affirm"


def test_offers_are_bounded_per_process() -> None:
    offers = ButtonOffers(max_senders=2)
    for sender in ("a", "b", "c"):
        offers.offer(sender, ["/affirm"])
    assert not offers.was_offered("a", "/affirm")
    assert offers.was_offered("c", "/affirm")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (None, "JSON object"),
        ([], "JSON object"),
        ({"message": "hola"}, "sender"),
        ({"sender": "", "message": "hola"}, "sender"),
        ({"sender": "x" * 200, "message": "hola"}, "sender"),
        ({"sender": "a", "message": 5}, "message"),
        ({"sender": "a", "message": "x" * 100_001}, "longer"),
        ({"sender": "a", "message": "hola", "metadata": "es"}, "metadata"),
    ],
)
def test_malformed_rest_bodies_are_refused_with_a_reason(body: object, problem: str) -> None:
    with pytest.raises(RequestProblem, match=problem):
        parse_rest_request(body)


def test_rest_metadata_keeps_only_a_supported_language() -> None:
    assert parse_rest_request({"sender": "a", "message": "hi", "metadata": {"language": "pt", "x": 1}})[2] == {"language": "pt"}
    assert parse_rest_request({"sender": "a", "message": "hi", "metadata": {"language": "fr"}})[2] == {}
    assert parse_rest_request({"sender": "a", "message": None})[1] == ""
