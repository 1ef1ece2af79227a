"""Personal data: pseudonymous ids, field encryption, erasure on request, retention purge.

Only the `*_encrypted` columns hold personal data, as Fernet tokens (AES-128-CBC with an
HMAC, and the time of encryption). Keys rotate without downtime: put the new key first in
FIELD_ENCRYPTION_KEY (new key, old key), deploy, run `rotate_all`, then drop the old key.

Erasure and retention keep an anonymous shell (office, countries, needs, status, dates)
so that the offices' statistics and the audit trail survive the person's data.
None of these functions commits: the caller's unit of work does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import bindparam, delete, exists, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from casework import audit
from casework.conversations import erase_conversation
from casework.models import ConsentRecord, ErasureRequest, InboxMessage, Intake, Person, Ticket, TicketNote
from casework.settings import KEY_HINT, Settings

log = logging.getLogger(__name__)

SENDER_PREFIXES = {"whatsapp": "wa", "telegram": "tg", "rest": "rest"}
BATCH = 500
# How long an erasure waits for Rasa to store the turn that asked for it; then it deletes
# everything up to the request instead (Rasa may have crashed before storing the turn).
ERASURE_MARKER_WAIT = timedelta(minutes=10)
UNFINISHED_INBOX = ("pending", "processing")


class UnreadableField(ValueError):
    """A token none of the configured keys can decrypt (wrong key, or tampered data)."""


def pseudonymous_sender_id(channel: str, handle: str, secret: str | bytes) -> str:
    """The id the assistant knows a person by, e.g. `wa-3f1c...` (24 hex characters).

    A keyed HMAC, not a plain hash: phone numbers are few enough to hash them all, so
    without the server's secret nobody can go back from the id to the number.
    """
    if not secret:
        raise ValueError("a secret is required (SENDER_ID_SECRET)")
    key = secret.encode() if isinstance(secret, str) else secret
    normalised = handle.strip().removeprefix("whatsapp:").replace(" ", "")
    digest = hmac.new(key, f"{channel}\x00{normalised}".encode(), hashlib.sha256).hexdigest()
    return f"{SENDER_PREFIXES.get(channel, channel)}-{digest[:24]}"


class FieldCipher:
    """Encrypts personal fields with the first key; decrypts with any configured key."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise ValueError(f"at least one encryption key is required (FIELD_ENCRYPTION_KEY); {KEY_HINT}")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                # Never echo the key itself: it may be a real one with a typo.
                raise ValueError(
                    f"FIELD_ENCRYPTION_KEY: key #{position} is not 32 url-safe base64 bytes; {KEY_HINT}"
                ) from None
        self._fernet = MultiFernet(fernets)

    @classmethod
    def from_settings(cls, settings: Settings) -> FieldCipher:
        return cls(settings.require_field_encryption_keys())

    def encrypt_text(self, text: str) -> str:
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt_text(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeEncodeError):
            raise UnreadableField("no configured key decrypts this field") from None

    def encrypt_json(self, value: Any) -> str:
        return self.encrypt_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def decrypt_json(self, token: str) -> Any:
        return json.loads(self.decrypt_text(token))

    def rotate(self, token: str) -> str:
        """The same plaintext, re-encrypted with the first (current) key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError):
            raise UnreadableField("no configured key decrypts this field") from None


ENCRYPTED_COLUMNS = (
    (Person, "handle_encrypted"),
    (Intake, "fields_encrypted"),
    (TicketNote, "body_encrypted"),
    (InboxMessage, "payload_encrypted"),
)


def rotate_all(session: Session, *, cipher: FieldCipher, now: datetime, batch_size: int = BATCH) -> dict[str, int]:
    """Re-encrypt every encrypted column with the current key; returns rows per table.

    Raises UnreadableField (and changes nothing, once the caller rolls back) if any token
    is readable by none of the keys: drop an old key only after a rotation succeeded.
    """
    session.flush()
    rotated: dict[str, int] = {}
    for model, name in ENCRYPTED_COLUMNS:
        table, column = model.__table__, getattr(model.__table__.c, name)
        statement = update(table).where(table.c.id == bindparam("row_id")).values({name: bindparam("token")})
        last_id, count = 0, 0
        while True:
            rows = session.execute(
                select(table.c.id, column)
                .where(column.is_not(None), table.c.id > last_id)
                .order_by(table.c.id)
                .limit(batch_size)
            ).all()
            if not rows:
                break
            session.execute(statement, [{"row_id": row_id, "token": cipher.rotate(token)} for row_id, token in rows])
            last_id, count = rows[-1][0], count + len(rows)
        rotated[table.name] = count
    session.expire_all()  # objects loaded before still hold the old tokens
    audit.record(session, actor="operator", action="fields_rotated", now=now, details=rotated)
    return rotated


@dataclass(frozen=True)
class ErasureSummary:
    """What an erasure removed: counts only, so it can go into the audit trail."""

    persons: int = 0
    consents_deleted: int = 0
    intakes_anonymised: int = 0
    tickets_anonymised: int = 0
    notes_erased: int = 0
    inbox_messages_deleted: int = 0


@dataclass(frozen=True)
class PurgeSummary:
    """What one retention run removed."""

    tickets_anonymised: int = 0
    notes_erased: int = 0
    intakes_anonymised: int = 0
    persons_erased: int = 0
    inbox_messages_deleted: int = 0


def erase_person(session: Session, *, sender_id: str, now: datetime, actor: str = "person") -> ErasureSummary:
    """Erase what we hold about one person (right to erasure); idempotent.

    Their tickets stay, anonymised, so the office sees that a case existed and was erased.
    The person row is kept as a tombstone with a new sender id, so if they write again
    they start afresh and nothing links them to the erased record.
    """
    person = session.execute(select(Person).where(Person.sender_id == sender_id)).scalar_one_or_none()
    if person is None:
        return ErasureSummary()
    summary = _erase(session, person=person, now=now, actor=actor, reason="erasure")
    audit.record(session, actor=actor, action="person_erased", now=now, details={"person_id": person.id, **asdict(summary)})
    return summary


def request_erasure(session: Session, *, sender_id: str, now: datetime, tracker_after: float | None) -> ErasureSummary:
    """The person said "yes, erase everything": the case-work data goes now, in this unit of
    work, together with the durable request that `complete_erasures` finishes in the
    conversation store once Rasa has stored this turn (it survives any restart)."""
    summary = erase_person(session, sender_id=sender_id, now=now)
    request = ErasureRequest(sender_id=sender_id, requested_at=now, tracker_after=tracker_after, status="pending", attempts=0)
    session.add(request)
    session.flush()
    audit.record(session, actor="person", action="erasure_requested", now=now, details={"request_id": request.id})
    return summary


def erase_on_request(*, sender_id: str, tracker_after: float | None, now: datetime) -> ErasureSummary:
    """`request_erasure` in its own unit of work on the process's database (for the action)."""
    from casework.db import session_scope, shared_engine

    with session_scope(shared_engine()) as session:
        return request_erasure(session, sender_id=sender_id, now=now, tracker_after=tracker_after)


@dataclass(frozen=True)
class ErasureProgress:
    """One pass of the privacy worker over the pending erasure requests."""

    completed: int = 0
    waiting: int = 0
    failed: int = 0


def complete_erasures(
    engine: Engine, *, tracker: Engine | None, now: datetime, marker_wait: timedelta = ERASURE_MARKER_WAIT,
) -> ErasureProgress:
    """Finish pending erasures: the conversation in the tracker store, then the inbox rows.

    A request waits while the sender's inbox still has a message of the asking turn in
    processing, and until Rasa has stored that turn (see `casework.conversations`). Done,
    the request keeps only counts: its sender id is cleared.
    """
    from casework.db import session_scope

    with session_scope(engine) as session:
        pending = session.execute(
            select(ErasureRequest.id, ErasureRequest.sender_id, ErasureRequest.requested_at, ErasureRequest.tracker_after)
            .where(ErasureRequest.status == "pending")
            .order_by(ErasureRequest.id)
            .limit(BATCH)
        ).all()
    completed = waiting = failed = 0
    for request_id, sender_id, requested_at, tracker_after in pending:
        overdue = now - requested_at > marker_wait
        if sender_id is None or tracker is None:
            waiting += 1
            continue
        with session_scope(engine) as session:
            unfinished = session.execute(
                select(func.count()).select_from(InboxMessage).where(
                    InboxMessage.sender_id == sender_id, InboxMessage.status.in_(UNFINISHED_INBOX),
                    InboxMessage.received_at <= requested_at,
                )
            ).scalar_one()
        if unfinished and not overdue:
            waiting += 1
            continue
        try:
            outcome = erase_conversation(tracker, sender_id=sender_id, after=tracker_after, force=overdue)
        except SQLAlchemyError as error:
            failed += 1
            with session_scope(engine) as session:
                session.execute(
                    update(ErasureRequest).where(ErasureRequest.id == request_id)
                    .values(attempts=ErasureRequest.attempts + 1, last_error=type(error).__name__)
                )
            log.warning("erasure request %s: the tracker store failed (%s); will retry", request_id, type(error).__name__)
            continue
        if not outcome.ready:
            waiting += 1
            continue
        with session_scope(engine) as session:
            inbox = session.execute(
                delete(InboxMessage)
                .where(InboxMessage.sender_id == sender_id, InboxMessage.received_at <= requested_at)
                .execution_options(synchronize_session=False)
            ).rowcount
            result = {"events_deleted": outcome.events_deleted, "inbox_messages_deleted": int(inbox or 0), "forced": overdue}
            done = session.execute(
                update(ErasureRequest)
                .where(ErasureRequest.id == request_id, ErasureRequest.status == "pending")
                .values(status="done", sender_id=None, completed_at=now, attempts=ErasureRequest.attempts + 1,
                        last_error=None, result=result)
                .execution_options(synchronize_session=False)
            ).rowcount
            if done:
                audit.record(session, actor="privacy-worker", action="erasure_completed", now=now,
                             details={"request_id": request_id, **result})
        completed += 1
    return ErasureProgress(completed=completed, waiting=waiting, failed=failed)


def purge_expired(session: Session, *, settings: Settings, now: datetime) -> PurgeSummary:
    """Apply the retention periods (run daily); returns what it removed."""
    closed_before = now - timedelta(days=settings.retention_closed_case_days)
    inactive_before = now - timedelta(days=settings.retention_conversation_days)
    expired_tickets = session.execute(
        select(Ticket.id).where(
            Ticket.status == "closed", Ticket.closed_at < closed_before, Ticket.anonymised_at.is_(None),
        )
    ).scalars().all()
    notes = intakes = 0
    for start in range(0, len(expired_tickets), BATCH):  # keeps IN (...) lists within SQLite's limits
        batch = list(expired_tickets[start:start + BATCH])
        batch_notes, batch_intakes = _anonymise_tickets(session, ticket_ids=batch, now=now, actor="retention", reason="retention")
        notes, intakes = notes + batch_notes, intakes + batch_intakes

    # People who went quiet and have no case left: nothing justifies keeping their handle.
    has_ticket = exists().where(Ticket.person_id == Person.id)
    inactive = session.execute(
        select(Person).where(
            Person.erased_at.is_(None),
            func.coalesce(Person.last_inbound_at, Person.created_at) < inactive_before,
            ~has_ticket,
        )
    ).scalars().all()
    for person in inactive:
        erased = _erase(session, person=person, now=now, actor="retention", reason="retention")
        intakes += erased.intakes_anonymised

    # Processed payloads are only kept to recognise a provider's retry; anything as old as a
    # silent conversation goes too, processed or not.
    inbox_before = now - timedelta(days=settings.retention_inbox_days)
    inbox = session.execute(
        delete(InboxMessage)
        .where(or_(
            InboxMessage.received_at < inactive_before,
            (InboxMessage.status.in_(("done", "failed"))) & (InboxMessage.received_at < inbox_before),
        ))
        .execution_options(synchronize_session="fetch")
    ).rowcount
    summary = PurgeSummary(
        tickets_anonymised=len(expired_tickets), notes_erased=notes, intakes_anonymised=intakes,
        persons_erased=len(inactive), inbox_messages_deleted=inbox,
    )
    audit.record(session, actor="retention", action="retention_purged", now=now, details=asdict(summary))
    return summary


def _erase(session: Session, *, person: Person, now: datetime, actor: str, reason: str) -> ErasureSummary:
    if person.erased_at is not None:
        return ErasureSummary()
    session.flush()
    ticket_ids = list(session.execute(select(Ticket.id).where(Ticket.person_id == person.id)).scalars())
    notes, ticket_intakes = _anonymise_tickets(session, ticket_ids=ticket_ids, now=now, actor=actor, reason=reason)
    intakes = _anonymise_intakes(session, where=Intake.person_id == person.id)
    consents = session.execute(
        delete(ConsentRecord).where(ConsentRecord.person_id == person.id).execution_options(synchronize_session="fetch")
    ).rowcount
    # Finished messages only: the one asking for erasure may still be in processing.
    inbox = session.execute(
        delete(InboxMessage)
        .where(InboxMessage.sender_id == person.sender_id, InboxMessage.status.in_(("done", "failed")))
        .execution_options(synchronize_session="fetch")
    ).rowcount
    session.expire(person, ["consents"])
    person.handle_encrypted = None
    person.erased_at = now
    person.sender_id = f"erased-{person.id}"
    session.flush()
    return ErasureSummary(
        persons=1, consents_deleted=consents, intakes_anonymised=intakes + ticket_intakes,
        tickets_anonymised=len(ticket_ids), notes_erased=notes, inbox_messages_deleted=inbox,
    )


def _anonymise_tickets(session: Session, *, ticket_ids: list[int], now: datetime, actor: str, reason: str) -> tuple[int, int]:
    """Detach tickets from their person and drop their personal parts; (notes, intakes)."""
    if not ticket_ids:
        return 0, 0
    notes = session.execute(
        update(TicketNote)
        .where(TicketNote.ticket_id.in_(ticket_ids), TicketNote.body_encrypted.is_not(None))
        .values(body_encrypted=None)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    intake_ids = select(Ticket.intake_id).where(Ticket.id.in_(ticket_ids), Ticket.intake_id.is_not(None))
    intakes = _anonymise_intakes(session, where=Intake.id.in_(intake_ids))
    session.execute(
        update(Ticket)
        .where(Ticket.id.in_(ticket_ids))
        .values(person_id=None, anonymised_at=now, updated_at=now)
        .execution_options(synchronize_session="fetch")
    )
    for ticket_id in ticket_ids:
        audit.record(session, actor=actor, action="ticket_anonymised", now=now, ticket_id=ticket_id, details={"reason": reason})
    return notes, intakes


def _anonymise_intakes(session: Session, *, where: Any) -> int:
    return session.execute(
        update(Intake)
        .where(where, or_(Intake.fields_encrypted.is_not(None), Intake.person_id.is_not(None)))
        .values(fields_encrypted=None, person_id=None)
        .execution_options(synchronize_session="fetch")
    ).rowcount
