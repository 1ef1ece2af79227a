"""The outbox of staff notifications: written with the ticket, delivered by a worker.

`enqueue_ticket_notifications` adds one message per office in the ticket's own unit of
work, so a ticket never exists without its notifications, nor a notification without its
ticket. `deliver_due` (the worker: `python -m casework.outbox --once|--loop`) claims due
messages one at a time with a conditional UPDATE that sets a lease (`next_attempt_at` in
the future) and commits it before sending, so two workers never send the same message.
The claim token is the (lease end, attempts) pair the worker wrote; it finishes the message
only if that token is unchanged. A worker that dies mid-send leaves a lease that expires
and the message is sent again (at least once; webhooks get X-OSS-Delivery to drop a repeat).

A failed attempt is retried after 30 s * 2^(attempts-1), at most 1 h; after
OUTBOX_MAX_ATTEMPTS attempts the message is "dead" with its last error, visible to staff:
`python -m casework.outbox --dead` lists the dead letters, `--requeue ID` sends one again
(after the office's target was fixed) with a fresh count of attempts.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from casework import audit
from casework.db import session_scope
from casework.models import OutboxMessage, Ticket
from casework.notify import Notification, Sender
from casework.offices import OfficesConfig
from casework.settings import Settings

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 30
BACKOFF_CAP_S = 3600
LEASE_S = 300  # longer than any sender's timeout
CANDIDATES = 10
BATCH = 50


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    lost: int = 0  # finished by someone else after our lease ran out


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 30 s, 60 s, 120 s ... at most 1 h."""
    return timedelta(seconds=min(BACKOFF_BASE_S * 2 ** max(attempts - 1, 0), BACKOFF_CAP_S))


def enqueue_ticket_notifications(
    session: Session, *, ticket: Ticket, office_ids: Sequence[str], offices: OfficesConfig,
    console_base_url: str, region: str | None, warm_lead: bool, now: datetime,
) -> list[OutboxMessage]:
    """Queue "new ticket" for the owner (office_ids[0]) and each office informed; not committed."""
    messages = []
    for position, office_id in enumerate(office_ids):
        office = offices[office_id]
        payload = ticket_payload(
            ticket=ticket, office_id=office_id, role="owner" if position == 0 else "informed",
            staff_language=office.languages[0], console_base_url=console_base_url, region=region,
            warm_lead=warm_lead,
        )
        message = OutboxMessage(
            ticket_id=ticket.id, office_id=office_id, target_kind=office.notify.kind, target=office.notify.target,
            payload=payload, status="pending", attempts=0, next_attempt_at=None, created_at=now,
            dedupe_key=f"ticket-opened:{ticket.id}:{office_id}",
        )
        session.add(message)
        messages.append(message)
    session.flush()
    return messages


def ticket_payload(
    *, ticket: Ticket, office_id: str, role: str, staff_language: str, console_base_url: str,
    region: str | None, warm_lead: bool,
) -> dict[str, Any]:
    """What an office needs to open the case, and nothing more: no name, phone or free text."""
    return {
        "event": "ticket_opened",
        "reference": ticket.reference,
        "office_id": office_id,
        "owner_office_id": ticket.office_id,
        "role": role,
        "priority": ticket.priority,
        "origin_country": ticket.origin_country,
        "residence_country": ticket.residence_country,
        "region": region,
        "needs": list(ticket.needs),
        "language": ticket.language,
        "warm_lead": warm_lead,
        "staff_language": staff_language,
        "console_url": f"{console_base_url.rstrip('/')}/tickets/{ticket.reference}",
    }


def deliver_due(
    engine: Engine, *, settings: Settings, now: datetime, senders: Mapping[str, Sender], limit: int = BATCH,
) -> DeliveryReport:
    """Deliver up to `limit` due messages, each claimed, sent and finished in its own transactions."""
    delivered = retried = dead = lost = 0
    lease_until = now + timedelta(seconds=LEASE_S)
    for _ in range(limit):
        with session_scope(engine) as session:
            claim = _claim_next(session, now=now, lease_until=lease_until)
        if claim is None:
            break
        notification, attempts = claim
        error: str | None = None
        sender = senders.get(notification.target_kind)
        try:
            if sender is None:
                raise LookupError(f"no sender for {notification.target_kind}")
            sender.send(notification)
        except Exception as failure:  # noqa: BLE001 -- any failure is a failed attempt, recorded
            error = f"{type(failure).__name__}: {failure}"[:500]
        with session_scope(engine) as session:
            outcome = _finish(
                session, message_id=notification.message_id, lease_until=lease_until, attempts=attempts,
                error=error, now=now, max_attempts=settings.outbox_max_attempts,
            )
        if outcome == "delivered":
            delivered += 1
        elif outcome == "pending":
            retried += 1
            log.warning("outbox message %s to %s failed (%s); will retry", notification.message_id,
                        notification.office_id, error)
        elif outcome == "dead":
            dead += 1
            log.error("outbox message %s to %s is dead after %s attempts: %s", notification.message_id,
                      notification.office_id, attempts + 1, error)
        else:
            lost += 1
    return DeliveryReport(delivered=delivered, retried=retried, dead=dead, lost=lost)


def _due(now: datetime) -> Any:
    return and_(
        OutboxMessage.status == "pending",
        or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now),
    )


def _claim_next(session: Session, *, now: datetime, lease_until: datetime) -> tuple[Notification, int] | None:
    candidates = session.execute(
        select(OutboxMessage.id, OutboxMessage.next_attempt_at, OutboxMessage.attempts)
        .where(_due(now))
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
        .limit(CANDIDATES)
    ).all()
    for message_id, seen_at, seen_attempts in candidates:
        unchanged = (
            OutboxMessage.next_attempt_at.is_(None) if seen_at is None else OutboxMessage.next_attempt_at == seen_at
        )
        claimed = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, _due(now), unchanged, OutboxMessage.attempts == seen_attempts)
            .values(next_attempt_at=lease_until)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed == 1:
            message = session.get(OutboxMessage, message_id, populate_existing=True)
            assert message is not None  # noqa: S101 -- we just updated it
            notification = Notification(
                message_id=message.id, dedupe_key=message.dedupe_key, office_id=message.office_id,
                target_kind=message.target_kind, target=message.target, payload=dict(message.payload),
            )
            return notification, message.attempts
    return None


def _finish(
    session: Session, *, message_id: int, lease_until: datetime, attempts: int, error: str | None, now: datetime,
    max_attempts: int,
) -> str | None:
    """Record the attempt; returns the new status, or None when the claim was lost."""
    if error is None:
        values: dict[str, Any] = {
            "status": "delivered", "delivered_at": now, "attempts": attempts + 1, "next_attempt_at": None,
            "last_error": None,
        }
    elif attempts + 1 >= max_attempts:
        values = {"status": "dead", "attempts": attempts + 1, "next_attempt_at": None, "last_error": error}
    else:
        values = {
            "status": "pending", "attempts": attempts + 1, "next_attempt_at": now + backoff(attempts + 1),
            "last_error": error,
        }
    updated = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id, OutboxMessage.status == "pending",
            OutboxMessage.next_attempt_at == lease_until, OutboxMessage.attempts == attempts,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    return str(values["status"]) if updated == 1 else None


@dataclass(frozen=True)
class DeadLetter:
    """A notification that gave up: enough for an operator to fix the target, no personal data."""

    message_id: int
    office_id: str
    target_kind: str
    reference: str | None
    attempts: int
    last_error: str | None
    created_at: datetime


def dead_letters(session: Session) -> list[DeadLetter]:
    """Every dead message, oldest first."""
    rows = session.execute(
        select(OutboxMessage, Ticket.reference)
        .outerjoin(Ticket, Ticket.id == OutboxMessage.ticket_id)
        .where(OutboxMessage.status == "dead")
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
    ).all()
    return [
        DeadLetter(message_id=m.id, office_id=m.office_id, target_kind=m.target_kind, reference=reference,
                   attempts=m.attempts, last_error=m.last_error, created_at=m.created_at)
        for m, reference in rows
    ]


def requeue(session: Session, *, message_id: int, now: datetime, actor: str = "operator") -> bool:
    """Send a dead message again, due now, with a fresh count of attempts; False if not dead."""
    requeued = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == "dead")
        .values(status="pending", attempts=0, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if requeued != 1:
        return False
    ticket_id = session.execute(select(OutboxMessage.ticket_id).where(OutboxMessage.id == message_id)).scalar_one()
    audit.record(session, actor=actor, action="notification_requeued", now=now, ticket_id=ticket_id,
                 details={"outbox_message_id": message_id})
    return True


def _operator_command(args: argparse.Namespace) -> int:
    from casework.db import shared_engine

    with session_scope(shared_engine()) as session:
        if args.dead:
            letters = dead_letters(session)
            for letter in letters:
                sys.stdout.write(
                    f"{letter.message_id}\t{letter.created_at:%Y-%m-%d %H:%M}\t{letter.office_id}\t{letter.target_kind}\t"
                    f"{letter.reference or '-'}\tattempts={letter.attempts}\t{letter.last_error or ''}\n"
                )
            sys.stdout.write(f"{len(letters)} dead letter(s)\n")
            return 0
        if requeue(session, message_id=args.requeue, now=datetime.now(timezone.utc)):
            sys.stdout.write(f"message {args.requeue} is pending again\n")
            return 0
    sys.stderr.write(f"message {args.requeue} is not a dead letter\n")
    return 1


def main(argv: list[str]) -> int:
    """`python -m casework.outbox --once|--loop [--interval S] | --dead | --requeue ID`."""
    from casework.db import shared_engine
    from casework.notify import build_senders
    from casework.offices import load_offices_config
    from casework.settings import load_settings
    from knowledge.loader import knowledge_base

    parser = argparse.ArgumentParser(prog="python -m casework.outbox", description=main.__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--once", action="store_true", help="deliver what is due, then exit")
    mode.add_argument("--loop", action="store_true", help="keep delivering until interrupted")
    mode.add_argument("--dead", action="store_true", help="list the dead letters")
    mode.add_argument("--requeue", type=int, metavar="ID", help="send dead letter ID again")
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between rounds (--loop)")
    args = parser.parse_args(argv)
    if args.dead or args.requeue is not None:
        return _operator_command(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    settings = load_settings()
    offices = load_offices_config(settings.offices_config_path, kb=knowledge_base())
    senders = build_senders(settings, offices)
    engine = shared_engine()
    while True:
        report = deliver_due(engine, settings=settings, now=datetime.now(timezone.utc), senders=senders)
        if report != DeliveryReport():
            log.info("outbox: %s", report)
        if args.once:
            return 1 if report.dead else 0
        if report.delivered + report.retried + report.dead == 0:
            try:
                time.sleep(args.interval)
            except KeyboardInterrupt:
                return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
