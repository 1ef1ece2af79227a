"""The eligibility pre-check as a conversation: slots in, next question and result out.

The rules and the decision live in `casework.eligibility` (a pure engine over the rules in
`knowledge/`); this module only maps the conversation's slots to the engine's answers and
turns its result into short messages in the person's language.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.conversation.form_answers import DECLINED, UNKNOWN
from casework.eligibility import EligibilityAnswers, EligibilityResult, next_question
from knowledge.eligibility_rules import CountryRules

# engine field -> form slot
FIELD_SLOTS: dict[str, str] = {
    "nationality": "elig_nationality",
    "eu_family_member": "elig_eu_family",
    "months_in_country": "elig_months",
    "has_residence_permit": "elig_permit",
    "has_means_to_return": "elig_means",
    "previous_return_benefit": "elig_previous",
    "has_valid_passport": "elig_passport",
    "unemployment_benefit_entitled": "elig_unemployment",
    "wants_business_project": "elig_business",
    "vulnerabilities": "elig_vulnerability",
    "pending_legal_matters": "elig_legal",
}
SLOT_FIELDS = {slot: field for field, slot in FIELD_SLOTS.items()}
FORM_SLOTS = (*FIELD_SLOTS.values(), "elig_eu_national")
OPTIONAL_SLOTS = {"elig_vulnerability", "elig_legal"}
YES_NO_SLOTS = {"elig_eu_national", "elig_eu_family", "elig_permit", "elig_means", "elig_previous",
                "elig_passport", "elig_unemployment", "elig_business", "elig_legal"}
# the form's answer codes -> the engine's vulnerability codes
VULNERABILITY_CODES = {"minors": "minor", "pregnancy": "pregnancy", "disability": "disability",
                       "elderly": "elderly", "single_parent": "single_parent", "violence": "violence"}


def answers_from_slots(slots: dict[str, Any]) -> EligibilityAnswers:
    values: dict[str, Any] = {"residence_country": slots.get("country_residence")}
    declined: set[str] = set()
    for field, slot in FIELD_SLOTS.items():
        value = slots.get(slot)
        if value in (UNKNOWN, DECLINED):
            declined.add(field)  # not asked again; stays unknown for the outcome
            continue
        if value is None:
            continue
        if field == "vulnerabilities":
            value = frozenset(VULNERABILITY_CODES.get(c, c) for c in str(value).split(",") if c)
        elif field == "months_in_country":
            value = int(float(value))
        values[field] = value
    if values.get("nationality") is None and slots.get("elig_eu_national") is not None:
        if slots.get("elig_eu_national") is True and slots.get("country_residence"):
            values["nationality"] = slots["country_residence"]  # an EU passport: the residence one serves
        elif slots.get("elig_eu_national") is False and slots.get("country_origin"):
            values["nationality"] = slots["country_origin"]
    return EligibilityAnswers(**values, declined=frozenset(declined))


def next_slot(slots: dict[str, Any], rules: CountryRules, today: dt.date) -> str | None:
    """The one slot to ask next, or None when the engine has what it needs."""
    field = next_question(answers_from_slots(slots), rules, today)
    if field is None:
        return None
    if field == "nationality" and slots.get("country_origin") and slots.get("elig_eu_national") is None:
        # We know where they come from; only an EU passport would change things.
        return "elig_eu_national"
    return FIELD_SLOTS[field]


def result_summary(result: EligibilityResult) -> dict[str, Any]:
    """What the intake keeps of a result: no personal data, only the outcome and why."""
    return {
        "country": result.country,
        "outcome": result.outcome,
        "lines": list(result.lines),
        "priority": result.priority,
        "reasons": [r.rule_id for r in result.reasons],
        "checked_on": result.checked_on.isoformat() if result.checked_on else None,
    }


def bullet_list(title: str, items: list[str]) -> str:
    return "\n".join([title, *[f"• {item}" for item in items]])


def result_details(result: EligibilityResult, language: str, titles: dict[str, str]) -> list[str]:
    """Reasons (with sources), documents to prepare and the re-entry consequence."""
    parts: list[str] = []
    reasons = [r for r in result.reasons if r.status != "clear"] or list(result.reasons)
    if reasons:
        parts.append(bullet_list(titles["reasons"], [f"{r.text[language]} ({r.source})" for r in reasons[:5]]))
    if result.documents:
        parts.append(bullet_list(titles["documents"], [d.text[language] for d in result.documents[:6]]))
    if result.reentry:
        parts.append(bullet_list(titles["reentry"], [c.text[language] for c in result.reentry]))
    for notice in result.notices:
        parts.append(f"ℹ️ {notice.text[language]}")
    return parts
