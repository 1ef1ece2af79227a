"""The texts a person sees when staff take over or hand back a conversation.

They live in `knowledge/data/handoff.yml` (es/pt/en, validated by the loader like every
other text) because the staff console, which may not import the Rasa domain, sends them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from knowledge import LANGUAGES
from knowledge.model import KnowledgeBase, Localized
from knowledge.yamlsource import Located, line_of

EXTRAS_KEY = "handoff"
HANDOFF_TEXTS = ("staff_joined", "assistant_back", "whatsapp_reopen")


def load_handoff_texts(checker: Any, data_dir: Path, covered: set[str]) -> dict[str, object]:
    """`_EXTRA_LOADERS` hook: `handoff.yml` into `{"handoff": {key: {lang: text}}}`."""
    path = data_dir / "handoff.yml"
    doc = checker.load(path)
    out: dict[str, Localized] = {}
    if not isinstance(doc, Located) or not isinstance(doc.get("handoff"), Located):
        checker.error(path, line_of(doc) if doc is not None else 1, "expected a top-level 'handoff:' mapping")
        return {EXTRAS_KEY: out}
    texts = doc["handoff"]
    for key in HANDOFF_TEXTS:
        loc = checker.localized(path, texts, key)
        if loc:
            out[key] = loc
    for key in texts:
        if key not in HANDOFF_TEXTS:
            checker.error(path, line_of(texts, key), f"unknown handoff text '{key}' (one of {', '.join(HANDOFF_TEXTS)})")
    return {EXTRAS_KEY: out}


def handoff_text(kb: KnowledgeBase, key: str, language: str | None) -> str:
    """The text `key` in the person's language (Spanish when the language is unknown)."""
    texts: dict[str, Localized] = kb.extras.get(EXTRAS_KEY, {})  # type: ignore[assignment]
    return texts[key][language if language in LANGUAGES else "es"]
