"""A PostgreSQL tracker store that never pretends.

`rasa.core.tracker_store.SQLTrackerStore` is sound SQL, but around it Rasa 3.6:
- wraps every store in `FailSafeTrackerStore`, which turns a failed read into "no
  tracker" (the person's conversation silently starts over) and a failed write into a
  write to memory that the next replica never sees;
- opens up to 150 connections per process (pool 50 + overflow 100) against PostgreSQL's
  default limit of 100;
- falls back to the in-memory store when a custom store class raises ImportError or
  AttributeError while it is created;
- saves by counting the stored events and appending the rest, so two concurrent turns
  for one person interleave or duplicate events without anyone noticing.

`StrictSQLTrackerStore` fixes each of these: it is never wrapped (see
`_keep_agent_from_wrapping`), every database error raises `TrackerStoreUnavailable` so
the turn fails (the channel reports it or retries later), the pool is small and bounded,
start-up waits a bounded time for the database and then refuses to start, and a save
checks under a per-person advisory lock that the stored events are still the ones this
turn started from (`StaleTrackerError` otherwise).

Two more things keep a turn's cost flat however long the conversation gets (measured in
reports/bench.md): the database work runs in a worker thread, off the event loop that
serves every other person; and a long session is read as a *snapshot* plus its recent
events. Rasa loads, replays, featurises and sends to the action server every event of
the current session on every turn, so a 500-event session costs about twice a short
one. Once a session holds more than `2 * keep_events` events after its snapshot, the
save that crosses the line stores a snapshot in `tracker_snapshots`: the session start,
every slot that differs from its initial value, the active form and a paused
conversation, as of a turn boundary `keep_events` events back. Reads for a turn then
load that snapshot and the events after it; the rules, forms and actions only ever look
at the last few turns. The full history stays in `events` (`retrieve_full_tracker`,
the console, exports), and a snapshot belongs to one session: casework/conversations.py
deletes it with that session (erasure, retention). Creating it also installs the serving
speed-ups of bot/stores/speedups.py (cached response validation and event lookup, pooled
action server connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import zlib
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
import sqlalchemy.exc
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    ConversationPaused,
    Event,
    SessionStarted,
    SlotSet,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot.stores.speedups import install_serving_speedups

logger = logging.getLogger(__name__)

DEFAULT_POOL_SIZE = 5
DEFAULT_MAX_OVERFLOW = 5
# A turn reads the session's snapshot and at least this many events after it.
DEFAULT_KEEP_EVENTS = 40


class SQLSnapshot(SQLTrackerStore.Base):  # type: ignore[misc,valid-type]
    """The state of one sender's current session up to `upto_id` (see the module docstring)."""

    __tablename__ = "tracker_snapshots"
    sender_id = sa.Column(sa.String(255), primary_key=True)
    session_start = sa.Column(sa.Float)  # timestamp of the session's `session_started` row
    upto_id = sa.Column(sa.Integer, nullable=False)  # last `events.id` folded in
    data = sa.Column(sa.Text, nullable=False)  # JSON list of events


@dataclass
class _Loaded:
    """What a tracker was read from: `head` snapshot events, then stored rows `ids`."""

    head: int
    ids: list[int]
    session_start: float | None
    snapshot_upto: int | None

    @property
    def last_id(self) -> int | None:
        return self.ids[-1] if self.ids else self.snapshot_upto


class TrackerStoreUnavailable(RuntimeError):
    """The tracker database cannot be reached: the turn must fail, not start over."""


class _DeadConnection(TrackerStoreUnavailable):
    """The pooled connection was dead before anything was committed: the unit may run again."""


T = TypeVar("T")


def _once_more_on_dead_connection(work: Callable[[], T]) -> T:
    """Run `work`; after a database restart, once more on a fresh connection.

    The engine does not ping each connection it hands out (a round trip per checkout, twice
    per turn). A restart leaves dead connections in the pool instead; the first statement
    on one fails as a disconnect, SQLAlchemy discards the pool, and nothing was committed,
    so the second try is safe. A second failure is the database being down.
    """
    try:
        return work()
    except _DeadConnection:
        logger.info("tracker database connection was dead; trying once more on a fresh one")
        return work()


class StaleTrackerError(RuntimeError):
    """Someone else stored events for this person since this turn read the tracker."""


def _keep_agent_from_wrapping() -> None:
    """Make Rasa's Agent use a strict store as it is, without `FailSafeTrackerStore`.

    `Agent._create_tracker_store` wraps whatever store it is given; the wrapper swallows
    every exception. Only strict stores are exempt; everything else keeps Rasa's
    behaviour. Idempotent.
    """
    from rasa.core.agent import Agent

    original = Agent.__dict__["_create_tracker_store"].__func__
    if getattr(original, "_oss_strict", False):
        return

    def create_tracker_store(store: TrackerStore | None, domain: Domain) -> TrackerStore:
        if isinstance(store, StrictSQLTrackerStore):
            store.domain = domain
            return store
        return original(store, domain)

    create_tracker_store._oss_strict = True  # type: ignore[attr-defined]
    Agent._create_tracker_store = staticmethod(create_tracker_store)  # type: ignore[method-assign]


def _advisory_key(sender_id: str) -> int:
    """A stable 32-bit key per person for `pg_advisory_xact_lock`."""
    return zlib.crc32(sender_id.encode()) - 2**31


class StrictSQLTrackerStore(SQLTrackerStore):
    """SQL tracker store (PostgreSQL in production) that fails loudly and saves safely."""

    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,
        event_broker: EventBroker | None = None,
        url: str | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        max_overflow: int = DEFAULT_MAX_OVERFLOW,
        pool_timeout: float = 10,
        connect_timeout: int = 5,
        startup_timeout: float = 60,
        keep_events: int = DEFAULT_KEEP_EVENTS,
        **kwargs: Any,
    ) -> None:
        self.keep_events = int(keep_events)
        try:
            database_url = url or host
            if not database_url or "://" not in database_url:
                raise TrackerStoreUnavailable(
                    "StrictSQLTrackerStore needs a database URL (url: ${TRACKER_STORE_URL})"
                )
            # No ping per checkout: every unit here runs through _once_more_on_dead_connection.
            engine_kwargs: dict[str, Any] = {"pool_pre_ping": False}
            if database_url.startswith("postgresql"):
                engine_kwargs.update(
                    pool_size=int(pool_size), max_overflow=int(max_overflow),
                    pool_timeout=float(pool_timeout),
                    connect_args={"connect_timeout": int(connect_timeout)},
                )
            self.engine = sa.create_engine(database_url, **engine_kwargs)
            self._wait_for_database(float(startup_timeout))
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
            TrackerStore.__init__(self, domain, event_broker, **kwargs)
            _keep_agent_from_wrapping()
            install_serving_speedups()
        except (ImportError, AttributeError) as error:
            # Rasa would answer these with an in-memory store and a warning.
            raise TrackerStoreUnavailable(f"tracker store could not be created: {error}") from error

    def _wait_for_database(self, timeout_s: float) -> None:
        """Create the table, retrying while the database comes up; then refuse to start."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.Base.metadata.create_all(self.engine)
                return
            except sqlalchemy.exc.IntegrityError:
                return  # another replica created it at the same moment
            except sqlalchemy.exc.ProgrammingError:
                # Two replicas racing on CREATE TABLE: fine once one has finished.
                if sa.inspect(self.engine).has_table(self.SQLEvent.__tablename__):
                    return
                raise
            except sqlalchemy.exc.OperationalError as error:
                if time.monotonic() >= deadline:
                    raise TrackerStoreUnavailable(
                        f"tracker database unreachable for {timeout_s:.0f}s; not starting"
                    ) from error
                logger.warning("tracker database not reachable yet; retrying")
                time.sleep(1)

    @contextlib.contextmanager
    def session_scope(self) -> Generator[sa.orm.Session, None, None]:
        """A session whose database errors become `TrackerStoreUnavailable`."""
        session = self.sessionmaker()
        try:
            yield session
        except sqlalchemy.exc.DBAPIError as error:
            session.rollback()
            if error.connection_invalidated and not session.info.get("committing"):
                raise _DeadConnection("tracker database connection was dead") from error
            raise TrackerStoreUnavailable("tracker database error") from error
        except sqlalchemy.exc.TimeoutError as error:  # pool exhausted
            raise TrackerStoreUnavailable("no tracker database connection free") from error
        finally:
            session.close()

    async def keys(self) -> Iterable[str]:
        try:
            return await super().keys()
        except sqlalchemy.exc.SQLAlchemyError as error:
            raise TrackerStoreUnavailable("tracker database error") from error

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The current session (snapshot + recent events), read in a worker thread."""
        return await asyncio.to_thread(_once_more_on_dead_connection, lambda: self._load_session(sender_id))

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        """Every stored event of every session (no snapshot), read in a worker thread."""
        return await asyncio.to_thread(_once_more_on_dead_connection, lambda: self._load_all(conversation_id))

    def _load_all(self, sender_id: str) -> DialogueStateTracker | None:
        try:
            with self.session_scope() as session:
                rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=True).all()
                events = [json.loads(row.data) for row in rows]
        except sqlalchemy.exc.SQLAlchemyError as error:
            raise TrackerStoreUnavailable("tracker database error") from error
        if not events or not self.domain:
            return None
        return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)

    def _load_session(self, sender_id: str) -> DialogueStateTracker | None:
        try:
            with self.session_scope() as session:
                start = self._session_start(session, sender_id)
                snapshot = session.get(SQLSnapshot, sender_id)
                if snapshot is not None and snapshot.session_start != start:
                    snapshot = None  # an earlier session's
                query = session.query(self.SQLEvent.id, self.SQLEvent.data).filter(
                    self.SQLEvent.sender_id == sender_id)
                if start is not None:
                    query = query.filter(self.SQLEvent.timestamp >= start)
                if snapshot is not None:
                    query = query.filter(self.SQLEvent.id > snapshot.upto_id)
                rows = query.order_by(self.SQLEvent.id).all()
                head = json.loads(snapshot.data) if snapshot is not None else []
        except sqlalchemy.exc.SQLAlchemyError as error:
            raise TrackerStoreUnavailable("tracker database error") from error
        events = head + [json.loads(data) for _, data in rows]
        if not events or not self.domain:
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        tracker._oss_loaded = _Loaded(  # type: ignore[attr-defined]
            head=len(head), ids=[row_id for row_id, _ in rows], session_start=start,
            snapshot_upto=snapshot.upto_id if snapshot is not None else None,
        )
        return tracker

    def _session_start(self, session: sa.orm.Session, sender_id: str) -> float | None:
        """The timestamp of the sender's latest `session_started` row, as Rasa finds it."""
        return session.query(sa.func.max(self.SQLEvent.timestamp)).filter(
            self.SQLEvent.sender_id == sender_id,
            self.SQLEvent.type_name == SessionStarted.type_name,
        ).scalar()

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Append this turn's events, after checking nobody else appended meanwhile.

        Under a transaction-scoped advisory lock for the person, the stored events of the
        current session must still end where this tracker was read (same last row; or, for
        a tracker this store did not read, the stored rows are a prefix of its events). If
        not, another process wrote for this person concurrently: saving would interleave
        two turns, so `StaleTrackerError` is raised instead.
        """
        await self.stream_events(tracker)
        await asyncio.to_thread(_once_more_on_dead_connection, lambda: self._save(tracker))

    def _save(self, tracker: DialogueStateTracker) -> None:
        events = list(tracker.events)
        loaded: _Loaded | None = getattr(tracker, "_oss_loaded", None)
        try:
            with self.session_scope() as session:
                if self.engine.dialect.name == "postgresql":
                    session.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"),
                        {"key": _advisory_key(tracker.sender_id)},
                    )
                if loaded is None:
                    loaded = self._adopt(session, tracker, events)
                else:
                    last = session.query(sa.func.max(self.SQLEvent.id)).filter(
                        self.SQLEvent.sender_id == tracker.sender_id).scalar()
                    if last != loaded.last_id:
                        raise StaleTrackerError("events were stored concurrently for this person")
                new_ids = self._append(session, tracker.sender_id, events[loaded.head + len(loaded.ids):])
                saved = _Loaded(loaded.head, loaded.ids + new_ids, loaded.session_start, loaded.snapshot_upto)
                snapshot = self._maybe_snapshot(tracker.sender_id, events, saved)
                if snapshot is not None:
                    session.merge(snapshot)
                session.info["committing"] = True  # from here a dead connection may have committed
                session.commit()
        except sqlalchemy.exc.SQLAlchemyError as error:
            raise TrackerStoreUnavailable("tracker database error") from error
        tracker._oss_loaded = saved  # type: ignore[attr-defined]

    def _adopt(self, session: sa.orm.Session, tracker: DialogueStateTracker, events: list[Event]) -> _Loaded:
        """For a tracker this store did not read: its stored prefix, checked as Rasa would count it."""
        start = self._session_start(session, tracker.sender_id)
        query = session.query(self.SQLEvent.id, self.SQLEvent.type_name, self.SQLEvent.timestamp).filter(
            self.SQLEvent.sender_id == tracker.sender_id)
        if start is not None:
            query = query.filter(self.SQLEvent.timestamp >= start)
        stored = query.order_by(self.SQLEvent.id).all()
        if len(stored) > len(events):
            raise StaleTrackerError("more events stored than this turn has seen")
        if stored:
            _, type_name, timestamp = stored[-1]
            mine = events[len(stored) - 1]
            if type_name != mine.type_name or not _same_time(timestamp, mine.timestamp):
                raise StaleTrackerError("events were stored concurrently for this person")
        return _Loaded(head=0, ids=[row_id for row_id, _, _ in stored], session_start=start, snapshot_upto=None)

    def _maybe_snapshot(self, sender_id: str, events: list[Event], saved: _Loaded) -> SQLSnapshot | None:
        """A new snapshot when more than `2 * keep_events` rows follow the current one."""
        if self.keep_events <= 0 or len(saved.ids) <= 2 * self.keep_events or not self.domain:
            return None
        cut = _turn_boundary(events, saved.head, len(saved.ids) - self.keep_events)
        if cut is None:
            return None
        prefix = events[: saved.head + cut]
        start = _latest_session_start(prefix)
        if start is None or (saved.session_start is not None and start.timestamp != saved.session_start):
            return None  # the session changed within the events read: the next read decides
        state = snapshot_events(prefix, self.domain, sender_id, start)
        return SQLSnapshot(sender_id=sender_id, session_start=start.timestamp, upto_id=saved.ids[cut - 1],
                           data=json.dumps([e.as_dict() for e in state]))

    def _append(self, session: sa.orm.Session, sender_id: str, events: Sequence[Event]) -> list[int]:
        """Insert the events' rows; their ids, in order.

        One statement on PostgreSQL (multi-row VALUES ... RETURNING id): an ORM flush sent
        one INSERT per event, half a dozen round trips a turn. The sequence numbers the rows
        of one statement in the order of its VALUES, so the sorted ids are in event order.
        Elsewhere (SQLite) one INSERT per row, each telling its own id.
        """
        rows = [self._row(sender_id, event) for event in events]
        if not rows:
            return []
        table = self.SQLEvent.__table__
        if self.engine.dialect.name == "postgresql":
            return sorted(session.execute(sa.insert(table).values(rows).returning(table.c.id)).scalars())
        return [session.execute(sa.insert(table).values(row)).inserted_primary_key[0] for row in rows]

    @staticmethod
    def _row(sender_id: str, event: Event) -> dict[str, Any]:
        data = event.as_dict()
        return {
            "sender_id": sender_id,
            "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }


def _turn_boundary(events: Sequence[Event], head: int, at_most: int) -> int | None:
    """The largest n <= at_most such that stored row n (1-based after the head) is `action_listen`."""
    for n in range(at_most, 0, -1):
        event = events[head + n - 1]
        if isinstance(event, ActionExecuted) and event.action_name == ACTION_LISTEN_NAME:
            return n
    return None


def _latest_session_start(events: Sequence[Event]) -> SessionStarted | None:
    for event in reversed(events):
        if isinstance(event, SessionStarted):
            return event
    return None


def snapshot_events(prefix: Sequence[Event], domain: Domain, sender_id: str, start: SessionStarted) -> list[Event]:
    """Events that rebuild the state `prefix` leaves: session start, slots, form, pause.

    Replayed by Rasa's own tracker, so reverted turns, restarts and resets count as Rasa
    counts them. Timestamps stay Rasa's: the session's start, then the last event's.
    """
    state = DialogueStateTracker.from_events(sender_id, list(prefix), domain.slots)
    at = prefix[-1].timestamp
    events: list[Event] = [
        ActionExecuted(ACTION_SESSION_START_NAME, timestamp=start.timestamp),
        SessionStarted(timestamp=start.timestamp),
    ]
    events += [SlotSet(slot.name, slot.value, timestamp=at)
               for slot in state.slots.values() if slot.value != slot.initial_value]
    if state.active_loop_name:
        events.append(ActiveLoop(state.active_loop_name, timestamp=at))
    if state.is_paused():
        events.append(ConversationPaused(timestamp=at))
    return events


def _same_time(stored: float | None, mine: float | None) -> bool:
    return stored is not None and mine is not None and abs(float(stored) - float(mine)) < 1e-6
