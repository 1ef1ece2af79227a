"""Long sessions are read as a snapshot plus recent events, and mean exactly what the full replay means.

Each turn is stored the way Rasa's processor does it: read the tracker, append the turn's
events, save. The state a turn sees (slots, form, pause, latest message) must equal the
state of replaying every stored event, while the events it reads stay bounded; nothing is
stored twice or lost; a concurrent turn is still refused; a new session ignores the old
snapshot; erasing a conversation deletes its snapshot (it holds slot values).
"""

from __future__ import annotations

import json
import time
import warnings

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.stores.tracker import StaleTrackerError, StrictSQLTrackerStore
from casework.conversations import erase_conversation, purge_conversations, tracker_engine

with warnings.catch_warnings():
    # Rasa 3.6 warns "Slot auto-fill has been removed" for every domain with slots.
    warnings.simplefilter("ignore", UserWarning)
    DOMAIN = Domain.from_yaml("""
version: '3.1'
intents: [greet, inform]
slots:
  city: {type: text, influence_conversation: false, mappings: [{type: custom}]}
  turns: {type: float, initial_value: 0, influence_conversation: false, mappings: [{type: custom}]}
  country: {type: categorical, values: [pe, bo], mappings: [{type: custom}]}
forms:
  intake_form: {required_slots: [city]}
responses:
  utter_hi: [{text: hi}]
""")
KEEP = 5


def store_for(url: str) -> StrictSQLTrackerStore:
    config = EndpointConfig.from_dict({"type": "bot.stores.tracker.StrictSQLTrackerStore", "url": url,
                                       "keep_events": KEEP})
    store = TrackerStore.create(config, domain=DOMAIN)
    assert isinstance(store, StrictSQLTrackerStore)
    return store


def session_start() -> list[Event]:
    now = time.time()
    return [ActionExecuted("action_session_start", timestamp=now), SessionStarted(timestamp=now),
            ActionExecuted("action_listen", timestamp=now)]


def turn(index: int) -> list[Event]:
    events: list[Event] = [UserUttered(f"message {index}", {"name": "inform", "confidence": 1.0}),
                           ActionExecuted("utter_hi"), BotUttered(f"reply {index}"),
                           SlotSet("turns", float(index))]
    if index == 3:
        events += [SlotSet("city", "Cusco"), SlotSet("country", "pe")]
    if index == 4:
        events.append(ActiveLoop("intake_form"))
    if index == 6:
        events.append(ConversationPaused())
    if index == 9:
        events.append(ConversationResumed())
    return [*events, ActionExecuted("action_listen")]


async def take_turn(store: StrictSQLTrackerStore, sender: str, events: list[Event]) -> DialogueStateTracker:
    tracker = await store.retrieve(sender) or DialogueStateTracker(sender, DOMAIN.slots)
    for event in events:
        tracker.update(event)
    await store.save(tracker)
    return tracker


def rows(url: str, table: str, sender: str) -> list[dict]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            query = sa.text(f"SELECT * FROM {table} WHERE sender_id = :s")  # noqa: S608 - fixed names
            return [dict(r._mapping) for r in connection.execute(query, {"s": sender})]  # noqa: SLF001
    finally:
        engine.dispose()


def state(tracker: DialogueStateTracker) -> tuple:
    return ({name: slot.value for name, slot in tracker.slots.items()}, tracker.active_loop_name,
            tracker.is_paused(), tracker.latest_message.text, tracker.latest_action_name)


async def test_a_long_session_reads_a_bounded_tail_with_the_same_state(tracker_db: str) -> None:
    store, sender = store_for(tracker_db), "snap-long"
    await take_turn(store, sender, session_start())
    for index in range(1, 61):
        await take_turn(store, sender, turn(index))
        read = await store.retrieve(sender)
        full = await store.retrieve_full_tracker(sender)
        assert state(read) == state(full), f"after turn {index}"
        if index in (7, 8):
            assert read.is_paused(), "a paused conversation stays paused"
    read = await store.retrieve(sender)
    assert len(read.events) <= 2 + 4 + 2 * KEEP + 1  # session start, slots/form, at most 2*KEEP rows
    assert read.get_slot("city") == "Cusco"
    assert read.get_slot("country") == "pe"
    assert read.active_loop_name == "intake_form"
    assert not read.is_paused()
    assert read.get_slot("turns") == 60.0
    # Every event stored once, in order; the snapshot does not replace history.
    stored = rows(tracker_db, "events", sender)
    texts = [json.loads(r["data"]).get("text") for r in stored if r["type_name"] == "user"]
    assert texts == [f"message {i}" for i in range(1, 61)]
    appended = len(session_start()) + sum(len(turn(i)) for i in range(1, 61))
    assert len(stored) == len((await store.retrieve_full_tracker(sender)).events) == appended
    assert len(rows(tracker_db, "tracker_snapshots", sender)) == 1


async def test_a_concurrent_turn_is_still_refused_after_a_snapshot(tracker_db: str) -> None:
    store, sender = store_for(tracker_db), "snap-stale"
    await take_turn(store, sender, session_start())
    for index in range(1, 20):
        await take_turn(store, sender, turn(index))
    first, second = await store.retrieve(sender), await store.retrieve(sender)
    for event in turn(20):
        first.update(event)
        second.update(event)
    await store.save(first)
    with pytest.raises(StaleTrackerError):
        await store.save(second)
    assert len([r for r in rows(tracker_db, "events", sender) if r["type_name"] == "user"]) == 20


async def test_a_new_session_does_not_use_the_old_snapshot(tracker_db: str) -> None:
    store, sender = store_for(tracker_db), "snap-session"
    await take_turn(store, sender, session_start())
    for index in range(1, 20):
        await take_turn(store, sender, turn(index))
    # Rasa starts a new session carrying the slots over (carry_over_slots_to_new_session).
    tracker = await store.retrieve(sender)
    new_session = session_start()[:2]
    carried = [SlotSet(name, slot.value) for name, slot in tracker.slots.items() if slot.value != slot.initial_value]
    await take_turn(store, sender, [*new_session, *carried, ActionExecuted("action_listen")])
    await take_turn(store, sender, turn(100))
    read = await store.retrieve(sender)
    assert [e.text for e in read.events if isinstance(e, UserUttered)] == ["message 100"]
    assert read.get_slot("city") == "Cusco"
    assert sum(isinstance(e, SessionStarted) for e in read.events) == 1


async def test_erasing_the_conversation_deletes_its_snapshot(tracker_db: str) -> None:
    store, sender = store_for(tracker_db), "snap-erase"
    await take_turn(store, sender, session_start())
    for index in range(1, 20):
        await take_turn(store, sender, turn(index))
    assert "Cusco" in rows(tracker_db, "tracker_snapshots", sender)[0]["data"]
    erased_at = time.time()
    await take_turn(store, sender, session_start())  # the erasure's own new session
    assert erase_conversation(tracker_engine(tracker_db), sender_id=sender, after=erased_at).ready
    assert rows(tracker_db, "tracker_snapshots", sender) == []
    assert all("Cusco" not in r["data"] for r in rows(tracker_db, "events", sender))
    read = await store.retrieve(sender)
    assert read.get_slot("city") is None


async def test_retention_deletes_snapshots_of_silent_conversations(tracker_db: str) -> None:
    store, sender = store_for(tracker_db), "snap-retention"
    await take_turn(store, sender, session_start())
    for index in range(1, 20):
        await take_turn(store, sender, turn(index))
    assert rows(tracker_db, "tracker_snapshots", sender)
    purge_conversations(tracker_engine(tracker_db), before=time.time() + 1)
    assert rows(tracker_db, "tracker_snapshots", sender) == []
    assert rows(tracker_db, "events", sender) == []
