"""Which answer a question gets, for which country (plain functions, real knowledge base)."""

from __future__ import annotations

import pytest

from bot.conversation.answering import INTENT_TOPICS, plan_answer, plan_retrieval
from knowledge import LANGUAGES, ORIGIN_COUNTRIES, RESIDENCE_COUNTRIES
from knowledge.answers import MAX_MESSAGE_CHARS
from knowledge.loader import knowledge_base

SOURCE_WORD = {"es": "Fuente", "pt": "Fonte", "en": "Source"}


def plan(topic: str, language: str = "es", text: str = "", mentioned: list[str] | None = None, **slots: str):
    return plan_answer(knowledge_base(), topic, text, language, dict(slots), mentioned or [])


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("country", ORIGIN_COUNTRIES)
@pytest.mark.parametrize("topic", ["recognition", "reintegration", "customs", "documents"])
def test_every_origin_topic_is_answered_with_source_and_date(topic: str, country: str, language: str) -> None:
    result = plan(topic, language, country_origin=country)
    assert result.answer is not None, (topic, country)
    messages = result.answer.messages
    assert all(len(m) <= MAX_MESSAGE_CHARS for m in messages)
    assert SOURCE_WORD[language] in messages[-1]
    assert "2026-" in messages[-1] or "20" in messages[-1]
    entry = knowledge_base().entry(result.answer.entry_ids[0])
    assert country in entry.countries
    assert entry.text[language] in "\n".join(messages)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("country", RESIDENCE_COUNTRIES)
@pytest.mark.parametrize("topic", ["return_programs", "eligibility", "reentry", "documents"])
def test_every_residence_topic_is_answered(topic: str, country: str, language: str) -> None:
    result = plan(topic, language, country_residence=country)
    assert result.answer is not None
    entry = knowledge_base().entry(result.answer.entry_ids[0])
    assert country in entry.countries


def test_a_country_in_the_question_wins_over_the_remembered_one() -> None:
    result = plan("customs", "es", "¿y en Chile?", ["CL"], country_origin="PE")
    assert result.country == "CL"


def test_programmes_depend_on_residence_even_when_the_origin_is_named() -> None:
    result = plan("return_programs", "es", "qué ayudas hay para volver a Perú", ["PE"], country_residence="IT")
    assert result.country == "IT"


def test_missing_country_is_asked_once() -> None:
    assert plan("customs").response == "utter_ask_country_origin"
    assert plan("reentry").response == "utter_ask_country_residence"


def test_an_uncovered_country_is_said_so() -> None:
    result = plan("recognition", "es", "soy de Venezuela", ["VE"])
    assert result.response == "utter_country_not_covered"
    assert result.params["country"] == "Venezuela"


def test_conflicting_sources_route_to_a_counsellor() -> None:
    result = plan("reentry", "pt", "quantos anos sem voltar a Portugal?", country_residence="PT")
    joined = "\n".join(result.answer.messages)
    assert result.answer.counsellor or "⚠️" in joined or any(
        knowledge_base().entry(i).conflict is None for i in result.answer.entry_ids)


def test_offices_are_named_and_no_contact_is_invented() -> None:
    result = plan("oss_contact", "es", mentioned=["ES"], country_residence="ES", region_residence="catalonia")
    joined = "\n".join(result.answer.messages)
    assert result.answer.entry_ids == ("eu-es-catalonia",)
    assert knowledge_base().phrases["no_contact_configured"]["es"] in joined


def test_retrieval_answers_close_questions_and_declines_far_ones() -> None:
    kb = knowledge_base()
    entry = kb.entries[0]
    close = plan_retrieval(kb, entry.questions["es"][0], "es", {})
    assert close is not None
    assert close.answer.entry_ids == (entry.id,)
    for unrelated in ("cuál es la capital de mongolia exterior", "¿puedo llevar a mi perro?", "receita de bolo de cenoura"):
        assert plan_retrieval(kb, unrelated, "es", {}) is None, unrelated


def test_every_question_intent_maps_to_a_known_topic() -> None:
    assert set(INTENT_TOPICS) == {
        "ask_return_programs", "ask_eligibility", "ask_reentry", "ask_qualification_recognition",
        "ask_reintegration_services", "ask_customs_benefits", "ask_documents", "ask_oss_contact", "ask_privacy"}
