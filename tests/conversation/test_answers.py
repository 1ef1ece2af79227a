"""Sourced answers for the person's countries, in their language (issue: sourced answers)."""

from __future__ import annotations

import pytest

from tests.conversation.conftest import buttons

SOURCE = {"es": "Fuente", "pt": "Fonte", "en": "Source"}


@pytest.mark.parametrize(
    ("language", "question", "institution"),
    [
        ("es", "buenas, cómo hago para que me reconozcan mi título universitario en Perú?", "SUNEDU"),
        ("pt", "como faço para revalidar meu diploma de enfermagem no Brasil?", "Carolina Bori"),
        ("en", "how can I get my university degree recognised back in Ecuador?", "SENESCYT"),
        ("es", "quiero certificar mi experiencia como soldador en Chile, se puede?", "ChileValora"),
    ],
)
def test_recognition_answer_names_the_institution_and_its_source(make_person, language, question, institution) -> None:
    replies = make_person(language).say(question)
    text = "\n".join(m.get("text") or "" for m in replies)
    assert institution in text
    assert SOURCE[language] in text
    assert "2026-" in text
    assert all(len(m.get("text") or "") <= 700 for m in replies)
    assert "/request_return_help" in buttons(replies)


def test_the_country_is_asked_once_remembered_and_followed_up(make_person) -> None:
    person = make_person("es")
    replies = person.say("¿puedo llevarme mis muebles y mis herramientas sin pagar impuestos?")
    assert "Perú" in buttons(replies)
    answer = person.text("Perú")
    assert "Tarjeta del Migrante Retornado" in answer
    assert person.tracker()["slots"]["country_origin"] == "PE"
    follow_up = person.text("¿y en Colombia?")
    assert "Ley Retorno" in follow_up or "DIAN" in follow_up  # Colombia's customs route
    assert person.tracker()["slots"]["country_origin"] == "PE"  # a follow-up is not a new origin


def test_return_programmes_depend_on_the_country_of_residence(make_person) -> None:
    person = make_person("es")
    person.text("hola, vivo en Milán desde hace 5 años")
    answer = person.text("¿qué programas de retorno voluntario hay y qué cubren?")
    assert "800 200 071" in answer or "RIRVA" in answer


def test_portugal_return_programme_in_portuguese(make_person) -> None:
    person = make_person("pt")
    answer = person.text("moro em Lisboa, como funciona o programa de retorno voluntário?")
    assert "ARVoRe" in answer
    assert SOURCE["pt"] in answer


def test_an_uncovered_country_is_said_honestly(make_person) -> None:
    answer = make_person("es").text("soy venezolano, ¿cómo convalido mi título en Venezuela?")
    assert "Venezuela" in answer
    assert "Perú, Bolivia, Colombia" in answer


def test_a_contradicted_country_is_asked_about(make_person) -> None:
    person = make_person("es")
    person.text("soy de Perú")
    reply = person.say("soy colombiano, ¿cómo homologo mi título?")
    text = "\n".join(m.get("text") or "" for m in reply)
    assert "¿Cuál es el correcto?" in text
    person.text("Colombia")
    assert person.tracker()["slots"]["country_origin"] == "CO"


def test_office_contact_never_invents_details(make_person) -> None:
    person = make_person("en")
    person.text("I'm Bolivian and I live in Barcelona")
    answer = person.text("where is the One Stop Shop office, what's the address?")
    assert "FEDELATINA" in answer or "Bolivia" in answer
    assert "coordination team" in answer  # the honest route when no contact is configured


def test_asking_for_a_person_gives_the_offices_and_the_published_coordination_address(make_person) -> None:
    person = make_person("es")
    person.text("soy uruguaya y vivo en Girona")
    offer = person.say("quiero hablar con una persona, por favor")
    assert [b["payload"] for m in offer for b in m.get("buttons") or []] == ["/request_return_help", "/deny"]
    answer = person.text("/deny")  # "Solo los contactos": the intake is offered, never imposed
    assert "Uruguay" in answer
    assert "Cataluña" in answer or "FEDELATINA" in answer
    assert "ventanillasunicas@oei.es" in answer
