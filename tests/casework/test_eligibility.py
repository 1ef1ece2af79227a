"""The eligibility pre-check: every rule per country (tables) and the invariants (properties)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from functools import lru_cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casework.eligibility import (
    ANSWER_FIELDS,
    CHECKED_KINDS,
    HIGH,
    KIND_FIELDS,
    LIKELY_ELIGIBLE,
    LIKELY_NOT_ELIGIBLE,
    NEEDS_COUNSELLOR,
    NORMAL,
    OUTCOMES,
    QUESTION_ORDER,
    EligibilityAnswers,
    EligibilityResult,
    assess,
    next_question,
    required_answers,
)
from knowledge import EU_COUNTRIES, LANGUAGES, ORIGIN_COUNTRIES
from knowledge.eligibility_rules import KINDS, VULNERABILITY_CODES, CountryRules, all_country_rules
from knowledge.loader import load_knowledge

TODAY = dt.date(2026, 11, 23)
_URL = re.compile(r"^https?://\S+$")
NON_EU_OUTSIDE_NETWORK = ("HN", "US", "MA", "NG", "SN")
FREE_MOVEMENT = tuple(sorted(EU_COUNTRIES | {"IS", "LI", "NO", "CH"}))


@lru_cache(maxsize=1)
def _all_rules() -> dict[str, CountryRules]:
    return all_country_rules(load_knowledge())


def rules_for(country: str) -> CountryRules:
    return _all_rules()[country]


# A person every rule is happy with, per country; each table row changes a few answers.
BASE: dict[str, EligibilityAnswers] = {
    "ES": EligibilityAnswers(
        residence_country="ES", nationality="PE", eu_family_member=False, months_in_country=12,
        has_means_to_return=False, previous_return_benefit=False, pending_legal_matters=False,
        has_valid_passport=True, unemployment_benefit_entitled=False, wants_business_project=False,
        vulnerabilities=frozenset(),
    ),
    "IT": EligibilityAnswers(
        residence_country="IT", nationality="EC", has_residence_permit=False, has_means_to_return=False,
        previous_return_benefit=False, has_valid_passport=True, vulnerabilities=frozenset(),
    ),
    "PT": EligibilityAnswers(
        residence_country="PT", nationality="BR", eu_family_member=False, months_in_country=12,
        has_means_to_return=False, previous_return_benefit=False, pending_legal_matters=False,
        has_valid_passport=True, vulnerabilities=frozenset(),
    ),
}


def check(country: str, **changes: Any) -> EligibilityResult:
    return assess(dataclasses.replace(BASE[country], **changes), rules_for(country), TODAY)


def statuses(result: EligibilityResult) -> dict[str, str]:
    return {reason.rule_id: reason.status for reason in result.reasons}


# --------------------------------------------------------------------------- tables, one row per rule case

V = frozenset
CASES: list[tuple[str, str, dict[str, Any], str, tuple[str, ...], dict[str, str]]] = [
    # id, country, changes, outcome, lines, reasons expected (rule id -> status)
    ("es-all-clear", "ES", {}, LIKELY_ELIGIBLE, ("social",), {"es-nationality": "clear", "es-no-means": "clear"}),
    ("es-eu-national", "ES", {"nationality": "FR"}, LIKELY_NOT_ELIGIBLE, (), {"es-nationality": "triggered"}),
    ("es-naturalised-spanish", "ES", {"nationality": "ES"}, LIKELY_NOT_ELIGIBLE, (), {"es-nationality": "triggered"}),
    ("es-eea-national", "ES", {"nationality": "NO"}, LIKELY_NOT_ELIGIBLE, (), {"es-nationality": "triggered"}),
    ("es-swiss-national", "ES", {"nationality": "CH"}, LIKELY_NOT_ELIGIBLE, (), {"es-nationality": "triggered"}),
    ("es-lower-case-code", "ES", {"nationality": "co"}, LIKELY_ELIGIBLE, ("social",), {}),
    ("es-nationality-unknown", "ES", {"nationality": None}, NEEDS_COUNSELLOR, ("social",),
     {"es-nationality": "unknown"}),
    ("es-eu-family", "ES", {"eu_family_member": True}, NEEDS_COUNSELLOR, ("social",),
     {"es-eu-family-card": "triggered"}),
    ("es-eu-family-unknown", "ES", {"eu_family_member": None}, NEEDS_COUNSELLOR, ("social",),
     {"es-eu-family-card": "unknown"}),
    ("es-stay-under-3", "ES", {"months_in_country": 2}, LIKELY_NOT_ELIGIBLE, (), {"es-minimum-stay": "triggered"}),
    ("es-stay-3-conflict", "ES", {"months_in_country": 3}, NEEDS_COUNSELLOR, ("social",),
     {"es-minimum-stay": "uncertain"}),
    ("es-stay-5-conflict", "ES", {"months_in_country": 5}, NEEDS_COUNSELLOR, ("social",),
     {"es-minimum-stay": "uncertain"}),
    ("es-stay-6", "ES", {"months_in_country": 6}, LIKELY_ELIGIBLE, ("social",), {"es-minimum-stay": "clear"}),
    ("es-stay-unknown", "ES", {"months_in_country": None}, NEEDS_COUNSELLOR, (), {"es-minimum-stay": "unknown"}),
    ("es-stay-short-but-apre", "ES", {"months_in_country": 1, "unemployment_benefit_entitled": True},
     LIKELY_ELIGIBLE, ("apre",), {"es-minimum-stay": "triggered", "es-apre-unemployment-benefit": "clear"}),
    ("es-has-means", "ES", {"has_means_to_return": True}, LIKELY_NOT_ELIGIBLE, (), {"es-no-means": "triggered"}),
    ("es-means-unknown", "ES", {"has_means_to_return": None}, NEEDS_COUNSELLOR, (), {"es-no-means": "unknown"}),
    ("es-has-means-but-apre", "ES", {"has_means_to_return": True, "unemployment_benefit_entitled": True},
     LIKELY_ELIGIBLE, ("apre",), {"es-no-means": "triggered"}),
    ("es-has-means-apre-unknown", "ES", {"has_means_to_return": True, "unemployment_benefit_entitled": None},
     NEEDS_COUNSELLOR, (), {"es-apre-unemployment-benefit": "unknown"}),
    ("es-previous-return", "ES", {"previous_return_benefit": True}, NEEDS_COUNSELLOR, ("social",),
     {"es-previous-return": "triggered"}),
    ("es-legal-matter", "ES", {"pending_legal_matters": True}, NEEDS_COUNSELLOR, ("social",),
     {"es-legal-ban": "triggered"}),
    ("es-legal-declined", "ES", {"pending_legal_matters": None, "declined": V({"pending_legal_matters"})},
     NEEDS_COUNSELLOR, ("social",), {"es-legal-ban": "unknown"}),
    ("es-vulnerable", "ES", {"vulnerabilities": V({"pregnancy"})}, LIKELY_ELIGIBLE, ("social",),
     {"es-vulnerability": "triggered"}),
    ("es-vulnerability-declined", "ES", {"vulnerabilities": None}, LIKELY_ELIGIBLE, ("social",), {}),
    ("es-no-passport", "ES", {"has_valid_passport": False}, LIKELY_ELIGIBLE, ("social",), {}),
    ("es-passport-unknown", "ES", {"has_valid_passport": None}, LIKELY_ELIGIBLE, ("social",), {}),
    ("es-apre", "ES", {"unemployment_benefit_entitled": True}, LIKELY_ELIGIBLE, ("social", "apre"),
     {"es-apre-unemployment-benefit": "clear", "es-apre-social-security-convention": "clear"}),
    ("es-apre-no-convention", "ES",
     {"nationality": "HN", "has_means_to_return": True, "unemployment_benefit_entitled": True},
     LIKELY_NOT_ELIGIBLE, (), {"es-no-means": "triggered", "es-apre-social-security-convention": "triggered"}),
    ("es-productive", "ES", {"wants_business_project": True}, LIKELY_ELIGIBLE, ("social", "productive"),
     {"es-productive-business-project": "clear"}),
    ("es-productive-but-benefit", "ES", {"wants_business_project": True, "unemployment_benefit_entitled": True},
     LIKELY_ELIGIBLE, ("social", "apre"), {"es-productive-without-benefit": "triggered"}),
    ("es-business-unknown", "ES", {"wants_business_project": None}, LIKELY_ELIGIBLE, ("social",),
     {"es-productive-business-project": "unknown"}),

    ("it-all-clear", "IT", {}, LIKELY_ELIGIBLE, ("rva",), {"it-stay-situation": "clear"}),
    ("it-eu-national", "IT", {"nationality": "IT"}, LIKELY_NOT_ELIGIBLE, (), {"it-nationality": "triggered"}),
    ("it-nationality-unknown", "IT", {"nationality": None}, NEEDS_COUNSELLOR, ("rva",), {"it-nationality": "unknown"}),
    ("it-permit-holder", "IT", {"has_residence_permit": True}, NEEDS_COUNSELLOR, ("rva",),
     {"it-stay-situation": "triggered"}),
    ("it-permit-holder-vulnerable", "IT", {"has_residence_permit": True, "vulnerabilities": V({"disability"})},
     LIKELY_ELIGIBLE, ("rva",), {"it-stay-situation": "clear", "it-vulnerability": "triggered"}),
    ("it-permit-holder-pregnant", "IT", {"has_residence_permit": True, "vulnerabilities": V({"pregnancy"})},
     NEEDS_COUNSELLOR, ("rva",), {"it-stay-situation": "triggered", "it-vulnerability": "triggered"}),
    ("it-permit-vulnerability-declined", "IT", {"has_residence_permit": True, "vulnerabilities": None},
     NEEDS_COUNSELLOR, ("rva",), {"it-stay-situation": "unknown"}),
    ("it-permit-unknown", "IT", {"has_residence_permit": None}, NEEDS_COUNSELLOR, ("rva",),
     {"it-stay-situation": "unknown"}),
    ("it-has-means", "IT", {"has_means_to_return": True}, NEEDS_COUNSELLOR, ("rva",), {"it-no-means": "triggered"}),
    ("it-previous-return", "IT", {"previous_return_benefit": True}, NEEDS_COUNSELLOR, ("rva",),
     {"it-previous-return": "triggered"}),
    ("it-no-minimum-stay", "IT", {"months_in_country": 0}, LIKELY_ELIGIBLE, ("rva",), {}),
    ("it-legal-matters-not-a-rule", "IT", {"pending_legal_matters": True}, LIKELY_ELIGIBLE, ("rva",), {}),
    ("it-vulnerable", "IT", {"vulnerabilities": V({"minor", "homeless"})}, LIKELY_ELIGIBLE, ("rva",),
     {"it-vulnerability": "triggered"}),
    ("it-no-passport", "IT", {"has_valid_passport": False}, LIKELY_ELIGIBLE, ("rva",), {}),

    ("pt-all-clear", "PT", {}, LIKELY_ELIGIBLE, ("arvore",), {"pt-nationality": "clear"}),
    ("pt-eu-national", "PT", {"nationality": "PT"}, LIKELY_NOT_ELIGIBLE, (), {"pt-nationality": "triggered"}),
    ("pt-eu-family", "PT", {"eu_family_member": True}, LIKELY_NOT_ELIGIBLE, (), {"pt-eu-family": "triggered"}),
    ("pt-eu-family-unknown", "PT", {"eu_family_member": None}, NEEDS_COUNSELLOR, ("arvore",),
     {"pt-eu-family": "unknown"}),
    ("pt-stay-3-months", "PT", {"months_in_country": 3}, NEEDS_COUNSELLOR, ("arvore",),
     {"pt-minimum-stay": "triggered"}),
    ("pt-stay-4-months", "PT", {"months_in_country": 4}, LIKELY_ELIGIBLE, ("arvore",), {"pt-minimum-stay": "clear"}),
    ("pt-stay-unknown", "PT", {"months_in_country": None}, NEEDS_COUNSELLOR, ("arvore",),
     {"pt-minimum-stay": "unknown"}),
    ("pt-has-means", "PT", {"has_means_to_return": True}, LIKELY_NOT_ELIGIBLE, (), {"pt-no-means": "triggered"}),
    ("pt-previous-return", "PT", {"previous_return_benefit": True}, LIKELY_NOT_ELIGIBLE, (),
     {"pt-previous-return": "triggered"}),
    ("pt-legal-matter", "PT", {"pending_legal_matters": True}, NEEDS_COUNSELLOR, ("arvore",),
     {"pt-legal-problems": "triggered"}),
    ("pt-vulnerable", "PT", {"vulnerabilities": V({"large_family"})}, LIKELY_ELIGIBLE, ("arvore",),
     {"pt-vulnerability": "triggered"}),
    ("pt-passport-unknown", "PT", {"has_valid_passport": None}, LIKELY_ELIGIBLE, ("arvore",), {}),
]


@pytest.mark.parametrize(
    ("country", "changes", "outcome", "lines", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in CASES],
)
def test_rule_table(country: str, changes: dict[str, Any], outcome: str, lines: tuple[str, ...],
                    expected: dict[str, str]) -> None:
    result = check(country, **changes)
    assert result.outcome == outcome, statuses(result)
    assert result.lines == lines
    found = statuses(result)
    for rule_id, status in expected.items():
        assert found.get(rule_id) == status, (rule_id, found)


def test_every_rule_of_every_country_is_exercised_by_the_table() -> None:
    seen: set[str] = set()
    for _id, country, changes, *_rest in CASES:
        seen.update(statuses(check(country, **changes)))
        seen.update(d.id for d in check(country, **changes).documents)
    for country, rules in _all_rules().items():
        missing = [rule.id for rule in rules.rules if rule.id not in seen]
        assert not missing, f"{country}: rules never exercised: {missing}"


def test_the_engine_knows_every_kind_the_loader_accepts() -> None:
    assert CHECKED_KINDS == set(KINDS) == set(KIND_FIELDS)


# --------------------------------------------------------------------------- what the result carries


def test_priority_is_high_only_when_a_listed_vulnerability_is_stated() -> None:
    assert check("ES").priority == NORMAL
    assert check("ES", vulnerabilities=V({"torture"})).priority == HIGH
    assert check("ES", vulnerabilities=V({"homeless"})).priority == NORMAL  # not on Spain's list
    assert check("IT", vulnerabilities=V({"homeless"})).priority == HIGH


def test_a_missing_passport_is_something_to_prepare_not_a_gate() -> None:
    for country in BASE:
        rules = rules_for(country)
        passport = next(r for r in rules.rules if r.kind == "travel_document")
        for value, text in ((False, passport.reason.triggered), (None, passport.reason.triggered),
                            (True, passport.reason.clear)):
            result = check(country, has_valid_passport=value)
            assert result.outcome == LIKELY_ELIGIBLE
            assert result.documents[0].id == passport.id
            assert result.documents[0].text == text


def test_documents_follow_the_lines_that_fit() -> None:
    social = {d.id for d in check("ES").documents}
    assert {"es-doc-vulnerability-report", "es-doc-declaration", "es-doc-surrender"} <= social
    assert "es-doc-sepe-decision" not in social
    assert "es-doc-business-idea" not in social
    apre_only = {d.id for d in check("ES", has_means_to_return=True, unemployment_benefit_entitled=True).documents}
    assert "es-doc-sepe-decision" in apre_only
    assert "es-doc-vulnerability-report" not in apre_only
    productive = {d.id for d in check("ES", wants_business_project=True).documents}
    assert "es-doc-business-idea" in productive
    assert check("ES", nationality="DE").documents == ()


def test_reentry_states_the_length_and_the_conflict() -> None:
    social = check("ES").reentry
    assert [(r.id, r.years, r.conflict) for r in social] == [("es-reentry-avr", (3,), False)]
    apre = check("ES", has_means_to_return=True, unemployment_benefit_entitled=True).reentry
    assert [(r.id, r.years, r.conflict) for r in apre] == [("es-reentry-apre", (3, 5), True)]
    assert "5" in apre[0].text["es"]
    assert "5" in apre[0].text["en"]
    pt = check("PT").reentry
    assert [(r.years, r.conflict) for r in pt] == [((5, 3), True)]
    assert all("3" in pt[0].text[lang] and "5" in pt[0].text[lang] for lang in LANGUAGES)
    it = check("IT").reentry
    assert [(r.years, r.conflict) for r in it] == [((0,), False)]


def test_a_conflict_reason_cites_both_sides() -> None:
    result = check("ES", months_in_country=4)
    reason = next(r for r in result.reasons if r.rule_id == "es-minimum-stay")
    assert reason.status == "uncertain"
    joined = " ".join(reason.sources)
    assert "elconfidencialdigital" in joined
    assert "tus-ayudas" in joined


def test_missing_lists_what_is_still_needed_in_question_order() -> None:
    result = assess(EligibilityAnswers(), rules_for("ES"), TODAY)
    assert result.outcome == NEEDS_COUNSELLOR
    assert result.missing[:3] == ("nationality", "eu_family_member", "months_in_country")
    assert "has_valid_passport" not in result.missing  # never decides the outcome
    assert "vulnerabilities" not in result.missing
    assert check("ES").missing == ()
    # a likely_eligible answer may still list what could add another line
    assert check("ES", wants_business_project=None).missing == ("wants_business_project",)


def test_an_eu_national_hears_one_reason_not_every_closed_line() -> None:
    result = check("ES", nationality="IT", has_means_to_return=True)
    assert [r.rule_id for r in result.reasons] == ["es-nationality"]


def test_notices_are_given_unless_not_eligible() -> None:
    assert [n.id for n in check("IT").notices] == ["it-notice-funding-cycles", "it-notice-short-deadlines"]
    assert check("IT", nationality="FR").notices == ()


def test_answers_for_another_country_or_unknown_codes_are_refused() -> None:
    with pytest.raises(ValueError, match="answers are about IT"):
        assess(BASE["IT"], rules_for("ES"), TODAY)
    with pytest.raises(ValueError, match="vulnerability codes"):
        check("ES", vulnerabilities=V({"sad"}))
    with pytest.raises(ValueError, match="declined"):
        check("ES", declined=V({"shoe_size"}))
    with pytest.raises(ValueError, match="negative"):
        check("PT", months_in_country=-1)


# --------------------------------------------------------------------------- dates


def test_only_rules_in_effect_on_the_day_apply() -> None:
    es = rules_for("ES")
    later = dataclasses.replace(es.rule("es-legal-ban"), effective_from=dt.date(2027, 1, 1))
    ended = dataclasses.replace(es.rule("es-previous-return"), effective_until=dt.date(2026, 6, 30))
    rules = dataclasses.replace(es, rules=tuple(
        later if r.id == later.id else ended if r.id == ended.id else r for r in es.rules))
    answers = dataclasses.replace(BASE["ES"], pending_legal_matters=True, previous_return_benefit=True)
    assert assess(answers, rules, TODAY).outcome == LIKELY_ELIGIBLE
    assert next_question(dataclasses.replace(answers, pending_legal_matters=None), rules, TODAY) is None
    in_2027 = assess(answers, rules, dt.date(2027, 1, 1))
    assert in_2027.outcome == NEEDS_COUNSELLOR
    assert "es-legal-ban" in statuses(in_2027)
    in_spring = assess(answers, rules, dt.date(2026, 3, 1))
    assert "es-previous-return" in statuses(in_spring)


def test_a_day_before_the_rules_begin_needs_a_counsellor() -> None:
    result = assess(BASE["PT"], rules_for("PT"), dt.date(2024, 12, 31))
    assert result.outcome == NEEDS_COUNSELLOR
    assert result.reasons == ()
    assert result.lines == ()


# --------------------------------------------------------------------------- next_question


def _walk(country: str, start: EligibilityAnswers | None = None) -> list[str]:
    """Ask until done, answering each question as the base person would."""
    rules = rules_for(country)
    answers = start or EligibilityAnswers(residence_country=country)
    asked: list[str] = []
    while (name := next_question(answers, rules, TODAY)) is not None:
        assert name not in asked
        asked.append(name)
        answers = dataclasses.replace(answers, **{name: getattr(BASE[country], name)})
    return asked


def test_questions_come_one_at_a_time_in_order() -> None:
    assert _walk("ES") == [
        "nationality", "eu_family_member", "months_in_country", "has_means_to_return", "previous_return_benefit",
        "has_valid_passport", "unemployment_benefit_entitled", "wants_business_project", "vulnerabilities",
        "pending_legal_matters",
    ]
    assert _walk("IT") == [
        "nationality", "has_residence_permit", "has_means_to_return", "previous_return_benefit",
        "has_valid_passport", "vulnerabilities",
    ]
    assert _walk("PT") == [
        "nationality", "eu_family_member", "months_in_country", "has_means_to_return", "previous_return_benefit",
        "has_valid_passport", "vulnerabilities", "pending_legal_matters",
    ]


def test_known_and_declined_answers_are_not_asked_again() -> None:
    rules = rules_for("PT")
    answers = dataclasses.replace(BASE["PT"], vulnerabilities=None, pending_legal_matters=None,
                                  declined=V({"vulnerabilities"}))
    assert next_question(answers, rules, TODAY) == "pending_legal_matters"
    answers = dataclasses.replace(answers, declined=V({"vulnerabilities", "pending_legal_matters"}))
    assert next_question(answers, rules, TODAY) is None


def test_nothing_more_is_asked_once_every_line_is_closed() -> None:
    rules = rules_for("ES")
    assert next_question(EligibilityAnswers(nationality="FR"), rules, TODAY) is None
    assert next_question(EligibilityAnswers(nationality="PE", eu_family_member=False, months_in_country=1,
                                            unemployment_benefit_entitled=False), rules, TODAY) is None


def test_questions_that_can_no_longer_matter_are_skipped() -> None:
    rules = rules_for("ES")
    # Who can pay their journey is left with APRE only: no minimum stay, no business project.
    with_means = EligibilityAnswers(nationality="PE", eu_family_member=False, has_means_to_return=True)
    assert next_question(with_means, rules, TODAY) == "previous_return_benefit"
    asked = _walk("ES", dataclasses.replace(with_means, previous_return_benefit=False))
    assert "months_in_country" not in asked
    assert "wants_business_project" not in asked
    assert "unemployment_benefit_entitled" in asked


def test_italy_asks_the_situation_and_never_about_legal_matters() -> None:
    asked = _walk("IT")
    assert "pending_legal_matters" not in asked
    assert "months_in_country" not in asked
    assert "unemployment_benefit_entitled" not in asked
    assert "has_residence_permit" in asked


def test_required_answers() -> None:
    assert required_answers(rules_for("PT"), TODAY) == (
        "nationality", "eu_family_member", "months_in_country", "has_means_to_return", "previous_return_benefit",
        "pending_legal_matters",
    )
    es = rules_for("ES")
    assert "has_means_to_return" not in required_answers(es, TODAY)  # APRE needs no means test
    assert "has_means_to_return" in required_answers(es, TODAY, line="social")
    assert "unemployment_benefit_entitled" in required_answers(es, TODAY, line="apre")
    assert "has_valid_passport" not in required_answers(es, TODAY, line="social")


# --------------------------------------------------------------------------- properties

maybe_bool = st.one_of(st.none(), st.booleans())
nationalities = st.one_of(st.none(), st.sampled_from(ORIGIN_COUNTRIES + FREE_MOVEMENT + NON_EU_OUTSIDE_NETWORK))
vulnerability_sets = st.frozensets(st.sampled_from(VULNERABILITY_CODES))


@st.composite
def cases(draw: st.DrawFn, nationality: st.SearchStrategy[str | None] = nationalities) -> tuple[str, EligibilityAnswers]:
    country = draw(st.sampled_from(("ES", "IT", "PT")))
    answers = EligibilityAnswers(
        residence_country=draw(st.sampled_from((None, country))),
        nationality=draw(nationality),
        eu_family_member=draw(maybe_bool),
        months_in_country=draw(st.one_of(st.none(), st.integers(0, 600))),
        has_means_to_return=draw(maybe_bool),
        vulnerabilities=draw(st.one_of(st.none(), vulnerability_sets)),
        previous_return_benefit=draw(maybe_bool),
        pending_legal_matters=draw(maybe_bool),
        has_valid_passport=draw(maybe_bool),
        unemployment_benefit_entitled=draw(maybe_bool),
        wants_business_project=draw(maybe_bool),
        has_residence_permit=draw(maybe_bool),
        declined=draw(st.frozensets(st.sampled_from(ANSWER_FIELDS))),
    )
    return country, answers


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RANK = {LIKELY_NOT_ELIGIBLE: 0, NEEDS_COUNSELLOR: 1, LIKELY_ELIGIBLE: 2}


def lowered(before: str, after: str) -> bool:
    """Worse for the person: eligible to anything else, or counsellor to not eligible."""
    return (before == LIKELY_ELIGIBLE and after != LIKELY_ELIGIBLE) or (
        before == NEEDS_COUNSELLOR and after == LIKELY_NOT_ELIGIBLE)


@PROPERTY
@given(cases(nationality=st.sampled_from(FREE_MOVEMENT)))
def test_an_eu_eea_or_swiss_national_is_never_likely_eligible(case: tuple[str, EligibilityAnswers]) -> None:
    country, answers = case
    result = assess(answers, rules_for(country), TODAY)
    assert result.outcome == LIKELY_NOT_ELIGIBLE
    assert result.lines == ()
    assert result.documents == ()
    assert next_question(answers, rules_for(country), TODAY) is None


@PROPERTY
@given(cases(), st.sampled_from(VULNERABILITY_CODES))
def test_adding_a_vulnerability_never_lowers_the_outcome(case: tuple[str, EligibilityAnswers], code: str) -> None:
    country, answers = case
    rules = rules_for(country)
    before = assess(answers, rules, TODAY)
    more = dataclasses.replace(answers, vulnerabilities=(answers.vulnerabilities or frozenset()) | {code})
    after = assess(more, rules, TODAY)
    assert not lowered(before.outcome, after.outcome), (before.outcome, after.outcome)
    assert RANK[after.outcome] >= RANK[before.outcome]
    assert not (before.priority == HIGH and after.priority == NORMAL)


@PROPERTY
@given(cases(), st.data())
def test_a_missing_required_answer_never_gives_likely_eligible(case: tuple[str, EligibilityAnswers],
                                                                data: st.DataObject) -> None:
    country, answers = case
    rules = rules_for(country)
    required = required_answers(rules, TODAY)
    name = data.draw(st.sampled_from(required))
    result = assess(dataclasses.replace(answers, **{name: None}), rules, TODAY)
    assert result.outcome != LIKELY_ELIGIBLE
    full = assess(answers, rules, TODAY)
    if full.outcome == LIKELY_ELIGIBLE:
        assert full.lines
        for line in full.lines:
            unknown = [n for n in required_answers(rules, TODAY, line=line) if getattr(answers, n) is None]
            assert not unknown, (line, unknown)


@PROPERTY
@given(cases())
def test_every_reason_carries_a_source_and_every_language(case: tuple[str, EligibilityAnswers]) -> None:
    country, answers = case
    result = assess(answers, rules_for(country), TODAY)
    for reason in result.reasons:
        assert _URL.match(reason.source)
        assert all(_URL.match(url) for url in reason.sources)
        assert set(reason.text) == set(LANGUAGES)
        assert all(reason.text.values())
    for item in (*result.documents, *result.reentry, *result.notices):
        assert item.sources
        assert all(_URL.match(url) for url in item.sources)
        assert set(item.text) == set(LANGUAGES)


@PROPERTY
@given(cases())
def test_the_result_is_deterministic_and_well_formed(case: tuple[str, EligibilityAnswers]) -> None:
    country, answers = case
    rules = rules_for(country)
    first = assess(answers, rules, TODAY)
    again = assess(dataclasses.replace(answers), rules, TODAY)
    assert first == again
    assert first.outcome in OUTCOMES
    assert set(first.lines) <= set(rules.line_ids)
    assert list(first.missing) == [n for n in QUESTION_ORDER if n in first.missing]
    assert all(getattr(answers, n) is None for n in first.missing)
    if first.outcome == LIKELY_NOT_ELIGIBLE:
        assert first.lines == ()
        assert first.documents == ()
        assert first.reentry == ()
        assert first.missing == ()
        assert any(r.status == "triggered" and r.effect == "gate" for r in first.reasons)
    if first.outcome == NEEDS_COUNSELLOR:
        assert any(r.status in ("triggered", "unknown", "uncertain") and r.effect in ("gate", "counsellor")
                   for r in first.reasons)


@PROPERTY
@given(cases())
def test_next_question_asks_only_unknown_undeclined_fields_and_ends(case: tuple[str, EligibilityAnswers]) -> None:
    country, answers = case
    rules = rules_for(country)
    for _ in range(len(QUESTION_ORDER) + 1):
        name = next_question(answers, rules, TODAY)
        if name is None:
            break
        assert name in QUESTION_ORDER
        assert getattr(answers, name) is None
        assert name not in answers.declined
        answers = dataclasses.replace(answers, declined=answers.declined | {name})
    else:
        pytest.fail("next_question never finished")
    # once nothing is left to ask, the outcome can only lack answers the person declined
    result = assess(answers, rules, TODAY)
    assert set(result.missing) <= answers.declined | {"residence_country"}
