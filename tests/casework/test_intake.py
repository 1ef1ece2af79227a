"""The intake: validation codes, the warm-lead definition and the priority rule."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casework.intake import (
    DANGER_CODES,
    IntakeAnswers,
    is_warm_lead,
    personal_fields,
    priority_for,
    validate_intake,
)
from knowledge.eligibility_rules import VULNERABILITY_CODES

GOOD = IntakeAnswers(
    origin_country="PE", residence_country="ES", region="madrid", language="es", preferred_name="María",
    return_city="Cusco", residence_city="Alcobendas", months_abroad=60, household_adults=2, children_ages=(4, 9),
    planned_return_months=6, needs=("employment", "schooling"), highest_qualification="vocational",
    qualification_field="nursing", vulnerabilities=frozenset(), contact_channel="chat", contact_time="morning",
)


def test_a_complete_intake_has_no_problems() -> None:
    assert validate_intake(GOOD) == []


@pytest.mark.parametrize(("change", "problem"), [
    ({"origin_country": None}, "origin_country_missing"),
    ({"origin_country": "Peru"}, "origin_country_invalid"),
    ({"residence_country": "es"}, "residence_country_invalid"),
    ({"language": "fr"}, "language_unsupported"),
    ({"months_abroad": -1}, "months_abroad_invalid"),
    ({"household_adults": 0}, "household_adults_invalid"),
    ({"children_ages": (3, 18)}, "children_ages_invalid"),
    ({"planned_return_months": -2}, "planned_return_invalid"),
    ({"needs": ("employment", "jobs")}, "needs_unknown"),
    ({"highest_qualification": "phd"}, "qualification_unknown"),
    ({"vulnerabilities": frozenset({"sad"})}, "vulnerabilities_unknown"),
    ({"contact_channel": "pigeon"}, "contact_channel_unknown"),
    ({"contact_channel": "phone", "contact_detail": " "}, "contact_detail_missing"),
    ({"contact_time": "midnight"}, "contact_time_unknown"),
    ({"preferred_name": "x" * 121}, "preferred_name_too_long"),
])
def test_each_problem_has_a_code(change: dict, problem: str) -> None:
    assert validate_intake(replace(GOOD, **change)) == [problem]


NONE: frozenset[str] = frozenset()
# (consent, planned return in months, vulnerabilities, contact channel, contact detail) -> warm?
WARM_CASES = [
    (True, 6, NONE, "chat", None, True),
    (True, 0, NONE, "chat", None, True),
    (True, 12, NONE, "chat", None, True),
    (True, 13, NONE, "chat", None, False),
    (True, None, NONE, "chat", None, False),
    (True, None, None, "chat", None, False),  # declined vulnerability counts as none
    (True, None, frozenset({"elderly"}), "chat", None, True),
    (True, 36, frozenset({"disability"}), "chat", None, True),
    (False, 6, frozenset({"violence"}), "chat", None, False),  # no consent, no lead
    (True, 6, NONE, None, None, False),  # no way to contact
    (True, 6, NONE, "phone", None, False),
    (True, 6, NONE, "phone", "+51 999 000 111", True),
    (True, 6, NONE, "email", "m@example.org", True),
]


@pytest.mark.parametrize(("consent", "months", "vulnerabilities", "channel", "detail", "warm"), WARM_CASES)
def test_warm_lead_table(consent, months, vulnerabilities, channel, detail, warm) -> None:
    answers = replace(GOOD, planned_return_months=months, vulnerabilities=vulnerabilities,
                      contact_channel=channel, contact_detail=detail)
    assert is_warm_lead(answers, has_consent=consent) is warm


PRIORITY_CASES = [
    (None, 2, "normal"),
    (NONE, 1, "normal"),
    (frozenset({"elderly"}), 6, "high"),
    (frozenset({"elderly"}), None, "high"),
    (frozenset({"elderly"}), 3, "urgent"),
    (frozenset({"single_parent", "minor"}), 0, "urgent"),
    (frozenset({"violence"}), None, "urgent"),
    (frozenset({"trafficking"}), 48, "urgent"),
    (frozenset({"persecution", "elderly"}), 24, "urgent"),
]


@pytest.mark.parametrize(("vulnerabilities", "months", "priority"), PRIORITY_CASES)
def test_priority_table(vulnerabilities, months, priority) -> None:
    assert priority_for(replace(GOOD, vulnerabilities=vulnerabilities, planned_return_months=months)) == priority


vulnerability_sets = st.one_of(st.none(), st.frozensets(st.sampled_from(VULNERABILITY_CODES)))
months = st.one_of(st.none(), st.integers(min_value=0, max_value=240))


@given(vulnerabilities=vulnerability_sets, planned=months)
def test_priority_properties(vulnerabilities: frozenset[str] | None, planned: int | None) -> None:
    answers = replace(GOOD, vulnerabilities=vulnerabilities, planned_return_months=planned)
    priority = priority_for(answers)
    assert (priority == "normal") == (not vulnerabilities)
    if vulnerabilities and vulnerabilities & DANGER_CODES:
        assert priority == "urgent"
    # Adding a vulnerability never lowers the priority.
    order = ["normal", "high", "urgent"]
    more = replace(answers, vulnerabilities=(vulnerabilities or frozenset()) | {"elderly"})
    assert order.index(priority_for(more)) >= order.index(priority)


@given(vulnerabilities=vulnerability_sets, planned=months, consent=st.booleans())
def test_warm_lead_properties(vulnerabilities: frozenset[str] | None, planned: int | None, consent: bool) -> None:
    answers = replace(GOOD, vulnerabilities=vulnerabilities, planned_return_months=planned)
    warm = is_warm_lead(answers, has_consent=consent)
    if not consent:
        assert not warm
    elif vulnerabilities:
        assert warm  # a vulnerability is reason enough
    else:
        assert warm == (planned is not None and planned <= 12)
    assert not is_warm_lead(replace(answers, contact_channel=None), has_consent=consent)


def test_personal_fields_hold_the_personal_answers_and_not_the_routing_codes() -> None:
    fields = personal_fields(replace(GOOD, vulnerabilities=frozenset({"pregnancy", "elderly"})))
    assert fields["preferred_name"] == "María"
    assert fields["children_ages"] == [4, 9]
    assert fields["vulnerabilities"] == ["elderly", "pregnancy"]
    assert not {"origin_country", "residence_country", "region", "needs", "language"} & set(fields)
