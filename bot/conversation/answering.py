"""Deciding how to answer a question: which topic, for which country, or what to ask first.

Origin-side topics (recognition, services, customs) are about the country the person
returns to; residence-side topics (programmes, eligibility, re-entry) about the European
country they live in. A country named in the question wins over the remembered one
("¿y en Chile?"); with no country at all, the assistant asks once and remembers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from knowledge import EU_COUNTRIES
from knowledge.answers import (
    Answer,
    best_entry,
    entries_for,
    fallback_office,
    offices_for,
    render_entry,
    render_office,
    retrieve,
)
from knowledge.model import KnowledgeBase

INTENT_TOPICS: dict[str, tuple[str, str | None]] = {
    "ask_return_programs": ("return_programs", "residence"),
    "ask_eligibility": ("eligibility", "residence"),
    "ask_reentry": ("reentry", "residence"),
    "ask_qualification_recognition": ("recognition", "origin"),
    "ask_reintegration_services": ("reintegration", "origin"),
    "ask_customs_benefits": ("customs", "origin"),
    "ask_documents": ("documents", "either"),
    "ask_oss_contact": ("oss_contact", "either"),
    "ask_privacy": ("privacy", None),
}


@dataclass(frozen=True)
class Plan:
    """What the action should do: send an answer, or utter a domain response."""

    answer: Answer | None = None
    response: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    topic: str | None = None
    country: str | None = None


def _country_for(role: str | None, mentioned: list[str], slots: dict[str, str | None], kb: KnowledgeBase) -> str | None:
    covered_residence = set(kb.residence)
    if role == "residence":
        # "¿qué ayudas hay para volver a Perú?" names the origin; the programme depends on
        # where the person lives. A named European country outside the network is kept so
        # that the assistant can say it does not cover it.
        pick = [c for c in mentioned if c in covered_residence]
        elsewhere_in_eu = [c for c in mentioned if c in EU_COUNTRIES and c not in covered_residence]
        if pick:
            return pick[-1]
        if slots.get("country_residence"):
            return slots.get("country_residence")
        return elsewhere_in_eu[-1] if elsewhere_in_eu else None
    if role == "origin":
        pick = [c for c in mentioned if c not in covered_residence]
        return pick[-1] if pick else slots.get("country_origin")
    # documents / offices: either side; a named country first, then origin, then residence
    if mentioned:
        return mentioned[-1]
    return slots.get("country_origin") or slots.get("country_residence")


def plan_answer(
    kb: KnowledgeBase,
    topic: str,
    text: str,
    language: str,
    slots: dict[str, str | None],
    mentioned: list[str],
) -> Plan:
    role = next((r for t, r in INTENT_TOPICS.values() if t == topic), None)
    if topic == "privacy":
        entry = best_entry(kb, entries_for(kb, "privacy", None), text, language)
        return Plan(answer=render_entry(kb, entry, language), topic=topic) if entry else Plan(response="utter_default")
    country = _country_for(role, mentioned, slots, kb)
    if not country:
        ask = "utter_ask_country_residence" if role == "residence" else "utter_ask_country_origin"
        return Plan(response=ask, topic=topic)
    covered = set(kb.origin) | set(kb.residence)
    wrong_side = (role == "residence" and country in kb.origin) or (role == "origin" and country in kb.residence)
    if country not in covered or wrong_side:
        return Plan(response="utter_country_not_covered", topic=topic, country=country,
                    params={"country": kb.country_name(country, language)})
    if topic == "oss_contact":
        region = slots.get("region_residence") if country == slots.get("country_residence") else None
        offices = offices_for(kb, country, region)
        messages: list[str] = []
        ids: list[str] = []
        for office in offices:
            rendered = render_office(kb, office, language)
            messages += rendered.messages
            ids += rendered.entry_ids
        return Plan(answer=Answer(tuple(messages), tuple(ids)), topic=topic, country=country)
    entry = best_entry(kb, entries_for(kb, topic, country, slots.get("need")), text, language)
    if entry is None:
        return Plan(response="utter_no_answer", topic=topic, country=country,
                    params={"country": kb.country_name(country, language)})
    return Plan(answer=render_entry(kb, entry, language), topic=topic, country=country)


def plan_retrieval(kb: KnowledgeBase, text: str, language: str, slots: dict[str, str | None]) -> Plan | None:
    """A question no intent pinned down: answer from the closest entry, if close enough."""
    countries = [c for c in (slots.get("country_origin"), slots.get("country_residence")) if c]
    entry = retrieve(kb, text, language, countries)
    if entry is None:
        return None
    return Plan(answer=render_entry(kb, entry, language), topic=entry.topic,
                country=entry.countries[0] if entry.countries else None)


def plan_contact(kb: KnowledgeBase, language: str, slots: dict[str, str | None]) -> Plan:
    """How to reach a person: the offices of the person's countries, then the coordination team.

    The coordination team's published address is the one contact the network gives in its
    own materials; the offices' contact details are configuration and may be empty.
    """
    offices = []
    if slots.get("country_origin") in kb.origin:
        offices += offices_for(kb, slots.get("country_origin"))
    if slots.get("country_residence") in kb.residence:
        offices += offices_for(kb, slots.get("country_residence"), slots.get("region_residence"))
    offices.append(fallback_office(kb))
    messages: list[str] = []
    ids: list[str] = []
    for office in offices:
        rendered = render_office(kb, office, language)
        messages += rendered.messages
        ids += rendered.entry_ids
    return Plan(answer=Answer(tuple(messages), tuple(ids)), topic="oss_contact")
