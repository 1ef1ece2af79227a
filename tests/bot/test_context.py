"""Reply language and countries from what the person says (no Rasa needed)."""

from __future__ import annotations

from bot.conversation.context import city_updates, context_updates, country_updates, language_updates
from bot.nlu.language import choose_reply_language


def guess(language: str, confidence: float = 0.99, words: int = 8) -> dict:
    return {"language": language, "confidence": confidence, "words": words}


def test_first_confident_guess_sets_and_confirms_the_language() -> None:
    updates = language_updates({"language_guess": guess("pt")}, {"language": "es", "language_confirmed": False})
    assert updates == {"language": "pt", "language_confirmed": True}


def test_an_unknown_first_message_keeps_the_default_unconfirmed() -> None:
    assert language_updates({"language_guess": None}, {"language": "es", "language_confirmed": False}) == {}


def test_short_messages_never_switch_a_confirmed_language() -> None:
    slots = {"language": "pt", "language_confirmed": True}
    assert language_updates({"language_guess": guess("es", 0.99, 2)}, slots) == {}
    assert language_updates({"language_guess": guess("es", 0.99, 6)}, slots) == {"language": "es"}
    assert language_updates({"language_guess": guess("es", 0.80, 12)}, slots) == {}


def test_an_explicit_request_wins() -> None:
    message = {
        "intent": {"name": "change_language"},
        "entities": [{"entity": "target_language", "value": "en"}],
        "language_guess": guess("es"),
    }
    assert language_updates(message, {"language": "es", "language_confirmed": True}) == {"language": "en"}


def test_channel_metadata_language_is_authoritative() -> None:
    message = {"metadata": {"language": "en"}, "language_guess": guess("es")}
    assert language_updates(message, {"language": "es", "language_confirmed": False}) == {
        "language": "en", "language_confirmed": True}


def test_channel_hint_is_used_when_the_text_says_nothing() -> None:
    assert choose_reply_language(None, None, channel_hint="pt") == "pt"
    assert choose_reply_language(None, guess("en"), channel_hint="pt") == "en"


def _country(code: str, role: str | None = None) -> dict:
    entity = {"entity": "country", "value": code}
    if role:
        entity["role"] = role
    return entity


def test_roles_fill_origin_and_residence() -> None:
    message = {"text": "soy de Perú y vivo en España", "entities": [_country("PE", "origin"), _country("ES", "residence")]}
    assert country_updates(message, {}) == {"country_origin": "PE", "country_residence": "ES", "region_residence": None}


def test_a_bare_country_fills_only_an_empty_slot() -> None:
    message = {"text": "¿y en Chile?", "entities": [_country("CL")]}
    assert country_updates(message, {"country_origin": "PE"}) == {}
    assert country_updates(message, {}) == {"country_origin": "CL"}


def test_a_contradiction_is_held_until_the_person_says_which_is_right() -> None:
    message = {"text": "soy de Colombia", "entities": [_country("CO", "origin")]}
    assert country_updates(message, {"country_origin": "PE"}) == {"pending_country": "country_origin:CO"}


def test_a_correction_replaces_the_fact() -> None:
    message = {"text": "no, espera, vivo en Portugal", "entities": [_country("PT", "residence")]}
    assert country_updates(message, {"country_residence": "ES"}) == {"country_residence": "PT", "region_residence": None}


def test_a_city_gives_the_residence_country_and_the_spanish_region() -> None:
    message = {"text": "vivo en Badalona", "entities": [], "places": [
        {"city": "Badalona", "country": "ES", "region": "catalonia", "role": "residence"}]}
    assert country_updates(message, {}) == {"country_residence": "ES", "region_residence": "catalonia"}


def test_going_back_to_europe_is_not_a_new_origin() -> None:
    message = {"text": "¿si vuelvo con el programa puedo regresar a España?", "entities": [_country("ES", "origin")]}
    assert country_updates(message, {"country_origin": "PE", "country_residence": "ES"}) == {}


ALCOBENDAS = {"city": "Alcobendas", "country": "ES", "region": "madrid", "role": "residence"}


def test_a_residence_city_is_remembered_with_its_country() -> None:
    message = {"text": "hola, soy peruana y vivo en Alcobendas", "entities": [], "places": [ALCOBENDAS]}
    updates = context_updates(message, {"language": "es", "language_confirmed": True})
    assert updates["country_residence"] == "ES"
    assert updates["city_residence"] == "Alcobendas"


def test_a_city_of_another_country_than_the_residence_is_not_used() -> None:
    milan = {"city": "Milán", "country": "IT", "region": None, "role": "residence"}
    message = {"text": "mi hermana y yo vivimos en Milán", "entities": [], "places": [milan]}
    assert "city_residence" not in context_updates(message, {"country_residence": "ES", "language_confirmed": True})


def test_a_correction_moves_the_residence_city_and_its_country() -> None:
    milan = {"city": "Milán", "country": "IT", "region": None, "role": "residence"}
    message = {"text": "no, espera, vivo en Milán", "entities": [], "places": [milan]}
    slots = {"country_residence": "ES", "city_residence": "Alcobendas", "region_residence": "madrid"}
    updates = country_updates(message, slots)
    assert updates["country_residence"] == "IT"
    assert city_updates(message, slots, updates) == {"city_residence": "Milán"}


def test_another_city_without_a_correction_forgets_the_city() -> None:
    getafe = {"city": "Getafe", "country": "ES", "region": "madrid", "role": "residence"}
    message = {"text": "trabajo en Getafe", "entities": [], "places": [getafe]}
    assert city_updates(message, {"country_residence": "ES", "city_residence": "Alcobendas"}, {}) == {
        "city_residence": None}


def test_a_changed_country_forgets_the_city() -> None:
    message = {"text": "perdón, vivo en Portugal", "entities": [_country("PT", "residence")]}
    slots = {"country_residence": "ES", "city_residence": "Alcobendas"}
    assert city_updates(message, slots, country_updates(message, slots)) == {"city_residence": None}


def test_a_return_city_only_when_the_person_goes_back_there() -> None:
    cusco = {"city": "Cusco", "country": "PE", "region": None, "role": "origin"}
    back = {"text": "quiero volver a Cusco", "entities": [], "places": [cusco]}
    assert city_updates(back, {"country_origin": "PE"}, {}) == {"city_return": "Cusco"}
    born = {"text": "soy de Cusco", "entities": [], "places": [cusco]}
    assert city_updates(born, {"country_origin": "PE"}, {}) == {}
    elsewhere = {"text": "quiero volver a Cusco", "entities": [], "places": [cusco]}
    assert city_updates(elsewhere, {"country_origin": "CO"}, {}) == {}
