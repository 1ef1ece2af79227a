"""Test objects with sensible defaults: persons, intakes, tickets and notes."""

from __future__ import annotations

import base64
import os
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.orm import Session

from casework.models import ConsentRecord, Intake, Person, Ticket, TicketNote
from casework.privacy import FieldCipher

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
HANDLE = "+34600111222"
INTAKE_FIELDS = {"full_name": "María Quispe Mamani", "city": "Alcobendas", "phone": HANDLE, "household": 3}
NOTE_BODY = "Llamé a María; vive con sus tres hijos en Alcobendas."


def new_key() -> str:
    """A field encryption key, exactly as the docs tell operators to generate one."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def later(seconds: float = 0, *, days: float = 0) -> datetime:
    return NOW + timedelta(seconds=seconds, days=days)


def make_person(
    session: Session, cipher: FieldCipher, *, sender_id: str | None = None, handle: str = HANDLE,
    channel: str = "whatsapp", at: datetime = NOW, **fields: Any,
) -> Person:
    person = Person(
        sender_id=sender_id or f"wa-{secrets.token_hex(12)}", channel=channel,
        handle_encrypted=cipher.encrypt_text(handle), language="es",
        created_at=at, last_inbound_at=at, **fields,
    )
    session.add(person)
    session.flush()
    return person


def give_consent(session: Session, person: Person, *, at: datetime = NOW) -> ConsentRecord:
    consent = ConsentRecord(person_id=person.id, given_at=at, notice_version="2026-11", language="es")
    session.add(consent)
    session.flush()
    return consent


def make_intake(session: Session, cipher: FieldCipher, person: Person | None, *, at: datetime = NOW) -> Intake:
    intake = Intake(
        person_id=person.id if person else None, fields_encrypted=cipher.encrypt_json(INTAKE_FIELDS),
        origin_country="PE", residence_country="ES", region="Madrid", needs=["return", "jobs"],
        eligibility={"verdict": "likely_eligible", "reasons": ["irregular_status"]},
        vulnerability_flag=False, created_at=at, completed_at=at,
    )
    session.add(intake)
    session.flush()
    return intake


def make_ticket(
    session: Session, *, person: Person | None, intake: Intake | None = None, at: datetime = NOW,
    status: str = "new", closed_at: datetime | None = None, **fields: Any,
) -> Ticket:
    ticket = Ticket(
        reference=f"OSS-{secrets.token_hex(3).upper()}", idempotency_key=secrets.token_hex(16),
        person_id=person.id if person else None, intake_id=intake.id if intake else None,
        office_id="oss-pe", status=status, priority="normal", origin_country="PE", residence_country="ES",
        needs=["return"], language="es", created_at=at, updated_at=at, closed_at=closed_at, **fields,
    )
    session.add(ticket)
    session.flush()
    return ticket


def add_note(session: Session, cipher: FieldCipher, ticket: Ticket, body: str = NOTE_BODY, *, at: datetime = NOW) -> TicketNote:
    note = TicketNote(ticket_id=ticket.id, author="staff-pe-1", body_encrypted=cipher.encrypt_text(body), created_at=at)
    session.add(note)
    session.flush()
    return note
