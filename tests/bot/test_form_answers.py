"""Answers to the form's questions, as people give them."""

from __future__ import annotations

import pytest

from bot.conversation.form_answers import DECLINED, NOT_UNDERSTOOD, UNKNOWN, nationality, vulnerabilities, yes_no


@pytest.mark.parametrize(
    ("intent", "text", "expected"),
    [
        ("affirm", "/affirm", True), ("deny", "no", False), ("inform", "sí, tengo", True),
        ("inform", "nao", False), ("dont_know", "no sé", UNKNOWN), ("inform", "nao sei", UNKNOWN),
        ("inform", "mañana llueve", NOT_UNDERSTOOD), ("skip", "prefiero no responder", UNKNOWN),
    ],
)
def test_yes_no(intent: str, text: str, expected: object) -> None:
    assert yes_no(intent, text) == expected


def test_an_optional_question_can_be_declined() -> None:
    assert yes_no("skip", "prefiero no responder", optional=True) == DECLINED


def test_an_eu_nationality_wins_over_another() -> None:
    assert nationality(["PE", "ES"]) == "ES"
    assert nationality(["co"]) == "CO"
    assert nationality([]) is None


@pytest.mark.parametrize(
    ("intent", "text", "expected"),
    [
        ("inform", "vuln:minors", "minors"), ("inform", "vuln:none", ""), ("skip", "/skip", DECLINED),
        ("inform", "estoy embarazada y tengo dos hijos", "minors,pregnancy"), ("deny", "no", ""),
        ("inform", "sou mãe solteira", "single_parent"), ("inform", "qué hora es", NOT_UNDERSTOOD),
    ],
)
def test_vulnerabilities(intent: str, text: str, expected: object) -> None:
    assert vulnerabilities(intent, text) == expected
