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
turn started from (`StaleTrackerError` otherwise). Creating it also installs the cached
validation of action server responses (bot/stores/speedups.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import zlib
from collections.abc import Generator, Iterable
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot.stores.speedups import install_cached_action_validation

logger = logging.getLogger(__name__)

DEFAULT_POOL_SIZE = 5
DEFAULT_MAX_OVERFLOW = 5


class TrackerStoreUnavailable(RuntimeError):
    """The tracker database cannot be reached: the turn must fail, not start over."""


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
        **kwargs: Any,
    ) -> None:
        try:
            database_url = url or host
            if not database_url or "://" not in database_url:
                raise TrackerStoreUnavailable(
                    "StrictSQLTrackerStore needs a database URL (url: ${TRACKER_STORE_URL})"
                )
            engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
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
            install_cached_action_validation()
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

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        try:
            return await super()._retrieve(sender_id, fetch_events_from_all_sessions)
        except sqlalchemy.exc.SQLAlchemyError as error:
            raise TrackerStoreUnavailable("tracker database error") from error

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Append this turn's events, after checking nobody else appended meanwhile.

        Under a transaction-scoped advisory lock for the person, the stored events of the
        current session must be a prefix of the tracker's events (same count position,
        same last event). If not, another process wrote for this person concurrently:
        saving would interleave two turns, so `StaleTrackerError` is raised instead.
        """
        await self.stream_events(tracker)
        try:
            with self.session_scope() as session:
                if self.engine.dialect.name == "postgresql":
                    session.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"),
                        {"key": _advisory_key(tracker.sender_id)},
                    )
                stored = self._event_query(session, tracker.sender_id, fetch_events_from_all_sessions=False)
                count = stored.count()
                self._check_not_stale(tracker, count, stored)
                for event in list(tracker.events)[count:]:
                    session.add(self._row(tracker.sender_id, event))
                session.commit()
        except sqlalchemy.exc.SQLAlchemyError as error:
            raise TrackerStoreUnavailable("tracker database error") from error

    def _check_not_stale(self, tracker: DialogueStateTracker, count: int, stored: Any) -> None:
        if count == 0:
            return
        events = list(tracker.events)
        if count > len(events):
            raise StaleTrackerError("more events stored than this turn has seen")
        last_stored = stored.order_by(None).order_by(self.SQLEvent.id.desc()).first()
        mine = events[count - 1]
        if last_stored.type_name != mine.type_name or not _same_time(
            json.loads(last_stored.data).get("timestamp"), mine.timestamp
        ):
            raise StaleTrackerError("events were stored concurrently for this person")

    def _row(self, sender_id: str, event: Event) -> SQLTrackerStore.SQLEvent:
        data = event.as_dict()
        return self.SQLEvent(
            sender_id=sender_id,
            type_name=event.type_name,
            timestamp=data.get("timestamp"),
            intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            action_name=data.get("name"),
            data=json.dumps(data),
        )


def _same_time(stored: float | None, mine: float | None) -> bool:
    return stored is not None and mine is not None and abs(float(stored) - float(mine)) < 1e-6
