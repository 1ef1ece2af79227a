"""Fallback and restart."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, AllSlotsReset, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.answers import PERSON_SLOTS, deliver
from bot.actions.base import reply_language, slot_values
from bot.conversation.answering import plan_retrieval
from knowledge.loader import knowledge_base

KEPT_ON_RESTART = ("language", "language_confirmed")


def fallback_response(flags: list[str]) -> str:
    """The kind explanation for a message the assistant cannot use."""
    if any(flag.startswith("media:") for flag in flags):
        return "utter_media_not_supported"
    if "too_long" in flags:
        return "utter_too_long"
    if "empty" in flags or "no_words" in flags:
        return "utter_no_words"
    return "utter_default"


class ActionFallback(Action):
    """Replaces Rasa's default fallback: explain, offer the menu or a person, keep state."""

    def name(self) -> str:
        return "action_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        flags = tracker.latest_message.get("message_flags") or []
        text = tracker.latest_message.get("text") or ""
        if not flags and text.strip():
            # A question the intents did not pin down may still match a knowledge entry.
            plan = plan_retrieval(knowledge_base(), text, reply_language(tracker),
                                  slot_values(tracker, PERSON_SLOTS))
            if plan is not None:
                deliver(dispatcher, plan)
                return [SlotSet("last_topic", plan.topic)]
        dispatcher.utter_message(response=fallback_response(flags))
        # No UserUtteranceReverted: it would also undo what this turn learnt (the reply
        # language), and the guard has already dropped any entities of an unusable message.
        return []


class ActionRestartConversation(Action):
    """Start over without forgetting the language the person chose."""

    def name(self) -> str:
        return "action_restart_conversation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        kept = {name: tracker.get_slot(name) for name in KEPT_ON_RESTART}
        dispatcher.utter_message(response="utter_restarted")
        dispatcher.utter_message(response="utter_menu")
        return [ActiveLoop(None), AllSlotsReset(), *[SlotSet(k, v) for k, v in kept.items()]]
