"""Rasa's own SQL tracker store on the test database, to check erasure against the real thing.

Rasa is imported here, in the tests, never in `casework`: the point is that what
`casework.conversations` does to the `events` table holds for the code that writes it.
"""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine, make_url

from casework.conversations import tracker_engine
from tests.casework.conftest import Database

ROOT = Path(__file__).resolve().parents[2]


class RasaStore:
    """A SQLTrackerStore on the same database as the test's cases, and an engine for checks."""

    def __init__(self, database: Database) -> None:
        from rasa.core.tracker_store import SQLTrackerStore
        from rasa.shared.core.domain import Domain

        url = make_url(database.url)
        with warnings.catch_warnings():  # Rasa's own notices about its 2.x slot options
            warnings.simplefilter("ignore")
            self.domain = Domain.load(str(ROOT / "domain"))
        if url.get_backend_name() == "sqlite":
            self.store = SQLTrackerStore(self.domain, dialect="sqlite", db=url.database)
        else:
            self.store = SQLTrackerStore(
                self.domain, dialect="postgresql", host=url.host, port=url.port, db=url.database,
                username=url.username, password=url.password,
            )
        self.engine: Engine = tracker_engine(database.url)

    def run(self, coroutine: Any) -> Any:
        return asyncio.run(coroutine)

    def retrieve(self, sender_id: str) -> Any:
        return self.run(self.store.retrieve(sender_id))

    def save(self, tracker: Any) -> None:
        self.run(self.store.save(tracker))

    def full_texts(self, sender_id: str) -> str:
        tracker = self.run(self.store.retrieve_full_tracker(sender_id))
        return "" if tracker is None else str([event.as_dict() for event in tracker.events])

    def close(self) -> None:
        self.engine.dispose()
        self.store.engine.dispose()


def conversation(sender_id: str, *texts: str) -> Any:
    """A stored-looking conversation: a session start, then each text said and echoed."""
    from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    events: list[Any] = [ActionExecuted("action_session_start"), SessionStarted(), SlotSet("language", "es"),
                         ActionExecuted("action_listen")]
    for text in texts:
        events += [UserUttered(text, {"name": "inform", "confidence": 1.0}), ActionExecuted("action_answer"),
                   BotUttered(f"Entendido: {text}"), ActionExecuted("action_listen")]
    return DialogueStateTracker.from_events(sender_id, events)


def erasure_turn(tracker: Any) -> float:
    """What Rasa appends while the person confirms erasure (bot/actions/privacy.py); returns
    the newest event time the action saw, as the action records it."""
    from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered

    tracker.update(UserUttered("sí", {"name": "affirm", "confidence": 1.0}))
    after = max(event.timestamp for event in tracker.events)
    # As Rasa does it: the action's messages and events are made when its answer arrives,
    # and the ActionExecuted is made after them, but logged before the events.
    done = BotUttered("Hecho: hemos borrado tus datos.")
    returned = [SessionStarted(), SlotSet("language", "es")]
    tracker.update(done)
    tracker.update(ActionExecuted("action_erase_my_data"))
    for event in returned:
        tracker.update(event)
    tracker.update(ActionExecuted("action_listen"))
    return after
