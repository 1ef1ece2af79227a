"""The console's own words in Spanish, Portuguese, English and Italian (`translations.yml`).

Staff of the Italian office work in Italian; the texts the person sees are not here but in
`knowledge/data/handoff.yml` (es/pt/en).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

UI_LANGUAGES = ("es", "pt", "en", "it")
CATALOG = Path(__file__).resolve().parent / "translations.yml"


class MissingTranslation(KeyError):
    pass


@lru_cache(maxsize=1)
def catalog() -> dict[str, dict[str, str]]:
    """Every key with its four texts; a missing language is an error when loading, not later."""
    doc = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))
    problems = [f"{key!r}: keys must be text (quote it)" for key in doc if not isinstance(key, str)]
    problems += [
        f"{key}: no '{lang}'" for key, texts in doc.items() for lang in UI_LANGUAGES
        if not isinstance(texts, dict) or not str(texts.get(lang) or "").strip()
    ]
    if problems:
        raise ValueError(f"{CATALOG}: " + "; ".join(problems))
    return doc


def translate(key: str, language: str, **values: object) -> str:
    try:
        text = catalog()[key][language if language in UI_LANGUAGES else "en"]
    except KeyError:
        raise MissingTranslation(key) from None
    return text.format(**values) if values else text
