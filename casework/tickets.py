"""Tickets: a consented intake becomes a case for the right office, once.

`open_case` stores the intake (personal answers encrypted), opens the ticket, writes the
audit trail and queues the staff notifications, all in the caller's unit of work: either
everything is committed together or nothing is. The same idempotency key always gives the
same ticket, even when two processes try at the same moment (the unique constraint on
`tickets.idempotency_key` decides, not a prior SELECT).

Status workflow: new -> contacted -> in_progress -> referred -> closed. A ticket only moves
forward (steps may be skipped, e.g. new -> closed for a duplicate), closing needs a reason
code, and a closed ticket is never reopened: a returning person opens a new case.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from casework import audit
from casework.consent import ConsentRequired, find_person, has_consent, record_consent
from casework.db import session_scope
from casework.intake import (
    REPLYABLE_CHANNELS,
    IntakeAnswers,
    is_warm_lead,
    personal_fields,
    priority_for,
    validate_intake,
)
from casework.models import TICKET_STATUSES, Intake, OutboxMessage, Ticket, new_reference
from casework.offices import OfficesConfig, load_offices_config
from casework.outbox import enqueue_ticket_notifications
from casework.privacy import FieldCipher
from casework.routing import normalise_region, route_to_office
from casework.settings import Settings
from knowledge.model import KnowledgeBase

CLOSE_REASONS = (
    "returned", "resolved", "referred_elsewhere", "not_reachable", "withdrawn", "not_eligible", "duplicate",
)
REFERENCE_ATTEMPTS = 8
_KEY = re.compile(r"^[A-Za-z0-9:._-]{8,128}$")


class InvalidIntake(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("the intake cannot open a case: " + ", ".join(problems))


class InvalidTransition(ValueError):
    """A status change the workflow does not allow."""


class TicketNotFound(LookupError):
    pass


@dataclass(frozen=True)
class CaseOpened:
    reference: str
    office_ids: tuple[str, ...]  # the owner first, then the offices informed
    priority: str
    created: bool  # False: this idempotency key had already opened the ticket
    warm_lead: bool
    # The owner office's committed delay before it contacts the person (config/offices.yml);
    # None: no commitment, so the person is promised none.
    first_contact_days: int | None = None


@dataclass(frozen=True)
class TicketStatus:
    reference: str
    status: str
    office_id: str
    updated_at: datetime


def idempotency_key_for(*, sender_id: str, intake: IntakeAnswers, form_run: str = "") -> str:
    """The key of "this person submitting these answers" (in this run of the form).

    A repeated action, a retried webhook or a double "yes" carry the same answers and give
    the same key. `form_run` (e.g. the time the form was started) lets the same person
    open a second case later with identical answers. A hash: no personal data in the key.
    """
    answers = json.dumps(asdict(intake), sort_keys=True, default=sorted, ensure_ascii=False)
    digest = hashlib.sha256(f"{sender_id}\x00{form_run}\x00{answers}".encode()).hexdigest()
    return f"case:{digest}"


def open_case(
    session: Session, *, sender_id: str, channel: str, intake: IntakeAnswers, eligibility: dict[str, Any] | None,
    cipher: FieldCipher, kb: KnowledgeBase, now: datetime, idempotency_key: str, offices: OfficesConfig,
    console_base_url: str, fallback_office_id: str = "fallback",
) -> CaseOpened:
    """Open (or find again) the case for this intake; see the module docstring.

    Raises ConsentRequired without a valid consent, InvalidIntake when `validate_intake`
    finds problems. `channel` must be the person's channel (it is checked, not stored again).
    """
    if not _KEY.match(idempotency_key):
        raise ValueError("idempotency_key must be 8-128 characters of [A-Za-z0-9:._-]")
    person = find_person(session, sender_id=sender_id)
    if person is None or not has_consent(session, sender_id=sender_id):
        raise ConsentRequired("no valid consent: record consent before the intake")
    if person.channel != channel:
        raise ValueError(f"sender {sender_id!r} wrote on {person.channel}, not {channel}")
    problems = validate_intake(intake)
    if problems:
        raise InvalidIntake(problems)

    existing = _by_key(session, idempotency_key)
    if existing is not None:
        return _already_opened(existing, person_id=person.id, intake=intake, channel=channel)

    decision = route_to_office(
        origin=intake.origin_country, residence=intake.residence_country, region=intake.region, kb=kb,
        fallback_office_id=fallback_office_id,
    )
    for office_id in decision.office_ids:
        offices[office_id]  # noqa: B018 -- fail before writing anything if an office has no target
    priority = priority_for(intake)
    warm = is_warm_lead(intake, has_consent=True, chat_reachable=channel in REPLYABLE_CHANNELS)
    region = normalise_region(intake.region) or (intake.region.strip().lower()[:64] if intake.region else None)

    for _attempt in range(REFERENCE_ATTEMPTS):
        try:
            with session.begin_nested():
                record = Intake(
                    person_id=person.id, fields_encrypted=cipher.encrypt_json(personal_fields(intake)),
                    origin_country=intake.origin_country, residence_country=intake.residence_country,
                    region=region, needs=list(intake.needs), eligibility=_codes_only(eligibility),
                    vulnerability_flag=intake.vulnerable, created_at=now, completed_at=now,
                )
                session.add(record)
                session.flush()
                ticket = Ticket(
                    reference=new_reference(), idempotency_key=idempotency_key, person_id=person.id,
                    intake_id=record.id, office_id=decision.primary, status="new", priority=priority,
                    origin_country=intake.origin_country, residence_country=intake.residence_country,
                    needs=list(intake.needs), language=intake.language, created_at=now, updated_at=now,
                )
                session.add(ticket)
                session.flush()
        except IntegrityError:
            existing = _by_key(session, idempotency_key)
            if existing is not None:  # a concurrent call with the same key won
                return _already_opened(existing, person_id=person.id, intake=intake, channel=channel)
            continue  # the random reference clashed with another ticket's: draw again
        break
    else:
        raise RuntimeError(f"no free ticket reference after {REFERENCE_ATTEMPTS} attempts")

    audit.record(session, actor="assistant", action="ticket_opened", now=now, ticket_id=ticket.id, details={
        "office_id": decision.primary, "informed": ",".join(decision.inform) or None, "priority": priority,
        "warm_lead": warm, "intake_id": record.id, "routing": ",".join(decision.reasons)[:64],
    })
    enqueue_ticket_notifications(
        session, ticket=ticket, office_ids=decision.office_ids, offices=offices,
        console_base_url=console_base_url, region=region if region in ("madrid", "catalonia") else None,
        warm_lead=warm, now=now,
    )
    return CaseOpened(
        reference=ticket.reference, office_ids=decision.office_ids, priority=priority, created=True, warm_lead=warm,
    )


def _by_key(session: Session, key: str) -> Ticket | None:
    return session.execute(select(Ticket).where(Ticket.idempotency_key == key)).scalar_one_or_none()


def _already_opened(ticket: Ticket, *, person_id: int, intake: IntakeAnswers, channel: str) -> CaseOpened:
    if ticket.person_id != person_id:
        raise ValueError("this idempotency key belongs to another person's ticket")
    informed = tuple(office_id for office_id in _notified_offices(ticket) if office_id != ticket.office_id)
    return CaseOpened(
        reference=ticket.reference, office_ids=(ticket.office_id, *informed), priority=ticket.priority,
        created=False, warm_lead=is_warm_lead(intake, has_consent=True, chat_reachable=channel in REPLYABLE_CHANNELS),
    )


def _notified_offices(ticket: Ticket) -> tuple[str, ...]:
    session = Session.object_session(ticket)
    if session is None:
        return ()
    rows = session.execute(
        select(OutboxMessage.office_id).where(OutboxMessage.ticket_id == ticket.id).order_by(OutboxMessage.id)
    ).scalars()
    return tuple(dict.fromkeys(rows))


def _codes_only(eligibility: dict[str, Any] | None) -> dict[str, Any] | None:
    """The eligibility verdict as codes: the outcome, lines, reason ids, priority; no text."""
    if eligibility is None:
        return None
    allowed = {"outcome", "verdict", "country", "lines", "reasons", "priority", "missing", "checked_on"}
    clean = {key: value for key, value in eligibility.items() if key in allowed}
    json.dumps(clean)  # must be JSON-ready
    return clean


def case_status(session: Session, *, sender_id: str) -> list[TicketStatus]:
    """The person's own tickets, newest first ("how is my case going?")."""
    person = find_person(session, sender_id=sender_id)
    if person is None:
        return []
    tickets = session.execute(
        select(Ticket).where(Ticket.person_id == person.id).order_by(Ticket.created_at.desc(), Ticket.id.desc())
    ).scalars()
    return [
        TicketStatus(reference=t.reference, status=t.status, office_id=t.office_id, updated_at=t.updated_at)
        for t in tickets
    ]


def set_status(
    session: Session, *, reference: str, status: str, actor: str, now: datetime, reason: str | None = None,
) -> Ticket:
    """Move a ticket forward in the workflow; the same status again changes nothing."""
    if status not in TICKET_STATUSES:
        raise InvalidTransition(f"unknown status {status!r}")
    ticket = session.execute(
        select(Ticket).where(Ticket.reference == reference).with_for_update()
    ).scalar_one_or_none()
    if ticket is None:
        raise TicketNotFound(reference)
    if status == ticket.status:
        return ticket
    if ticket.status == "closed":
        raise InvalidTransition(f"{reference} is closed; a closed ticket is not reopened")
    if TICKET_STATUSES.index(status) < TICKET_STATUSES.index(ticket.status):
        raise InvalidTransition(f"{reference} cannot go back from {ticket.status} to {status}")
    if status == "closed":
        if reason not in CLOSE_REASONS:
            raise InvalidTransition(f"closing needs a reason code, one of {', '.join(CLOSE_REASONS)}")
        ticket.closed_at, ticket.close_reason = now, reason
    elif reason is not None:
        raise InvalidTransition("a reason is only recorded when closing")
    previous = ticket.status
    ticket.status, ticket.updated_at = status, now
    session.flush()
    audit.record(session, actor=actor, action="status_changed", now=now, ticket_id=ticket.id, details={
        "from": previous, "to": status, "reason": reason,
    })
    return ticket


@dataclass(frozen=True)
class ConsentGiven:
    """The yes to the privacy notice, as the conversation recorded it (kept until confirm)."""

    at: datetime
    notice_version: str
    language: str


def submit_intake(
    engine: Engine, *, settings: Settings, kb: KnowledgeBase, sender_id: str, channel: str, consent: ConsentGiven,
    intake: IntakeAnswers, eligibility: dict[str, Any] | None, now: datetime, idempotency_key: str,
) -> CaseOpened:
    """The confirmed intake of a chat: record the consent (once) and open the case, in one unit of work.

    Nothing is written before the person confirms the summary, so a cancelled intake leaves
    no trace; the consent keeps the time the person said yes. Raises MissingSecret without
    FIELD_ENCRYPTION_KEY, InvalidIntake for answers that cannot open a case.
    """
    cipher = FieldCipher.from_settings(settings)
    offices = load_offices_config(settings.offices_config_path, kb=kb)
    with session_scope(engine) as session:
        if not has_consent(session, sender_id=sender_id):
            record_consent(
                session, sender_id=sender_id, channel=channel, notice_version=consent.notice_version,
                language=consent.language, now=consent.at,
            )
        opened = open_case(
            session, sender_id=sender_id, channel=channel, intake=intake, eligibility=eligibility, cipher=cipher,
            kb=kb, now=now, idempotency_key=idempotency_key, offices=offices,
            console_base_url=settings.console_base_url, fallback_office_id=settings.fallback_office_id,
        )
    return replace(opened, first_contact_days=offices[opened.office_ids[0]].first_contact_days)


def cases_of(engine: Engine, *, sender_id: str) -> list[TicketStatus]:
    """`case_status` in its own short unit of work, for the chat ("¿cómo va mi caso?")."""
    with session_scope(engine) as session:
        return case_status(session, sender_id=sender_id)
