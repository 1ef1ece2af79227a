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
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import bindparam, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from casework import audit
from casework.models import ConsentRecord, InboxMessage, Intake, Person, Ticket, TicketNote
from casework.settings import KEY_HINT, Settings

SENDER_PREFIXES = {"whatsapp": "wa", "telegram": "tg", "rest": "rest"}
BATCH = 500


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

    inbox = session.execute(
        delete(InboxMessage).where(InboxMessage.received_at < inactive_before).execution_options(synchronize_session="fetch")
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
