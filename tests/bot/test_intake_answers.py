"""Reading intake answers in es/pt/en: what a person would write, and what must be asked again."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.conversation import intake_answers as read
from bot.conversation.form_answers import DECLINED, NOT_UNDERSTOOD, UNKNOWN

TODAY = dt.date(2026, 11, 23)


@pytest.mark.parametrize(("intent", "text", "expected"), [
    ("affirm", "sí, acepto", True),
    ("affirm", "sim, aceito", True),
    (None, "I agree", True),
    ("thank", "no, gracias", False),
    ("deny", "não", False),
    ("ask_privacy", "/ask_privacy", NOT_UNDERSTOOD),  # reading the notice is not a yes
    ("greet", "hola", NOT_UNDERSTOOD),
    ("dont_know", "no sé", NOT_UNDERSTOOD),  # consent is never assumed
])
def test_consent_needs_a_clear_answer(intent: str | None, text: str, expected: object) -> None:
    assert read.consent(intent, text) == expected


@pytest.mark.parametrize(("intent", "text", "expected"), [
    ("affirm", "sí", True),
    ("affirm", "sí, tengo 34", True),
    ("inform", "tengo 17 años", False),
    ("affirm", "sim, tenho 16", False),  # the age wins over the yes
    ("deny", "no", False),
    (None, "I am 18", True),
    ("inform", "bastante", NOT_UNDERSTOOD),
])
def test_age(intent: str | None, text: str, expected: object) -> None:
    assert read.adult(intent, text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Ana", "Ana"),
    ("me llamo ana maría", "Ana María"),
    ("puedes llamarme Rosa", "Rosa"),
    ("Me chamo João", "João"),
    ("Call me John", "John"),
    ("¿para qué?", NOT_UNDERSTOOD),
    ("ana@example.org", NOT_UNDERSTOOD),
    ("Maria 123", NOT_UNDERSTOOD),
    ("hola", NOT_UNDERSTOOD),
    ("no quiero decir cómo me llamo porque no me fío de nadie", NOT_UNDERSTOOD),
])
def test_name(text: str, expected: object) -> None:
    assert read.name(text) == expected


def test_places_prefer_what_nlu_recognised_and_accept_short_answers() -> None:
    assert read.place("a Lima", ["Lima"]) == "Lima"
    assert read.place("vuelvo a Villa El Salvador", []) == "Villa El Salvador"
    assert read.place("no sé todavía", []) == UNKNOWN
    assert read.place("sí", []) == NOT_UNDERSTOOD
    assert read.place("¿por qué me preguntas eso?", []) == NOT_UNDERSTOOD


@pytest.mark.parametrize(("text", "expected"), [
    ("hace 5 años", 60),
    ("desde 2019", 94),
    ("18 meses", 18),
    ("two years", 24),
    ("no sé", UNKNOWN),
    ("mucho", NOT_UNDERSTOOD),
])
def test_time_abroad(text: str, expected: object) -> None:
    assert read.time_abroad(None, text, TODAY) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("solo yo", {"adults": 1, "children": []}),
    ("just me", {"adults": 1, "children": []}),
    ("2 adultos y 2 niños de 5 y 9 años", {"adults": 2, "children": [5, 9]}),
    ("mi esposo y yo con nuestra hija de 7", {"adults": 2, "children": [7]}),
    ("eu e meus dois filhos de 3 e 6", {"adults": 1, "children": [3, 6]}),
    ("me and my wife and our son aged 4", {"adults": 2, "children": [4]}),
    ("mi hijo de 20 y yo", {"adults": 2, "children": []}),  # a grown son is an adult
    ("3 adultos", {"adults": 3, "children": []}),
    ("yo y mis hijos", NOT_UNDERSTOOD),  # the ages are needed
    ("2 niños", NOT_UNDERSTOOD),
    ("somos 4", NOT_UNDERSTOOD),
    ("muchos", NOT_UNDERSTOOD),
])
def test_household(text: str, expected: object) -> None:
    assert read.household(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("en marzo", 4),
    ("en noviembre", 0),
    ("el año que viene", 7),  # the middle of next year
    ("ano que vem", 7),
    ("dentro de 3 meses", 3),
    ("daqui a um ano", 12),
    ("next month", 1),
    ("cuanto antes", 0),
    ("as soon as possible", 0),
    ("in May", 6),
    ("en 2028", 19),
    ("marzo de 2027", 4),
    ("no lo sé todavía", UNKNOWN),
    ("pronto", NOT_UNDERSTOOD),
    ("en 1990", NOT_UNDERSTOOD),
])
def test_return_date(text: str, expected: object) -> None:
    assert read.return_months(None, text, TODAY) == expected


def test_needs_from_words_numbers_or_nothing() -> None:
    assert read.needs("empleo y vivienda", ["housing", "employment"]) == ["employment", "housing"]
    assert read.needs("1, 5 y 8", []) == ["employment", "housing", "schooling"]
    assert read.needs("ninguna", []) == []
    assert read.needs("9", []) == NOT_UNDERSTOOD
    assert read.needs("no entiendo", []) == NOT_UNDERSTOOD


@pytest.mark.parametrize(("text", "expected"), [
    ("secundaria", {"level": "secondary", "field": None}),
    ("técnico en electricidad", {"level": "vocational", "field": "electricidad"}),
    ("licenciada en enfermería", {"level": "bachelor", "field": "enfermería"}),
    ("universidad, enfermería", {"level": "bachelor", "field": "enfermería"}),
    ("mestrado em engenharia civil", {"level": "master", "field": "engenharia civil"}),
    ("bachelor in engineering", {"level": "bachelor", "field": "engineering"}),
    ("sin estudios", {"level": "none", "field": None}),
    ("no entiendo", NOT_UNDERSTOOD),
])
def test_qualification(text: str, expected: object) -> None:
    assert read.qualification(text) == expected


@pytest.mark.parametrize(("intent", "text", "expected"), [
    ("deny", "ninguna", []),
    (None, "vuln:none", []),
    ("skip", "prefiero no decirlo", DECLINED),
    (None, "I'd rather not say", DECLINED),
    ("report_distress", "mi pareja me maltrata", ["violence"]),
    (None, "estoy embarazada y vivo sola con mis hijos", ["pregnancy", "single_parent"]),
    (None, "moro na rua", ["homeless"]),
    (None, "mmm", NOT_UNDERSTOOD),
])
def test_vulnerabilities(intent: str | None, text: str, expected: object) -> None:
    assert read.vulnerabilities(intent, text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("por teléfono", {"channel": "phone", "detail": None}),
    ("contact:chat", {"channel": "chat", "detail": None}),
    ("mi número es +34 611 222 333", {"channel": "phone", "detail": "+34611222333"}),
    ("escríbanme a ana.q@example.org", {"channel": "email", "detail": "ana.q@example.org"}),
    ("by e-mail", {"channel": "email", "detail": None}),
    ("como quieras", NOT_UNDERSTOOD),
])
def test_contact(text: str, expected: object) -> None:
    assert read.contact(text) == expected


def test_contact_detail_matches_the_channel() -> None:
    assert read.contact_detail("phone", "611 22 23 33") == "611222333"
    assert read.contact_detail("email", "611 22 23 33") == NOT_UNDERSTOOD
    assert read.contact_detail("phone", "12") == NOT_UNDERSTOOD


@pytest.mark.parametrize(("text", "expected"), [
    ("por la mañana", "morning"), ("à noite", "evening"), ("time:any", "any"), ("afternoon", "afternoon"),
    ("cuando sea", "any"), ("no sé", NOT_UNDERSTOOD),
])
def test_contact_time(text: str, expected: object) -> None:
    assert read.contact_time(text) == expected


@pytest.mark.parametrize(("intent", "text", "verdict", "field"), [
    ("affirm", "sí, todo correcto", True, None),
    ("skip", "confirmar", True, None),  # NLU's guess does not matter, the word does
    (None, "edit", "edit", None),
    ("inform", "quiero cambiar la ciudad", "edit", "residence_city"),
    ("deny", "no", "edit", None),
    (None, "edit:needs", "edit", "needs"),
    ("greet", "hmm", NOT_UNDERSTOOD, None),
])
def test_confirmation_and_edit(intent: str | None, text: str, verdict: object, field: str | None) -> None:
    assert read.confirmation(intent, text) == verdict
    assert read.edit_field(text) == field
