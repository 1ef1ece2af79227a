"""The eligibility pre-check: a first, honest answer to "can I apply for assisted voluntary return?".

`assess()` applies one residence country's rules (`knowledge/data/eligibility/<CC>.yml`) to what
the person told us and returns `likely_eligible`, `likely_not_eligible` or `needs_counsellor`,
with the reasons (each tied to a rule and its sources), the programme lines that fit, what to
prepare, what happens to re-entry, the priority and the answers still missing. It is guidance,
never a decision: the programme decides.

`next_question()` tells the assistant which single answer to ask for next, skipping what it
already knows, what the person declined to say, and what can no longer change anything.

Both are pure functions of their arguments (no clock, no I/O), so the same answers on the
same day always give the same result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

from knowledge.eligibility_rules import (
    COUNSELLOR,
    GATE,
    PREPARE,
    PRIORITY,
    VULNERABILITY_CODES,
    CountryRules,
    Notice,
    Rule,
)
from knowledge.model import Localized

LIKELY_ELIGIBLE = "likely_eligible"
LIKELY_NOT_ELIGIBLE = "likely_not_eligible"
NEEDS_COUNSELLOR = "needs_counsellor"
OUTCOMES: tuple[str, ...] = (LIKELY_ELIGIBLE, NEEDS_COUNSELLOR, LIKELY_NOT_ELIGIBLE)

NORMAL = "normal"
HIGH = "high"

# How a rule stands for one person.
CLEAR = "clear"  # met
TRIGGERED = "triggered"  # goes against them (gate not met, counsellor needed, priority raised, thing to prepare)
UNKNOWN = "unknown"  # an answer it needs is missing
UNCERTAIN = "uncertain"  # the sources disagree for their case, or cannot tell

DAYS_PER_MONTH = 30


@dataclass(frozen=True)
class EligibilityAnswers:
    """What the person told us. None = not asked yet, unknown, or declined to answer.

    `vulnerabilities`: codes from `knowledge.eligibility_rules.VULNERABILITY_CODES`; an empty set
    means none stated. `declined` names the fields the person chose not to answer, so the
    assistant does not ask them again (they stay unknown for the outcome).
    """

    residence_country: str | None = None
    nationality: str | None = None  # ISO alpha-2
    eu_family_member: bool | None = None
    months_in_country: int | None = None
    has_means_to_return: bool | None = None
    vulnerabilities: frozenset[str] | None = None
    previous_return_benefit: bool | None = None
    pending_legal_matters: bool | None = None
    has_valid_passport: bool | None = None
    unemployment_benefit_entitled: bool | None = None
    wants_business_project: bool | None = None
    has_residence_permit: bool | None = None  # Italy: a valid permesso di soggiorno
    declined: frozenset[str] = frozenset()


ANSWER_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(EligibilityAnswers) if f.name != "declined")

# The order questions are asked in: who you are and how long you have been here, money, past
# returns, documents, the Spain-specific lines, then the sensitive questions last.
QUESTION_ORDER: tuple[str, ...] = (
    "nationality",
    "eu_family_member",
    "months_in_country",
    "has_residence_permit",
    "has_means_to_return",
    "previous_return_benefit",
    "has_valid_passport",
    "unemployment_benefit_entitled",
    "wants_business_project",
    "vulnerabilities",
    "pending_legal_matters",
)


@dataclass(frozen=True)
class Reason:
    """Why the outcome is what it is, in the person's language, with where it comes from."""

    rule_id: str
    status: str  # clear | triggered | unknown | uncertain
    effect: str
    text: Localized
    sources: tuple[str, ...]

    @property
    def source(self) -> str:
        return self.sources[0]


@dataclass(frozen=True)
class DocumentToPrepare:
    id: str
    text: Localized
    sources: tuple[str, ...]


@dataclass(frozen=True)
class ReentryConsequence:
    id: str
    lines: tuple[str, ...]  # () = every line
    years: tuple[int, ...]  # one value per source group; several when sources disagree; 0 = no bar
    conflict: bool
    text: Localized
    sources: tuple[str, ...]


@dataclass(frozen=True)
class EligibilityResult:
    country: str
    outcome: str  # likely_eligible | likely_not_eligible | needs_counsellor
    lines: tuple[str, ...]  # the programme lines that fit (as far as we know)
    reasons: tuple[Reason, ...]
    documents: tuple[DocumentToPrepare, ...]
    reentry: tuple[ReentryConsequence, ...]
    priority: str  # normal | high
    missing: tuple[str, ...]  # answers still needed (see assess())
    notices: tuple[Notice, ...] = ()
    checked_on: dt.date | None = None


# --------------------------------------------------------------------------- checks per kind


@dataclass(frozen=True)
class _Check:
    status: str
    missing: tuple[str, ...] = ()


def _yes_is_bad(name: str) -> Callable[[EligibilityAnswers, dict[str, Any]], _Check]:
    def check(answers: EligibilityAnswers, _params: dict[str, Any]) -> _Check:
        value = getattr(answers, name)
        if value is None:
            return _Check(UNKNOWN, (name,))
        return _Check(TRIGGERED if value else CLEAR)

    return check


def _nationality(answers: EligibilityAnswers, params: dict[str, Any]) -> _Check:
    if answers.nationality is None:
        return _Check(UNKNOWN, ("nationality",))
    excluded = set(params["excluded_groups"]["codes"]) | set(params.get("excluded_countries") or ())
    return _Check(TRIGGERED if answers.nationality.upper() in excluded else CLEAR)


def _minimum_stay(answers: EligibilityAnswers, params: dict[str, Any]) -> _Check:
    months = answers.months_in_country
    if months is None:
        return _Check(UNKNOWN, ("months_in_country",))
    if params.get("min_months") is not None:
        return _Check(CLEAR if months >= params["min_months"] else TRIGGERED)
    # Whole months only: 3 months may be 89 or 92 days, so "more than 90 days" needs 4.
    return _Check(CLEAR if months * DAYS_PER_MONTH > params["more_than_days"] else TRIGGERED)


def _vulnerability(answers: EligibilityAnswers, params: dict[str, Any]) -> _Check:
    if answers.vulnerabilities is None:
        return _Check(UNKNOWN, ("vulnerabilities",))
    return _Check(TRIGGERED if answers.vulnerabilities & params["codes"] else CLEAR)


def _travel_document(answers: EligibilityAnswers, _params: dict[str, Any]) -> _Check:
    if answers.has_valid_passport is None:
        return _Check(UNKNOWN, ("has_valid_passport",))
    return _Check(CLEAR if answers.has_valid_passport else TRIGGERED)


def _unemployment_benefit(answers: EligibilityAnswers, params: dict[str, Any]) -> _Check:
    value = answers.unemployment_benefit_entitled
    if value is None:
        return _Check(UNKNOWN, ("unemployment_benefit_entitled",))
    return _Check(CLEAR if value == params["entitled"] else TRIGGERED)


def _social_security_convention(answers: EligibilityAnswers, params: dict[str, Any]) -> _Check:
    if answers.nationality is None:
        return _Check(UNKNOWN, ("nationality",))
    if answers.nationality.upper() in params["countries"]:
        return _Check(CLEAR)
    return _Check(UNCERTAIN if params.get("partial_list") else TRIGGERED)


def _business_project(answers: EligibilityAnswers, _params: dict[str, Any]) -> _Check:
    if answers.wants_business_project is None:
        return _Check(UNKNOWN, ("wants_business_project",))
    return _Check(CLEAR if answers.wants_business_project else TRIGGERED)


def _stay_situation(answers: EligibilityAnswers, params: dict[str, Any]) -> _Check:
    # Without a valid permit the person "no longer meets the stay conditions": covered. With one,
    # only particular situations are; extreme vulnerability is the one a chat can recognise.
    if answers.has_residence_permit is None:
        return _Check(UNKNOWN, ("has_residence_permit",))
    if not answers.has_residence_permit:
        return _Check(CLEAR)
    if answers.vulnerabilities is None:
        return _Check(UNKNOWN, ("vulnerabilities",))
    return _Check(CLEAR if answers.vulnerabilities & params["vulnerability_codes"] else TRIGGERED)


_CHECKS: dict[str, Callable[[EligibilityAnswers, dict[str, Any]], _Check]] = {
    "nationality": _nationality,
    "eu_family_member": _yes_is_bad("eu_family_member"),
    "means_to_return": _yes_is_bad("has_means_to_return"),
    "minimum_stay": _minimum_stay,
    "previous_return_benefit": _yes_is_bad("previous_return_benefit"),
    "legal_impediment": _yes_is_bad("pending_legal_matters"),
    "vulnerability": _vulnerability,
    "travel_document": _travel_document,
    "unemployment_benefit": _unemployment_benefit,
    "social_security_convention": _social_security_convention,
    "business_project": _business_project,
    "stay_situation": _stay_situation,
}

# Every answer a kind may read (asked while the rule can still matter) ...
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "nationality": ("nationality",),
    "eu_family_member": ("eu_family_member",),
    "means_to_return": ("has_means_to_return",),
    "minimum_stay": ("months_in_country",),
    "previous_return_benefit": ("previous_return_benefit",),
    "legal_impediment": ("pending_legal_matters",),
    "vulnerability": ("vulnerabilities",),
    "travel_document": ("has_valid_passport",),
    "unemployment_benefit": ("unemployment_benefit_entitled",),
    "social_security_convention": ("nationality",),
    "business_project": ("wants_business_project",),
    "stay_situation": ("has_residence_permit", "vulnerabilities"),
}
# ... and the one it always needs to decide anything.
KIND_REQUIRED_FIELD: dict[str, str] = {kind: names[0] for kind, names in KIND_FIELDS.items()}

_DECIDING = (GATE, COUNSELLOR)
CHECKED_KINDS: frozenset[str] = frozenset(_CHECKS)  # a test keeps this equal to knowledge's KINDS


def _evaluate(rule: Rule, answers: EligibilityAnswers) -> _Check:
    """The rule's status; where sources give different values, compare what each would say."""
    check = _CHECKS[rule.kind]
    results = [check(answers, params) for params, _sources in rule.variants()]
    statuses = {r.status for r in results}
    if len(statuses) == 1:
        return results[0]
    if UNKNOWN in statuses:
        return _Check(UNKNOWN, tuple(dict.fromkeys(m for r in results for m in r.missing)))
    return _Check(UNCERTAIN)


# --------------------------------------------------------------------------- assessment


@dataclass(frozen=True)
class _State:
    """The rules in effect and where the person stands on each, shared by assess and next_question."""

    checks: tuple[tuple[Rule, _Check], ...]
    open_lines: tuple[str, ...]  # lines no gate has closed
    clear_lines: tuple[str, ...]  # open lines where every gate and counsellor rule is met
    active: bool = True


def _validate(answers: EligibilityAnswers, rules: CountryRules) -> None:
    if answers.residence_country is not None and answers.residence_country.upper() != rules.country:
        raise ValueError(f"answers are about {answers.residence_country}, rules about {rules.country}")
    if answers.vulnerabilities is not None:
        unknown = set(answers.vulnerabilities) - set(VULNERABILITY_CODES)
        if unknown:
            raise ValueError(f"unknown vulnerability codes: {sorted(unknown)}")
    if answers.months_in_country is not None and answers.months_in_country < 0:
        raise ValueError("months_in_country cannot be negative")
    unknown_fields = set(answers.declined) - set(ANSWER_FIELDS)
    if unknown_fields:
        raise ValueError(f"declined names unknown fields: {sorted(unknown_fields)}")


def _state(answers: EligibilityAnswers, rules: CountryRules, today: dt.date | None) -> _State:
    _validate(answers, rules)
    if today is None:
        active = rules.rules
    else:
        active = rules.rules_on(today)
    if not active:
        return _State(checks=(), open_lines=rules.line_ids, clear_lines=(), active=False)
    checks = tuple((rule, _evaluate(rule, answers)) for rule in active)
    excluded = frozenset(
        line for rule, check in checks if rule.effect == GATE and check.status == TRIGGERED
        for line in rules.line_ids if rule.applies_to(line)
    )
    open_lines = tuple(line for line in rules.line_ids if line not in excluded)
    clear_lines = tuple(
        line for line in open_lines
        if not any(rule.effect in _DECIDING and check.status != CLEAR and rule.applies_to(line)
                   for rule, check in checks)
    )
    return _State(checks=checks, open_lines=open_lines, clear_lines=clear_lines)


def _applies_to_any(rule: Rule, lines: Iterable[str]) -> bool:
    return any(rule.applies_to(line) for line in lines)


def _reason(rule: Rule, check: _Check) -> Reason | None:
    text = getattr(rule.reason, check.status)
    if text is None:
        return None
    sources = rule.all_sources() if check.status == UNCERTAIN else rule.sources
    return Reason(rule_id=rule.id, status=check.status, effect=rule.effect, text=text, sources=sources)


def _ordered(names: Iterable[str]) -> tuple[str, ...]:
    wanted = set(names)
    return tuple(name for name in QUESTION_ORDER if name in wanted)


def assess(answers: EligibilityAnswers, rules: CountryRules, today: dt.date) -> EligibilityResult:
    """Apply the rules in effect on `today` to the answers.

    Outcome, per programme line: a gate not met closes the line; a counsellor rule that is met,
    any deciding answer still unknown, or sources that disagree for this person make the line
    need a counsellor. Overall: likely_eligible if some line is clear (`lines` = the clear lines),
    else needs_counsellor if some line is still open (`lines` = open lines whose own line-specific
    conditions are known to fit), else likely_not_eligible. A missing answer therefore never gives
    likely_eligible for a line that needs it, and vulnerabilities only ever raise priority (or, in
    Italy, show that a permit holder's situation is covered): adding one never lowers the outcome.

    `missing` lists the unknown answers that decide a still-open line, in question order. With a
    likely_eligible outcome they can only add another line. With no rules in effect on `today`
    the outcome is needs_counsellor with no reasons: the rules must be updated.
    """
    state = _state(answers, rules, today)
    if not state.active:
        return EligibilityResult(
            country=rules.country, outcome=NEEDS_COUNSELLOR, lines=(), reasons=(), documents=(), reentry=(),
            priority=NORMAL, missing=(), checked_on=today,
        )
    checks, open_lines = state.checks, state.open_lines

    if state.clear_lines:
        outcome, lines = LIKELY_ELIGIBLE, state.clear_lines
    elif open_lines:
        outcome = NEEDS_COUNSELLOR
        lines = tuple(
            line for line in open_lines
            if not any(rule.lines and rule.applies_to(line) and rule.effect in _DECIDING and check.status == UNKNOWN
                       for rule, check in checks)
        )
    else:
        outcome, lines = LIKELY_NOT_ELIGIBLE, ()

    reasons: list[Reason] = []
    missing: list[str] = []
    explained: set[str] = set()  # lines already explained as closed by an earlier gate
    for rule, check in checks:
        if rule.effect == PREPARE:
            continue
        relevant = _applies_to_any(rule, open_lines)
        closes = {line for line in rules.line_ids if rule.applies_to(line)} - explained
        if rule.effect == PRIORITY:
            reason = _reason(rule, check) if check.status == TRIGGERED else None
        elif check.status == TRIGGERED and rule.effect == GATE:
            # One reason per closed line is enough: an EU national hears about nationality, not APRE.
            reason = _reason(rule, check) if closes else None
            explained |= closes
        elif check.status == TRIGGERED and relevant:
            reason = _reason(rule, check)
        elif check.status in (UNKNOWN, UNCERTAIN) and relevant:
            reason = _reason(rule, check)
            missing.extend(check.missing)
        elif check.status == CLEAR and outcome == LIKELY_ELIGIBLE and _applies_to_any(rule, lines):
            reason = _reason(rule, check)
        else:
            reason = None
        if reason is not None:
            reasons.append(reason)

    priority = HIGH if any(r.effect == PRIORITY and c.status == TRIGGERED for r, c in checks) else NORMAL
    if outcome == LIKELY_NOT_ELIGIBLE:
        return EligibilityResult(
            country=rules.country, outcome=outcome, lines=(), reasons=tuple(reasons), documents=(), reentry=(),
            priority=priority, missing=(), checked_on=today,
        )

    # What to prepare and what happens to re-entry: for the lines that fit, or that may still fit.
    relevant_lines = lines if outcome == LIKELY_ELIGIBLE else open_lines
    documents: list[DocumentToPrepare] = []
    for rule, check in checks:
        if rule.effect == PREPARE and _applies_to_any(rule, relevant_lines):
            # Not knowing is treated as not having it: better to check the passport early.
            text = rule.reason.clear if check.status == CLEAR else rule.reason.triggered
            if text is not None:
                documents.append(DocumentToPrepare(id=rule.id, text=text, sources=rule.sources))
    documents.extend(
        DocumentToPrepare(id=item.id, text=item.text, sources=item.sources)
        for item in rules.documents if any(item.applies_to(line) for line in relevant_lines)
    )
    reentry = tuple(
        ReentryConsequence(
            id=item.id, lines=item.lines, years=tuple(int(alt.value) for alt in item.years),
            conflict=item.conflict, text=item.text, sources=item.all_sources(),
        )
        for item in rules.reentry if any(item.applies_to(line) for line in relevant_lines)
    )
    return EligibilityResult(
        country=rules.country, outcome=outcome, lines=lines, reasons=tuple(reasons), documents=tuple(documents),
        reentry=reentry, priority=priority, missing=_ordered(missing), notices=rules.notices, checked_on=today,
    )


def next_question(answers: EligibilityAnswers, rules: CountryRules, today: dt.date | None = None) -> str | None:
    """The next answer to ask for (a field name of EligibilityAnswers), or None when nothing is left.

    Asks only what a rule in effect (on `today`; all rules when None) still needs for a line
    that is open, in QUESTION_ORDER, skipping known and declined answers. Once every line is
    closed by a gate (for example an EU nationality), nothing more is asked.
    """
    state = _state(answers, rules, today)
    if not state.active:
        return None
    needed: set[str] = set()
    for rule, _check in state.checks:
        if _applies_to_any(rule, state.open_lines):
            needed.update(KIND_FIELDS[rule.kind])
    for name in QUESTION_ORDER:
        if name in needed and getattr(answers, name) is None and name not in answers.declined:
            return name
    return None


def required_answers(rules: CountryRules, today: dt.date, line: str | None = None) -> tuple[str, ...]:
    """Answers without which `line` (or, with None, every line) can never be likely eligible."""
    names = {
        KIND_REQUIRED_FIELD[rule.kind]
        for rule in rules.rules_on(today)
        if rule.effect in _DECIDING and (rule.applies_to(line) if line is not None else not rule.lines)
    }
    return _ordered(names)

