"""The console's view of tickets, scoped to the staff member's office in every query.

Each function takes the signed-in `Staff` and filters by their office unless they are the
network's coordinator. A ticket of another office is answered exactly like a ticket that
does not exist (TicketNotFound), so guessing references reveals nothing. Reading personal
data (the intake's answers, notes, the conversation) writes an audit event.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from casework import audit
from casework.models import PRIORITIES, TICKET_STATUSES, AuditEvent, Intake, Person, StaffAccount, Ticket, TicketNote
from casework.privacy import FieldCipher, UnreadableField
from casework.staff import Staff
from casework.tickets import TicketNotFound, set_status

WHATSAPP_WINDOW = timedelta(hours=24)
# The poll of the conversation is audited once per staff member and ticket in this period.
CONVERSATION_AUDIT_EVERY = timedelta(minutes=10)
MAX_NOTE_CHARS = 4000
QUEUE_LIMIT = 200
_PRIORITY_RANK = case({"urgent": 0, "high": 1, "normal": 2}, value=Ticket.priority, else_=3)


class NotAllowed(PermissionError):
    """The staff member's role does not allow this action."""


@dataclass(frozen=True)
class QueueFilters:
    status: str | None = None
    priority: str | None = None
    origin_country: str | None = None
    need: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class QueueRow:
    reference: str
    office_id: str
    status: str
    priority: str
    origin_country: str | None
    residence_country: str | None
    needs: tuple[str, ...]
    created_at: datetime
    anonymised: bool


@dataclass(frozen=True)
class NoteView:
    author: str
    created_at: datetime
    body: str | None  # None once erased


@dataclass(frozen=True)
class TicketView:
    reference: str
    office_id: str
    status: str
    priority: str
    origin_country: str | None
    residence_country: str | None
    needs: tuple[str, ...]
    language: str | None
    created_at: datetime
    closed_at: datetime | None
    close_reason: str | None
    anonymised: bool
    intake: dict[str, Any] | None
    eligibility: dict[str, Any] | None
    vulnerable: bool
    notes: tuple[NoteView, ...]
    channel: str | None
    whatsapp_window_open: bool
    history: tuple[tuple[datetime, str, str], ...] = field(default=())  # (at, actor, action)


@dataclass(frozen=True)
class Conversation:
    """What the console needs to talk to Rasa about this ticket's person."""

    reference: str
    sender_id: str
    channel: str
    language: str
    office_id: str
    whatsapp_window_open: bool


def _scoped(staff: Staff) -> Any:
    statement = select(Ticket)
    return statement if staff.coordinator else statement.where(Ticket.office_id == staff.office_id)


def _ticket(session: Session, staff: Staff, reference: str, *, for_update: bool = False) -> Ticket:
    statement = _scoped(staff).where(Ticket.reference == reference.strip().upper())
    if for_update:
        statement = statement.with_for_update()
    ticket = session.execute(statement).scalar_one_or_none()
    if ticket is None:
        raise TicketNotFound(reference)
    return ticket


def list_queue(session: Session, staff: Staff, filters: QueueFilters | None = None) -> list[QueueRow]:
    """The office's tickets, most urgent first, newest first within a priority."""
    filters = filters or QueueFilters()
    statement = _scoped(staff)
    if filters.status in TICKET_STATUSES:
        statement = statement.where(Ticket.status == filters.status)
    if filters.priority in PRIORITIES:
        statement = statement.where(Ticket.priority == filters.priority)
    if filters.origin_country:
        statement = statement.where(Ticket.origin_country == filters.origin_country.strip().upper()[:2])
    if filters.reference:
        code = filters.reference.strip().upper()
        statement = statement.where(Ticket.reference.contains(code.removeprefix("OSS-"), autoescape=True))
    statement = statement.order_by(_PRIORITY_RANK, Ticket.created_at.desc(), Ticket.id.desc())
    rows = []
    for ticket in session.execute(statement).scalars():
        needs = tuple(ticket.needs or ())
        if filters.need and filters.need not in needs:
            continue  # JSON lists differ per backend; filtering here keeps one behaviour
        rows.append(QueueRow(
            reference=ticket.reference, office_id=ticket.office_id, status=ticket.status, priority=ticket.priority,
            origin_country=ticket.origin_country, residence_country=ticket.residence_country, needs=needs,
            created_at=ticket.created_at, anonymised=ticket.anonymised_at is not None,
        ))
        if len(rows) >= QUEUE_LIMIT:
            break
    return rows


def export_queue_csv(session: Session, staff: Staff, filters: QueueFilters | None, *, now: datetime) -> str:
    """The queue as CSV (codes only, no personal data); the export itself is audited."""
    rows = list_queue(session, staff, filters)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["reference", "office", "status", "priority", "origin", "residence", "needs", "created_at"])
    for row in rows:
        writer.writerow([row.reference, row.office_id, row.status, row.priority, row.origin_country or "",
                         row.residence_country or "", " ".join(row.needs), row.created_at.isoformat()])
    audit.record(session, actor=staff.actor, action="queue_exported", now=now,
                 details={"rows": len(rows), "office_id": None if staff.coordinator else staff.office_id})
    return out.getvalue()


def _window_open(person: Person | None, now: datetime) -> bool:
    if person is None or person.channel != "whatsapp":
        return True
    return person.last_inbound_at is not None and now - person.last_inbound_at < WHATSAPP_WINDOW


def view_ticket(session: Session, staff: Staff, reference: str, *, cipher: FieldCipher, now: datetime) -> TicketView:
    """The whole ticket with its personal data decrypted; the view is audited."""
    ticket = _ticket(session, staff, reference)
    intake = session.get(Intake, ticket.intake_id) if ticket.intake_id else None
    person = session.get(Person, ticket.person_id) if ticket.person_id else None
    fields: dict[str, Any] | None = None
    if intake is not None and intake.fields_encrypted:
        try:
            fields = cipher.decrypt_json(intake.fields_encrypted)
        except UnreadableField:
            fields = {"_unreadable": True}
    notes = tuple(
        NoteView(author=note.author, created_at=note.created_at,
                 body=_decrypt_or_none(cipher, note.body_encrypted))
        for note in session.execute(
            select(TicketNote).where(TicketNote.ticket_id == ticket.id).order_by(TicketNote.created_at, TicketNote.id)
        ).scalars()
    )
    history = tuple(
        (event.at, event.actor, event.action)
        for event in audit.events_for_ticket(session, ticket_id=ticket.id)
        if event.action not in ("ticket_viewed", "conversation_viewed")
    )
    audit.record(session, actor=staff.actor, action="ticket_viewed", now=now, ticket_id=ticket.id,
                 details={"personal_data": fields is not None or any(n.body for n in notes)})
    return TicketView(
        reference=ticket.reference, office_id=ticket.office_id, status=ticket.status, priority=ticket.priority,
        origin_country=ticket.origin_country, residence_country=ticket.residence_country,
        needs=tuple(ticket.needs or ()), language=ticket.language, created_at=ticket.created_at,
        closed_at=ticket.closed_at, close_reason=ticket.close_reason, anonymised=ticket.anonymised_at is not None,
        intake=fields, eligibility=intake.eligibility if intake else None,
        vulnerable=bool(intake and intake.vulnerability_flag), notes=notes,
        channel=person.channel if person else None, whatsapp_window_open=_window_open(person, now), history=history,
    )


def _decrypt_or_none(cipher: FieldCipher, token: str | None) -> str | None:
    if token is None:
        return None
    try:
        return cipher.decrypt_text(token)
    except UnreadableField:
        return None


def conversation_for(session: Session, staff: Staff, reference: str, *, now: datetime, purpose: str) -> Conversation:
    """The person behind a ticket, for reading or acting on the live conversation.

    `purpose` is "read" (audited at most every CONVERSATION_AUDIT_EVERY per staff member,
    as the page polls) or an action code (take_over, reply, hand_back, template), always audited.
    Anonymised tickets have no conversation any more.
    """
    ticket = _ticket(session, staff, reference)
    person = session.get(Person, ticket.person_id) if ticket.person_id else None
    if person is None or person.erased_at is not None:
        raise TicketNotFound(reference)
    if purpose == "read":
        recent = session.execute(
            select(func.count()).select_from(AuditEvent).where(
                AuditEvent.ticket_id == ticket.id, AuditEvent.actor == staff.actor,
                AuditEvent.action == "conversation_viewed", AuditEvent.at > now - CONVERSATION_AUDIT_EVERY,
            )
        ).scalar_one()
        if not recent:
            audit.record(session, actor=staff.actor, action="conversation_viewed", now=now, ticket_id=ticket.id)
    else:
        audit.record(session, actor=staff.actor, action=f"handoff_{purpose}"[:64], now=now, ticket_id=ticket.id)
    return Conversation(
        reference=ticket.reference, sender_id=person.sender_id, channel=person.channel,
        language=person.language or ticket.language or "es", office_id=ticket.office_id,
        whatsapp_window_open=_window_open(person, now),
    )


def change_status(
    session: Session, staff: Staff, reference: str, *, status: str, now: datetime, reason: str | None = None,
) -> None:
    ticket = _ticket(session, staff, reference, for_update=True)
    set_status(session, reference=ticket.reference, status=status, actor=staff.actor, now=now, reason=reason or None)


def add_note(session: Session, staff: Staff, reference: str, *, body: str, cipher: FieldCipher, now: datetime) -> None:
    text = body.strip()
    if not text:
        raise ValueError("a note needs some text")
    if len(text) > MAX_NOTE_CHARS:
        raise ValueError(f"a note has at most {MAX_NOTE_CHARS} characters")
    ticket = _ticket(session, staff, reference)
    session.add(TicketNote(ticket_id=ticket.id, author=staff.username, body_encrypted=cipher.encrypt_text(text),
                           created_at=now))
    ticket.updated_at = now
    session.flush()
    audit.record(session, actor=staff.actor, action="note_added", now=now, ticket_id=ticket.id)


def reassign(
    session: Session, staff: Staff, reference: str, *, office_id: str, note: str, cipher: FieldCipher,
    now: datetime, known_offices: set[str],
) -> None:
    """Hand the ticket to another office, with a note saying why (kept with the ticket)."""
    if staff.role == "caseworker":
        raise NotAllowed("only office leads and coordinators reassign tickets")
    if office_id not in known_offices:
        raise ValueError(f"unknown office {office_id!r}")
    ticket = _ticket(session, staff, reference, for_update=True)
    if ticket.status == "closed":
        raise ValueError("a closed ticket is not reassigned")
    if office_id == ticket.office_id:
        return
    add_note(session, staff, reference, body=note, cipher=cipher, now=now)
    previous, ticket.office_id, ticket.updated_at = ticket.office_id, office_id, now
    session.flush()
    audit.record(session, actor=staff.actor, action="ticket_reassigned", now=now, ticket_id=ticket.id,
                 details={"from": previous, "to": office_id})


def new_ticket_count(session: Session, staff: Staff) -> int:
    """Tickets of the office created since the staff member last opened the queue."""
    account = session.get(StaffAccount, staff.id)
    seen = account.tickets_seen_at if account else None
    statement = _scoped(staff).where(Ticket.status == "new")
    if seen is not None:
        statement = statement.where(Ticket.created_at > seen)
    return session.execute(select(func.count()).select_from(statement.subquery())).scalar_one()


def mark_tickets_seen(session: Session, staff: Staff, *, now: datetime) -> None:
    account = session.get(StaffAccount, staff.id)
    if account is not None:
        account.tickets_seen_at = now


def audit_trail(session: Session, staff: Staff, *, limit: int = 200) -> list[AuditEvent]:
    """The audit trail, read-only: coordinators see all, office leads their office's tickets."""
    if staff.role == "caseworker":
        raise NotAllowed("the audit trail is for office leads and coordinators")
    statement = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    if not staff.coordinator:
        office_tickets = select(Ticket.id).where(Ticket.office_id == staff.office_id)
        statement = statement.where(AuditEvent.ticket_id.in_(office_tickets))
    return list(session.execute(statement).scalars())
