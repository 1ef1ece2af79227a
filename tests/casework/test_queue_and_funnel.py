"""The console's queries: office scoping, order and filters of the queue, the funnel counts."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import timedelta

import pytest

from casework.funnel import export_csv, funnel, iso_week, record_step
from casework.models import Ticket
from casework.privacy import FieldCipher
from casework.queue import (
    NotAllowed,
    QueueFilters,
    add_note,
    change_status,
    conversation_for,
    list_queue,
    reassign,
    view_ticket,
)
from casework.staff import Staff
from casework.tickets import TicketNotFound
from knowledge.loader import knowledge_base
from tests.casework.conftest import Database
from tests.casework.factories import NOW, make_intake, make_person

PE = Staff(id=1, username="ana", office_id="oss-pe", role="caseworker")
PE_LEAD = Staff(id=2, username="lia", office_id="oss-pe", role="office_lead")
BO = Staff(id=3, username="bea", office_id="oss-bo", role="caseworker")
COORD = Staff(id=4, username="coord", office_id="fallback", role="coordinator")


def ticket(session, cipher: FieldCipher, *, office: str = "oss-pe", priority: str = "normal", hours: float = 0,
           origin: str = "PE", needs: tuple[str, ...] = ("employment",), status: str = "new") -> str:
    person = make_person(session, cipher, at=NOW - timedelta(hours=hours))
    intake = make_intake(session, cipher, person)
    reference = f"OSS-{secrets.token_hex(3).upper()}"
    session.add(Ticket(reference=reference, idempotency_key=secrets.token_hex(16), person_id=person.id,
                       intake_id=intake.id, office_id=office, status=status, priority=priority, origin_country=origin,
                       residence_country="ES", needs=list(needs), language="es",
                       created_at=NOW - timedelta(hours=hours), updated_at=NOW))
    session.flush()
    return reference


def test_the_queue_is_scoped_ordered_and_filtered(database: Database, cipher: FieldCipher) -> None:
    with database.session() as session:
        old_urgent = ticket(session, cipher, priority="urgent", hours=50)
        new_normal = ticket(session, cipher, hours=1)
        old_normal = ticket(session, cipher, hours=30, needs=("housing",))
        high = ticket(session, cipher, priority="high", hours=10, origin="BO")
        other_office = ticket(session, cipher, office="oss-bo")
    with database.session() as session:
        assert [r.reference for r in list_queue(session, PE)] == [old_urgent, high, new_normal, old_normal]
        assert [r.reference for r in list_queue(session, BO)] == [other_office]
        assert len(list_queue(session, COORD)) == 5
        assert [r.reference for r in list_queue(session, PE, QueueFilters(need="housing"))] == [old_normal]
        assert [r.reference for r in list_queue(session, PE, QueueFilters(origin_country="bo"))] == [high]
        assert [r.reference for r in list_queue(session, PE, QueueFilters(priority="urgent"))] == [old_urgent]
        assert [r.reference for r in list_queue(session, PE, QueueFilters(reference=new_normal[-4:].lower()))] == [new_normal]
        assert list_queue(session, BO, QueueFilters(reference=new_normal)) == []


def test_other_offices_tickets_do_not_exist_for_every_operation(database: Database, cipher: FieldCipher) -> None:
    with database.session() as session:
        reference = ticket(session, cipher)
    operations = [
        lambda s: view_ticket(s, BO, reference, cipher=cipher, now=NOW),
        lambda s: conversation_for(s, BO, reference, now=NOW, purpose="read"),
        lambda s: change_status(s, BO, reference, status="contacted", now=NOW),
        lambda s: add_note(s, BO, reference, body="x", cipher=cipher, now=NOW),
    ]
    for operation in operations:
        with database.session() as session, pytest.raises(TicketNotFound):
            operation(session)
    with database.session() as session:
        assert view_ticket(session, PE, reference, cipher=cipher, now=NOW).intake["full_name"] == "María Quispe Mamani"


def test_reassignment_moves_the_ticket_with_a_note(database: Database, cipher: FieldCipher) -> None:
    offices = {o.id for o in knowledge_base().offices}
    with database.session() as session:
        reference = ticket(session, cipher)
    with database.session() as session, pytest.raises(NotAllowed):
        reassign(session, PE, reference, office_id="oss-bo", note="no", cipher=cipher, now=NOW, known_offices=offices)
    with database.session() as session:
        reassign(session, PE_LEAD, reference, office_id="oss-bo", note="vive en Santa Cruz", cipher=cipher, now=NOW,
                 known_offices=offices)
    with database.session() as session:
        assert list_queue(session, PE) == []
        view = view_ticket(session, BO, reference, cipher=cipher, now=NOW)
    assert [n.body for n in view.notes] == ["vive en Santa Cruz"]
    assert ("ticket_reassigned" in [action for _at, _actor, action in view.history])


def test_funnel_counts_anonymous_steps_and_cases_per_office_country_and_week(database: Database, cipher: FieldCipher) -> None:
    kb = knowledge_base()
    with database.session() as session:
        for step in ("conversation", "question_answered", "question_answered", "eligibility_checked", "intake_started"):
            record_step(session, step=step, origin_country="pe", residence_country="ES", now=NOW, kb=kb)
        record_step(session, step="conversation", origin_country="BO", residence_country=None, now=NOW, kb=kb)
        record_step(session, step="conversation", origin_country=None, residence_country=None,
                    now=NOW - timedelta(weeks=1), kb=kb)
        contacted = ticket(session, cipher)
        closed = ticket(session, cipher)
        ticket(session, cipher)
        ticket(session, cipher, office="oss-bo", origin="BO")
    with database.session() as session:
        change_status(session, PE, contacted, status="contacted", now=NOW)
        change_status(session, PE, contacted, status="in_progress", now=NOW)
        change_status(session, PE, closed, status="closed", reason="duplicate", now=NOW)
    with database.session() as session:
        rows = funnel(session, PE, now=NOW, weeks=4)
        everything = funnel(session, COORD, now=NOW, weeks=4)
        exported = export_csv(session, PE, now=NOW, weeks=4)
    assert len(rows) == 1
    row = rows[0]
    assert (row.week, row.office_id, row.country) == (iso_week(NOW), "oss-pe", "PE")
    assert (row.conversations, row.questions_answered, row.eligibility_checks, row.intakes_started) == (1, 2, 1, 1)
    assert (row.tickets, row.intakes_completed, row.contacted, row.closed) == (3, 3, 1, 1)
    assert {(r.office_id, r.country) for r in everything} == {("oss-pe", "PE"), ("oss-bo", "BO"), ("-", "-")}
    table = list(csv.DictReader(io.StringIO(exported)))
    assert table[0]["tickets"] == "3"
    assert database.rows("SELECT action FROM audit_events WHERE action = 'funnel_exported'")


def test_an_unknown_step_is_refused(database: Database) -> None:
    with database.session() as session, pytest.raises(ValueError, match="unknown funnel step"):
        record_step(session, step="chat_text", origin_country="PE", residence_country="ES", now=NOW,
                    kb=knowledge_base())
