"""The intake: the answers of the preliminary form, their validation, lead and priority.

Plain data and pure functions: the bot fills an `IntakeAnswers` from its slots, checks it
with `validate_intake`, and `casework.tickets.open_case` stores it (the personal parts
encrypted, see `personal_fields`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from knowledge.eligibility_rules import VULNERABILITY_CODES
from knowledge.model import NEEDS

LANGUAGES = ("es", "pt", "en")
# "chat": reply where the person wrote from (WhatsApp/Telegram: the handle is already stored).
CONTACT_CHANNELS = ("chat", "phone", "email")
# The channels where "reply in this chat" is a way to reach the person later. The REST
# channel (local testing, outside checks) keeps no handle: there a phone or e-mail is needed.
REPLYABLE_CHANNELS = ("whatsapp", "telegram")
CONTACT_TIMES = ("morning", "afternoon", "evening", "any")
QUALIFICATIONS = ("none", "primary", "secondary", "vocational", "bachelor", "master", "doctorate")

# Someone facing these is in danger, whatever their timeline.
DANGER_CODES = frozenset({"trafficking", "violence", "torture", "persecution"})
WARM_LEAD_HORIZON_MONTHS = 12
SHORT_TIMELINE_MONTHS = 3

_COUNTRY = re.compile(r"^[A-Z]{2}$")
MAX_TEXT = 120


@dataclass(frozen=True)
class IntakeAnswers:
    """What the person told the intake form. None means not answered (or declined)."""

    origin_country: str | None = None  # ISO code of the country they return to
    residence_country: str | None = None  # ISO code of where they live now
    language: str = "es"
    preferred_name: str | None = None  # how to address them
    return_city: str | None = None  # region/city they return to
    residence_city: str | None = None
    region: str | None = None  # region of residence (Spain: "madrid", "catalonia", ...)
    months_abroad: int | None = None
    household_adults: int | None = None
    children_ages: tuple[int, ...] = ()
    planned_return_months: int | None = None  # months from now; None = no date in mind
    needs: tuple[str, ...] = ()  # codes of knowledge.model.NEEDS
    highest_qualification: str | None = None  # one of QUALIFICATIONS
    qualification_field: str | None = None
    # Codes of VULNERABILITY_CODES; empty = none stated; None = declined to answer.
    vulnerabilities: frozenset[str] | None = None
    contact_channel: str | None = None  # one of CONTACT_CHANNELS
    contact_detail: str | None = None  # the phone number or address, for "phone"/"email"
    contact_time: str | None = None  # one of CONTACT_TIMES

    @property
    def vulnerable(self) -> bool:
        return bool(self.vulnerabilities)

    @property
    def in_danger(self) -> bool:
        return bool(self.vulnerabilities and self.vulnerabilities & DANGER_CODES)

    @property
    def contactable(self) -> bool:
        return self.reachable(chat_reachable=True)

    def reachable(self, *, chat_reachable: bool) -> bool:
        """A way to contact the person: the chat (where it can be written to later), or a detail."""
        if self.contact_channel == "chat":
            return chat_reachable
        return self.contact_channel in ("phone", "email") and bool((self.contact_detail or "").strip())


# Stored in plain columns (codes, needed for routing and statistics); everything else is encrypted.
PLAIN_FIELDS = ("origin_country", "residence_country", "region", "needs", "language")


def personal_fields(answers: IntakeAnswers) -> dict[str, Any]:
    """The answers that are personal data, JSON-ready, for encryption at rest."""
    data = asdict(answers)
    for name in PLAIN_FIELDS:
        data.pop(name)
    data["children_ages"] = list(answers.children_ages)
    data["vulnerabilities"] = sorted(answers.vulnerabilities) if answers.vulnerabilities is not None else None
    return data


def validate_intake(answers: IntakeAnswers) -> list[str]:
    """Problem codes (empty when the answers can open a case), in a stable order."""
    problems: list[str] = []
    for name in ("origin_country", "residence_country"):
        value = getattr(answers, name)
        if value is None:
            problems.append(f"{name}_missing")
        elif not _COUNTRY.match(value):
            problems.append(f"{name}_invalid")
    if answers.language not in LANGUAGES:
        problems.append("language_unsupported")
    for name in ("preferred_name", "return_city", "residence_city", "region", "qualification_field", "contact_detail"):
        value = getattr(answers, name)
        if value is not None and len(value) > MAX_TEXT:
            problems.append(f"{name}_too_long")
    if answers.months_abroad is not None and answers.months_abroad < 0:
        problems.append("months_abroad_invalid")
    if answers.household_adults is not None and not 1 <= answers.household_adults <= 30:
        problems.append("household_adults_invalid")
    if any(not 0 <= age <= 17 for age in answers.children_ages):
        problems.append("children_ages_invalid")
    if answers.planned_return_months is not None and not 0 <= answers.planned_return_months <= 240:
        problems.append("planned_return_invalid")
    if set(answers.needs) - set(NEEDS):
        problems.append("needs_unknown")
    if answers.highest_qualification is not None and answers.highest_qualification not in QUALIFICATIONS:
        problems.append("qualification_unknown")
    if answers.vulnerabilities is not None and set(answers.vulnerabilities) - set(VULNERABILITY_CODES):
        problems.append("vulnerabilities_unknown")
    if answers.contact_channel is not None and answers.contact_channel not in CONTACT_CHANNELS:
        problems.append("contact_channel_unknown")
    elif answers.contact_channel in ("phone", "email") and not (answers.contact_detail or "").strip():
        problems.append("contact_detail_missing")
    if answers.contact_time is not None and answers.contact_time not in CONTACT_TIMES:
        problems.append("contact_time_unknown")
    return problems


def is_warm_lead(answers: IntakeAnswers, *, has_consent: bool, chat_reachable: bool = True) -> bool:
    """A warm lead is someone an office should call, defined as all three of:

    1. consent: the person has a valid (not withdrawn) consent to the privacy notice;
    2. a reason to act now: they plan to return within 12 months (0-12 months from now),
       OR they stated at least one vulnerability (a declined answer counts as none);
    3. a way to contact them: the chat they wrote from (only where the channel can write to
       them later: `chat_reachable`, True on WhatsApp/Telegram, False on the REST channel),
       or a phone number / e-mail address given with the "phone" / "email" channel.
    """
    returning_soon = (
        answers.planned_return_months is not None and 0 <= answers.planned_return_months <= WARM_LEAD_HORIZON_MONTHS
    )
    return has_consent and (returning_soon or answers.vulnerable) and answers.reachable(chat_reachable=chat_reachable)


def priority_for(answers: IntakeAnswers) -> str:
    """The ticket's priority: "urgent", "high" or "normal".

    - urgent: a danger code (trafficking, violence, torture, persecution), whatever the
      timeline; or any vulnerability together with a return planned within 3 months;
    - high: any other stated vulnerability;
    - normal: otherwise (no vulnerability stated, or the question declined).
    """
    if answers.in_danger:
        return "urgent"
    if answers.vulnerable:
        soon = answers.planned_return_months is not None and answers.planned_return_months <= SHORT_TIMELINE_MONTHS
        return "urgent" if soon else "high"
    return "normal"
