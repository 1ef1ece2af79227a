"""End to end: the real action server and Rasa server with WhatsApp and Telegram on.

The Twilio and Telegram API base URLs point at fake provider servers on 127.0.0.1 that
record every call; the tests post signed webhooks to Rasa over HTTP, as the providers
would, and read what the person would receive from the fakes. PUBLIC_BASE_URL differs
from the local URL, as behind a proxy: signatures are computed against the public one.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import text
from twilio.request_validator import RequestValidator

from casework.db import make_engine
from casework.privacy import FieldCipher, pseudonymous_sender_id
from devtools.fake_providers import FakeProviders, FakeTelegram, FakeTwilio, Recorded
from devtools.stack import Stack, free_port, make_stack, wait_http
from devtools.train import ensure_model

ACCOUNT_SID = "AC" + secrets.token_hex(16)
AUTH_TOKEN = secrets.token_hex(16)
NUMBER = "+14155238886"
PUBLIC = "https://oss-bot.example.org"
BOT_TOKEN = f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(24)}"
WEBHOOK_SECRET = secrets.token_urlsafe(24)
WA_HOOK = "/webhooks/whatsapp/webhook"
WA_STATUS = "/webhooks/whatsapp/status"
TG_HOOK = "/webhooks/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name


@dataclass
class ChannelStack:
    stack: Stack
    twilio: FakeTwilio
    telegram: FakeTelegram
    env: dict[str, str]
    workdir: Path

    # --- providers calling us ---------------------------------------------------------
    def post_whatsapp(self, pairs: list[tuple[str, str]], *, signature: str | None = "sign",
                      signed_url: str = PUBLIC + WA_HOOK, path: str = WA_HOOK, base_url: str | None = None,
                      headers: dict[str, str] | None = None) -> httpx.Response:
        sent = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        if signature == "sign":
            signature = sign(signed_url, pairs)
        if signature is not None:
            sent["X-Twilio-Signature"] = signature
        return httpx.post((base_url or self.stack.rasa_url) + path, content=urlencode(pairs), headers=sent,
                          timeout=30)

    def post_telegram(self, update: Any, *, secret: str | None = WEBHOOK_SECRET,
                      base_url: str | None = None) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        body = update if isinstance(update, bytes) else json.dumps(update).encode()
        return httpx.post((base_url or self.stack.rasa_url) + TG_HOOK, content=body, headers=headers, timeout=30)

    # --- what the person received ---------------------------------------------------
    def whatsapp_to(self, phone: str) -> list[dict[str, str]]:
        return [m for m in self.twilio.messages() if m.get("To") == f"whatsapp:{phone}"]

    def wait_whatsapp(self, phone: str, count: int, timeout_s: float = 90) -> list[dict[str, str]]:
        def ready(requests: list[Recorded]) -> bool:
            return len([r for r in requests if r.form.get("To") == f"whatsapp:{phone}"]) >= count

        self.twilio.wait_until(ready, timeout_s)
        return self.whatsapp_to(phone)

    def telegram_to(self, chat: int, method: str = "sendMessage") -> list[dict[str, Any]]:
        return [c for c in self.telegram.calls(method) if str(c.get("chat_id")) == str(chat)]

    def telegram_records(self, chat: int) -> list[Recorded]:
        return [r for r in self.telegram.snapshot()
                if isinstance(r.json, dict) and str(r.json.get("chat_id")) == str(chat)]

    def wait_telegram(self, chat: int, count: int, timeout_s: float = 90) -> list[dict[str, Any]]:
        def ready(requests: list[Recorded]) -> bool:
            return len([r for r in requests if r.path.endswith("/sendMessage") and isinstance(r.json, dict)
                        and str(r.json.get("chat_id")) == str(chat)]) >= count

        self.telegram.wait_until(ready, timeout_s)
        return self.telegram_to(chat)

    # --- what the server kept --------------------------------------------------------
    def sender_id(self, provider: str, handle: str) -> str:
        return pseudonymous_sender_id(provider, handle, self.env["SENDER_ID_SECRET"])

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        engine = make_engine(self.env["DATABASE_URL"])
        try:
            with engine.connect() as connection:
                return [dict(row) for row in connection.execute(text(sql), params).mappings()]
        finally:
            engine.dispose()

    def execute(self, sql: str, **params: Any) -> None:
        engine = make_engine(self.env["DATABASE_URL"])
        try:
            with engine.begin() as connection:
                connection.execute(text(sql), params)
        finally:
            engine.dispose()

    def inbox(self, provider_message_id: str) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM inbox_messages WHERE provider_message_id = :pid", pid=provider_message_id)

    def cipher(self) -> FieldCipher:
        return FieldCipher([self.env["FIELD_ENCRYPTION_KEY"]])

    def tracker(self, sender_id: str, base_url: str | None = None) -> dict[str, Any]:
        answer = httpx.get(f"{base_url or self.stack.rasa_url}/conversations/{sender_id}/tracker", timeout=30)
        answer.raise_for_status()
        return answer.json()

    def tracker_store_dump(self) -> str:
        """Everything the tracker store holds (sender ids and events), as text."""
        engine = make_engine(f"sqlite:///{self.env['TRACKER_DB']}")
        try:
            with engine.connect() as connection:
                rows = connection.execute(text("SELECT sender_id, data FROM events")).all()
        finally:
            engine.dispose()
        return "\n".join(f"{sender} {data}" for sender, data in rows)

    # --- outages -----------------------------------------------------------------------
    def stop_actions(self) -> None:
        self.stack.stop_process("actions")

    def start_actions(self) -> None:
        proc = self.stack.start_actions()
        wait_http(f"{self.stack.actions_url}/health", 180, proc)


def sign(url: str, pairs: list[tuple[str, str]]) -> str:
    from channels.whatsapp import FormParams

    return RequestValidator(AUTH_TOKEN).compute_signature(url, FormParams(pairs))


def new_phone(prefix: str = "+34") -> str:
    return prefix + str(600_000_000 + secrets.randbelow(99_999_999))


def new_chat() -> int:
    return 100_000_000 + secrets.randbelow(899_999_999)


def new_sid() -> str:
    return "SM" + uuid.uuid4().hex


def whatsapp_message(phone: str, body: str = "hola", sid: str | None = None, **extra: str) -> list[tuple[str, str]]:
    pairs = [("SmsMessageSid", sid or new_sid()), ("NumMedia", "0"), ("ProfileName", "Ana"),
             ("SmsSid", ""), ("WaId", phone.lstrip("+")), ("SmsStatus", "received"), ("Body", body),
             ("To", f"whatsapp:{NUMBER}"), ("NumSegments", "1"), ("ReferralNumMedia", "0"),
             ("AccountSid", ACCOUNT_SID), ("From", f"whatsapp:{phone}"), ("ApiVersion", "2010-04-01")]
    pairs.append(("MessageSid", pairs[0][1]))
    replaced = {k: v for k, v in extra.items()}
    pairs = [(k, replaced.pop(k, v)) for k, v in pairs]
    return pairs + list(replaced.items())


_update_ids = iter(range(secrets.randbelow(10**6) * 1000, 10**12))


def telegram_message(chat: int, text: str | None = "hola", language: str | None = "es",
                     update_id: int | None = None, **extra: Any) -> dict[str, Any]:
    user: dict[str, Any] = {"id": chat, "is_bot": False, "first_name": "Ana"}
    if language:
        user["language_code"] = language
    message: dict[str, Any] = {"message_id": secrets.randbelow(10**6), "date": 1_764_000_000,
                               "chat": {"id": chat, "type": "private", "first_name": "Ana"}, "from": user}
    if text is not None:
        message["text"] = text
    message.update(extra)
    return {"update_id": next(_update_ids) if update_id is None else update_id, "message": message}


def telegram_callback(chat: int, data: str, language: str = "es") -> dict[str, Any]:
    return {"update_id": next(_update_ids), "callback_query": {
        "id": str(secrets.randbelow(10**12)), "chat_instance": "42", "data": data,
        "from": {"id": chat, "is_bot": False, "first_name": "Ana", "language_code": language},
        "message": {"message_id": 7, "date": 1_764_000_000, "chat": {"id": chat, "type": "private"}, "text": "?"}}}


def channel_env(workdir: Path, twilio: FakeTwilio, telegram: FakeTelegram) -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_WHATSAPP_NUMBER": NUMBER,
        "TWILIO_API_BASE_URL": twilio.base_url, "PUBLIC_BASE_URL": PUBLIC,
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN, "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TELEGRAM_API_BASE_URL": telegram.base_url,
        "FIELD_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "SENDER_ID_SECRET": secrets.token_hex(32),
        "DATABASE_URL": f"sqlite:///{workdir / 'cases.db'}",
        "TRACKER_DB": str(workdir / "tracker.db"),
        # Debug logging on: the tests that read the logs prove it still writes no text or phone.
        "LOG_LEVEL": "DEBUG",
    }


@pytest.fixture(scope="session")
def channels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChannelStack]:
    model = ensure_model(quiet=True)
    workdir = tmp_path_factory.mktemp("channels_stack")
    twilio, telegram = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN), FakeTelegram(BOT_TOKEN)
    with FakeProviders(twilio, telegram):
        env = channel_env(workdir, twilio, telegram)
        stack = make_stack(model, free_port(), free_port(), workdir, extra_env=env)
        try:
            stack.start()
        except Exception:
            stack.stop()
            logs = "\n".join(p.read_text()[-3000:] for p in (workdir / "logs").glob("*.log"))
            raise RuntimeError(f"the stack did not start:\n{logs}") from None
        try:
            yield ChannelStack(stack, twilio, telegram, stack.env, workdir)
        finally:
            stack.stop()


def logs(channels: ChannelStack) -> str:
    return "\n".join(p.read_text(errors="replace") for p in (channels.workdir / "logs").glob("*.log"))
