"""What the models promise on both backends: UTC times, references, constraints."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, StatementError

from casework.models import REFERENCE_ALPHABET, Person, TicketNote, new_reference
from casework.privacy import FieldCipher
from tests.casework.conftest import Database
from tests.casework.factories import NOW, make_person, make_ticket


def test_references_are_short_and_unambiguous() -> None:
    references = {new_reference() for _ in range(500)}
    assert len(references) > 450  # random, not a counter
    for reference in references:
        assert reference.startswith("OSS-")
        assert len(reference) == 8
        assert set(reference[4:]) <= set(REFERENCE_ALPHABET)
    assert not set("0O1I") & set(REFERENCE_ALPHABET)


def test_times_come_back_as_the_same_instant_in_utc(database: Database, cipher: FieldCipher) -> None:
    madrid = timezone(timedelta(hours=1))
    written = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=madrid)
    with database.session() as session:
        person_id = make_person(session, cipher, at=written).id
    with database.session() as session:
        person = session.get(Person, person_id)
        assert person.created_at == written
        assert person.created_at.tzinfo == timezone.utc
        assert person.created_at.hour == 8


def test_naive_times_are_refused(database: Database, cipher: FieldCipher) -> None:
    with pytest.raises(StatementError, match="naive datetime"), database.session() as session:
        make_person(session, cipher, at=datetime(2026, 1, 1))  # noqa: DTZ001


def test_utc_comparisons_work_in_sql(database: Database, cipher: FieldCipher) -> None:
    with database.session() as session:
        make_person(session, cipher, sender_id="wa-early", at=NOW)
        make_person(session, cipher, sender_id="wa-late", at=NOW + timedelta(minutes=1))
    in_lima = (NOW + timedelta(seconds=30)).astimezone(timezone(timedelta(hours=-5)))
    with database.session() as session:
        found = session.execute(select(Person.sender_id).where(Person.created_at < in_lima)).scalars().all()
    assert found == ["wa-early"]


def test_the_database_refuses_an_unknown_status(database: Database) -> None:
    with pytest.raises(IntegrityError), database.session() as session:
        make_ticket(session, person=None, status="forgotten")


def test_the_database_refuses_a_note_on_a_missing_ticket(database: Database) -> None:
    with database.session() as session:
        session.add(TicketNote(ticket_id=999, author="staff", body_encrypted=None, created_at=NOW))
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()


def test_a_sender_id_is_unique(database: Database, cipher: FieldCipher) -> None:
    with database.session() as session:
        make_person(session, cipher, sender_id="wa-same")
        with pytest.raises(IntegrityError):
            make_person(session, cipher, sender_id="wa-same")
        session.rollback()
