"""action_safety: emergency numbers and help lines for the country the person is in."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.base import reply_language
from knowledge.loader import knowledge_base
from knowledge.safety import safety_message_parts


class ActionSafety(Action):
    def name(self) -> str:
        return "action_safety"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        parts = safety_message_parts(
            knowledge_base(), reply_language(tracker),
            where=tracker.get_slot("country_residence"),
        )
        dispatcher.utter_message(response="utter_safety", emergency=parts.emergency, lines=parts.lines)
        dispatcher.utter_message(response="utter_safety_offer_person")
        return []
