"""Numbered options and callback tokens: pure parts, and shared through the cases database."""

from __future__ import annotations

import pytest

from channels.options import Option, choose, numbered, options_of, resolve

OPTIONS = [Option("Sí, claro", "/affirm"), Option("No", "/deny"), Option("Português", "Português")]


@pytest.mark.parametrize(("typed", "payload"), [
    ("1", "/affirm"), (" 2 ", "/deny"), ("3", "Português"), ("si claro", "/affirm"), ("SÍ, CLARO!", "/affirm"),
    ("portugues", "Português"), ("4", None), ("0", None), ("sí", None), ("", None),
])
def test_a_number_or_a_title_selects_an_option(typed: str, payload: str | None) -> None:
    assert choose(OPTIONS, typed) == payload


def test_options_are_numbered_from_one() -> None:
    assert numbered(OPTIONS) == "1. Sí, claro\n2. No\n3. Português"


def test_tokens_are_opaque_unique_and_resolve_only_to_what_they_were_issued_for() -> None:
    options = options_of({"buttons": [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"},
                                       {"nonsense": 1}, "not a button"]}, with_tokens=True)
    assert [o.payload for o in options] == ["/affirm", "/deny"]
    tokens = [o.token for o in options]
    assert len(set(tokens)) == 2
    assert all(16 <= len(t.encode()) <= 64 and "affirm" not in t for t in tokens)
    assert resolve(options, tokens[1]) == "/deny"
    for forged in ("", "/affirm", tokens[0][:-1], tokens[0] + "x"):
        assert resolve(options, forged) is None
    assert Option.from_dict(options[0].as_dict()) == options[0]
