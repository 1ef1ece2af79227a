"""action_change_language: confirm a switch, or ask which language when none was named."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher


class ActionChangeLanguage(Action):
    def name(self) -> str:
        return "action_change_language"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        named = [e for e in tracker.latest_message.get("entities") or []
                 if e.get("entity") == "target_language"]
        # action_extract_context has already switched the slot when a language was named.
        dispatcher.utter_message(response="utter_language_changed" if named else "utter_ask_which_language")
        return []
