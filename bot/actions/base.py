"""Small helpers shared by the actions."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from bot.nlu.language import SUPPORTED


def reply_language(tracker: Tracker) -> str:
    language = tracker.get_slot("language")
    return language if language in SUPPORTED else "es"


def slot_values(tracker: Tracker, names: list[str]) -> dict[str, Any]:
    return {name: tracker.get_slot(name) for name in names}


def latest_intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def domain_text(domain: dict[str, Any], response: str, language: str) -> str:
    """The text of a domain response in one language, for a heading inside a longer message."""
    for variation in (domain.get("responses") or {}).get(response) or []:
        for condition in variation.get("condition") or []:
            if condition.get("name") == "language" and condition.get("value") == language:
                return str(variation.get("text") or "")
    return ""
