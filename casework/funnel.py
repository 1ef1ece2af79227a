"""The offices' funnel: from a conversation to a closed case, per office, country and week.

The first steps (conversations, questions answered, eligibility checks, intakes started)
happen before anyone gave consent, so the assistant records them anonymously: a step
name, the ISO week, the country codes it knows and the office those countries route to.
No sender id, no text, no timestamp finer than the week.

The later steps come from the cases themselves, as a cohort of the week a ticket was
opened: tickets, intakes completed (tickets that carry an intake), contacted (the ticket
ever moved to contacted / in progress / referred) and closed.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casework import audit
from casework.models import FUNNEL_STEPS, AuditEvent, FunnelEvent, Ticket
from casework.routing import route_to_office
from casework.staff import Staff
from knowledge.model import KnowledgeBase

_CODE = re.compile(r"^[A-Z]{2}$")
CONTACTED = ("contacted", "in_progress", "referred")
UNATTRIBUTED = "-"


def iso_week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def _code(value: str | None) -> str | None:
    value = (value or "").strip().upper()
    return value if _CODE.match(value) else None


def record_step(
    session: Session, *, step: str, origin_country: str | None, residence_country: str | None, now: datetime,
    kb: KnowledgeBase, fallback_office_id: str = "fallback",
) -> FunnelEvent:
    """Count one anonymous funnel step (flushed in the caller's unit of work)."""
    if step not in FUNNEL_STEPS:
        raise ValueError(f"unknown funnel step {step!r}; one of {', '.join(FUNNEL_STEPS)}")
    origin, residence = _code(origin_country), _code(residence_country)
    office = None
    if origin or residence:
        office = route_to_office(origin=origin, residence=residence, region=None, kb=kb,
                                 fallback_office_id=fallback_office_id).primary
    event = FunnelEvent(step=step, week=iso_week(now), office_id=office, origin_country=origin,
                        residence_country=residence)
    session.add(event)
    session.flush()
    return event


@dataclass
class FunnelRow:
    week: str
    office_id: str
    country: str
    conversations: int = 0
    questions_answered: int = 0
    eligibility_checks: int = 0
    intakes_started: int = 0
    intakes_completed: int = 0
    tickets: int = 0
    contacted: int = 0
    closed: int = 0


COUNTS = tuple(f.name for f in fields(FunnelRow) if f.name not in ("week", "office_id", "country"))
_STEP_COLUMN = {
    "conversation": "conversations", "question_answered": "questions_answered",
    "eligibility_checked": "eligibility_checks", "intake_started": "intakes_started",
}


def weeks_back(now: datetime, weeks: int) -> list[str]:
    """The ISO weeks from `weeks - 1` weeks ago up to this one, oldest first."""
    return [iso_week(now - timedelta(weeks=back)) for back in range(weeks - 1, -1, -1)]


def funnel(session: Session, staff: Staff, *, now: datetime, weeks: int = 8) -> list[FunnelRow]:
    """Rows per (week, office, country) for the staff member's office (coordinators: all)."""
    wanted = weeks_back(now, weeks)
    rows: dict[tuple[str, str, str], FunnelRow] = {}

    def row(week: str, office: str | None, country: str | None) -> FunnelRow:
        key = (week, office or UNATTRIBUTED, country or UNATTRIBUTED)
        if key not in rows:
            rows[key] = FunnelRow(*key)
        return rows[key]

    events = select(
        FunnelEvent.week, FunnelEvent.office_id, func.coalesce(FunnelEvent.origin_country, FunnelEvent.residence_country),
        FunnelEvent.step, func.count(),
    ).where(FunnelEvent.week.in_(wanted)).group_by(
        FunnelEvent.week, FunnelEvent.office_id,
        func.coalesce(FunnelEvent.origin_country, FunnelEvent.residence_country), FunnelEvent.step,
    )
    if not staff.coordinator:
        events = events.where(FunnelEvent.office_id == staff.office_id)
    for week, office, country, step, count in session.execute(events):
        column = _STEP_COLUMN.get(step)
        if column:
            target = row(week, office, country)
            setattr(target, column, getattr(target, column) + count)

    since = now - timedelta(weeks=weeks + 1)
    tickets = select(Ticket).where(Ticket.created_at >= since)
    if not staff.coordinator:
        tickets = tickets.where(Ticket.office_id == staff.office_id)
    found = list(session.execute(tickets).scalars())
    moved = _contacted_ticket_ids(session, [ticket.id for ticket in found])
    for ticket in found:
        week = iso_week(ticket.created_at)
        if week not in wanted:
            continue
        target = row(week, ticket.office_id, ticket.origin_country or ticket.residence_country)
        target.tickets += 1
        target.intakes_completed += ticket.intake_id is not None
        target.contacted += ticket.id in moved or ticket.status in CONTACTED
        target.closed += ticket.status == "closed"
    return sorted(rows.values(), key=lambda r: (r.week, r.office_id, r.country))


def _contacted_ticket_ids(session: Session, ticket_ids: list[int]) -> set[int]:
    moved: set[int] = set()
    for start in range(0, len(ticket_ids), 500):
        batch = ticket_ids[start:start + 500]
        for ticket_id, details in session.execute(
            select(AuditEvent.ticket_id, AuditEvent.details).where(
                AuditEvent.action == "status_changed", AuditEvent.ticket_id.in_(batch),
            )
        ):
            if isinstance(details, dict) and details.get("to") in CONTACTED:
                moved.add(ticket_id)
    return moved


def totals_by_week(rows: list[FunnelRow]) -> dict[str, dict[str, int]]:
    """Per week, each count summed over offices and countries (for the chart)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    for item in rows:
        for name in COUNTS:
            out[item.week][name] += getattr(item, name)
    return dict(out)


def export_csv(session: Session, staff: Staff, *, now: datetime, weeks: int = 8) -> str:
    """The funnel as CSV; who exported what is audited."""
    rows = funnel(session, staff, now=now, weeks=weeks)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["week", "office", "country", *COUNTS])
    for item in rows:
        writer.writerow([item.week, item.office_id, item.country, *(getattr(item, name) for name in COUNTS)])
    audit.record(session, actor=staff.actor, action="funnel_exported", now=now,
                 details={"rows": len(rows), "weeks": weeks, "office_id": None if staff.coordinator else staff.office_id})
    return out.getvalue()
