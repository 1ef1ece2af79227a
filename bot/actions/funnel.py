"""Counting the anonymous funnel steps from the actions (one line per counted action).

What is stored is `casework.funnel.record_step`'s business: a step, the ISO week, country
codes and the office they route to, nothing about the person. Counting never gets in the
way of a reply: it runs off the event loop, and a database problem is logged and dropped.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from rasa_sdk import Tracker

from casework.db import session_scope, shared_engine
from casework.funnel import record_step
from casework.settings import load_settings
from knowledge.loader import knowledge_base

logger = logging.getLogger(__name__)
ANSWER_SLOTS = ("last_topic", "eligibility_result")


def _first_counted_action(tracker: Tracker) -> bool:
    """Nothing was answered yet in this conversation session: count it as a conversation.

    A "conversation" in the funnel is a session in which the person got at least one sourced
    answer or eligibility result; those set `last_topic` / `eligibility_result`, so an
    earlier one shows in the session's slot events (the tracker keeps no other trace).
    """
    for event in reversed(tracker.events):
        if event.get("event") == "session_started":
            return True
        if event.get("event") == "slot" and event.get("name") in ANSWER_SLOTS and event.get("value") is not None:
            return False
    return True


def _record(steps: list[str], origin: str | None, residence: str | None) -> None:
    settings, kb, now = load_settings(), knowledge_base(), datetime.now(timezone.utc)
    with session_scope(shared_engine()) as session:
        for step in steps:
            record_step(session, step=step, origin_country=origin, residence_country=residence, now=now, kb=kb,
                        fallback_office_id=settings.fallback_office_id)


async def count_step(step: str, tracker: Tracker) -> None:
    """Count `step` (and "conversation" on the first counted step of a conversation)."""
    steps = (["conversation"] if _first_counted_action(tracker) else []) + [step]
    origin, residence = tracker.get_slot("country_origin"), tracker.get_slot("country_residence")
    try:
        await asyncio.to_thread(_record, steps, origin, residence)
    except Exception as error:  # the funnel is statistics: never lose a reply over it
        logger.warning("funnel step %s not counted: %s", step, type(error).__name__)
