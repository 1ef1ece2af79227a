"""The intake form's logic without a tracker: order, consent gate, corrections, failures, summary."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.actions.intake import within_days
from bot.conversation import intake as form
from bot.conversation.form_answers import DECLINED, UNKNOWN
from casework.intake import validate_intake
from knowledge.loader import knowledge_base

TODAY = dt.date(2026, 11, 23)
ROOT = Path(__file__).resolve().parents[2]

COMPLETE: dict[str, Any] = {
    "intake_consent": True, "intake_adult": True, "intake_name": "Rosa", "country_origin": "PE",
    "intake_return_city": "Cusco", "country_residence": "ES", "intake_residence_city": "Badalona",
    "region_residence": "catalonia", "intake_months_abroad": 60, "intake_household": {"adults": 1, "children": [6]},
    "intake_return_months": 4, "intake_needs": ["employment", "housing"],
    "intake_qualification": {"level": "vocational", "field": "electricidad"}, "intake_vulnerability": ["single_parent"],
    "intake_contact_channel": "phone", "intake_contact_detail": "+34611222333", "intake_contact_time": "morning",
}


def message(text: str, intent: str | None = "inform", **parts: Any) -> form.Message:
    return form.Message(text=text, intent=intent, entities=tuple(parts.get("entities", ())),
                        places=tuple(parts.get("places", ())))


def test_consent_comes_before_any_personal_question() -> None:
    assert form.required_slots({}) == ["intake_consent"]
    assert form.required_slots({"intake_consent": False}) == []  # no consent: the form ends, nothing asked
    assert form.required_slots({"intake_consent": True}) == ["intake_adult"]
    assert form.required_slots({"intake_consent": True, "intake_adult": False}) == []  # under 18: no intake
    assert form.required_slots({"intake_consent": True, "intake_adult": UNKNOWN}) == []
    order = form.required_slots({"intake_consent": True, "intake_adult": True})
    assert order[0] == "intake_name"
    assert order[-1] == "intake_confirmed"
    assert "intake_contact_detail" not in order


def test_phone_or_email_asks_for_the_detail_and_edit_asks_which_field() -> None:
    order = form.required_slots({**COMPLETE, "intake_confirmed": "edit"})
    assert order.index("intake_contact_detail") == order.index("intake_contact_channel") + 1
    assert order[-2:] == ["intake_edit_field", "intake_confirmed"]
    assert form.required_slots({**COMPLETE, "intake_reference": "OSS-ABCD"}) == []


def test_an_answer_fills_its_slot() -> None:
    reading = form.read_answer("intake_household", message("solo yo", "greet"), COMPLETE, TODAY, "rest")
    assert reading.understood
    assert reading.updates == {"intake_household": {"adults": 1, "children": []}}


def test_a_city_answers_the_country_question_too() -> None:
    milan = {"city": "Milán", "country": "IT", "region": None, "role": None}
    reading = form.read_answer("country_residence", message("Milán", places=[milan]), {}, TODAY, "rest")
    assert reading.updates["country_residence"] == "IT"
    assert reading.updates["intake_residence_city"] == "Milán"


def test_someone_living_outside_the_network_can_still_leave_a_case() -> None:
    france = [{"entity": "country", "value": "FR"}]
    reading = form.read_answer("country_residence", message("en Francia", entities=france), {"country_origin": "PE"},
                               TODAY, "rest")
    assert reading.updates["country_residence"] == "FR"


def test_a_correction_mid_form_changes_the_earlier_answer_not_the_current_one() -> None:
    milan = {"city": "Milán", "country": "IT", "region": None, "role": "residence"}
    reading = form.read_answer("intake_needs", message("no, vivo en Milán", places=[milan]), COMPLETE, TODAY, "rest")
    assert reading.corrected
    assert reading.updates["country_residence"] == "IT"
    assert reading.updates["intake_residence_city"] == "Milán"
    assert reading.updates["region_residence"] is None
    assert "intake_needs" not in reading.updates


def test_danger_in_the_vulnerability_answer_is_flagged_for_the_safety_path() -> None:
    reading = form.read_answer("intake_vulnerability", message("mi pareja me maltrata", "report_distress"),
                               COMPLETE, TODAY, "whatsapp")
    assert reading.danger
    assert reading.updates == {"intake_vulnerability": ["violence"]}


def test_this_chat_is_no_contact_channel_where_nobody_can_write_back() -> None:
    on_rest = form.read_answer("intake_contact_channel", message("contact:chat"), COMPLETE, TODAY, "rest")
    on_whatsapp = form.read_answer("intake_contact_channel", message("contact:chat"), COMPLETE, TODAY, "whatsapp")
    assert not on_rest.understood
    assert on_whatsapp.updates == {"intake_contact_channel": "chat", "intake_contact_detail": None}


def test_editing_a_field_clears_it_and_the_confirmation() -> None:
    reading = form.read_answer("intake_edit_field", message("edit:residence"), COMPLETE, TODAY, "rest")
    assert reading.updates == {"country_residence": None, "region_residence": None, "intake_residence_city": None,
                               "intake_edit_field": None, "intake_confirmed": None}
    direct = form.read_answer("intake_confirmed", message("quiero cambiar la ciudad"), COMPLETE, TODAY, "rest")
    assert direct.updates == {"intake_residence_city": None, "region_residence": None}


def test_two_failed_answers_offer_a_person() -> None:
    assert form.after_failure("intake_household", 0) == ({"intake_failures": 1.0}, False)
    assert form.after_failure("intake_household", 1) == ({"intake_failures": 0.0, "intake_household": UNKNOWN}, True)
    assert form.after_failure("country_origin", 1) == ({"intake_failures": 1.0}, True)  # needed: asked again
    assert form.after_failure("intake_consent", 1) == ({"intake_failures": 0.0, "intake_consent": False}, True)


def test_what_the_person_said_before_is_reused() -> None:
    prefilled = form.prefill({"need": "housing", "elig_months": 30.0, "elig_vulnerability": "minors,pregnancy"})
    assert prefilled == {"intake_needs": ["housing"], "intake_months_abroad": 30, "intake_vulnerability": ["pregnancy"]}
    assert form.prefill({"elig_vulnerability": DECLINED}) == {"intake_vulnerability": DECLINED}


def test_cities_said_earlier_are_reused_so_their_questions_are_skipped() -> None:
    said = {"country_residence": "ES", "city_residence": "Alcobendas", "country_origin": "PE", "city_return": "Cusco"}
    prefilled = form.prefill(said)
    assert prefilled == {"intake_residence_city": "Alcobendas", "intake_return_city": "Cusco"}
    # an answer the form already has is not overwritten
    assert form.prefill({**said, "intake_residence_city": "Getafe"}) == {"intake_return_city": "Cusco"}
    # without its country (forgotten after a change) a city is not reused
    assert form.prefill({"city_residence": "Alcobendas"}) == {}


def test_slots_become_valid_case_data() -> None:
    answers = form.answers_from_slots(COMPLETE, "es")
    assert validate_intake(answers) == []
    assert answers.children_ages == (6,)
    assert answers.household_adults == 1
    assert answers.vulnerabilities == frozenset({"single_parent"})
    unknowns = form.answers_from_slots({**COMPLETE, "intake_return_months": UNKNOWN,
                                        "intake_vulnerability": DECLINED, "intake_name": UNKNOWN}, "pt")
    assert unknowns.planned_return_months is None
    assert unknowns.vulnerabilities is None
    assert unknowns.preferred_name is None
    assert validate_intake(unknowns) == []


def _words(language: str) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "domain" / "responses" / "intake.yml").read_text(encoding="utf-8"))
    variation = next(v for v in doc["responses"]["utter_intake_words"] if v["condition"][0]["value"] == language)
    return variation["custom"]


def test_the_summary_shows_every_field_in_the_persons_language() -> None:
    lines = form.summary_lines(COMPLETE, _words("pt"), knowledge_base(), "pt")
    assert len(lines) == len(form.QUESTIONS)
    text = "\n".join(lines)
    for expected in ("Rosa", "Peru", "Cusco", "Espanha", "Badalona", "1 adulto(s)", "6", "emprego", "moradia",
                     "formação técnica (electricidad)", "+34611222333", "manhã"):
        assert expected in text, expected


def test_every_vocabulary_has_the_same_codes() -> None:
    shapes = {lang: {k: sorted(v) if isinstance(v, dict) else None for k, v in _words(lang).items()}
              for lang in ("es", "pt", "en")}
    assert shapes["es"] == shapes["pt"] == shapes["en"]


@pytest.mark.parametrize(("language", "three_days", "next_day"), [
    ("es", ", normalmente en un plazo de 3 días laborables", ", normalmente el siguiente día laborable"),
    ("pt", ", normalmente em até 3 dias úteis", ", normalmente no dia útil seguinte"),
    ("en", ", usually within 3 working days", ", usually by the next working day"),
])
def test_the_delay_promised_is_the_office_s_commitment_or_none(language: str, three_days: str, next_day: str) -> None:
    assert within_days(_words(language), None) == ""  # the office committed to nothing: no promise
    assert within_days(_words(language), 3) == three_days
    assert within_days(_words(language), 1) == next_day


def test_cancel_forgets_every_answer() -> None:
    reset = form.reset_events()
    for slot in (*form.FORM_SLOTS, "region_residence", "intake_consent_at"):
        assert slot in reset
    assert reset["intake_failures"] == 0.0
    assert reset["requested_slot"] is None


def _tracker(actions: list[str], loop: str | None = "intake_form") -> Any:
    from rasa_sdk import Tracker

    events = [{"event": "action", "name": name} for name in actions]
    return Tracker("s", {}, {"text": "x"}, events, False, None, {"name": loop} if loop else {}, actions[-1])


def test_the_form_reads_an_answer_only_right_after_the_person_wrote() -> None:
    from bot.actions.intake import answers_a_question

    # Rasa appends the form's own ActionExecuted before calling the validation action.
    assert answers_a_question(_tracker(["action_listen", "intake_form"]))
    assert not answers_a_question(_tracker(["action_listen", "action_answer", "intake_form"]))  # after a rule
    assert not answers_a_question(_tracker(["action_listen", "intake_form"], loop=None))  # activation
