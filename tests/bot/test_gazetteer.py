"""Countries, cities, needs and languages recognised by rules on a blank spaCy pipeline."""

from __future__ import annotations

import pytest

from bot.nlu.gazetteer import fold, gazetteer
from bot.nlu.language import guess_language


def countries(text: str) -> list[tuple[str, str | None]]:
    return [(f.value, f.role) for f in gazetteer().find(text) if f.entity == "country"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("quiero volver a Perú", "PE"),
        ("quiero volver a peru", "PE"),
        ("QUIERO VOLVER A PERU", "PE"),
        ("soy peruana", "PE"),
        ("sou brasileira", "BR"),
        ("i'm colombian", "CO"),
        ("vivo en España", "ES"),
        ("moro na Espanha", "ES"),
        ("abito in Italia", "IT"),
        ("sono ecuadoriano", "EC"),
        ("soy paraguayo", "PY"),
        ("volver al uruguay", "UY"),
        ("mi familia es boliviana", "BO"),
        ("regresar a chile", "CL"),
        ("quiero volver a colonbia", "CO"),  # misspelling
        ("vivo en portugal", "PT"),
        ("soy de venezuela", "VE"),
    ],
)
def test_country_names_and_demonyms_become_iso_codes(text: str, code: str) -> None:
    assert code in [c for c, _ in countries(text)]


def test_roles_follow_the_words_before_the_country() -> None:
    assert countries("soy de Perú y vivo en España") == [("PE", "origin"), ("ES", "residence")]
    assert countries("I live in Portugal and want to go back to Brazil") == [("PT", "residence"), ("BR", "origin")]


def test_a_language_name_is_not_a_country_unless_it_is_a_nationality() -> None:
    found = gazetteer().find("¿hablas portugués?")
    assert [(f.entity, f.value) for f in found] == [("target_language", "pt")]
    assert ("ES", None) in countries("tengo nacionalidad española") or ("ES", "origin") in countries("soy español")


def test_cities_keep_their_text_and_know_their_country_and_region() -> None:
    found = [f for f in gazetteer().find("vivo en Badalona") if f.entity == "city"]
    assert [f.value for f in found] == ["Badalona"]
    assert gazetteer().country_of_city("badalona") == "ES"
    assert gazetteer().region_of_city("Badalona") == "catalonia"
    assert gazetteer().region_of_city("Móstoles") == "madrid"


def test_numbers_in_words_and_digits() -> None:
    found = [(f.value) for f in gazetteer().find("somos 4, tengo dos hijos y tres nietos") if f.entity == "number"]
    assert found == [4, 2, 3]


def test_years_are_not_household_numbers() -> None:
    assert [f for f in gazetteer().find("vivo aquí desde 2019") if f.entity == "number"] == []


def test_needs() -> None:
    needs = {f.value for f in gazetteer().find("necesito trabajo y un colegio para mis hijos") if f.entity == "need"}
    assert {"employment", "schooling"} <= needs


def test_fold_keeps_offsets() -> None:
    text = "Perú, Bogotá y São Paulo"
    assert len(fold(text)) == len(text)


@pytest.mark.parametrize(
    ("text", "language"),
    [("hola", "es"), ("olá", "pt"), ("hi", "en"), ("obrigada", "pt"), ("gracias", "es"), ("thanks", "en"),
     ("quero voltar para o Brasil com meus filhos", "pt"),
     ("quiero volver a mi país con mis hijos", "es"),
     ("I want to go back home with my children", "en")],
)
def test_language_guess(text: str, language: str) -> None:
    guess = guess_language(text)
    assert guess is not None
    assert guess.language == language


def test_no_guess_for_ambiguous_short_text() -> None:
    assert guess_language("no") is None
    assert guess_language("👍") is None


@pytest.mark.parametrize("text", ["mi hija se llama Olivia", "se me olvidó el paraguas", "ella usa el móvil",
                                  "tengo una duda", "a doce pasos"])
def test_ordinary_words_are_not_countries_or_numbers(text: str) -> None:
    found = [(f.entity, f.value) for f in gazetteer().find(text) if f.entity in ("country", "number")]
    assert found == []


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [("my kids are Spanish", "country", "ES"), ("I have a Spanish passport", "country", "ES"),
     ("mi hijo es español", "country", "ES"), ("el curso es en español", "target_language", "es"),
     ("can you speak spanish", "target_language", "es")],
)
def test_nationality_or_language_from_context(text: str, entity: str, value: str) -> None:
    found = [(f.entity, f.value) for f in gazetteer().find(text) if f.entity in ("country", "target_language")]
    assert found == [(entity, value)]


@pytest.mark.parametrize(
    ("text", "language"),
    [("buenas tardes, ¿qué tal?", "es"), ("oi, boa tarde, tudo bem?", "pt"), ("hello there, good evening", "en")],
)
def test_small_talk_greetings_are_decided_by_their_words(text: str, language: str) -> None:
    assert guess_language(text).language == language
