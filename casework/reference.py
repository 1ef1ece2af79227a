"""What the staff console needs from `knowledge/`, passed through `casework` (its only door).

The console imports `casework` only (ARCHITECTURE.md); these are the knowledge base, the
needs vocabulary, the texts a person sees when staff join or leave a conversation, and the
codes a ticket stores (intake field keys, eligibility outcomes, rule kinds) so the console
can label each of them and a test can fail when a new one has no label.
"""

from __future__ import annotations

from casework.eligibility import LIKELY_ELIGIBLE, LIKELY_NOT_ELIGIBLE, NEEDS_COUNSELLOR
from casework.intake import (
    CONTACT_CHANNELS,
    CONTACT_TIMES,
    PLAIN_FIELDS,
    QUALIFICATIONS,
    IntakeAnswers,
    personal_fields,
)
from casework.models import CHANNELS
from knowledge.eligibility_rules import KINDS, VULNERABILITY_CODES, all_country_rules
from knowledge.handoff import HANDOFF_TEXTS, handoff_text
from knowledge.loader import knowledge_base
from knowledge.model import NEEDS, KnowledgeBase

# Every key a ticket's intake may hold: the encrypted personal fields and the plain columns.
INTAKE_FIELD_KEYS: tuple[str, ...] = (*personal_fields(IntakeAnswers()), *PLAIN_FIELDS)
ELIGIBILITY_OUTCOMES: tuple[str, ...] = (LIKELY_ELIGIBLE, LIKELY_NOT_ELIGIBLE, NEEDS_COUNSELLOR)
RULE_KINDS: tuple[str, ...] = tuple(KINDS)
KB_LANGUAGES = ("es", "pt", "en")


def rule_kind(kb: KnowledgeBase, rule_id: str) -> str | None:
    """The kind ("nationality", "minimum_stay", ...) of an eligibility rule id; None if unknown.

    A ticket keeps only rule ids (no status), so the person-facing reason texts, which depend
    on whether the rule was met, cannot be shown to staff; the kind names what was checked.
    """
    for rules in all_country_rules(kb).values():
        for rule in rules.rules:
            if rule.id == rule_id:
                return rule.kind
    return None


def programme_line_name(kb: KnowledgeBase, country: str | None, line_id: str, language: str) -> str | None:
    """The knowledge base's name of a programme line (es/pt/en; English for other languages)."""
    lang = language if language in KB_LANGUAGES else "en"
    for code, rules in all_country_rules(kb).items():
        if country and code != country.upper():
            continue
        for line in rules.lines:
            if line.id == line_id:
                return line.name[lang]
    return None


def office_name(kb: KnowledgeBase, office_id: str, language: str) -> str | None:
    """An office's name from the network (English for languages it does not have); None if unknown."""
    try:
        office = kb.office(office_id)
    except KeyError:
        return None
    return office.name[language if language in KB_LANGUAGES else "en"]


def country_name(kb: KnowledgeBase, code: str, language: str) -> str:
    """A country's name from the knowledge base (English for languages it does not have)."""
    return kb.country_name(code, language if language in KB_LANGUAGES else "en")


__all__ = [
    "CHANNELS", "CONTACT_CHANNELS", "CONTACT_TIMES", "ELIGIBILITY_OUTCOMES", "HANDOFF_TEXTS", "INTAKE_FIELD_KEYS",
    "NEEDS", "QUALIFICATIONS", "RULE_KINDS", "VULNERABILITY_CODES", "KnowledgeBase", "country_name",
    "handoff_text", "knowledge_base", "office_name", "programme_line_name", "rule_kind",
]
