"""action_extract_context: the custom slot mapping run on every user message."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.base import slot_values
from bot.conversation.context import context_updates

CONTEXT_SLOTS = ["language", "language_confirmed", "country_origin", "country_residence",
                 "region_residence", "need", "pending_country",
                 "city_residence", "city_return"]


class ActionExtractContext(Action):
    def name(self) -> str:
        return "action_extract_context"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        updates = context_updates(tracker.latest_message, slot_values(tracker, CONTEXT_SLOTS))
        return [SlotSet(name, value) for name, value in updates.items()]
