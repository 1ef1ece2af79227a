"""The tables of the case-work core, declared once for SQLite and PostgreSQL alike.

Personal data lives only in the `*_encrypted` columns (Fernet tokens, see `privacy`); the
rest is what staff and statistics need and survives erasure as an anonymous shell. Every
timestamp is an aware UTC datetime. The schema itself is created by the Alembic
migrations, and a test keeps them equal to these models.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, declarative_base, relationship
from sqlalchemy.types import TypeDecorator

CHANNELS = ("rest", "whatsapp", "telegram")
TICKET_STATUSES = ("new", "contacted", "in_progress", "referred", "closed")
PRIORITIES = ("normal", "high", "urgent")
TARGET_KINDS = ("email", "telegram", "webhook")
OUTBOX_STATUSES = ("pending", "delivered", "dead")
INBOX_STATUSES = ("pending", "processing", "done", "failed")
ERASURE_STATUSES = ("pending", "done")

# Ticket references are read aloud and typed from a phone: no 0/O or 1/I to confuse.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

# Stable constraint names, so migrations can address them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Base: Any = declarative_base(metadata=MetaData(naming_convention=NAMING_CONVENTION))


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def new_reference(length: int = 4) -> str:
    """A short code people can quote, like OSS-7K2P (the ticket service retries on a clash)."""
    return "OSS-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(length))


def one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    quoted = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=column)


class UtcDateTime(TypeDecorator):
    """An aware UTC datetime on every backend.

    SQLite has no time zones, so naive datetimes would silently mix local and UTC times;
    this type refuses them when writing and restores UTC when reading.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: pass an aware UTC datetime (datetime.now(timezone.utc))")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Person(Base):
    """Someone who wrote to the assistant, known by a pseudonymous sender id."""

    __tablename__ = "persons"
    __table_args__ = (one_of("channel", CHANNELS),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    sender_id: Mapped[str] = Column(String(64), nullable=False, unique=True, index=True)
    channel: Mapped[str] = Column(String(16), nullable=False)
    # The raw phone number / chat id, only to reply through the channel.
    handle_encrypted: Mapped[str | None] = Column(Text)
    language: Mapped[str | None] = Column(String(8))
    created_at: Mapped[datetime] = Column(UtcDateTime, nullable=False, default=utc_now)
    # WhatsApp lets a business write freely only within 24 hours of the person's last message.
    last_inbound_at: Mapped[datetime | None] = Column(UtcDateTime)
    erased_at: Mapped[datetime | None] = Column(UtcDateTime)
    # The buttons last offered on WhatsApp/Telegram ({title, payload, token}), so that "2" or
    # a Telegram button press is understood by whichever server process receives it.
    offered_buttons: Mapped[list[dict[str, str]] | None] = Column(JSON)
    offered_at: Mapped[datetime | None] = Column(UtcDateTime)

    consents: Mapped[list[ConsentRecord]] = relationship("ConsentRecord", order_by="ConsentRecord.given_at")


class ConsentRecord(Base):
    """The person agreed to a given version of the privacy notice (or withdrew)."""

    __tablename__ = "consent_records"

    id: Mapped[int] = Column(Integer, primary_key=True)
    person_id: Mapped[int] = Column(
        Integer, ForeignKey("persons.id", ondelete="CASCADE"), nullable=False, index=True,
    )
    given_at: Mapped[datetime] = Column(UtcDateTime, nullable=False)
    notice_version: Mapped[str] = Column(String(32), nullable=False)
    language: Mapped[str] = Column(String(8), nullable=False)
    withdrawn_at: Mapped[datetime | None] = Column(UtcDateTime)


class Intake(Base):
    """The answers of the intake form; the personal ones encrypted as one JSON document."""

    __tablename__ = "intakes"

    id: Mapped[int] = Column(Integer, primary_key=True)
    person_id: Mapped[int | None] = Column(
        Integer, ForeignKey("persons.id", ondelete="SET NULL"), index=True,
    )
    fields_encrypted: Mapped[str | None] = Column(Text)
    origin_country: Mapped[str | None] = Column(String(2))
    residence_country: Mapped[str | None] = Column(String(2))
    region: Mapped[str | None] = Column(String(64))
    needs: Mapped[list[str]] = Column(JSON, nullable=False, default=list)
    # The pre-check's verdict and reason codes: no personal data.
    eligibility: Mapped[dict[str, Any] | None] = Column(JSON)
    vulnerability_flag: Mapped[bool] = Column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = Column(UtcDateTime, nullable=False, default=utc_now)
    completed_at: Mapped[datetime | None] = Column(UtcDateTime)


class Ticket(Base):
    """A case handed to an office. Survives erasure and retention as an anonymous shell."""

    __tablename__ = "tickets"
    __table_args__ = (
        one_of("status", TICKET_STATUSES),
        one_of("priority", PRIORITIES),
        Index(None, "office_id", "status"),
        Index(None, "status", "closed_at"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    reference: Mapped[str] = Column(String(16), nullable=False, unique=True)
    # A retried action must not open a second ticket.
    idempotency_key: Mapped[str] = Column(String(128), nullable=False, unique=True)
    person_id: Mapped[int | None] = Column(
        Integer, ForeignKey("persons.id", ondelete="SET NULL"), index=True,
    )
    intake_id: Mapped[int | None] = Column(Integer, ForeignKey("intakes.id", ondelete="SET NULL"))
    office_id: Mapped[str] = Column(String(64), nullable=False)  # an id in knowledge/data/network.yml
    status: Mapped[str] = Column(String(16), nullable=False, default="new")
    priority: Mapped[str] = Column(String(16), nullable=False, default="normal")
    origin_country: Mapped[str | None] = Column(String(2))
    residence_country: Mapped[str | None] = Column(String(2))
    needs: Mapped[list[str]] = Column(JSON, nullable=False, default=list)
    language: Mapped[str | None] = Column(String(8))
    created_at: Mapped[datetime] = Column(UtcDateTime, nullable=False, default=utc_now)
    updated_at: Mapped[datetime] = Column(UtcDateTime, nullable=False, default=utc_now, onupdate=utc_now)
    closed_at: Mapped[datetime | None] = Column(UtcDateTime)
    close_reason: Mapped[str | None] = Column(String(64))  # a reason code, not free text
    anonymised_at: Mapped[datetime | None] = Column(UtcDateTime)

    notes: Mapped[list[TicketNote]] = relationship("TicketNote", order_by="TicketNote.created_at")


class TicketNote(Base):
    """Staff's note on a ticket; the body is personal data and encrypted."""

    __tablename__ = "ticket_notes"

    id: Mapped[int] = Column(Integer, primary_key=True)
    ticket_id: Mapped[int] = Column(
        Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True,
    )
    author: Mapped[str] = Column(String(64), nullable=False)
    body_encrypted: Mapped[str | None] = Column(Text)  # NULL once erased
    created_at: Mapped[datetime] = Column(UtcDateTime, nullable=False, default=utc_now)


class AuditEvent(Base):
    """Who did what, when. Append-only: `casework.audit` offers no update and no delete.

    `details` holds ids, codes and counts, never personal data, so the trail can be kept
    after the person it concerns is erased.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = Column(Integer, primary_key=True)
    at: Mapped[datetime] = Column(UtcDateTime, nullable=False, default=utc_now)
    actor: Mapped[str] = Column(String(64), nullable=False)
    action: Mapped[str] = Column(String(64), nullable=False)
    # No foreign key: the trail must outlive whatever it mentions.
    ticket_id: Mapped[int | None] = Column(Integer, index=True)
    details: Mapped[dict[str, Any]] = Column(JSON, nullable=False, default=dict)


class OutboxMessage(Base):
    """A notification to an office, stored with its ticket and delivered until it succeeds."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        one_of("target_kind", TARGET_KINDS),
        one_of("status", OUTBOX_STATUSES),
        Index(None, "status", "next_attempt_at"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    ticket_id: Mapped[int | None] = Column(Integer, ForeignKey("tickets.id", ondelete="SET NULL"), index=True)
    office_id: Mapped[str] = Column(String(64), nullable=False)
    target_kind: Mapped[str] = Column(String(16), nullable=False)
    target: Mapped[str] = Column(String(512), nullable=False)
    payload: Mapped[dict[str, Any]] = Column(JSON, nullable=False, default=dict)  # reference and codes only
    status: Mapped[str] = Column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = Column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = Column(UtcDateTime)
    last_error: Mapped[str | None] = Column(String(500))
    created_at: Mapped[datetime] = Column(UtcDateTime, nullable=False, default=utc_now)
    delivered_at: Mapped[datetime | None] = Column(UtcDateTime)
    dedupe_key: Mapped[str] = Column(String(128), nullable=False, unique=True)


INBOX_UNFINISHED = text("status IN ('pending', 'processing')")  # casework.inbox.UNFINISHED


class InboxMessage(Base):
    """A message from WhatsApp/Telegram, stored before it is acknowledged, processed later.

    `claimed_until` is the end of a worker's lease while `processing`, and the earliest
    retry time while `pending` after a failure; NULL means "available now".
    """

    __tablename__ = "inbox_messages"
    __table_args__ = (
        UniqueConstraint("provider", "provider_message_id"),
        one_of("status", INBOX_STATUSES),
        Index(None, "status", "received_at"),
        # Partial: the claim reads only unfinished messages, a few among days of finished ones.
        Index("ix_inbox_messages_unfinished", "received_at", "id",
              postgresql_where=INBOX_UNFINISHED, sqlite_where=INBOX_UNFINISHED),
        Index("ix_inbox_messages_unfinished_sender", "sender_id", "received_at",
              postgresql_where=INBOX_UNFINISHED, sqlite_where=INBOX_UNFINISHED),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    provider: Mapped[str] = Column(String(32), nullable=False)
    provider_message_id: Mapped[str] = Column(String(128), nullable=False)
    sender_id: Mapped[str] = Column(String(64), nullable=False, index=True)
    payload_encrypted: Mapped[str] = Column(Text, nullable=False)
    received_at: Mapped[datetime] = Column(UtcDateTime, nullable=False)
    status: Mapped[str] = Column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = Column(Integer, nullable=False, default=0)
    claimed_by: Mapped[str | None] = Column(String(128))
    claimed_until: Mapped[datetime | None] = Column(UtcDateTime)
    processed_at: Mapped[datetime | None] = Column(UtcDateTime)
    last_error: Mapped[str | None] = Column(String(500))
    # The channel's rendered replies (encrypted: they carry the handle) and how many went out,
    # so that a retry in any process sends the rest without asking Rasa again.
    replies_encrypted: Mapped[str | None] = Column(Text)
    replies_sent: Mapped[int | None] = Column(Integer)


class ErasureRequest(Base):
    """A person asked for erasure: what must still go from the conversation store.

    The case-work data is erased in the same transaction that records the request; the
    conversation (Rasa's tracker store, another database) can only be cleaned once Rasa has
    stored the turn that asked, so the privacy worker completes the request afterwards.
    `sender_id` is cleared when the request is done: nothing links the record to the person.
    """

    __tablename__ = "erasure_requests"
    __table_args__ = (
        one_of("status", ERASURE_STATUSES),
        Index(None, "status", "requested_at"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    sender_id: Mapped[str | None] = Column(String(255))
    requested_at: Mapped[datetime] = Column(UtcDateTime, nullable=False)
    # The newest event time (Rasa's clock) the asking action saw: the session Rasa starts
    # for the erasure is stored after it.
    tracker_after: Mapped[float | None] = Column(Float)
    status: Mapped[str] = Column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = Column(Integer, nullable=False, default=0)
    completed_at: Mapped[datetime | None] = Column(UtcDateTime)
    last_error: Mapped[str | None] = Column(String(500))
    # Counts only (events, inbox messages), for the audit trail.
    result: Mapped[dict[str, Any] | None] = Column(JSON)


# --- Staff console (migration 0004) -------------------------------------------------------

STAFF_ROLES = ("caseworker", "office_lead", "coordinator")
# Anonymous steps the assistant records; intakes completed, tickets, contacted and closed
# come from the cases themselves (casework.funnel).
FUNNEL_STEPS = ("conversation", "question_answered", "eligibility_checked", "intake_started")


class StaffAccount(Base):
    """A person who works tickets in the console, member of one office (coordinators: all).

    Accounts are never deleted as rows: `deleted_at` keeps the name reserved, so an audit
    trail that says "maria.p did X" cannot later point at somebody else.
    """

    __tablename__ = "staff_accounts"
    __table_args__ = (one_of("role", STAFF_ROLES),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    username: Mapped[str] = Column(String(64), nullable=False, unique=True)
    office_id: Mapped[str] = Column(String(64), nullable=False)
    role: Mapped[str] = Column(String(16), nullable=False)
    password_hash: Mapped[str] = Column(String(255), nullable=False)  # argon2id
    totp_secret_encrypted: Mapped[str | None] = Column(Text)  # a FieldCipher token
    # The 30-second step of the last accepted code: a code is accepted once, never replayed.
    totp_last_step: Mapped[int | None] = Column(Integer)
    language: Mapped[str | None] = Column(String(8))
    created_at: Mapped[datetime] = Column(UtcDateTime, nullable=False, default=utc_now)
    last_login_at: Mapped[datetime | None] = Column(UtcDateTime)
    # The queue's "new tickets" notification counts tickets created after this moment.
    tickets_seen_at: Mapped[datetime | None] = Column(UtcDateTime)
    locked_at: Mapped[datetime | None] = Column(UtcDateTime)
    deleted_at: Mapped[datetime | None] = Column(UtcDateTime)
    # Console sessions issued before this moment are refused (sign-out, a new password).
    sessions_revoked_at: Mapped[datetime | None] = Column(UtcDateTime)


class LoginFailure(Base):
    """One failed sign-in, keyed by `user:<name>` or `ip:<address>`, for throttling."""

    __tablename__ = "staff_login_failures"
    __table_args__ = (Index(None, "key", "at"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    key: Mapped[str] = Column(String(128), nullable=False)
    at: Mapped[datetime] = Column(UtcDateTime, nullable=False)


class FunnelEvent(Base):
    """One anonymous step of the funnel: no sender id, no text, only codes and the ISO week."""

    __tablename__ = "funnel_events"
    __table_args__ = (one_of("step", FUNNEL_STEPS), Index(None, "week", "office_id"))

    id: Mapped[int] = Column(Integer, primary_key=True)
    step: Mapped[str] = Column(String(32), nullable=False)
    week: Mapped[str] = Column(String(8), nullable=False)  # e.g. 2026-W48
    office_id: Mapped[str | None] = Column(String(64))
    origin_country: Mapped[str | None] = Column(String(2))
    residence_country: Mapped[str | None] = Column(String(2))
