"""Erasure on request: say what goes, ask, erase, start afresh (or go back to where we were).

The erasure itself is `casework.privacy.erase_on_request`: the case-work data goes at once,
in one transaction, together with a durable request that the privacy worker
(`python -m casework.retention --loop`) completes once Rasa has stored this turn, by
deleting the conversation's earlier events from the tracker store. This action ends the
conversation session (`SessionStarted`), so the next message already starts clean.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from casework.privacy import erase_on_request

log = logging.getLogger(__name__)

# Kept across the erasure: how to talk to the person, nothing about them.
KEPT = ("language", "language_confirmed")


def _paused_loop(tracker: Tracker) -> str | None:
    active = (tracker.active_loop or {}).get("name")
    return active or tracker.get_slot("erasure_paused_loop")


def latest_event_time(tracker: Tracker) -> float | None:
    """The newest event time Rasa gave this conversation (Rasa's clock, not ours)."""
    times = [float(e["timestamp"]) for e in tracker.events if e.get("timestamp") is not None]
    return max(times) if times else None


class ActionAskErasure(Action):
    """Lists exactly what will be erased and asks yes/no; a running form waits."""

    def name(self) -> str:
        return "action_ask_erasure"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_erasure_confirm")
        events: list[dict[str, Any]] = [SlotSet("erasure_pending", True)]
        paused = _paused_loop(tracker)
        if paused:
            # The rule then runs action_deactivate_loop: the form waits, and "no" resumes it.
            events.append(SlotSet("erasure_paused_loop", paused))
        return events


class ActionEraseMyData(Action):
    """Yes: erase, confirm, and begin a new, empty conversation session."""

    def name(self) -> str:
        return "action_erase_my_data"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        kept = [SlotSet(name, tracker.get_slot(name)) for name in KEPT]
        try:
            await asyncio.to_thread(
                erase_on_request, sender_id=tracker.sender_id, tracker_after=latest_event_time(tracker),
                now=datetime.now(timezone.utc),
            )
        except Exception:
            # No sender id in the log: the erasure failed, the person is told, nothing was erased.
            log.exception("erasure request failed")
            dispatcher.utter_message(response="utter_erasure_failed")
            return [SlotSet("erasure_pending", False), *_resume(tracker)]
        dispatcher.utter_message(response="utter_erasure_done")
        # SessionStarted resets every slot and the active form, and makes Rasa load only what
        # follows it: the earlier events are no longer part of the conversation, even before
        # the worker deletes them.
        return [SessionStarted(), *kept]


class ActionErasureDeclined(Action):
    """No: nothing changes; a form that was running asks its question again."""

    def name(self) -> str:
        return "action_erasure_declined"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_erasure_declined")
        return [SlotSet("erasure_pending", False), *_resume(tracker)]


def _resume(tracker: Tracker) -> list[dict[str, Any]]:
    paused = tracker.get_slot("erasure_paused_loop")
    if not paused:
        return []
    return [SlotSet("erasure_paused_loop", None), FollowupAction(paused)]
