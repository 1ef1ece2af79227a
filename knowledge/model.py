"""The knowledge base's types: plain, immutable, language-keyed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

Localized = dict[str, str]  # language code -> text

TOPICS: tuple[str, ...] = (
    "return_programs",
    "eligibility",
    "reentry",
    "recognition",
    "reintegration",
    "customs",
    "documents",
    "privacy",
    "general",
)
NEEDS: tuple[str, ...] = (
    "employment",
    "training",
    "recognition",
    "business",
    "housing",
    "health",
    "documents_legal",
    "schooling",
)
ORIGIN_TOPICS: tuple[str, ...] = ("recognition", "reintegration", "customs", "documents")
RESIDENCE_TOPICS: tuple[str, ...] = ("return_programs", "eligibility", "reentry", "documents")


@dataclass(frozen=True)
class Entry:
    """One sourced answer about a topic for some countries."""

    id: str
    topic: str
    countries: tuple[str, ...]
    needs: tuple[str, ...]
    institution: str
    sources: tuple[str, ...]
    verified: dt.date
    text: Localized
    next_step: Localized
    questions: dict[str, tuple[str, ...]]
    conflict: Localized | None = None
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class Office:
    """A One Stop Shop office; contact details are configuration, never invented."""

    id: str
    country: str | None
    region: str | None
    kind: str  # origin | europe | fallback
    name: Localized
    organisation: Localized
    offers: Localized
    languages: tuple[str, ...]
    contact: dict[str, str | None]
    sources: tuple[str, ...]
    verified: dt.date


@dataclass(frozen=True)
class SafetyLine:
    id: str
    number: str
    name: Localized
    purposes: tuple[str, ...]
    sources: tuple[str, ...]
    verified: dt.date


@dataclass(frozen=True)
class CountrySafety:
    country: str
    emergency: str
    lines: tuple[SafetyLine, ...]


@dataclass(frozen=True)
class KnowledgeBase:
    """Everything the loader validated, ready for the query functions."""

    origin: tuple[str, ...]
    residence: tuple[str, ...]
    country_names: dict[str, Localized]
    entries: tuple[Entry, ...]
    offices: tuple[Office, ...]
    safety: dict[str, CountrySafety]
    phrases: dict[str, Localized]
    extras: dict[str, object] = field(default_factory=dict)

    def entry(self, entry_id: str) -> Entry:
        for item in self.entries:
            if item.id == entry_id:
                return item
        raise KeyError(entry_id)

    def office(self, office_id: str) -> Office:
        for item in self.offices:
            if item.id == office_id:
                return item
        raise KeyError(office_id)

    def country_name(self, code: str, language: str) -> str:
        names = self.country_names.get(code)
        return names[language] if names else code
