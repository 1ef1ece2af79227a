"""Choose the entry that answers a question for a country, and render it for a phone.

An answer is the entry's text and next step, any conflict between sources (with the
advice to confirm with a counsellor), and a source line with the verified date and the
reminder that it is guidance, not a decision. Each message stays under the WhatsApp-
friendly size; longer answers are split.
"""

from __future__ import annotations

from dataclasses import dataclass

from knowledge.model import Entry, KnowledgeBase, Office
from knowledge.search import index_for

MAX_MESSAGE_CHARS = 700
RETRIEVAL_MIN_SCORE = 0.6
OWN_COUNTRY_BOOST = 1.2
CONTACT_ICONS = (("phone", "☎️"), ("email", "📧"), ("address", "📍"), ("hours", "🕒"), ("url", "🌐"))


@dataclass(frozen=True)
class Answer:
    messages: tuple[str, ...]
    entry_ids: tuple[str, ...]
    counsellor: bool = False


def entries_for(kb: KnowledgeBase, topic: str, country: str | None, need: str | None = None) -> list[Entry]:
    """Entries of a topic about a country (or general ones when no country applies)."""
    found = [e for e in kb.entries if e.topic == topic and (country in e.countries if country else not e.countries)]
    if need:
        with_need = [e for e in found if need in e.needs]
        if with_need:
            return with_need
    return found


def best_entry(kb: KnowledgeBase, candidates: list[Entry], text: str, language: str) -> Entry | None:
    """The candidate whose example questions are closest to what the person wrote."""
    if not candidates:
        return None
    if len(candidates) == 1 or not text.strip():
        return candidates[0]
    hits = index_for(kb).search(text, language, allowed={e.id for e in candidates}, limit=1)
    return hits[0].entry if hits and hits[0].score > 0 else candidates[0]


def retrieve(kb: KnowledgeBase, text: str, language: str, countries: list[str]) -> Entry | None:
    """For questions the intents do not pin down: the best entry overall, if confident.

    Entries about the person's own countries or about no country are preferred; below
    the threshold there is no answer (the assistant says it does not know).
    """
    hits = index_for(kb).search(text, language, limit=10)
    ranked = sorted(
        hits,
        key=lambda h: -(h.score * (OWN_COUNTRY_BOOST if not h.entry.countries or set(h.entry.countries) & set(countries) else 1.0)),
    )
    if ranked and ranked[0].score >= RETRIEVAL_MIN_SCORE:
        return ranked[0].entry
    return None


def source_line(kb: KnowledgeBase, sources: tuple[str, ...], verified: object, language: str) -> str:
    phrases = kb.phrases
    verified_on = phrases["verified_on"][language].replace("{date}", str(verified))
    return f"📚 {phrases['source'][language]}: {sources[0]} ({verified_on}). {phrases['disclaimer'][language]}"


def _pack(parts: list[str]) -> tuple[str, ...]:
    """Join parts into as few messages as fit under MAX_MESSAGE_CHARS."""
    messages: list[str] = []
    for part in parts:
        if messages and len(messages[-1]) + 2 + len(part) <= MAX_MESSAGE_CHARS:
            messages[-1] = f"{messages[-1]}\n\n{part}"
        else:
            messages.append(part)
    return tuple(messages)


def render_entry(kb: KnowledgeBase, entry: Entry, language: str) -> Answer:
    parts = [entry.text[language], f"➡️ {entry.next_step[language]}"]
    if entry.conflict:
        parts.append(f"⚠️ {entry.conflict[language]} {kb.phrases['conflict_counsellor'][language]}")
    parts.append(source_line(kb, entry.sources, entry.verified, language))
    return Answer(messages=_pack(parts), entry_ids=(entry.id,), counsellor=entry.conflict is not None)


def offices_for(kb: KnowledgeBase, country: str | None, region: str | None = None) -> list[Office]:
    """The office(s) serving a country; Spain has two (Madrid, Catalonia)."""
    if not country:
        return []
    found = [o for o in kb.offices if o.country == country]
    if region:
        in_region = [o for o in found if o.region == region]
        found = in_region or found
    return found


def fallback_office(kb: KnowledgeBase) -> Office:
    return next(o for o in kb.offices if o.kind == "fallback")


def render_office(kb: KnowledgeBase, office: Office, language: str) -> Answer:
    lines = [f"🏢 {office.name[language]} ({office.organisation[language]})", office.offers[language]]
    contact = [f"{icon} {office.contact[key]}" for key, icon in CONTACT_ICONS if office.contact.get(key)]
    lines.append("\n".join(contact) if contact else kb.phrases["no_contact_configured"][language])
    lines.append(source_line(kb, office.sources, office.verified, language))
    return Answer(messages=_pack(lines), entry_ids=(office.id,))
