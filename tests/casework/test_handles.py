"""Handles: stored once, encrypted, with the last inbound time; refusals audited."""

from __future__ import annotations

from casework.handles import handle_for, record_refused_send, remember_handle
from casework.privacy import FieldCipher
from tests.casework.conftest import Database
from tests.casework.factories import HANDLE, NOW, later


def test_a_handle_is_stored_encrypted_and_read_back(database: Database, cipher: FieldCipher) -> None:
    with database.session() as session:
        remember_handle(session, sender_id="wa-1", channel="whatsapp", handle=HANDLE, cipher=cipher, now=NOW)
    rows = database.rows("SELECT handle_encrypted FROM persons WHERE sender_id = 'wa-1'")
    assert HANDLE not in rows[0]["handle_encrypted"]
    with database.session() as session:
        found = handle_for(session, sender_id="wa-1", cipher=cipher)
    assert found is not None
    assert found.handle == HANDLE
    assert found.last_inbound_at == NOW


def test_a_second_message_updates_the_same_person(database: Database, cipher: FieldCipher) -> None:
    with database.session() as session:
        remember_handle(session, sender_id="wa-1", channel="whatsapp", handle=HANDLE, cipher=cipher, now=NOW)
    with database.session() as session:
        remember_handle(session, sender_id="wa-1", channel="whatsapp", handle=HANDLE, cipher=cipher, now=later(60))
    with database.session() as session:
        remember_handle(session, sender_id="wa-1", channel="whatsapp", handle=HANDLE, cipher=cipher, now=later(30))
    assert database.rows("SELECT count(*) AS n FROM persons")[0]["n"] == 1
    with database.session() as session:
        found = handle_for(session, sender_id="wa-1", cipher=cipher)
    assert found is not None
    assert found.last_inbound_at == later(60)


def test_an_unknown_sender_has_no_handle(database: Database, cipher: FieldCipher) -> None:
    with database.session() as session:
        assert handle_for(session, sender_id="wa-nobody", cipher=cipher) is None


def test_a_refused_send_is_audited_without_personal_data(database: Database, cipher: FieldCipher) -> None:
    with database.session() as session:
        record_refused_send(session, sender_id="wa-1", channel="whatsapp", reason="outside_24h_window", now=NOW)
    rows = database.rows("SELECT actor, action, details FROM audit_events")
    assert rows[0]["actor"] == "whatsapp"
    assert rows[0]["action"] == "send_refused"
    assert "outside_24h_window" in str(rows[0]["details"])
