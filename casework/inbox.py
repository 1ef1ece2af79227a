"""The durable inbox of the WhatsApp and Telegram channels.

A webhook stores the message here and acknowledges at once; workers then claim messages
one at a time, in order per sender, and mark them done or failed. The provider's message
id makes a retried delivery a no-op. Several processes may share one database: every
state change is a conditional UPDATE, so no two workers ever hold the same message.

None of these functions commits: the caller's unit of work does, and a claim is only
visible to other workers once it is committed, so commit right after `claim_next`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, func, literal, null, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.util import identity_key

from casework.models import InboxMessage, UtcDateTime
from casework.privacy import FieldCipher

UNFINISHED = ("pending", "processing")
MAX_ATTEMPTS = 5
CANDIDATES = 10  # rows tried per claim before giving up to a busier worker


def record_inbound(
    session: Session, *, provider: str, provider_message_id: str, sender_id: str,
    payload: Mapping[str, Any], cipher: FieldCipher, now: datetime,
) -> InboxMessage | None:
    """Store an inbound message, encrypted; None when this provider id was already stored."""
    message_id = store_inbound(session, provider=provider, provider_message_id=provider_message_id,
                               sender_id=sender_id, payload=payload, cipher=cipher, now=now)
    return None if message_id is None else session.get(InboxMessage, message_id)


def store_inbound(
    session: Session, *, provider: str, provider_message_id: str, sender_id: str,
    payload: Mapping[str, Any], cipher: FieldCipher, now: datetime,
) -> int | None:
    """Store an inbound message, encrypted; its id, or None when this provider id was
    already stored (what a webhook needs, in one round trip).

    The unique (provider, provider_message_id) constraint decides, not a prior SELECT, so
    two processes receiving the same retry at once still store it exactly once. On
    PostgreSQL and SQLite, `INSERT ... ON CONFLICT (provider, provider_message_id) DO
    NOTHING`: a duplicate inserts nothing, any other constraint still fails. Elsewhere the
    insert runs in a SAVEPOINT, so a duplicate rolls back only that.
    """
    values = {
        "provider": provider, "provider_message_id": provider_message_id, "sender_id": sender_id,
        "payload_encrypted": cipher.encrypt_json(dict(payload)), "received_at": now,
        "status": "pending", "attempts": 0,
    }
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is not None:
        statement = insert(InboxMessage).values(values).on_conflict_do_nothing(
            index_elements=[InboxMessage.provider, InboxMessage.provider_message_id])
        if dialect == "postgresql":
            return session.execute(statement.returning(InboxMessage.id)).scalar_one_or_none()
        result = session.execute(statement)  # SQLAlchemy 1.4 has no RETURNING on SQLite
        return result.inserted_primary_key[0] if result.rowcount == 1 else None
    message = InboxMessage(**values)
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        if not _already_recorded(session, provider=provider, provider_message_id=provider_message_id):
            raise  # some other constraint failed: a bug, not a duplicate
        return None
    return message.id


def _already_recorded(session: Session, *, provider: str, provider_message_id: str) -> bool:
    statement = select(InboxMessage.id).where(
        InboxMessage.provider == provider, InboxMessage.provider_message_id == provider_message_id,
    )
    return session.execute(statement).first() is not None


def claim_next(session: Session, *, worker: str, now: datetime, lease_s: float) -> InboxMessage | None:
    """Lease the oldest available message whose sender has nothing earlier unfinished.

    Available: pending (and past its retry time), or processing with an expired lease
    (its worker died). The claim is a conditional UPDATE on the state just read; if
    another worker changed the row in between, the UPDATE matches nothing and the next
    candidate is tried.
    """
    if lease_s <= 0:
        raise ValueError("lease_s must be positive: a claim is recognised by its new lease end")
    returning = session.get_bind().dialect.name == "postgresql"
    statements = _claim_statements(returning)
    params = {"now": now, "worker": worker, "lease_until": now + timedelta(seconds=lease_s)}
    candidates = session.execute(statements.candidates, {"now": now}).all()
    for message_id, seen_until in candidates:
        if seen_until is None:
            claim, claim_params = statements.claim_unleased, {**params, "message_id": message_id}
        else:
            claim, claim_params = statements.claim_seen, {**params, "message_id": message_id, "seen_until": seen_until}
        if returning:  # the claimed row comes back with the UPDATE: no second round trip
            row = session.execute(claim, claim_params).scalar_one_or_none()
            if row is not None:
                return row
        elif session.execute(claim, claim_params).rowcount == 1:
            return session.get(InboxMessage, message_id, populate_existing=True)
    return None


@dataclass(frozen=True)
class _ClaimStatements:
    candidates: Any
    claim_unleased: Any  # the candidate had no lease (claimed_until IS NULL)
    claim_seen: Any  # the candidate's lease or retry time was `seen_until`


@lru_cache(maxsize=2)
def _claim_statements(returning: bool) -> _ClaimStatements:
    """The claim's statements, built once with bound parameters: every message is claimed
    through them, and building the anti-join each time cost more CPU than running it."""
    now = bindparam("now", type_=UtcDateTime())
    candidates = (
        select(InboxMessage.id, InboxMessage.claimed_until)
        .where(_available(now), ~_earlier_unfinished())
        .order_by(InboxMessage.received_at, InboxMessage.id)
        .limit(CANDIDATES)
    )

    def claim(unchanged: Any) -> Any:
        statement = (
            update(InboxMessage)
            .where(InboxMessage.id == bindparam("message_id"), _available(now), unchanged, ~_earlier_unfinished())
            .values(status="processing", claimed_by=bindparam("worker"),
                    claimed_until=bindparam("lease_until", type_=UtcDateTime()))
            .execution_options(synchronize_session=False)
        )
        if returning:
            return (select(InboxMessage).from_statement(statement.returning(*InboxMessage.__table__.c))
                    .execution_options(populate_existing=True))
        return statement

    return _ClaimStatements(
        candidates=candidates,
        claim_unleased=claim(InboxMessage.claimed_until.is_(None)),
        claim_seen=claim(InboxMessage.claimed_until == bindparam("seen_until", type_=UtcDateTime())),
    )


def _available(now: Any) -> Any:
    return and_(
        InboxMessage.status.in_(UNFINISHED),
        or_(InboxMessage.claimed_until.is_(None), InboxMessage.claimed_until <= now),
    )


def _earlier_unfinished() -> Any:
    earlier = aliased(InboxMessage)
    return exists().where(
        earlier.sender_id == InboxMessage.sender_id,
        earlier.status.in_(UNFINISHED),
        or_(
            earlier.received_at < InboxMessage.received_at,
            and_(earlier.received_at == InboxMessage.received_at, earlier.id < InboxMessage.id),
        ),
    )


def mark_done(session: Session, *, message_id: int, worker: str, now: datetime) -> bool:
    """Finish a claimed message (its rendered replies are dropped); False when this worker
    no longer holds it."""
    done = _update_held(session, message_id=message_id, worker=worker, values={
        "status": "done", "processed_at": now, "claimed_by": None, "claimed_until": None, "last_error": None,
        "replies_encrypted": None,
    })
    _refresh_held(session, message_id)
    return done


def keep_replies(
    session: Session, *, message_id: int, worker: str, replies: list[Any], cipher: FieldCipher,
) -> bool:
    """Keep the replies rendered for a claimed message before sending them (none sent yet),
    so that a retry by any worker sends them without asking Rasa again."""
    return _update_held(session, message_id=message_id, worker=worker, values={
        "replies_encrypted": cipher.encrypt_json({"replies": replies}), "replies_sent": 0,
    })


def mark_replies_sent(session: Session, *, message_id: int, worker: str, count: int) -> bool:
    """The first `count` kept replies went out."""
    return _update_held(session, message_id=message_id, worker=worker, values={"replies_sent": count})


def kept_replies(message: InboxMessage, cipher: FieldCipher) -> tuple[list[Any] | None, int]:
    """The kept replies of a message (None: not rendered yet) and how many were sent."""
    if message.replies_encrypted is None:
        return None, 0
    return list(cipher.decrypt_json(message.replies_encrypted)["replies"]), int(message.replies_sent or 0)


def _update_held(session: Session, *, message_id: int, worker: str, values: dict[str, Any]) -> bool:
    """Set plain `values` on a message this worker holds (every message passes here twice or more)."""
    statement = _held_update(tuple(sorted(values)))
    params = {"message_id": message_id, "worker": worker, **{f"new_{name}": value for name, value in values.items()}}
    return session.execute(statement, params).rowcount == 1


@lru_cache(maxsize=16)
def _held_update(columns: tuple[str, ...]) -> Any:
    """The UPDATE of `columns` on a held message, built once with bound parameters."""
    table = InboxMessage.__table__
    return (
        update(InboxMessage)
        .where(InboxMessage.id == bindparam("message_id"), InboxMessage.status == "processing",
               InboxMessage.claimed_by == bindparam("worker"))
        .values({name: bindparam(f"new_{name}", type_=table.c[name].type) for name in columns})
        .execution_options(synchronize_session=False)
    )


def mark_failed(
    session: Session, *, message_id: int, worker: str, error: str, retry_at: datetime,
    max_attempts: int = MAX_ATTEMPTS,
) -> str | None:
    """Give a claimed message back for a retry at `retry_at`, or fail it for good.

    Returns the new status ("pending" or "failed"), or None when this worker no longer
    holds the message. `error` must not contain message text: an exception's class name
    or a provider error code is enough.
    """
    last_attempt = InboxMessage.attempts + 1 >= max_attempts
    held = _finish(session, message_id=message_id, worker=worker, values={
        "attempts": InboxMessage.attempts + 1,
        "status": case((last_attempt, "failed"), else_="pending"),
        # While pending, claimed_until is the earliest time the message may be claimed again.
        "claimed_until": case((last_attempt, null()), else_=literal(retry_at, UtcDateTime())),
        "claimed_by": None,
        "last_error": error[:500],
    })
    if not held:
        return None
    return str(session.execute(select(InboxMessage.status).where(InboxMessage.id == message_id)).scalar_one())


def _finish(session: Session, *, message_id: int, worker: str, values: dict[str, Any]) -> bool:
    updated = session.execute(
        update(InboxMessage)
        .where(InboxMessage.id == message_id, InboxMessage.status == "processing", InboxMessage.claimed_by == worker)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    _refresh_held(session, message_id)
    return updated == 1


def _refresh_held(session: Session, message_id: int) -> None:
    """The caller's object, up to date (no read when the session has none)."""
    held = session.identity_map.get(identity_key(InboxMessage, message_id))
    if held is not None:
        session.refresh(held)


def pending_count(session: Session, *, sender_id: str | None = None) -> int:
    """How many messages are not finished yet (waiting or being processed)."""
    statement = select(func.count()).select_from(InboxMessage).where(InboxMessage.status.in_(UNFINISHED))
    if sender_id is not None:
        statement = statement.where(InboxMessage.sender_id == sender_id)
    return int(session.execute(statement).scalar_one())
