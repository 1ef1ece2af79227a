"""Tickets: consent first, idempotent even under a concurrent double call, own tickets only,
a forward-only workflow, encrypted intake, and the outbox written in the same transaction."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select

from casework import audit
from casework.consent import ConsentRequired, has_consent, record_consent, withdraw_consent
from casework.intake import IntakeAnswers
from casework.models import OutboxMessage, Ticket
from casework.offices import OfficesConfig, load_offices_config
from casework.privacy import FieldCipher, erase_person
from casework.settings import Settings
from casework.tickets import (
    CaseOpened,
    InvalidIntake,
    InvalidTransition,
    TicketNotFound,
    case_status,
    idempotency_key_for,
    open_case,
    set_status,
)
from knowledge.loader import knowledge_base
from tests.casework.conftest import Database
from tests.casework.factories import NOW, later

NAME, PHONE = "Rosa Mamani Quispe", "+34 611 222 333"
ANSWERS = IntakeAnswers(
    origin_country="PE", residence_country="ES", region="Cataluña", language="es", preferred_name=NAME,
    residence_city="Badalona", planned_return_months=4, needs=("employment", "housing"),
    vulnerabilities=frozenset({"single_parent"}), contact_channel="phone", contact_detail=PHONE, contact_time="any",
)


@pytest.fixture(scope="module")
def offices() -> OfficesConfig:
    return load_offices_config(Settings().offices_config_path, kb=knowledge_base())


def consent(db: Database, sender_id: str = "wa-rosa") -> None:
    with db.session() as session:
        record_consent(session, sender_id=sender_id, channel="whatsapp", notice_version="2026-11", language="es", now=NOW)


def open_it(session: Any, cipher: FieldCipher, offices: OfficesConfig, *, sender_id: str = "wa-rosa",
            answers: IntakeAnswers = ANSWERS, key: str | None = None) -> CaseOpened:
    return open_case(
        session, sender_id=sender_id, channel="whatsapp", intake=answers,
        eligibility={"outcome": "likely_eligible", "lines": ["apre"], "text": "free text is dropped"},
        cipher=cipher, kb=knowledge_base(), now=NOW,
        idempotency_key=key or idempotency_key_for(sender_id=sender_id, intake=answers),
        offices=offices, console_base_url="https://console.invalid",
    )


def test_consent_is_recorded_and_withdrawn(database: Database) -> None:
    consent(database)
    with database.session() as session:
        assert has_consent(session, sender_id="wa-rosa")
        assert not has_consent(session, sender_id="wa-nobody")
        assert withdraw_consent(session, sender_id="wa-rosa", now=later(60)) == 1
        assert not has_consent(session, sender_id="wa-rosa")
    row = database.rows("SELECT notice_version, language, given_at, withdrawn_at FROM consent_records")[0]
    assert (row["notice_version"], row["language"]) == ("2026-11", "es")
    assert row["withdrawn_at"] is not None


def test_no_consent_no_case(database: Database, cipher: FieldCipher, offices: OfficesConfig) -> None:
    with database.session() as session, pytest.raises(ConsentRequired):
        open_it(session, cipher, offices)
    consent(database)
    with database.session() as session:
        withdraw_consent(session, sender_id="wa-rosa", now=later(1))
    with database.session() as session, pytest.raises(ConsentRequired):
        open_it(session, cipher, offices)
    assert database.rows("SELECT id FROM tickets") == database.rows("SELECT id FROM intakes") == []


def test_an_invalid_intake_opens_nothing(database: Database, cipher: FieldCipher, offices: OfficesConfig) -> None:
    consent(database)
    with database.session() as session, pytest.raises(InvalidIntake, match="origin_country_missing"):
        open_it(session, cipher, offices, answers=replace(ANSWERS, origin_country=None))


def test_a_case_is_routed_prioritised_audited_and_notified(
    database: Database, cipher: FieldCipher, offices: OfficesConfig,
) -> None:
    consent(database)
    with database.session() as session:
        opened = open_it(session, cipher, offices)
    assert opened.created
    assert opened.warm_lead
    assert opened.office_ids == ("oss-pe", "eu-es-catalonia")
    assert opened.priority == "high"  # a vulnerability, return in 4 months
    assert opened.reference.startswith("OSS-")
    ticket = database.rows("SELECT * FROM tickets")[0]
    assert (ticket["office_id"], ticket["status"], ticket["priority"]) == ("oss-pe", "new", "high")
    messages = database.rows("SELECT office_id, target_kind, target, status FROM outbox_messages ORDER BY id")
    assert [(m["office_id"], m["target"], m["status"]) for m in messages] == [
        ("oss-pe", "oss-pe@notify.invalid", "pending"), ("eu-es-catalonia", "eu-es-catalonia@notify.invalid", "pending"),
    ]
    with database.session() as session:
        actions = [event.action for event in audit.events_for_ticket(session, ticket_id=ticket["id"])]
    assert actions == ["ticket_opened"]
    intake = database.rows("SELECT eligibility, region FROM intakes")[0]
    assert intake["region"] == "catalonia"
    assert "free text" not in str(intake["eligibility"])


def test_the_intake_is_encrypted_at_rest(database: Database, cipher: FieldCipher, offices: OfficesConfig) -> None:
    consent(database)
    with database.session() as session:
        open_it(session, cipher, offices)
    raw = str(database.rows("SELECT * FROM intakes")) + str(database.rows("SELECT * FROM tickets"))
    raw += str(database.rows("SELECT * FROM outbox_messages")) + str(database.rows("SELECT * FROM audit_events"))
    for secret in (NAME, "Rosa", PHONE, "611", "Badalona", "single_parent"):
        assert secret not in raw
    token = database.rows("SELECT fields_encrypted FROM intakes")[0]["fields_encrypted"]
    fields = cipher.decrypt_json(token)
    assert (fields["preferred_name"], fields["contact_detail"]) == (NAME, PHONE)


def test_the_same_key_gives_the_same_ticket(database: Database, cipher: FieldCipher, offices: OfficesConfig) -> None:
    consent(database)
    with database.session() as session:
        first = open_it(session, cipher, offices)
    with database.session() as session:  # a retried action / a double "yes"
        again = open_it(session, cipher, offices)
    assert not again.created
    assert (again.reference, again.office_ids, again.priority) == (first.reference, first.office_ids, first.priority)
    assert len(database.rows("SELECT id FROM tickets")) == 1
    assert len(database.rows("SELECT id FROM intakes")) == 1
    assert len(database.rows("SELECT id FROM outbox_messages")) == 2
    with database.session() as session:  # a new run of the form opens a new case
        other = open_it(session, cipher, offices, key=idempotency_key_for(sender_id="wa-rosa", intake=ANSWERS, form_run="2"))
    assert other.created
    assert other.reference != first.reference


def test_a_concurrent_double_call_opens_one_ticket(database: Database, cipher: FieldCipher, offices: OfficesConfig) -> None:
    consent(database)
    # On PostgreSQL both transactions are open and past their SELECT before either writes, so
    # both insert and the unique constraint decides. SQLite's BEGIN IMMEDIATE serialises the
    # writers instead: the second waits for the first to commit, then finds its ticket.
    barrier = threading.Barrier(2) if database.kind == "postgresql" else None
    results: list[CaseOpened] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            with database.session() as session:
                session.execute(select(Ticket.id)).all()
                if barrier is not None:
                    barrier.wait(timeout=10)
                results.append(open_it(session, cipher, offices))
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(r.created for r in results) == [False, True]
    assert results[0].reference == results[1].reference
    assert len(database.rows("SELECT id FROM tickets")) == 1
    assert len(database.rows("SELECT id FROM intakes")) == 1
    assert len(database.rows("SELECT id FROM outbox_messages")) == 2


def test_a_rollback_leaves_no_ticket_and_no_outbox_row(
    database: Database, cipher: FieldCipher, offices: OfficesConfig,
) -> None:
    consent(database)

    class Boom(Exception):
        pass

    def open_then_fail() -> None:
        with database.session() as session:
            open_it(session, cipher, offices)
            assert session.execute(select(OutboxMessage.id)).all()  # written in this transaction...
            raise Boom  # ...and gone with it

    with pytest.raises(Boom):
        open_then_fail()
    for table in ("tickets", "intakes", "outbox_messages"):
        assert database.rows(f"SELECT id FROM {table}") == []  # noqa: S608


def test_case_status_shows_only_the_persons_own_tickets(
    database: Database, cipher: FieldCipher, offices: OfficesConfig,
) -> None:
    consent(database, "wa-rosa")
    consent(database, "wa-jorge")
    with database.session() as session:
        rosa = open_it(session, cipher, offices, sender_id="wa-rosa")
        jorge = open_it(session, cipher, offices, sender_id="wa-jorge", answers=replace(ANSWERS, origin_country="BO"))
    with database.session() as session:
        mine = case_status(session, sender_id="wa-rosa")
        assert [(s.reference, s.status, s.office_id) for s in mine] == [(rosa.reference, "new", "oss-pe")]
        assert [s.reference for s in case_status(session, sender_id="wa-jorge")] == [jorge.reference]
        assert case_status(session, sender_id="wa-stranger") == []
        erase_person(session, sender_id="wa-rosa", now=later(5))
        assert case_status(session, sender_id="wa-rosa") == []


def test_the_workflow_moves_forward_only(database: Database, cipher: FieldCipher, offices: OfficesConfig) -> None:
    consent(database)
    with database.session() as session:
        reference = open_it(session, cipher, offices).reference
    with database.session() as session:
        for step, status in enumerate(["contacted", "in_progress", "referred"], start=1):
            ticket = set_status(session, reference=reference, status=status, actor="staff-pe-1", now=later(step))
            assert (ticket.status, ticket.updated_at) == (status, later(step))
        with pytest.raises(InvalidTransition, match="go back"):
            set_status(session, reference=reference, status="contacted", actor="staff-pe-1", now=later(9))
        with pytest.raises(InvalidTransition, match="reason"):
            set_status(session, reference=reference, status="closed", actor="staff-pe-1", now=later(9))
        with pytest.raises(InvalidTransition, match="reason"):
            set_status(session, reference=reference, status="closed", actor="staff-pe-1", now=later(9),
                       reason="she went home happy")
        closed = set_status(session, reference=reference, status="closed", actor="staff-pe-1", now=later(10),
                            reason="returned")
        assert (closed.closed_at, closed.close_reason) == (later(10), "returned")
        with pytest.raises(InvalidTransition, match="not reopened"):
            set_status(session, reference=reference, status="in_progress", actor="staff-pe-1", now=later(11))
        with pytest.raises(TicketNotFound):
            set_status(session, reference="OSS-NONE", status="contacted", actor="staff-pe-1", now=later(11))
        with pytest.raises(InvalidTransition, match="unknown status"):
            set_status(session, reference=reference, status="archived", actor="staff-pe-1", now=later(11))
        trail = [(e.action, e.details.get("to")) for e in audit.events_for_ticket(session, ticket_id=closed.id)]
    assert trail == [("ticket_opened", None), ("status_changed", "contacted"), ("status_changed", "in_progress"),
                     ("status_changed", "referred"), ("status_changed", "closed")]


def test_steps_may_be_skipped_forward(database: Database, cipher: FieldCipher, offices: OfficesConfig) -> None:
    consent(database)
    with database.session() as session:
        reference = open_it(session, cipher, offices).reference
        set_status(session, reference=reference, status="closed", actor="staff", now=later(1), reason="duplicate")
        # The same status again is a no-op (a double click), not an error.
        assert set_status(session, reference=reference, status="closed", actor="staff", now=later(2)).closed_at == later(1)
