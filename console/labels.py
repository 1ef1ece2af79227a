"""Words for the codes a ticket stores, in the console's language (es, pt, en, it).

A ticket keeps machine keys (`preferred_name`, `likely_eligible`, `es-minimum-stay`, `BO`);
caseworkers read labels. Labels live in `translations.yml`; country and programme names come
from the knowledge base through `casework.reference` (English where it has no Italian). A key
without a label shows as readable words, never an error: a new code must not break a page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from casework import reference
from console.i18n import MissingTranslation, translate

COUNTRY_FIELDS = frozenset({"origin_country", "residence_country"})
# The intake fields whose values are codes, and the prefix of their labels in translations.yml.
CODE_PREFIXES = {
    "needs": "need_", "contact_channel": "contact_", "contact_time": "time_",
    "highest_qualification": "qualification_", "vulnerabilities": "vuln_",
}


def readable(code: str) -> str:
    """`irregular_status` -> "Irregular status": the fallback for a code without a label."""
    words = str(code).replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:] if words else "–"


def _label(prefix: str, code: str, language: str) -> str:
    try:
        return translate(prefix + str(code), language)
    except MissingTranslation:
        return readable(code)


def field_label(key: str, language: str) -> str:
    return _label("field_", key, language)


def outcome_label(code: str | None, language: str) -> str:
    return _label("outcome_", code, language) if code else "–"


def need_label(code: str, language: str) -> str:
    return _label("need_", code, language)


def needs_text(codes: Iterable[str] | None, language: str) -> str:
    return ", ".join(need_label(code, language) for code in codes or ()) or "–"


def channel_label(code: str | None, language: str) -> str:
    return _label("channel_", code, language) if code else "–"


def country_label(code: str | None, language: str) -> str:
    if not code:
        return "–"
    return reference.country_name(reference.knowledge_base(), code, language)


def office_label(office_id: str | None, language: str) -> str:
    """"Ventanilla Única de Retorno – Perú (oss-pe)": the name staff know, with the id the
    configuration and the notifications use."""
    if not office_id:
        return "–"
    name = reference.office_name(reference.knowledge_base(), office_id, language)
    return f"{name} ({office_id})" if name else office_id


def language_label(code: str | None, language: str) -> str:
    """The person's language ("es") in the console's language; the UI's own names are in `lang_*`."""
    return _label("lang_", code, language) if code else "–"


def reason_label(rule_id: str, language: str) -> str:
    """What an eligibility rule checked, e.g. "Tiempo mínimo de estancia (es-minimum-stay)"."""
    kind = reference.rule_kind(reference.knowledge_base(), rule_id)
    if kind is None:
        return readable(rule_id)
    return f"{_label('rule_kind_', kind, language)} ({rule_id})"


def line_label(country: str | None, line_id: str, language: str) -> str:
    name = reference.programme_line_name(reference.knowledge_base(), country, line_id, language)
    return name or readable(line_id)


def value_text(key: str, value: Any, language: str) -> str:
    """An intake value as a caseworker reads it: codes labelled, lists joined, nothing as "–"."""
    if value is None or value == [] or value == "":
        return "–"
    if key in COUNTRY_FIELDS:
        return country_label(str(value), language)
    if key == "language":
        return language_label(str(value), language)
    prefix = CODE_PREFIXES.get(key)
    values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
    if prefix:
        return ", ".join(_label(prefix, item, language) for item in values)
    return ", ".join(str(item) for item in values)


JINJA_GLOBALS: dict[str, Callable[..., str]] = {
    "field_label": field_label, "value_text": value_text, "outcome_label": outcome_label,
    "reason_label": reason_label, "line_label": line_label, "need_label": need_label, "needs_text": needs_text,
    "channel_label": channel_label, "country_label": country_label, "language_label": language_label,
    "office_label": office_label,
}
