"""Rasa's tracker store, seen from the case-work core: erasing and expiring conversations.

Rasa 3.6's SQL tracker store keeps one row per event in the table `events`, and on every
turn appends "the events of the in-memory tracker beyond the number already stored in the
current session", where the current session is every row whose timestamp is at or after
the sender's latest `session_started` row. Deleting rows Rasa counts in that session while
a turn is in flight makes Rasa write the whole in-memory tracker back. So these functions
only ever delete rows *before* the sender's latest session start (Rasa never counts them
again), or whole conversations that have been silent longer than the retention period.

In the production profile the tracker store (bot/stores/tracker.py) also keeps one row per
sender in `tracker_snapshots`: the slots and form of the sender's current session, so a
turn need not replay a long session. It holds personal data like the events, and it
belongs to the session whose `session_started` row it names: whenever rows are deleted
here, snapshots whose session start row is gone are deleted with them.

Only the table layout is shared with Rasa (declared here, not imported: the case-work core
does not import rasa). The URL is `Settings.tracker_store_url`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    delete,
    event,
    func,
    inspect,
    or_,
    select,
)
from sqlalchemy.engine import Connection, Engine, make_url

SESSION_STARTED = "session_started"
# The layout of rasa.core.tracker_store.SQLTrackerStore.SQLEvent (Rasa 3.6).
_metadata = MetaData()
events = Table(
    "events", _metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)

# The layout of bot.stores.tracker.SQLSnapshot.
snapshots = Table(
    "tracker_snapshots", _metadata,
    Column("sender_id", String(255), primary_key=True),
    Column("session_start", Float),
    Column("upto_id", Integer, nullable=False),
    Column("data", Text, nullable=False),
)


def _drop_orphan_snapshots(connection: Connection) -> int:
    """Delete snapshots whose session's `session_started` row no longer exists."""
    if not inspect(connection).has_table("tracker_snapshots"):
        return 0
    start_row = select(events.c.id).where(
        events.c.sender_id == snapshots.c.sender_id,
        events.c.type_name == SESSION_STARTED,
        events.c.timestamp == snapshots.c.session_start,
    )
    return int(connection.execute(delete(snapshots).where(~start_row.exists())).rowcount or 0)


def tracker_engine(url: str) -> Engine:
    """An engine on the tracker store (the SQLite file's journal mode stays Rasa's)."""
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, future=True, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Deleted rows are overwritten with zeros, not left readable in free pages.
            dbapi_connection.execute("PRAGMA secure_delete = ON")

        return engine
    return create_engine(url, future=True, pool_size=2, max_overflow=2, pool_pre_ping=True)


def _compact(engine: Engine) -> None:
    """SQLite keeps stale copies of moved rows in free space; VACUUM rewrites the file without
    them. (PostgreSQL's autovacuum reclaims deleted tuples on its own schedule.)"""
    if engine.dialect.name == "sqlite":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM")


@lru_cache(maxsize=4)
def shared_tracker_engine(url: str) -> Engine:
    return tracker_engine(url)


def _has_events_table(connection: Connection) -> bool:
    # Rasa creates the table when it first starts; before that there is nothing to erase.
    return inspect(connection).has_table("events")


@dataclass(frozen=True)
class ConversationErasure:
    """The outcome of one attempt: `ready` is False while Rasa has not stored the turn yet."""

    ready: bool
    events_deleted: int = 0


def erase_conversation(engine: Engine, *, sender_id: str, after: float | None, force: bool = False) -> ConversationErasure:
    """Delete what `sender_id` said and was told before the session the erasure started.

    Waits (ready=False) until Rasa has stored a `session_started` event newer than `after`
    (the erasure's own, see bot/actions/privacy.py); then deletes every earlier row, which
    Rasa no longer counts. `force` (the marker never came, e.g. Rasa crashed before
    storing the turn) deletes every row up to `after` instead.
    """
    with engine.begin() as connection:
        if not _has_events_table(connection):
            return ConversationErasure(ready=True)
        marker_query = select(func.max(events.c.timestamp)).where(
            events.c.sender_id == sender_id, events.c.type_name == SESSION_STARTED,
        )
        if after is not None:
            marker_query = marker_query.where(events.c.timestamp > after)
        marker = connection.execute(marker_query).scalar()
        condition: Any = events.c.sender_id == sender_id
        if marker is not None:
            condition = and_(condition, or_(events.c.timestamp < marker, events.c.timestamp.is_(None)))
        elif not force:
            return ConversationErasure(ready=False)
        elif after is not None:
            condition = and_(condition, or_(events.c.timestamp <= after, events.c.timestamp.is_(None)))
        deleted = int(connection.execute(delete(events).where(condition)).rowcount or 0)
        _drop_orphan_snapshots(connection)
    if deleted:
        _compact(engine)
    return ConversationErasure(ready=True, events_deleted=deleted)


def purge_conversations(engine: Engine, *, before: float) -> int:
    """Delete conversation events older than `before` (epoch seconds); returns rows deleted.

    Two kinds, both invisible to a turn that may be in flight: events of a sender's earlier
    sessions (before their latest session start), and whole conversations whose newest
    event is older than `before`.
    """
    with engine.begin() as connection:
        if not _has_events_table(connection):
            return 0
        latest = events.alias("latest")
        latest_start = (
            select(func.max(latest.c.timestamp))
            .where(latest.c.sender_id == events.c.sender_id, latest.c.type_name == SESSION_STARTED)
            .scalar_subquery()
        )
        old_sessions = connection.execute(
            delete(events).where(events.c.timestamp < before, events.c.timestamp < latest_start)
        ).rowcount
        silent = (
            select(latest.c.sender_id).group_by(latest.c.sender_id).having(func.max(latest.c.timestamp) < before)
        )
        silent_conversations = connection.execute(delete(events).where(events.c.sender_id.in_(silent))).rowcount
        _drop_orphan_snapshots(connection)
    deleted = int(old_sessions or 0) + int(silent_conversations or 0)
    if deleted:
        _compact(engine)
    return deleted


def conversation_texts(engine: Engine, *, sender_id: str) -> list[str]:
    """The stored event payloads of one sender (for checks and the operator's inspection)."""
    with engine.connect() as connection:
        if not _has_events_table(connection):
            return []
        return list(connection.execute(
            select(events.c.data).where(events.c.sender_id == sender_id).order_by(events.c.id)
        ).scalars())
