"""Erasure on request through the real assistant: confirm, erase, and nothing left behind.

Nothing is left means: not in Rasa's HTTP API, not in the tracker store's file (even its
free space), not in the cases database (consent, channel handle, inbox payloads).
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from casework.consent import record_consent
from casework.db import make_engine, session_scope
from casework.handles import remember_handle
from casework.inbox import record_inbound
from casework.privacy import FieldCipher
from devtools.stack import Stack
from tests.conversation.conftest import Person, buttons

# What a person might tell the assistant before changing their mind.
# The tracker file is shared by every conversation of the test session (other tests say
# "Badalona" too), so the street is unique to this run: the check reads only this person.
STREET = f"calle Olmo {uuid.uuid4().hex[:8]}"
SAID = ("Me llamo Xiomara Zapata", f"vivo en Badalona, {STREET}, con mis dos hijos", "mi correo es xiomara.zq@example.org",
        "mi número es +34 611 987 654")
MARKERS = ("Xiomara", STREET, "xiomara.zq@example.org", "611 987 654")
PHONE = "+34611987654"


def text_of(replies: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text") or "" for m in replies)


def tracker_file_bytes(stack: Stack) -> bytes:
    path = Path(stack.env["TRACKER_DB"])
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-journal"),
                                             path.with_name(path.name + "-wal")) if p.exists())


def wait_until(check: Any, timeout_s: float = 90) -> bool:
    """The privacy worker finishes the erasure after the turn: poll for the outcome."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return check()


def cases_rows(stack: Stack, sql: str, **params: Any) -> list[dict[str, Any]]:
    from sqlalchemy import text

    engine = make_engine(stack.env["DATABASE_URL"])
    try:
        with engine.connect() as connection:
            return [dict(row) for row in connection.execute(text(sql), params).mappings()]
    finally:
        engine.dispose()


def seed_case_data(stack: Stack, sender_id: str) -> None:
    """What the consent gate and a WhatsApp channel would have stored for this person."""
    engine = make_engine(stack.env["DATABASE_URL"])
    cipher = FieldCipher(stack.env["FIELD_ENCRYPTION_KEY"].split(","))
    now = datetime.now(timezone.utc)
    try:
        with session_scope(engine) as session:
            remember_handle(session, sender_id=sender_id, channel="whatsapp", handle=PHONE, cipher=cipher, now=now)
            record_consent(session, sender_id=sender_id, channel="whatsapp", notice_version="2026-11", language="es", now=now)
            message = record_inbound(session, provider="whatsapp", provider_message_id=f"SM-{sender_id}",
                                     sender_id=sender_id, payload={"Body": SAID[0], "From": PHONE}, cipher=cipher, now=now)
            assert message is not None
            message.status = "done"
    finally:
        engine.dispose()


def test_erasure_leaves_nothing_of_the_person(stack: Stack, make_person) -> None:
    person: Person = make_person("es")
    seed_case_data(stack, person.sender)
    [before] = cases_rows(stack, "SELECT * FROM persons WHERE sender_id = :s", s=person.sender)
    assert before["handle_encrypted"] is not None
    for said in SAID:
        person.say(said)
    assert all(marker.encode() in tracker_file_bytes(stack) for marker in MARKERS)  # the check can fail

    replies = person.say("quiero que borréis mis datos")
    confirm = text_of(replies)
    for listed in ("formulario de acogida", "ficha anónima", "tu consentimiento", "tu número de teléfono",
                   "toda esta conversación", "No se puede deshacer"):
        assert listed in confirm
    assert buttons(replies) == ["/affirm", "/deny"]
    assert all(marker.encode() in tracker_file_bytes(stack) for marker in MARKERS)  # asking erases nothing

    done = text_of(person.say("/affirm"))
    assert "hemos borrado tus datos" in done

    # The case-work data went with the "yes"; the conversation once the worker has run.
    [row] = cases_rows(stack, "SELECT * FROM persons WHERE id = :id", id=before["id"])
    assert row["handle_encrypted"] is None
    assert row["sender_id"] == f"erased-{before['id']}"
    assert cases_rows(stack, "SELECT * FROM persons WHERE sender_id = :s", s=person.sender) == []
    assert cases_rows(stack, "SELECT * FROM consent_records WHERE person_id = :id", id=row["id"]) == []
    assert cases_rows(stack, "SELECT * FROM inbox_messages WHERE sender_id = :s", s=person.sender) == []
    assert wait_until(lambda: not any(m.encode() in tracker_file_bytes(stack) for m in MARKERS)), \
        "the tracker store still holds what the person said"
    history = json.dumps(person.tracker(), ensure_ascii=False)
    for said in (*SAID, "borréis"):
        assert said not in history
    [request] = cases_rows(stack, "SELECT * FROM erasure_requests ORDER BY id DESC LIMIT 1")
    assert (request["status"], request["sender_id"]) == ("done", None)

    # Writing again starts a clean conversation, in the language kept.
    person.say("hola")
    tracker = person.tracker()
    assert [e["text"] for e in tracker["events"] if e["event"] == "user"] == ["hola"]
    assert tracker["slots"]["language"] == "es"
    assert tracker["slots"]["erasure_pending"] is False


@pytest.mark.parametrize(("language", "start", "check", "ask", "no", "listed", "declined"), [
    ("es", "soy peruana y vivo en Madrid", "¿puedo pedir el retorno voluntario?", "borra mis datos", "no",
     "tu número de teléfono", "no he borrado nada"),
    ("pt", "sou brasileira e moro em Lisboa", "posso pedir o retorno voluntário?", "apaguem os meus dados", "não",
     "o seu consentimento", "não apaguei nada"),
    ("en", "I am Peruvian and I live in Madrid", "can I apply for voluntary return?", "delete my data", "no",
     "your phone number", "I have erased nothing"),
])
def test_no_keeps_everything_and_the_pre_check_goes_on(
    make_person, language: str, start: str, check: str, ask: str, no: str, listed: str, declined: str,
) -> None:
    person: Person = make_person(language)
    person.say(start)
    question = text_of(person.say(check))
    requested = person.tracker()["slots"]["requested_slot"]
    assert requested, question

    replies = person.say(ask)
    assert listed in text_of(replies)
    assert buttons(replies) == ["/affirm", "/deny"]
    assert person.tracker()["active_loop"] in ({}, None, {"name": None})

    replies = person.say(no)
    text = text_of(replies)
    assert declined in text
    # The check asks its question again and takes the next answer as before.
    tracker = person.tracker()
    assert tracker["active_loop"].get("name") == "eligibility_form"
    assert tracker["slots"]["requested_slot"] == requested
    assert question.split("\n")[-1] in text
    said = [e["text"] for e in tracker["events"] if e["event"] == "user"]
    assert said[0] == start


def test_another_message_drops_the_pending_question(make_person) -> None:
    person: Person = make_person("es")
    person.say("borra mis datos")
    person.say("¿qué programas de retorno hay?")
    assert person.tracker()["slots"]["erasure_pending"] is False
    # A later "yes" is not taken as consent to erase.
    replies = person.say("sí")
    assert "hemos borrado" not in text_of(replies)


@pytest.mark.parametrize(("language", "said", "ask", "yes", "listed", "done"), [
    ("pt", "moro em Lisboa, sou a Graciela Andrade", "apaguem os meus dados", "sim", "toda esta conversa",
     "apagamos os seus dados"),
    ("en", "I am Graciela Andrade and I live in Turin", "delete my data", "yes", "this whole conversation",
     "we have erased your data"),
])
def test_yes_erases_in_each_language(
    make_person, language: str, said: str, ask: str, yes: str, listed: str, done: str,
) -> None:
    person: Person = make_person(language)
    person.say(said)
    assert "Graciela" in json.dumps(person.tracker())
    replies = person.say(ask)
    assert listed in text_of(replies)
    assert done in text_of(person.say(yes))
    assert wait_until(lambda: "Graciela" not in json.dumps(person.tracker())), "the conversation was not erased"
    assert person.tracker()["slots"]["language"] == language
