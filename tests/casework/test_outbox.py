"""Staff notifications: delivered once to e-mail, Telegram or a signed webhook; retried with
backoff when the target is down and then dead; never carrying personal data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import select

from casework.consent import record_consent
from casework.models import OutboxMessage
from casework.notify import DELIVERY_HEADER, EmailSender, Notification, TelegramSender, WebhookSender, build_senders
from casework.offices import OfficesConfig, parse_offices_config
from casework.outbox import DeliveryReport, backoff, dead_letters, deliver_due, requeue
from casework.privacy import FieldCipher
from casework.settings import MissingSecret, Settings
from casework.tickets import idempotency_key_for, open_case
from knowledge.loader import knowledge_base
from tests.casework.conftest import Database
from tests.casework.factories import NOW
from tests.casework.fakes import FakeHttp, FakeSmtp, fake_http, fake_smtp, free_port
from tests.casework.test_tickets import ANSWERS, NAME, PHONE

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST-staff-bot-token"
SECRET = "webhook-secret-for-tests"
SETTINGS = Settings(outbox_max_attempts=3)
PAYLOAD_KEYS = {"event", "reference", "office_id", "owner_office_id", "role", "priority", "origin_country",
                "residence_country", "region", "needs", "language", "warm_lead", "staff_language", "console_url"}


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    with fake_smtp() as server:
        yield server


@pytest.fixture
def telegram_api() -> Iterator[FakeHttp]:
    with fake_http(telegram=True) as server:
        yield server


@pytest.fixture
def webhook() -> Iterator[FakeHttp]:
    with fake_http(secret=SECRET) as server:
        yield server


def offices_with(**notify: dict) -> OfficesConfig:
    """The default placeholder targets, with some offices pointed elsewhere."""
    kb = knowledge_base()
    doc = {"offices": {o.id: {"notify": {"kind": "email", "target": f"{o.id}@notify.invalid"}} for o in kb.offices}}
    for office_id, target in notify.items():
        doc["offices"][office_id.replace("_", "-")] = {"notify": target}
    return parse_offices_config(doc, kb=kb)


def open_ticket(database: Database, cipher: FieldCipher, offices: OfficesConfig, sender_id: str = "wa-rosa") -> str:
    with database.session() as session:
        record_consent(session, sender_id=sender_id, channel="whatsapp", notice_version="2026-11", language="es", now=NOW)
        return open_case(
            session, sender_id=sender_id, channel="whatsapp", intake=ANSWERS, eligibility=None, cipher=cipher,
            kb=knowledge_base(), now=NOW, idempotency_key=idempotency_key_for(sender_id=sender_id, intake=ANSWERS),
            offices=offices, console_base_url="https://console.invalid",
        ).reference


def outbox(database: Database) -> list[dict]:
    return database.rows("SELECT office_id, status, attempts, next_attempt_at, last_error, payload FROM outbox_messages ORDER BY id")


def assert_no_personal_data(text: str) -> None:
    for secret in (NAME, "Rosa", PHONE, "611 222", "Badalona", "single_parent"):
        assert secret not in text


def test_email_reaches_the_offices_once(database: Database, cipher: FieldCipher, smtp: FakeSmtp) -> None:
    reference = open_ticket(database, cipher, offices_with())
    senders = {"email": EmailSender(host=smtp.host, port=smtp.port, sender="oss@notify.invalid")}
    assert deliver_due(database.engine, settings=SETTINGS, now=NOW, senders=senders) == DeliveryReport(delivered=2)
    assert deliver_due(database.engine, settings=SETTINGS, now=NOW + timedelta(hours=2), senders=senders) == DeliveryReport()
    assert sorted(rcpt for m in smtp.messages for rcpt in m.rcpt_tos) == ["eu-es-catalonia@notify.invalid", "oss-pe@notify.invalid"]
    mail = message_from_bytes(smtp.messages[0].content, policy=policy.default)
    assert reference in mail["Subject"]
    body = mail.get_content()
    assert f"https://console.invalid/tickets/{reference}" in body
    assert_no_personal_data(mail.as_string() + body)
    assert [(m["status"], m["attempts"]) for m in outbox(database)] == [("delivered", 1), ("delivered", 1)]


def test_telegram_staff_chat_gets_the_message(database: Database, cipher: FieldCipher, telegram_api: FakeHttp) -> None:
    reference = open_ticket(database, cipher, offices_with(oss_pe={"kind": "telegram", "target": "-1001234567890"}))
    senders = {
        "telegram": TelegramSender(token=TOKEN, base_url=telegram_api.url),
        "email": EmailSender(host="127.0.0.1", port=free_port(), sender="oss@notify.invalid", timeout_s=2),
    }
    report = deliver_due(database.engine, settings=SETTINGS, now=NOW, senders=senders)
    assert (report.delivered, report.retried) == (1, 1)  # the e-mail office's server is down
    [request] = telegram_api.requests
    assert request.path == f"/bot{TOKEN}/sendMessage"
    sent = request.json()
    assert sent["chat_id"] == "-1001234567890"
    assert reference in sent["text"]
    assert "Nuevo caso" in sent["text"]
    assert_no_personal_data(request.body.decode())


def test_telegram_errors_are_recorded_without_the_token(
    database: Database, cipher: FieldCipher, telegram_api: FakeHttp,
) -> None:
    telegram_api.status = 400
    open_ticket(database, cipher, offices_with(oss_pe={"kind": "telegram", "target": "-100"},
                                               eu_es_catalonia={"kind": "telegram", "target": "-200"}))
    senders = {"telegram": TelegramSender(token=TOKEN, base_url=telegram_api.url)}
    assert deliver_due(database.engine, settings=SETTINGS, now=NOW, senders=senders).retried == 2
    errors = [m["last_error"] for m in outbox(database)]
    assert all("chat not found" in e and TOKEN not in e for e in errors)


def test_the_webhook_is_signed_and_the_receiver_verifies_it(
    database: Database, cipher: FieldCipher, webhook: FakeHttp,
) -> None:
    reference = open_ticket(database, cipher, offices_with(
        oss_pe={"kind": "webhook", "target": f"{webhook.url}/oss/pe", "secret_env": "OSS_PE_SECRET"},
        eu_es_catalonia={"kind": "webhook", "target": f"{webhook.url}/oss/cat", "secret_env": "OSS_CAT_SECRET"},
    ))
    senders = {"webhook": WebhookSender(secrets={"oss-pe": SECRET, "eu-es-catalonia": SECRET})}
    assert deliver_due(database.engine, settings=SETTINGS, now=NOW, senders=senders).delivered == 2
    assert webhook.verified == [True, True]
    owner = next(r for r in webhook.requests if r.path == "/oss/pe")
    payload = owner.json()
    assert set(payload) == PAYLOAD_KEYS
    assert payload | {"needs": None} == {
        "event": "ticket_opened", "reference": reference, "office_id": "oss-pe", "owner_office_id": "oss-pe",
        "role": "owner", "priority": "high", "origin_country": "PE", "residence_country": "ES",
        "region": "catalonia", "needs": None, "language": "es", "warm_lead": True, "staff_language": "es",
        "console_url": f"https://console.invalid/tickets/{reference}",
    }
    assert payload["needs"] == ["employment", "housing"]
    assert owner.headers[DELIVERY_HEADER].startswith("ticket-opened:")
    assert_no_personal_data(owner.body.decode())


def test_a_wrong_secret_fails_the_receivers_check(database: Database, cipher: FieldCipher, webhook: FakeHttp) -> None:
    open_ticket(database, cipher, offices_with(
        oss_pe={"kind": "webhook", "target": webhook.url, "secret_env": "OSS_PE_SECRET"},
    ))
    senders = {"webhook": WebhookSender(secrets={"oss-pe": "not-the-secret"}),
               "email": EmailSender(host="127.0.0.1", port=free_port(), sender="x@notify.invalid", timeout_s=2)}
    deliver_due(database.engine, settings=SETTINGS, now=NOW, senders=senders)
    assert webhook.verified == [False]


def test_a_target_that_is_down_is_retried_with_backoff_then_dead(database: Database, cipher: FieldCipher) -> None:
    down = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    open_ticket(database, cipher, offices_with(
        oss_pe={"kind": "webhook", "target": down, "secret_env": "OSS_PE_SECRET"},
        eu_es_catalonia={"kind": "webhook", "target": down, "secret_env": "OSS_CAT_SECRET"},
    ))
    senders = {"webhook": WebhookSender(secrets={"oss-pe": SECRET, "eu-es-catalonia": SECRET}, timeout_s=2)}

    assert deliver_due(database.engine, settings=SETTINGS, now=NOW, senders=senders) == DeliveryReport(retried=2)
    rows = outbox(database)
    assert [(r["status"], r["attempts"]) for r in rows] == [("pending", 1)] * 2
    assert all("ConnectError" in r["last_error"] for r in rows)
    # Not due before the backoff has passed.
    assert deliver_due(database.engine, settings=SETTINGS, now=NOW + timedelta(seconds=29), senders=senders) == DeliveryReport()
    second = NOW + timedelta(seconds=30)
    assert deliver_due(database.engine, settings=SETTINGS, now=second, senders=senders) == DeliveryReport(retried=2)
    assert deliver_due(database.engine, settings=SETTINGS, now=second + timedelta(seconds=59), senders=senders) == DeliveryReport()
    third = second + timedelta(seconds=60)
    assert deliver_due(database.engine, settings=SETTINGS, now=third, senders=senders) == DeliveryReport(dead=2)
    rows = outbox(database)
    assert [(r["status"], r["attempts"], r["next_attempt_at"]) for r in rows] == [("dead", 3, None)] * 2
    assert all(r["last_error"] for r in rows)
    assert deliver_due(database.engine, settings=SETTINGS, now=third + timedelta(days=1), senders=senders) == DeliveryReport()


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff(n).total_seconds() for n in range(1, 10)] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_a_target_down_for_an_hour_is_notified_once_when_it_is_back(database: Database, cipher: FieldCipher) -> None:
    """The default schedule, in simulated time: the worker (`--loop`, a round every 15 s)
    meets a webhook that fails for an hour; nothing goes dead, each office hears once."""
    settings = Settings()  # the defaults an operator gets
    with fake_http(secret=SECRET, status=503) as target:
        open_ticket(database, cipher, offices_with(
            oss_pe={"kind": "webhook", "target": f"{target.url}/pe", "secret_env": "OSS_PE_SECRET"},
            eu_es_catalonia={"kind": "webhook", "target": f"{target.url}/cat", "secret_env": "OSS_CAT_SECRET"},
        ))
        senders = {"webhook": WebhookSender(secrets={"oss-pe": SECRET, "eu-es-catalonia": SECRET}, timeout_s=2)}
        back_at = NOW + timedelta(hours=1)
        now, delivered = NOW, 0
        while now < NOW + timedelta(hours=24) and delivered < 2:
            target.status = 200 if now >= back_at else 503
            report = deliver_due(database.engine, settings=settings, now=now, senders=senders)
            assert report.dead == 0, f"dead after {now - NOW} of a one-hour outage"
            delivered += report.delivered
            with database.session() as session:
                due = session.execute(select(OutboxMessage.next_attempt_at)
                                      .where(OutboxMessage.status == "pending")).scalars().all()
            now = max(now, min(due)) + timedelta(seconds=15) if due else now  # the next round after it is due
        rows = outbox(database)
        assert [r["status"] for r in rows] == ["delivered", "delivered"]
        attempts = rows[0]["attempts"]
        assert attempts < settings.outbox_max_attempts  # with room to spare
        accepted = [r for r in target.requests if r.headers.get(DELIVERY_HEADER)][-2:]
        assert sorted(r.path for r in accepted) == ["/cat", "/pe"]
        assert len(target.requests) == 2 * attempts  # every failed try, then exactly one delivery each
        assert len({r.headers[DELIVERY_HEADER] for r in target.requests}) == 2  # one notification per office


def test_the_default_schedule_keeps_trying_for_hours() -> None:
    """The README promises the last attempt about 3 h after the first (OUTBOX_MAX_ATTEMPTS=10)."""
    attempts = Settings().outbox_max_attempts
    last = sum((backoff(n) for n in range(1, attempts)), timedelta())
    assert last >= timedelta(hours=3)


class SlowRecorder:
    """A sender that takes its time, to give a second worker every chance to interfere."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.lock = threading.Lock()

    def send(self, notification: Notification) -> None:
        time.sleep(0.05)
        with self.lock:
            self.sent.append(notification.dedupe_key)


def test_concurrent_workers_send_each_message_once(database: Database, cipher: FieldCipher) -> None:
    offices = offices_with()
    for number in range(4):
        open_ticket(database, cipher, offices, sender_id=f"wa-person-{number}")
    recorder = SlowRecorder()
    reports: list[DeliveryReport] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait(timeout=10)
        reports.append(deliver_due(database.engine, settings=SETTINGS, now=NOW, senders={"email": recorder}))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(recorder.sent) == len(set(recorder.sent)) == 8
    assert sum(r.delivered for r in reports) == 8
    assert deliver_due(database.engine, settings=SETTINGS, now=NOW + timedelta(hours=1), senders={"email": recorder}) == DeliveryReport()
    assert len(recorder.sent) == 8
    assert {r["status"] for r in outbox(database)} == {"delivered"}


def test_stored_payloads_carry_no_personal_data(database: Database, cipher: FieldCipher) -> None:
    open_ticket(database, cipher, offices_with())
    rows = outbox(database)
    for row in rows:
        payload = row["payload"] if isinstance(row["payload"], dict) else json.loads(row["payload"])
        assert set(payload) == PAYLOAD_KEYS
        assert_no_personal_data(json.dumps(payload, ensure_ascii=False))


def test_build_senders_demands_the_secrets_it_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    offices = offices_with(
        oss_pe={"kind": "webhook", "target": "https://x.invalid/h", "secret_env": "OSS_PE_TEST_SECRET"},
        oss_br={"kind": "telegram", "target": "-100"},
    )
    monkeypatch.delenv("OSS_PE_TEST_SECRET", raising=False)
    with pytest.raises(MissingSecret, match="TELEGRAM_BOT_TOKEN"):
        build_senders(Settings(), offices)
    with pytest.raises(MissingSecret, match="OSS_PE_TEST_SECRET"):
        build_senders(Settings(telegram_bot_token=TOKEN), offices)
    monkeypatch.setenv("OSS_PE_TEST_SECRET", SECRET)
    assert set(build_senders(Settings(telegram_bot_token=TOKEN), offices)) == {"email", "telegram", "webhook"}


# ---------------------------------------------------------------- exact payloads, dead letters

def expected_text(reference: str, headline: str) -> str:
    return (
        f"{headline}\n\nReferencia: {reference}\nPrioridad: high\nOrigen: PE · Residencia: ES (catalonia)\n"
        f"Necesidades: employment, housing\nIdioma de la persona: es\n"
        f"Abrir en la consola: https://console.invalid/tickets/{reference}"
    )


def test_the_email_is_exactly_what_the_office_needs(database: Database, cipher: FieldCipher, smtp: FakeSmtp) -> None:
    reference = open_ticket(database, cipher, offices_with())
    senders = {"email": EmailSender(host=smtp.host, port=smtp.port, sender="oss@notify.invalid")}
    deliver_due(database.engine, settings=SETTINGS, now=NOW, senders=senders)
    mails = {m.rcpt_tos[0]: message_from_bytes(m.content, policy=policy.default) for m in smtp.messages}
    owner = mails["oss-pe@notify.invalid"]
    assert (owner["From"], owner["To"]) == ("oss@notify.invalid", "oss-pe@notify.invalid")
    assert owner["Subject"] == f"[OSS] Nuevo caso {reference} (high)"
    assert owner["Message-ID"].startswith("<ticket-opened.")
    # As received on the wire (CRLF line ends), the whole body:
    assert owner.get_content().replace("\r\n", "\n") == expected_text(reference, "Nuevo caso para su oficina") + "\n"
    informed = mails["eu-es-catalonia@notify.invalid"]
    assert informed.get_content().replace("\r\n", "\n") == expected_text(reference, "Caso para su información (lo lleva oss-pe)") + "\n"
    assert [part.get_content_type() for part in owner.walk()] == ["text/plain"]  # no attachment, no HTML


def test_the_telegram_message_is_exactly_what_the_office_needs(
    database: Database, cipher: FieldCipher, telegram_api: FakeHttp,
) -> None:
    reference = open_ticket(database, cipher, offices_with(oss_pe={"kind": "telegram", "target": "-1001234567890"},
                                                           eu_es_catalonia={"kind": "telegram", "target": "-100777"}))
    senders = {"telegram": TelegramSender(token=TOKEN, base_url=telegram_api.url)}
    assert deliver_due(database.engine, settings=SETTINGS, now=NOW, senders=senders).delivered == 2
    sent = {r.json()["chat_id"]: r.json() for r in telegram_api.requests}
    assert sent["-1001234567890"] == {
        "chat_id": "-1001234567890", "text": expected_text(reference, "Nuevo caso para su oficina"),
        "disable_web_page_preview": True,
    }
    assert sent["-100777"]["text"] == expected_text(reference, "Caso para su información (lo lleva oss-pe)")
    assert {r.path for r in telegram_api.requests} == {f"/bot{TOKEN}/sendMessage"}


def test_a_dead_letter_is_listed_and_can_be_sent_again(database: Database, cipher: FieldCipher, smtp: FakeSmtp) -> None:
    reference = open_ticket(database, cipher, offices_with())
    down = {"email": EmailSender(host="127.0.0.1", port=free_port(), sender="oss@notify.invalid", timeout_s=2)}
    when = NOW
    for _ in range(SETTINGS.outbox_max_attempts):
        deliver_due(database.engine, settings=SETTINGS, now=when, senders=down)
        when += timedelta(hours=1)
    with database.session() as session:
        letters = dead_letters(session)
    assert [(d.office_id, d.target_kind, d.reference, d.attempts) for d in letters] == [
        ("oss-pe", "email", reference, 3), ("eu-es-catalonia", "email", reference, 3),
    ]
    assert all("ConnectionRefusedError" in (d.last_error or "") for d in letters)

    # The operator's command shows the same, without any personal data.
    env = {**os.environ, "DATABASE_URL": database.url, "PYTHONPATH": str(ROOT)}
    listed = subprocess.run([sys.executable, "-m", "casework.outbox", "--dead"], env=env, cwd=ROOT,  # noqa: S603
                            capture_output=True, text=True, timeout=120, check=True).stdout
    assert f"\toss-pe\temail\t{reference}\tattempts=3\t" in listed
    assert "2 dead letter(s)" in listed
    assert_no_personal_data(listed)
    requeued = subprocess.run([sys.executable, "-m", "casework.outbox", "--requeue", str(letters[0].message_id)],  # noqa: S603
                              env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert requeued.returncode == 0, requeued.stderr
    again = subprocess.run([sys.executable, "-m", "casework.outbox", "--requeue", str(letters[0].message_id)],  # noqa: S603
                           env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1  # no longer dead

    # The office's server is back: the requeued letter goes out, the other stays dead.
    up = {"email": EmailSender(host=smtp.host, port=smtp.port, sender="oss@notify.invalid")}
    assert deliver_due(database.engine, settings=SETTINGS, now=when, senders=up) == DeliveryReport(delivered=1)
    assert [m.rcpt_tos for m in smtp.messages] == [["oss-pe@notify.invalid"]]
    assert [(m["office_id"], m["status"]) for m in outbox(database)] == [("oss-pe", "delivered"), ("eu-es-catalonia", "dead")]
    with database.session() as session:
        assert requeue(session, message_id=letters[1].message_id, now=when) is True
        assert requeue(session, message_id=letters[0].message_id, now=when) is False
    assert [e["action"] for e in database.rows("SELECT action FROM audit_events WHERE action = 'notification_requeued'")] == [
        "notification_requeued", "notification_requeued",
    ]


def test_the_worker_command_delivers_with_the_configured_offices(
    database: Database, cipher: FieldCipher, smtp: FakeSmtp,
) -> None:
    """`python -m casework.outbox --once` as `make run` starts it (--loop), config from the environment."""
    reference = open_ticket(database, cipher, offices_with())
    env = {**os.environ, "DATABASE_URL": database.url, "PYTHONPATH": str(ROOT), "SMTP_HOST": smtp.host,
           "SMTP_PORT": str(smtp.port), "SMTP_FROM": "oss-assistant@notify.invalid"}
    env.pop("OFFICES_CONFIG", None)  # config/offices.yml: every office by e-mail
    done = subprocess.run([sys.executable, "-m", "casework.outbox", "--once"], env=env, cwd=ROOT,  # noqa: S603
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(r for m in smtp.messages for r in m.rcpt_tos) == ["eu-es-catalonia@notify.invalid", "oss-pe@notify.invalid"]
    assert all(reference in message_from_bytes(m.content, policy=policy.default)["Subject"] for m in smtp.messages)
    assert "delivered=2" in done.stderr
    assert_no_personal_data(done.stderr + done.stdout)
