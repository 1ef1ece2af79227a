"""Personal data: pseudonymous ids, encryption at rest, key rotation, erasure, retention."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from casework.conversations import conversation_texts
from casework.inbox import record_inbound
from casework.privacy import (
    ErasureProgress,
    FieldCipher,
    UnreadableField,
    complete_erasures,
    erase_person,
    pseudonymous_sender_id,
    purge_expired,
    request_erasure,
    rotate_all,
)
from casework.settings import Settings
from tests.casework.conftest import Database
from tests.casework.factories import (
    HANDLE,
    INTAKE_FIELDS,
    NOTE_BODY,
    NOW,
    add_note,
    give_consent,
    later,
    make_intake,
    make_person,
    make_ticket,
    new_key,
)
from tests.casework.tracker_store import RasaStore, conversation, erasure_turn

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
KEY_A, KEY_B = new_key(), new_key()


# ---------------------------------------------------------------- pseudonymous ids

def test_sender_ids_are_stable_pseudonyms() -> None:
    first = pseudonymous_sender_id("whatsapp", "whatsapp:+34600111222", "secret")
    assert re.fullmatch(r"wa-[0-9a-f]{24}", first)
    assert pseudonymous_sender_id("whatsapp", "+34600111222", "secret") == first
    assert pseudonymous_sender_id("whatsapp", " +34 600 111 222 ", "secret") == first
    assert "600111222" not in first
    assert re.fullmatch(r"tg-[0-9a-f]{24}", pseudonymous_sender_id("telegram", "987654321", "secret"))


def test_sender_ids_differ_per_channel_secret_and_handle() -> None:
    ids = {
        pseudonymous_sender_id("whatsapp", "123456789", "secret")[3:],
        pseudonymous_sender_id("telegram", "123456789", "secret")[3:],
        pseudonymous_sender_id("whatsapp", "123456789", "another secret")[3:],
        pseudonymous_sender_id("whatsapp", "123456780", "secret")[3:],
    }
    assert len(ids) == 4


def test_a_sender_id_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="SENDER_ID_SECRET"):
        pseudonymous_sender_id("whatsapp", "+34600111222", "")


# ---------------------------------------------------------------- the cipher

@given(st.text())
def test_any_text_survives_encryption(text: str) -> None:
    cipher = FieldCipher([KEY_A])
    token = cipher.encrypt_text(text)
    assert cipher.decrypt_text(token) == text
    if len(text) >= 4:
        assert text not in token


@given(json_values)
def test_any_json_survives_encryption(value: Any) -> None:
    cipher = FieldCipher([KEY_A])
    assert cipher.decrypt_json(cipher.encrypt_json(value)) == value


def test_a_bad_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="key #2 is not 32 url-safe base64 bytes") as refused:
        FieldCipher([KEY_A, "not-a-real-key-but-close"])
    assert "not-a-real-key" not in str(refused.value)


def test_the_cipher_comes_from_the_settings() -> None:
    cipher = FieldCipher.from_settings(Settings(field_encryption_keys=(KEY_A,)))
    assert FieldCipher([KEY_A]).decrypt_text(cipher.encrypt_text("hola")) == "hola"


def test_a_foreign_or_tampered_token_is_unreadable() -> None:
    token = FieldCipher([KEY_A]).encrypt_text("hola")
    with pytest.raises(UnreadableField):
        FieldCipher([KEY_B]).decrypt_text(token)
    with pytest.raises(UnreadableField):
        FieldCipher([KEY_A]).decrypt_text(token[:-4] + "AAAA")


def test_rotation_with_two_keys() -> None:
    old_token = FieldCipher([KEY_A]).encrypt_text("hola")
    both = FieldCipher([KEY_B, KEY_A])  # new key first: it encrypts; the old one still reads
    assert both.decrypt_text(old_token) == "hola"
    assert FieldCipher([KEY_B]).decrypt_text(both.encrypt_text("adiós")) == "adiós"
    assert FieldCipher([KEY_B]).decrypt_text(both.rotate(old_token)) == "hola"


# ---------------------------------------------------------------- at rest

def seed_case(database: Database, cipher: FieldCipher, *, sender_id: str = "wa-maria") -> dict[str, int]:
    with database.session() as session:
        person = make_person(session, cipher, sender_id=sender_id)
        give_consent(session, person)
        intake = make_intake(session, cipher, person)
        ticket = make_ticket(session, person=person, intake=intake)
        note = add_note(session, cipher, ticket)
        return {"person": person.id, "intake": intake.id, "ticket": ticket.id, "note": note.id}


def raw_dump(database: Database) -> str:
    """Every row of every table as stored, as one string to search for plaintext."""
    tables = ["persons", "consent_records", "intakes", "tickets", "ticket_notes", "audit_events", "inbox_messages"]
    return json.dumps({table: database.rows(f"SELECT * FROM {table}") for table in tables}, default=str, ensure_ascii=False)  # noqa: S608


def test_personal_fields_are_not_stored_in_plaintext(database: Database, cipher: FieldCipher) -> None:
    ids = seed_case(database, cipher)
    stored = raw_dump(database)
    for secret in (HANDLE, "María", "Quispe", "Alcobendas", "hijos"):
        assert secret not in stored
    [person] = database.rows("SELECT handle_encrypted FROM persons WHERE id = :id", id=ids["person"])
    assert cipher.decrypt_text(person["handle_encrypted"]) == HANDLE
    [intake] = database.rows("SELECT fields_encrypted FROM intakes WHERE id = :id", id=ids["intake"])
    assert cipher.decrypt_json(intake["fields_encrypted"]) == INTAKE_FIELDS
    [note] = database.rows("SELECT body_encrypted FROM ticket_notes WHERE id = :id", id=ids["note"])
    assert cipher.decrypt_text(note["body_encrypted"]) == NOTE_BODY


def test_rotate_all_moves_every_field_to_the_new_key(database: Database) -> None:
    old = FieldCipher([KEY_A])
    seed_case(database, old)
    both = FieldCipher([KEY_B, KEY_A])
    with database.session() as session:
        rotated = rotate_all(session, cipher=both, now=NOW, batch_size=1)
    assert rotated == {"persons": 1, "intakes": 1, "ticket_notes": 1, "inbox_messages": 0}
    new_only = FieldCipher([KEY_B])  # the old key can now be dropped
    [row] = database.rows("SELECT handle_encrypted FROM persons")
    assert new_only.decrypt_text(row["handle_encrypted"]) == HANDLE
    [row] = database.rows("SELECT fields_encrypted FROM intakes")
    assert new_only.decrypt_json(row["fields_encrypted"]) == INTAKE_FIELDS
    [row] = database.rows("SELECT body_encrypted FROM ticket_notes")
    assert new_only.decrypt_text(row["body_encrypted"]) == NOTE_BODY
    with pytest.raises(UnreadableField):
        old.decrypt_text(row["body_encrypted"])


# ---------------------------------------------------------------- erasure

def test_erasure_removes_personal_data_and_keeps_an_anonymous_ticket(database: Database, cipher: FieldCipher) -> None:
    ids = seed_case(database, cipher)
    with database.session() as session:
        summary = erase_person(session, sender_id="wa-maria", now=later(60))
    assert (summary.persons, summary.consents_deleted, summary.intakes_anonymised) == (1, 1, 1)
    assert (summary.tickets_anonymised, summary.notes_erased) == (1, 1)

    [person] = database.rows("SELECT * FROM persons")
    assert person["handle_encrypted"] is None
    assert person["erased_at"] is not None
    assert person["sender_id"] == f"erased-{ids['person']}"
    assert database.rows("SELECT * FROM consent_records") == []
    [intake] = database.rows("SELECT * FROM intakes")
    assert (intake["fields_encrypted"], intake["person_id"]) == (None, None)
    assert intake["origin_country"] == "PE"  # statistics survive
    [note] = database.rows("SELECT * FROM ticket_notes")
    assert note["body_encrypted"] is None
    [ticket] = database.rows("SELECT * FROM tickets")
    assert ticket["person_id"] is None
    assert ticket["anonymised_at"] is not None
    assert (ticket["office_id"], ticket["status"], ticket["intake_id"]) == ("oss-pe", "new", ids["intake"])


def test_erasure_is_idempotent_and_ignores_strangers(database: Database, cipher: FieldCipher) -> None:
    seed_case(database, cipher)
    with database.session() as session:
        erase_person(session, sender_id="wa-maria", now=NOW)
    with database.session() as session:
        assert erase_person(session, sender_id="wa-maria", now=NOW).persons == 0
        assert erase_person(session, sender_id="wa-nobody", now=NOW).persons == 0


def test_erasure_leaves_other_people_alone(database: Database, cipher: FieldCipher) -> None:
    seed_case(database, cipher, sender_id="wa-maria")
    other = seed_case(database, cipher, sender_id="wa-jose")
    with database.session() as session:
        erase_person(session, sender_id="wa-maria", now=NOW)
    [jose] = database.rows("SELECT * FROM persons WHERE id = :id", id=other["person"])
    assert jose["handle_encrypted"] is not None
    assert jose["erased_at"] is None
    assert len(database.rows("SELECT * FROM consent_records")) == 1
    assert database.rows("SELECT person_id FROM tickets WHERE id = :id", id=other["ticket"]) == [{"person_id": other["person"]}]


def test_the_audit_trail_records_erasure_without_personal_data(database: Database, cipher: FieldCipher) -> None:
    ids = seed_case(database, cipher)
    with database.session() as session:
        erase_person(session, sender_id="wa-maria", now=NOW)
    events = database.rows("SELECT * FROM audit_events ORDER BY id")
    assert [event["action"] for event in events] == ["ticket_anonymised", "person_erased"]
    assert events[0]["ticket_id"] == ids["ticket"]
    trail = json.dumps(events, default=str, ensure_ascii=False)
    for personal in ("wa-maria", HANDLE, "María", "Alcobendas", "hijos"):
        assert personal not in trail


# ---------------------------------------------------------------- retention

def test_retention_anonymises_old_closed_cases_only(database: Database, cipher: FieldCipher) -> None:
    settings = Settings(retention_closed_case_days=730, retention_conversation_days=180)
    with database.session() as session:
        person = make_person(session, cipher, sender_id="wa-maria", at=later(days=800))
        old_closed = make_ticket(session, person=person, intake=make_intake(session, cipher, person),
                                 status="closed", closed_at=NOW, close_reason="returned")
        add_note(session, cipher, old_closed)
        recent_closed = make_ticket(session, person=person, status="closed", closed_at=later(days=500))
        old_open = make_ticket(session, person=person, status="in_progress")
        ids = (old_closed.id, recent_closed.id, old_open.id)
    with database.session() as session:
        summary = purge_expired(session, settings=settings, now=later(days=731))
    assert (summary.tickets_anonymised, summary.notes_erased, summary.intakes_anonymised) == (1, 1, 1)
    assert summary.persons_erased == 0  # still has live cases
    rows = {row["id"]: row for row in database.rows("SELECT id, person_id, anonymised_at FROM tickets")}
    assert rows[ids[0]]["person_id"] is None
    assert rows[ids[0]]["anonymised_at"] is not None
    assert rows[ids[1]]["person_id"] is not None  # closed too recently
    assert rows[ids[2]]["person_id"] is not None  # still open
    assert database.rows("SELECT body_encrypted FROM ticket_notes") == [{"body_encrypted": None}]
    assert database.rows("SELECT fields_encrypted FROM intakes") == [{"fields_encrypted": None}]


def test_retention_forgets_quiet_people_and_old_messages(database: Database, cipher: FieldCipher) -> None:
    settings = Settings(retention_conversation_days=180)
    with database.session() as session:
        quiet = make_person(session, cipher, sender_id="wa-quiet", at=NOW)
        give_consent(session, quiet)
        make_person(session, cipher, sender_id="wa-recent", at=later(days=100))
        for number, at in enumerate([NOW, later(days=100)]):
            record_inbound(session, provider="whatsapp", provider_message_id=f"SM{number}", sender_id="wa-recent",
                           payload={"text": "hola"}, cipher=cipher, now=at)
    with database.session() as session:
        summary = purge_expired(session, settings=settings, now=later(days=181))
    assert (summary.persons_erased, summary.inbox_messages_deleted) == (1, 1)
    people = {row["sender_id"]: row for row in database.rows("SELECT * FROM persons")}
    assert "wa-quiet" not in people
    assert people["wa-recent"]["handle_encrypted"] is not None
    assert database.rows("SELECT * FROM consent_records") == []
    assert [row["provider_message_id"] for row in database.rows("SELECT * FROM inbox_messages")] == ["SM1"]
    [event] = database.rows("SELECT * FROM audit_events WHERE action = 'retention_purged'")
    assert "wa-quiet" not in json.dumps(event, default=str)


# ---------------------------------------------------------------- erasure on request, with the tracker store

MARKERS = ("Me llamo Xiomara Quispe", "+34 611 987 654", "xiomara.q@example.org", "vivo en Badalona")


def test_erasure_on_request_clears_cases_now_and_the_conversation_after_the_turn(
    database: Database, cipher: FieldCipher, rasa_store: RasaStore,
) -> None:
    ids = seed_case(database, cipher, sender_id="wa-xiomara")
    rasa_store.save(conversation("wa-xiomara", *MARKERS))
    rasa_store.save(conversation("wa-other", "Soy otra persona de Lima"))
    tracker = rasa_store.retrieve("wa-xiomara")
    with database.session() as session:
        record_inbound(session, provider="whatsapp", provider_message_id="SM-yes", sender_id="wa-xiomara",
                       payload={"Body": "sí"}, cipher=cipher, now=NOW)
    after = erasure_turn(tracker)
    with database.session() as session:
        summary = request_erasure(session, sender_id="wa-xiomara", now=NOW, tracker_after=after)
    assert (summary.persons, summary.tickets_anonymised, summary.consents_deleted) == (1, 1, 1)

    # Rasa has not stored the turn yet: the worker waits rather than trigger the re-insert.
    assert complete_erasures(database.engine, tracker=rasa_store.engine, now=later(1)) == ErasureProgress(waiting=1)
    rasa_store.save(tracker)
    # The asking message is still being processed by the channel worker: wait for it too.
    assert complete_erasures(database.engine, tracker=rasa_store.engine, now=later(2)) == ErasureProgress(waiting=1)
    with database.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE inbox_messages SET status = 'done'")
    assert complete_erasures(database.engine, tracker=rasa_store.engine, now=later(3)) == ErasureProgress(completed=1)

    stored = " ".join(conversation_texts(rasa_store.engine, sender_id="wa-xiomara"))
    full = rasa_store.full_texts("wa-xiomara")
    for marker in (*MARKERS, "sí", "Hecho"):
        assert marker not in stored
        assert marker not in full
    assert "Soy otra persona de Lima" in rasa_store.full_texts("wa-other")
    if database.kind == "sqlite":  # not even in the file's free space
        path = Path(str(make_url(database.url).database))
        raw = b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())
        assert b"Lima" in raw
        for marker in MARKERS:
            assert marker.encode() not in raw
    assert database.rows("SELECT * FROM inbox_messages") == []
    [request] = database.rows("SELECT * FROM erasure_requests")
    assert (request["status"], request["sender_id"]) == ("done", None)
    # Nothing is left of the person but their tombstone and the anonymous ticket.
    assert database.rows("SELECT sender_id FROM persons") == [{"sender_id": f"erased-{ids['person']}"}]
    trail = json.dumps(database.rows("SELECT * FROM audit_events"), default=str)
    assert "wa-xiomara" not in trail
    assert complete_erasures(database.engine, tracker=rasa_store.engine, now=later(4)) == ErasureProgress()


def test_a_turn_in_flight_during_the_erasure_brings_nothing_back(
    database: Database, cipher: FieldCipher, rasa_store: RasaStore,
) -> None:
    """Rasa's re-insert trap: the next message was already loaded when the worker deleted."""
    from rasa.shared.core.events import ActionExecuted, UserUttered

    rasa_store.save(conversation("wa-xiomara", *MARKERS))
    tracker = rasa_store.retrieve("wa-xiomara")
    after = erasure_turn(tracker)
    with database.session() as session:
        request_erasure(session, sender_id="wa-xiomara", now=NOW, tracker_after=after)
    rasa_store.save(tracker)
    in_flight = rasa_store.retrieve("wa-xiomara")  # the person writes again at once
    assert not any(marker in str([e.as_dict() for e in in_flight.events]) for marker in MARKERS)
    assert complete_erasures(database.engine, tracker=rasa_store.engine, now=later(1)).completed == 1
    in_flight.update(UserUttered("hola otra vez", {"name": "greet", "confidence": 1.0}))
    in_flight.update(ActionExecuted("utter_greet"))
    rasa_store.save(in_flight)

    stored = " ".join(conversation_texts(rasa_store.engine, sender_id="wa-xiomara"))
    assert "hola otra vez" in stored
    for marker in MARKERS:
        assert marker not in stored
    again = rasa_store.retrieve("wa-xiomara")
    assert [e.text for e in again.events if isinstance(e, UserUttered)] == ["hola otra vez"]


def test_deleting_the_rows_rasa_counts_would_bring_everything_back(rasa_store: RasaStore) -> None:
    """Why the worker waits for the new session: the naive delete is undone by Rasa's save."""
    from rasa.shared.core.events import UserUttered

    rasa_store.save(conversation("wa-xiomara", *MARKERS))
    in_flight = rasa_store.retrieve("wa-xiomara")
    with rasa_store.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM events WHERE sender_id = 'wa-xiomara'")
    in_flight.update(UserUttered("otra cosa", {"name": "inform", "confidence": 1.0}))
    rasa_store.save(in_flight)
    assert MARKERS[0] in " ".join(conversation_texts(rasa_store.engine, sender_id="wa-xiomara"))


def test_an_erasure_whose_turn_never_arrives_is_forced_after_a_while(
    database: Database, rasa_store: RasaStore,
) -> None:
    tracker = conversation("wa-xiomara", *MARKERS)
    rasa_store.save(tracker)
    after = max(event.timestamp for event in tracker.events)
    with database.session() as session:
        request_erasure(session, sender_id="wa-xiomara", now=NOW, tracker_after=after)
    assert complete_erasures(database.engine, tracker=rasa_store.engine, now=later(60)).waiting == 1
    assert complete_erasures(database.engine, tracker=rasa_store.engine, now=later(60 * 11)).completed == 1
    assert conversation_texts(rasa_store.engine, sender_id="wa-xiomara") == []
    [request] = database.rows("SELECT result FROM erasure_requests")
    result = request["result"] if isinstance(request["result"], dict) else json.loads(request["result"])
    assert result["forced"] is True
    assert result["events_deleted"] == len(tracker.events)


def test_requests_stay_pending_without_a_tracker_store(database: Database) -> None:
    with database.session() as session:
        request_erasure(session, sender_id="rest-anyone", now=NOW, tracker_after=None)
    assert complete_erasures(database.engine, tracker=None, now=later(60 * 60)) == ErasureProgress(waiting=1)
    assert database.rows("SELECT status FROM erasure_requests") == [{"status": "pending"}]
