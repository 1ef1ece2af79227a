"""The audit trail: who did what to which ticket, and when.

Append-only by design: this repository records and reads events and offers no way to
change or remove one. Details are ids, codes and counts, never personal data, so the trail
can be kept after the people it concerns are erased; `record` refuses nested data and
anything that looks like free text (spaces, or longer than a code).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models import AuditEvent

Detail = str | int | float | bool | None
PLAIN = (str, int, float, bool, type(None))
MAX_DETAIL_TEXT = 64  # room for a code or an id; too short for a message or an address


def record(
    session: Session, *, actor: str, action: str, now: datetime,
    ticket_id: int | None = None, details: Mapping[str, Detail] | None = None,
) -> AuditEvent:
    """Append one event (flushed, not committed: it belongs to the caller's unit of work)."""
    clean = dict(details or {})
    for key, value in clean.items():
        if not isinstance(value, PLAIN):
            raise TypeError(f"audit detail {key!r} must be a plain value, not {type(value).__name__}")
        if isinstance(value, str) and (len(value) > MAX_DETAIL_TEXT or any(char.isspace() for char in value)):
            raise ValueError(f"audit detail {key!r} is not a code or an id; audit details carry no free text")
    event = AuditEvent(at=now, actor=actor, action=action, ticket_id=ticket_id, details=clean)
    session.add(event)
    session.flush()
    return event


def events_for_ticket(session: Session, *, ticket_id: int) -> list[AuditEvent]:
    """A ticket's trail, oldest first."""
    statement = select(AuditEvent).where(AuditEvent.ticket_id == ticket_id).order_by(AuditEvent.at, AuditEvent.id)
    return list(session.execute(statement).scalars())


def recent_events(session: Session, *, limit: int = 100) -> list[AuditEvent]:
    """The latest events, newest first (the console's audit page)."""
    statement = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    return list(session.execute(statement).scalars())
