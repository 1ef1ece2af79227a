"""Staff notifications: delivered once to e-mail, Telegram or a signed webhook; retried with
backoff when the target is down and then dead; never carrying personal data."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy

import pytest

from casework.consent import record_consent
from casework.notify import DELIVERY_HEADER, EmailSender, Notification, TelegramSender, WebhookSender, build_senders
from casework.offices import OfficesConfig, parse_offices_config
from casework.outbox import DeliveryReport, backoff, deliver_due
from casework.privacy import FieldCipher
from casework.settings import MissingSecret, Settings
from casework.tickets import idempotency_key_for, open_case
from knowledge.loader import knowledge_base
from tests.casework.conftest import Database
from tests.casework.factories import NOW
from tests.casework.fakes import FakeHttp, FakeSmtp, fake_http, fake_smtp, free_port
from tests.casework.test_tickets import ANSWERS, NAME, PHONE

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
