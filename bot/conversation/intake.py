"""The intake as a conversation: which question comes next, how an answer fills the slots,
corrections, the summary, and the mapping from slots to `casework.intake.IntakeAnswers`.

Consent and the age question are the first two "fields" of the form, so every personal
question comes after an explicit yes from an adult. Nothing here touches the database:
the case is opened only after the summary is confirmed (`casework.tickets.submit_intake`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from bot.conversation import intake_answers as read
from bot.conversation.form_answers import DECLINED, NOT_UNDERSTOOD, UNKNOWN
from casework.intake import IntakeAnswers
from knowledge import EU_COUNTRIES, RESIDENCE_COUNTRIES
from knowledge.model import NEEDS, KnowledgeBase

CONSENT = "intake_consent"
ADULT = "intake_adult"
CONFIRMED = "intake_confirmed"
EDIT_FIELD = "intake_edit_field"
CONTACT_CHANNEL = "intake_contact_channel"
CONTACT_DETAIL = "intake_contact_detail"
FAILURES = "intake_failures"
REFERENCE = "intake_reference"
CONSENT_AT = "intake_consent_at"
CONSENT_LANGUAGE = "intake_consent_language"

# The questions after consent and age, in the order asked; (field code, slot).
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("name", "intake_name"),
    ("origin", "country_origin"),
    ("return_city", "intake_return_city"),
    ("residence", "country_residence"),
    ("residence_city", "intake_residence_city"),
    ("time_abroad", "intake_months_abroad"),
    ("household", "intake_household"),
    ("return_when", "intake_return_months"),
    ("needs", "intake_needs"),
    ("qualification", "intake_qualification"),
    ("vulnerability", "intake_vulnerability"),
    ("contact", CONTACT_CHANNEL),
    ("contact_time", "intake_contact_time"),
)
FIELD_SLOTS = dict(QUESTIONS)
# What is reset when the person wants to change a field from the summary.
EDIT_RESETS: dict[str, tuple[str, ...]] = {
    "name": ("intake_name",),
    "origin": ("country_origin", "intake_return_city"),
    "return_city": ("intake_return_city",),
    "residence": ("country_residence", "region_residence", "intake_residence_city"),
    "residence_city": ("intake_residence_city", "region_residence"),
    "time_abroad": ("intake_months_abroad",),
    "household": ("intake_household",),
    "return_when": ("intake_return_months",),
    "needs": ("intake_needs",),
    "qualification": ("intake_qualification",),
    "vulnerability": ("intake_vulnerability",),
    "contact": (CONTACT_CHANNEL, CONTACT_DETAIL),
    "contact_time": ("intake_contact_time",),
}
# Everything the form collects; "cancel" resets all of it. The countries and region are
# shared with the rest of the conversation but are part of what the person gave the form.
ANSWER_SLOTS: tuple[str, ...] = (
    *(slot for _code, slot in QUESTIONS), CONTACT_DETAIL, "region_residence",
)
PROCESS_SLOTS: tuple[str, ...] = (CONSENT, ADULT, CONFIRMED, EDIT_FIELD, FAILURES, CONSENT_AT, CONSENT_LANGUAGE)
# The slots the form asks for (each has an ask action and its responses).
FORM_SLOTS: tuple[str, ...] = (CONSENT, ADULT, *(slot for _code, slot in QUESTIONS), CONTACT_DETAIL, EDIT_FIELD,
                               CONFIRMED)
ALL_SLOTS: tuple[str, ...] = (*dict.fromkeys((*PROCESS_SLOTS, *ANSWER_SLOTS, REFERENCE)),)

# Questions whose answer the case cannot do without: after two failed answers the person
# is offered a person and the question stays. The others are left unknown for staff.
ESSENTIAL = frozenset({"country_origin", "country_residence"})
MAX_FAILURES = 2
# Channels that can write to the person later (the channel stores the handle, encrypted).
REPLYABLE_CHANNELS = ("whatsapp", "telegram")


def required_slots(slots: dict[str, Any]) -> list[str]:
    """The slots the form still walks through, in order; empty ends the form."""
    if slots.get(REFERENCE):
        return []  # a case is already open in this conversation
    if slots.get(CONSENT) is None:
        return [CONSENT]
    if slots.get(CONSENT) is not True:
        return []
    if slots.get(ADULT) is None:
        return [ADULT]
    if slots.get(ADULT) is not True:
        return []
    order: list[str] = []
    for _code, slot in QUESTIONS:
        order.append(slot)
        if slot == CONTACT_CHANNEL and slots.get(CONTACT_CHANNEL) in ("phone", "email"):
            order.append(CONTACT_DETAIL)
    if slots.get(CONFIRMED) == "edit":
        order.append(EDIT_FIELD)
    order.append(CONFIRMED)
    return order


@dataclass(frozen=True)
class Message:
    """What the form needs of the latest user message."""

    text: str
    intent: str | None
    entities: tuple[dict[str, Any], ...] = ()
    places: tuple[dict[str, Any], ...] = ()

    def values(self, entity: str) -> list[Any]:
        return [e.get("value") for e in self.entities if e.get("entity") == entity and e.get("value") is not None]


@dataclass(frozen=True)
class Reading:
    """The outcome of reading one answer: slot updates, and what to tell the person."""

    updates: dict[str, Any]
    understood: bool
    corrected: bool = False  # a correction of an earlier answer, not an answer to this question
    danger: bool = False  # the answer reveals danger: the safety message comes first


def _countries(message: Message) -> list[tuple[str, str | None]]:
    found = []
    for entity in message.entities:
        if entity.get("entity") == "country" and entity.get("value"):
            found.append((str(entity["value"]).upper(), entity.get("role")))
    return found


def correction(message: Message, slots: dict[str, Any], requested: str) -> dict[str, Any]:
    """"no, vivo en Milán" while another question is open: the earlier answers it changes."""
    updates: dict[str, Any] = {}
    residence_group = {"country_residence", "intake_residence_city"}
    origin_group = {"country_origin", "intake_return_city"}
    for place in message.places:
        country, role = place.get("country"), place.get("role")
        if role == "residence" and country in RESIDENCE_COUNTRIES and requested not in residence_group:
            if country != slots.get("country_residence") or place.get("city") != slots.get("intake_residence_city"):
                updates.update({"country_residence": country, "intake_residence_city": place.get("city"),
                                "region_residence": place.get("region")})
        elif role == "origin" and country and country not in RESIDENCE_COUNTRIES and requested not in origin_group:
            if country != slots.get("country_origin") or place.get("city") != slots.get("intake_return_city"):
                updates.update({"country_origin": country, "intake_return_city": place.get("city")})
    for code, role in _countries(message):
        if role == "residence" and code in RESIDENCE_COUNTRIES and requested not in residence_group:
            if code != slots.get("country_residence") and "country_residence" not in updates:
                updates.update({"country_residence": code, "intake_residence_city": None, "region_residence": None})
        elif role == "origin" and code not in RESIDENCE_COUNTRIES and requested not in origin_group:
            if code != slots.get("country_origin") and "country_origin" not in updates:
                updates.update({"country_origin": code, "intake_return_city": None})
    return updates


def read_answer(requested: str, message: Message, slots: dict[str, Any], today: dt.date,
                channel: str) -> Reading:
    """Read the answer to `requested` (a correction of another answer is taken first)."""
    fixed = correction(message, slots, requested)
    if fixed:
        return Reading(updates={**fixed, "pending_country": None}, understood=True, corrected=True)
    value = _value(requested, message, slots, today, channel)
    if value is NOT_UNDERSTOOD:
        return Reading(updates={}, understood=False)
    if isinstance(value, dict) and "__updates__" in value:
        updates = value["__updates__"]
    else:
        updates = {requested: value}
    danger = requested == "intake_vulnerability" and isinstance(value, list) and bool(
        set(value) & {"violence", "trafficking", "torture", "persecution"})
    return Reading(updates=updates, understood=True, danger=danger)


def _value(requested: str, message: Message, slots: dict[str, Any], today: dt.date, channel: str) -> Any:
    text, intent = message.text, message.intent
    if requested == CONSENT:
        return read.consent(intent, text)
    if requested == ADULT:
        return read.adult(intent, text)
    if requested == "intake_name":
        return read.name(text)
    if requested == "country_origin":
        codes = [code for code, role in _countries(message) if code not in RESIDENCE_COUNTRIES and role != "residence"]
        cities = [p for p in message.places if p.get("country") and p["country"] not in RESIDENCE_COUNTRIES]
        if codes:
            return {"__updates__": {"country_origin": codes[-1], "pending_country": None}}
        if cities:
            return {"__updates__": {"country_origin": cities[-1]["country"], "intake_return_city": cities[-1]["city"]}}
        return NOT_UNDERSTOOD
    if requested == "country_residence":
        places = [p for p in message.places if p.get("country") in RESIDENCE_COUNTRIES]
        if places:
            return {"__updates__": {"country_residence": places[-1]["country"],
                                    "intake_residence_city": places[-1]["city"],
                                    "region_residence": places[-1].get("region"), "pending_country": None}}
        # Someone in France or Germany can still leave a case: the fallback office takes it.
        codes = [code for code, role in _countries(message)
                 if code in RESIDENCE_COUNTRIES or code in EU_COUNTRIES or role == "residence"]
        codes = [code for code in codes if code != slots.get("country_origin")]
        if codes:
            return {"__updates__": {"country_residence": codes[-1], "region_residence": None, "pending_country": None}}
        return NOT_UNDERSTOOD
    if requested == "intake_return_city":
        return_cities = [str(p["city"]) for p in message.places
                         if p.get("country") in (None, slots.get("country_origin"))]
        return read.place(text, return_cities)
    if requested == "intake_residence_city":
        here = [p for p in message.places if p.get("country") in (None, slots.get("country_residence"))]
        if here:
            return {"__updates__": {"intake_residence_city": str(here[-1]["city"]),
                                    "region_residence": here[-1].get("region") or slots.get("region_residence")}}
        return read.place(text, [])
    if requested == "intake_months_abroad":
        return read.time_abroad(intent, text, today)
    if requested == "intake_household":
        return read.household(text)
    if requested == "intake_return_months":
        return read.return_months(intent, text, today)
    if requested == "intake_needs":
        return read.needs(text, [str(v) for v in message.values("need")])
    if requested == "intake_qualification":
        if intent in ("skip", "dont_know"):
            return UNKNOWN
        return read.qualification(text)
    if requested == "intake_vulnerability":
        return read.vulnerabilities(intent, text)
    if requested == CONTACT_CHANNEL:
        found = read.contact(text)
        if found is NOT_UNDERSTOOD or (found["channel"] == "chat" and channel not in REPLYABLE_CHANNELS):
            return NOT_UNDERSTOOD
        return {"__updates__": {CONTACT_CHANNEL: found["channel"], CONTACT_DETAIL: found["detail"]}}
    if requested == CONTACT_DETAIL:
        return read.contact_detail(str(slots.get(CONTACT_CHANNEL)), text)
    if requested == "intake_contact_time":
        return read.contact_time(text)
    if requested == EDIT_FIELD:
        code = read.edit_field(text)
        if code is None:
            return NOT_UNDERSTOOD
        return {"__updates__": {**{slot: None for slot in EDIT_RESETS[code]}, EDIT_FIELD: None, CONFIRMED: None}}
    if requested == CONFIRMED:
        verdict = read.confirmation(intent, text)
        if verdict == "edit":
            code = read.edit_field(text)
            if code is not None:  # "quiero cambiar la ciudad": straight to that question
                return {"__updates__": {slot: None for slot in EDIT_RESETS[code]}}
        return verdict
    return NOT_UNDERSTOOD


def after_failure(requested: str, failures: int) -> tuple[dict[str, Any], bool]:
    """Slot updates after an answer was not understood, and whether to offer a person.

    First failure: ask again with an example. Second: explain with the example and offer a
    person; a question the case can do without is then left unknown (staff ask it), consent
    is never assumed (treated as a no), an unclear age ends the intake with the contacts.
    """
    failures += 1
    if failures < MAX_FAILURES:
        return {FAILURES: float(failures)}, False
    if requested in ESSENTIAL:
        return {FAILURES: 1.0}, True  # keep asking, with the example, a person on offer
    if requested == CONSENT:
        return {FAILURES: 0.0, CONSENT: False}, True
    if requested == ADULT:
        return {FAILURES: 0.0, ADULT: UNKNOWN}, True
    if requested in (CONFIRMED, EDIT_FIELD, CONTACT_DETAIL):
        return {FAILURES: 1.0}, True
    return {FAILURES: 0.0, requested: UNKNOWN}, True


def prefill(slots: dict[str, Any]) -> dict[str, Any]:
    """What the person already said in the conversation (need, cities, eligibility answers).

    The context remembers a city only while it lies in the remembered country, so a city
    is reused only next to its country; the summary shows it and it can be edited there.
    """
    updates: dict[str, Any] = {}
    for city_slot, country_slot, intake_slot in (("city_residence", "country_residence", "intake_residence_city"),
                                                 ("city_return", "country_origin", "intake_return_city")):
        if slots.get(city_slot) and slots.get(country_slot) and slots.get(intake_slot) is None:
            updates[intake_slot] = slots[city_slot]
    if slots.get("need") in NEEDS and slots.get("intake_needs") is None:
        updates["intake_needs"] = [slots["need"]]
    months = slots.get("elig_months")
    if isinstance(months, (int, float)) and slots.get("intake_months_abroad") is None:
        updates["intake_months_abroad"] = int(months)
    vulnerability = slots.get("elig_vulnerability")
    if vulnerability is not None and slots.get("intake_vulnerability") is None:
        if vulnerability == DECLINED:
            updates["intake_vulnerability"] = DECLINED
        elif isinstance(vulnerability, str) and vulnerability != UNKNOWN:
            codes = [ELIGIBILITY_VULNERABILITIES[c] for c in vulnerability.split(",") if c in ELIGIBILITY_VULNERABILITIES]
            updates["intake_vulnerability"] = codes
    return updates


# the eligibility form's answer codes -> intake codes ("minors" is about children travelling,
# which the household question covers)
ELIGIBILITY_VULNERABILITIES = {"pregnancy": "pregnancy", "disability": "disability", "elderly": "elderly",
                               "single_parent": "single_parent", "violence": "violence"}


def _known(value: Any) -> Any:
    return None if value in (UNKNOWN, DECLINED) else value


def answers_from_slots(slots: dict[str, Any], language: str) -> IntakeAnswers:
    """The case data from the form's slots; "unknown" and "declined" become None."""
    household = _known(slots.get("intake_household")) or {}
    qualification = _known(slots.get("intake_qualification")) or {}
    vulnerability = slots.get("intake_vulnerability")
    months_abroad = _known(slots.get("intake_months_abroad"))
    planned = _known(slots.get("intake_return_months"))
    return IntakeAnswers(
        origin_country=slots.get("country_origin"),
        residence_country=slots.get("country_residence"),
        language=language,
        preferred_name=_known(slots.get("intake_name")),
        return_city=_known(slots.get("intake_return_city")),
        residence_city=_known(slots.get("intake_residence_city")),
        region=slots.get("region_residence"),
        months_abroad=int(months_abroad) if months_abroad is not None else None,
        household_adults=household.get("adults"),
        children_ages=tuple(int(a) for a in household.get("children") or ()),
        planned_return_months=int(planned) if planned is not None else None,
        needs=tuple(_known(slots.get("intake_needs")) or ()),
        highest_qualification=qualification.get("level"),
        qualification_field=qualification.get("field"),
        vulnerabilities=None if vulnerability in (None, DECLINED, UNKNOWN) else frozenset(vulnerability),
        contact_channel=_known(slots.get(CONTACT_CHANNEL)),
        contact_detail=_known(slots.get(CONTACT_DETAIL)),
        contact_time=_known(slots.get("intake_contact_time")),
    )


def summary_lines(slots: dict[str, Any], vocabulary: dict[str, Any], kb: KnowledgeBase, language: str) -> list[str]:
    """One "• label: value" line per field, in the person's language (words from the domain)."""
    words = vocabulary
    unknown = words["unknown"]

    def label(group: str, code: Any) -> str:
        return str(words[group].get(code, code))

    def show(value: Any) -> str:
        if value in (None, UNKNOWN):
            return unknown
        if value == DECLINED:
            return words["declined"]
        return str(value)

    def country(code: Any) -> str:
        return kb.country_name(code, language) if code else unknown

    household = _known(slots.get("intake_household"))
    if isinstance(household, dict):
        children = household.get("children") or []
        people = words["adults"].replace("{n}", str(household.get("adults")))
        if children:
            people += ", " + words["children"].replace("{ages}", ", ".join(str(a) for a in children))
    else:
        people = show(slots.get("intake_household"))
    months = _known(slots.get("intake_months_abroad"))
    abroad = words["months"].replace("{n}", str(months)) if months is not None else show(slots.get("intake_months_abroad"))
    planned = _known(slots.get("intake_return_months"))
    when = (words["in_months"].replace("{n}", str(planned)) if planned else words["asap"]) if planned is not None \
        else words["no_date"]
    needs = _known(slots.get("intake_needs"))
    need_text = ", ".join(label("needs", n) for n in needs) if needs else (words["none"] if needs == [] else unknown)
    qualification = _known(slots.get("intake_qualification"))
    if isinstance(qualification, dict):
        study = label("levels", qualification.get("level"))
        if qualification.get("field"):
            study += f" ({qualification['field']})"
    else:
        study = unknown
    vulnerability = slots.get("intake_vulnerability")
    if isinstance(vulnerability, list):
        situation = ", ".join(label("vulnerabilities", v) for v in vulnerability) if vulnerability else words["none"]
    else:
        situation = show(vulnerability)
    channel = _known(slots.get(CONTACT_CHANNEL))
    reach = label("channels", channel) if channel else unknown
    if slots.get(CONTACT_DETAIL):
        reach += f" ({slots[CONTACT_DETAIL]})"
    time = _known(slots.get("intake_contact_time"))
    values = {
        "name": show(slots.get("intake_name")),
        "origin": country(slots.get("country_origin")),
        "return_city": show(slots.get("intake_return_city")),
        "residence": country(slots.get("country_residence")),
        "residence_city": show(slots.get("intake_residence_city")),
        "time_abroad": abroad,
        "household": people,
        "return_when": when,
        "needs": need_text,
        "qualification": study,
        "vulnerability": situation,
        "contact": reach,
        "contact_time": label("times", time) if time else unknown,
    }
    return [f"• {words['fields'][code]}: {values[code]}" for code, _slot in QUESTIONS]


def reset_events(keep_reference: bool = True) -> dict[str, Any]:
    """Slot values that forget everything the form collected (cancel, or after the case)."""
    updates: dict[str, Any] = {slot: None for slot in (*PROCESS_SLOTS, *ANSWER_SLOTS)}
    updates[FAILURES] = 0.0
    updates["requested_slot"] = None
    if not keep_reference:
        updates[REFERENCE] = None
    return updates
