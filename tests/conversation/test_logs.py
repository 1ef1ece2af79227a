"""No personal data in the logs: a full conversation through the real stack, then every log.

The person gives a name, a phone number, an e-mail address and a city (all distinctive),
runs the pre-check, asks for erasure and says yes; the logs of the Rasa server, the
action server and the workers must contain none of it. The case-work code paths that log
(notification failures and dead letters, erasure) are checked with the same markers.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path

import pytest

from devtools.stack import Stack
from tests.conversation.conftest import Person

NAME, PHONE, EMAIL, CITY = "Wenceslao Tupayachi", "+34 622 418 975", "wenceslao.tupa@example.net", "Sabadell"
MARKERS = (NAME, "Wenceslao", "Tupayachi", PHONE, "622 418 975", "622418975", EMAIL, CITY)
SAID = (f"Hola, me llamo {NAME}", f"mi teléfono es {PHONE}", f"escríbeme a {EMAIL}",
        f"vivo en {CITY} y quiero volver a Bolivia")


def all_logs(stack: Stack) -> str:
    return "\n".join(path.read_text(errors="replace") for path in sorted(Path(stack.log_dir).glob("*.log")))


def test_a_full_conversation_leaves_no_personal_data_in_any_log(stack: Stack, make_person) -> None:
    person: Person = make_person("es")
    for said in SAID:
        person.say(said)
    person.say("¿puedo pedir el retorno voluntario?")
    person.say(NAME)  # a name where an answer was expected
    person.say("borra mis datos")
    person.say("/affirm")
    person.say(f"soy {NAME} otra vez, de {CITY}")
    deadline = time.monotonic() + 60  # the privacy worker logs the erasure it completed
    while "erasures: {'completed'" not in all_logs(stack) and time.monotonic() < deadline:
        time.sleep(0.5)
    logs = all_logs(stack)
    assert "erasures: {'completed'" in logs  # every process's log is read, the workers' too
    for marker in MARKERS:
        assert marker not in logs, f"{marker!r} found in the logs"


def test_case_work_logs_carry_no_personal_data(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from casework.consent import record_consent
    from casework.db import make_engine, session_scope, upgrade
    from casework.intake import IntakeAnswers
    from casework.notify import WebhookSender
    from casework.offices import parse_offices_config
    from casework.outbox import deliver_due
    from casework.privacy import FieldCipher, complete_erasures, request_erasure
    from casework.settings import Settings
    from casework.tickets import idempotency_key_for, open_case
    from knowledge.loader import knowledge_base
    from tests.casework.factories import NOW, new_key
    from tests.casework.fakes import free_port

    caplog.set_level(logging.DEBUG)
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    upgrade(url)
    engine = make_engine(url)
    kb = knowledge_base()
    down = f"http://127.0.0.1:{free_port()}/hook"
    doc = {"offices": {o.id: {"notify": {"kind": "webhook", "target": down, "secret_env": "X_SECRET"}} for o in kb.offices}}
    offices = parse_offices_config(doc, kb=kb)
    answers = IntakeAnswers(
        origin_country="BO", residence_country="ES", region="catalonia", residence_city=CITY, language="es",
        preferred_name=NAME, needs=("employment",), contact_channel="phone", contact_detail=PHONE, contact_time="any",
    )
    sender = "wa-logcheck"
    try:
        with session_scope(engine) as session:
            record_consent(session, sender_id=sender, channel="whatsapp", notice_version="2026-11", language="es", now=NOW)
            open_case(session, sender_id=sender, channel="whatsapp", intake=answers, eligibility=None,
                      cipher=FieldCipher([new_key()]), kb=kb, now=NOW,
                      idempotency_key=idempotency_key_for(sender_id=sender, intake=answers), offices=offices,
                      console_base_url="https://console.invalid")
        senders = {"webhook": WebhookSender(secrets={o.id: "s" for o in kb.offices}, timeout_s=2)}
        settings = Settings(outbox_max_attempts=2)
        deliver_due(engine, settings=settings, now=NOW, senders=senders)
        deliver_due(engine, settings=settings, now=NOW + timedelta(hours=1), senders=senders)  # dead letters
        with session_scope(engine) as session:
            request_erasure(session, sender_id=sender, now=NOW, tracker_after=None)
        broken = make_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'x' / 'tracker.db'}")
        complete_erasures(engine, tracker=broken, now=NOW + timedelta(hours=1))
    finally:
        engine.dispose()
    logged = caplog.text
    assert "dead" in logged  # the failures were logged...
    for marker in (*MARKERS, sender):
        assert marker not in logged  # ...without anything about the person
