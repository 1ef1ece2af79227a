"""Caseworkers read labels in their language, not the machine keys a ticket stores."""

from __future__ import annotations

import html

import pytest

from casework.reference import (
    CHANNELS,
    CONTACT_CHANNELS,
    CONTACT_TIMES,
    ELIGIBILITY_OUTCOMES,
    INTAKE_FIELD_KEYS,
    NEEDS,
    QUALIFICATIONS,
    RULE_KINDS,
    VULNERABILITY_CODES,
)
from console.i18n import UI_LANGUAGES, catalog
from console.labels import office_label, reason_label, value_text
from tests.console.conftest import Console, post_form

FIELDS = {
    "preferred_name": "María Quispe", "residence_city": "Alcobendas", "household_adults": 2,
    "highest_qualification": "vocational", "vulnerabilities": ["single_parent"], "contact_channel": "phone",
    "contact_time": "morning", "children_ages": [4, 9], "pet_name": "Toby",
}
ELIGIBILITY = {"outcome": "needs_counsellor", "country": "ES", "lines": ["apre"],
               "reasons": ["es-minimum-stay", "a-rule-nobody-knows"]}


def ticket_page(console: Console, language: str) -> str:
    console.add_staff("ana")
    client = console.sign_in("ana")
    post_form(client, "/language", {"lang": language, "next": "/queue"})
    reference = console.add_ticket(fields=FIELDS, eligibility=ELIGIBILITY, origin="BO", needs=("employment", "housing"))
    return html.unescape(client.get(f"/tickets/{reference}").get_data(as_text=True))


def test_a_spanish_ticket_page_shows_labels_not_keys(console: Console) -> None:
    page = ticket_page(console, "es")
    for label in ("Nombre", "María Quispe", "Ciudad de residencia", "Adultos en el hogar", "Formación profesional",
                  "Familia monoparental", "Teléfono", "Mañana", "4, 9", "Bolivia", "Empleo, Vivienda",
                  "Requiere revisión de un orientador", "Tiempo mínimo de estancia (es-minimum-stay)",
                  "APRE (el paro cobrado por adelantado)", "Web (pruebas)",
                  "<dd>Ventanilla Única de Retorno – Perú (oss-pe)</dd>"):  # the office by its name
        assert label in page, label
    for key in ("preferred_name", "residence_city", "vocational", "single_parent", "needs_counsellor",
                ">BO<", "employment", "apre"):
        assert key not in page, key
    # Codes nobody labelled yet still show, as words, and never break the page.
    for text in ("Pet name", "Toby", "A rule nobody knows"):
        assert text in page, text


def test_an_italian_ticket_page_shows_italian_labels(console: Console) -> None:
    page = ticket_page(console, "it")
    for label in ("Nome", "Città di residenza", "Serve un orientatore", "Permanenza minima", "Lavoro, Alloggio",
                  "Genitore solo"):
        assert label in page, label
    # The knowledge base has no Italian: country and programme names fall back to English.
    assert "APRE (unemployment benefit paid in advance)" in page
    assert "One Stop Shop – Peru (oss-pe)" in page
    assert "Bolivia" in page
    assert "needs_counsellor" not in page
    assert "preferred_name" not in page


def test_queue_filters_name_needs_and_countries(console: Console) -> None:
    console.add_staff("ana")
    client = console.sign_in("ana")
    post_form(client, "/language", {"lang": "pt", "next": "/queue"})
    page = html.unescape(client.get("/queue").get_data(as_text=True))
    assert ">Habitação</option>" in page
    assert ">Bolívia</option>" in page
    assert ">housing</option>" not in page


LABELLED = {
    "field_": INTAKE_FIELD_KEYS, "outcome_": ELIGIBILITY_OUTCOMES, "rule_kind_": RULE_KINDS, "need_": NEEDS,
    "channel_": CHANNELS, "contact_": CONTACT_CHANNELS, "time_": CONTACT_TIMES, "qualification_": QUALIFICATIONS,
    "vuln_": VULNERABILITY_CODES,
}


@pytest.mark.parametrize("prefix", sorted(LABELLED))
def test_every_code_casework_can_store_has_a_label_in_each_language(prefix: str) -> None:
    texts = catalog()  # the loader already refuses a key without all four languages
    missing = [code for code in LABELLED[prefix] if prefix + code not in texts]
    assert missing == []
    assert all(set(UI_LANGUAGES) <= set(texts[prefix + code]) for code in LABELLED[prefix])


def test_the_field_list_follows_the_intake() -> None:
    """Derived from casework, so a new intake field fails the test above until it has a label."""
    assert {"preferred_name", "contact_detail", "origin_country", "needs"} <= set(INTAKE_FIELD_KEYS)


def test_a_lead_reassigns_to_offices_shown_by_name(console: Console) -> None:
    console.add_staff("lea", role="office_lead")
    client = console.sign_in("lea")
    post_form(client, "/language", {"lang": "pt", "next": "/queue"})
    reference = console.add_ticket()
    page = html.unescape(client.get(f"/tickets/{reference}").get_data(as_text=True))
    assert '<option value="oss-bo">Balcão Único de Retorno – Bolívia (oss-bo)</option>' in page


def test_an_office_the_network_does_not_know_shows_its_id() -> None:
    assert office_label("oss-xx", "es") == "oss-xx"
    assert office_label(None, "es") == "–"


def test_unknown_values_and_empty_answers_read_sensibly() -> None:
    assert value_text("contact_time", "midnight", "es") == "Midnight"
    assert value_text("children_ages", [], "en") == "–"
    assert value_text("vulnerabilities", None, "it") == "–"
    assert reason_label("es-nationality", "pt") == "Nacionalidade (es-nationality)"
