"""The few things a channel says by itself, read from the domain (domain/responses/channels.yml).

The channel answers these without Rasa (Rasa may be the thing that is down), so it reads
the response file as data and picks the variation for the person's language (default es).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

RESPONSES = Path(__file__).resolve().parent.parent / "domain" / "responses" / "channels.yml"
DEFAULT_LANGUAGE = "es"
OPTION_EXPIRED = "utter_channel_option_expired"
TROUBLE = "utter_channel_trouble"
NOT_RECEIVED = "utter_channel_not_received"


@lru_cache(maxsize=4)
def load_texts(path: Path = RESPONSES) -> dict[str, dict[str, str]]:
    """{response name: {language: text}} from a domain response file."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    texts: dict[str, dict[str, str]] = {}
    for name, variations in (document.get("responses") or {}).items():
        for variation in variations:
            for condition in variation.get("condition") or []:
                if condition.get("name") == "language":
                    texts.setdefault(name, {})[condition["value"]] = variation["text"]
    return texts


def channel_text(name: str, language: str | None, path: Path = RESPONSES) -> str:
    variations = load_texts(path)[name]
    return variations.get(language or DEFAULT_LANGUAGE) or variations[DEFAULT_LANGUAGE]
