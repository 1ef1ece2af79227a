"""Safety lines to show a person in danger, for the country they are in."""

from __future__ import annotations

from dataclasses import dataclass

from knowledge import RESIDENCE_COUNTRIES
from knowledge.model import KnowledgeBase

LINE_ORDER = ("violence", "trafficking", "self_harm", "children", "general")


@dataclass(frozen=True)
class SafetyParts:
    emergency: str
    lines: str


def safety_message_parts(kb: KnowledgeBase, language: str, where: str | None) -> SafetyParts:
    """Emergency number and a short list of free lines.

    When we do not know where the person is, we list the European countries the network
    serves (where most people who write are), each line labelled with its country.
    """
    countries = [where] if where in kb.safety else [c for c in RESIDENCE_COUNTRIES if c in kb.safety]
    emergencies = sorted({kb.safety[c].emergency for c in countries})
    rows = []
    for code in countries:
        entry = kb.safety[code]
        label = "" if len(countries) == 1 else f" ({kb.country_name(code, language)})"
        ordered = sorted(entry.lines, key=lambda ln: min((LINE_ORDER.index(p) for p in ln.purposes if p in LINE_ORDER), default=len(LINE_ORDER)))
        for line in ordered:
            rows.append(f"• {line.number}{label}: {line.name[language]}")
    return SafetyParts(emergency=" / ".join(emergencies), lines="\n".join(rows))
