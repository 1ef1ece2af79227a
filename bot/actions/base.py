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
