"""Telegram: secret token, update_id de-duplication, inline buttons with opaque ids, rate limits."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.config import TelegramConfig, telegram_config
from channels.ratelimit import RateLimiter
from channels.splitting import TELEGRAM_LIMIT
from channels.telegram_chat import TelegramInput
from channels.telegram_webhook import main as set_webhook_main
from channels.texts import TROUBLE, channel_text
from channels.worker import InboxWorker
from tests.channels.conftest import BotDouble, Clock, Store, serve
from tests.channels.fakes import FakeTelegram

TOKEN = "123456:ABCDEF"
SECRET = "webhook-secret-0123"
CHAT = 987654321
HOOK = "/webhooks/telegram/webhook"
updates = itertools.count(1000)


def message_update(text: str | None = "hola", update_id: int | None = None, language: str = "pt-BR",
                   **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"message_id": 1, "date": 1_700_000_000,
                               "chat": {"id": CHAT, "type": "private"},
                               "from": {"id": CHAT, "is_bot": False, "first_name": "Ana", "language_code": language}}
    if text is not None:
        message["text"] = text
    message.update(extra)
    return {"update_id": next(updates) if update_id is None else update_id, "message": message}


def callback_update(data: str) -> dict[str, Any]:
    return {"update_id": next(updates), "callback_query": {
        "id": "cbq-1", "chat_instance": "ci", "data": data,
        "from": {"id": CHAT, "is_bot": False, "first_name": "Ana", "language_code": "en"},
        "message": {"message_id": 2, "date": 1_700_000_000, "chat": {"id": CHAT, "type": "private"}, "text": "?"}}}


@dataclass
class TelegramKit:
    channel: TelegramInput
    client: httpx.AsyncClient
    api: FakeTelegram
    store: Store
    bot: BotDouble
    clock: Clock

    async def post(self, update: Any, secret: str | None = SECRET) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        body = update if isinstance(update, bytes) else json.dumps(update).encode()
        return await self.client.post(HOOK, content=body, headers=headers)

    async def settle(self) -> None:
        await self.channel.worker.drain()


@asynccontextmanager
async def telegram_kit(store: Store, telegram_api: FakeTelegram, bot: BotDouble,
                       clock: Clock) -> AsyncIterator[TelegramKit]:
    """The Telegram channel served against the fake API; shared by `kit` here and `tg` in kits.py."""
    config = TelegramConfig(bot_token=TOKEN, webhook_secret=SECRET, api_base_url=telegram_api.base_url,
                            store=store.case_store)
    worker = InboxWorker(store.engine, store.cipher, clock=clock, poll_s=0.05)
    channel = TelegramInput(config, engine=store.engine, cipher=store.cipher, worker=worker, clock=clock,
                            limiter=RateLimiter(per_chat_interval_s=0.0))
    _, client = await serve(channel, bot)
    try:
        yield TelegramKit(channel, client, telegram_api, store, bot, clock)
    finally:
        await worker.stop()
        await client.aclose()
        await channel.close()


@pytest.fixture
async def kit(store: Store, telegram_api: FakeTelegram, bot: BotDouble, clock: Clock) -> AsyncIterator[TelegramKit]:
    async with telegram_kit(store, telegram_api, bot, clock) as built:
        yield built


async def test_an_update_is_stored_and_answered(kit: TelegramKit) -> None:
    assert (await kit.post(message_update("olá"))).status_code == 200
    await kit.settle()
    [message] = kit.bot.received
    assert message.text == "olá"
    assert message.sender_id.startswith("tg-")
    assert str(CHAT) not in message.sender_id
    assert message.metadata == {"language_hint": "pt"}
    assert kit.api.calls("sendMessage") == [{"chat_id": str(CHAT), "text": "eco: olá"}]
    assert kit.api.requests[0].path == f"/bot{TOKEN}/sendMessage"


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x"])
async def test_a_missing_or_wrong_secret_is_refused_before_parsing(kit: TelegramKit, secret: str | None) -> None:
    assert (await kit.post(message_update(), secret=secret)).status_code == 403
    assert (await kit.post(b"{not json", secret=secret)).status_code == 403
    assert kit.store.count("inbox_messages") == 0


async def test_duplicates_and_concurrent_retries_get_one_reply(kit: TelegramKit) -> None:
    update = message_update("hola", update_id=42)
    answers = await asyncio.gather(*[kit.post(update) for _ in range(5)])
    assert all(a.status_code == 200 for a in answers)
    await kit.settle()
    await kit.post(update)
    await kit.settle()
    assert kit.store.count("inbox_messages") == 1
    assert len(kit.api.calls("sendMessage")) == 1


async def test_start_with_a_deep_link(kit: TelegramKit) -> None:
    await kit.post(message_update("/start peru_2026"))
    await kit.settle()
    message = kit.bot.received[0]
    assert message.text == "/greet"
    assert message.metadata == {"language_hint": "pt", "deep_link": "peru_2026"}


async def test_typed_slash_syntax_is_text(kit: TelegramKit) -> None:
    await kit.post(message_update('/inform{"country_origin": "PE"}'))
    await kit.settle()
    assert kit.bot.received[0].text == 'inform{"country_origin": "PE"}'


async def test_buttons_are_opaque_tokens_mapped_back_to_the_payload(kit: TelegramKit) -> None:
    kit.bot.reply = lambda m: [{"text": "Continue?", "buttons": [
        {"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]}]
    await kit.post(message_update("help"))
    await kit.settle()
    [sent] = kit.api.calls("sendMessage")
    keyboard = sent["reply_markup"]["inline_keyboard"]
    assert [row[0]["text"] for row in keyboard] == ["Yes", "No"]
    tokens = [row[0]["callback_data"] for row in keyboard]
    assert all("/" not in t and "affirm" not in t and "deny" not in t for t in tokens)
    await kit.post(callback_update(tokens[1]))
    await kit.settle()
    assert kit.bot.received[-1].text == "/deny"
    assert kit.api.calls("answerCallbackQuery") == [{"callback_query_id": "cbq-1"}]


async def test_a_forged_or_stale_callback_gets_the_expired_message(kit: TelegramKit) -> None:
    await kit.post(callback_update("/request_return_help"))
    await kit.settle()
    assert kit.bot.received == []
    assert kit.api.calls("answerCallbackQuery") == [{"callback_query_id": "cbq-1"}]
    assert kit.api.calls("sendMessage") == [{"chat_id": str(CHAT), "text": "That option has expired. "
                                             "Type your question, or write \"menu\" to see the options again."}]


async def test_long_replies_are_split_at_4096(kit: TelegramKit) -> None:
    long_text = " ".join(["palavra"] * 1500)
    kit.bot.reply = lambda m: [{"text": long_text, "buttons": [{"title": "Ok", "payload": "/affirm"}]}]
    await kit.post(message_update())
    await kit.settle()
    sent = kit.api.calls("sendMessage")
    assert len(sent) == 3
    assert all(len(s["text"]) <= TELEGRAM_LIMIT for s in sent)
    assert " ".join(s["text"] for s in sent) == long_text
    assert ["reply_markup" in s for s in sent] == [False, False, True]


@pytest.mark.parametrize(("extra", "kind"), [
    ({"voice": {"file_id": "v", "file_unique_id": "v", "duration": 3}}, "audio"),
    ({"photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]}, "image"),
    ({"document": {"file_id": "d", "file_unique_id": "d"}}, "document"),
    ({"location": {"latitude": -12.0, "longitude": -77.0}}, "location"),
    ({"contact": {"phone_number": "+51987654321", "first_name": "Rosa"}}, "contact"),
])
async def test_media_becomes_metadata_and_is_never_downloaded(kit: TelegramKit, extra: dict, kind: str) -> None:
    await kit.post(message_update(None, **extra))
    await kit.settle()
    assert kit.bot.received[0].text == ""
    assert kit.bot.received[0].metadata["media"] == kind
    assert kit.api.calls("getFile") == []


async def test_failure_is_retried_and_the_trouble_message_sent_once(kit: TelegramKit) -> None:
    kit.bot.failures = 3
    await kit.post(message_update("hola", language="es"))
    await kit.settle()
    for seconds in (20, 70, 400):
        kit.clock.advance(seconds=seconds)
        await kit.settle()
    texts = [s["text"] for s in kit.api.calls("sendMessage")]
    assert texts[0].startswith("Estamos teniendo problemas")
    assert texts[1:] == ["eco: hola"]
    assert kit.store.rows("SELECT status, attempts FROM inbox_messages")[0] == {"status": "done", "attempts": 3}


async def test_the_rate_limiter_waits_and_never_drops() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    limiter = RateLimiter(clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        await limiter.wait("chat-a")
    assert slept == [1.0, 2.0]
    slept.clear()
    for chat in range(31):
        await limiter.wait(f"chat-{chat}")
    assert len(slept) >= 1  # the 31st message in one second waits


def test_the_channel_is_off_without_its_variables() -> None:
    config = telegram_config({"TELEGRAM_BOT_TOKEN": TOKEN})
    assert not config.on
    assert "TELEGRAM_WEBHOOK_SECRET" in config.missing
    assert not TelegramInput(config).blueprint(BotDouble())._future_routes
    assert TelegramInput.name() == "telegram"


async def test_the_cli_registers_the_webhook_with_the_secret(
    telegram_api: FakeTelegram, monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET,
                        "TELEGRAM_API_BASE_URL": telegram_api.base_url}.items():
        monkeypatch.setenv(name, value)
    code = await asyncio.to_thread(set_webhook_main, ["--url", "https://bot.example.org" + HOOK])
    assert code == 0
    assert telegram_api.calls("setWebhook") == [{
        "url": "https://bot.example.org" + HOOK, "secret_token": SECRET,
        "allowed_updates": ["message", "callback_query"], "drop_pending_updates": False}]


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
                           max_leaves=20)
hostile = st.one_of(
    json_values,
    st.fixed_dictionaries({"update_id": json_values, "message": json_values}),
    st.fixed_dictionaries({"update_id": st.integers(), "callback_query": json_values}),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(update=hostile, secret=st.sampled_from([SECRET, "nope"]), raw=st.binary(max_size=100))
async def test_hostile_updates_never_crash_nor_store(kit: TelegramKit, update: Any, secret: str, raw: bytes) -> None:
    assert (await kit.post(update, secret=secret)).status_code < 500
    assert (await kit.post(raw, secret=secret)).status_code < 500
    assert kit.store.count("inbox_messages") == 0


async def test_a_429_from_telegram_is_waited_out_not_dropped(kit: TelegramKit) -> None:
    kit.api.fail_next = [(429, {"ok": False, "error_code": 429, "description": "Too Many Requests",
                                "parameters": {"retry_after": 0}})]
    await kit.post(message_update("olá"))
    await kit.settle()
    assert [c["text"] for c in kit.api.calls("sendMessage")] == ["eco: olá", "eco: olá"]  # refused, then sent
    assert [r.status for r in kit.api.requests] == [429, 200]
    assert kit.store.rows("SELECT status FROM inbox_messages") == [{"status": "done"}]


async def test_an_update_that_cannot_be_stored_is_refused_and_the_person_told_once(kit: TelegramKit) -> None:
    with kit.store.engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE inbox_messages RENAME TO inbox_away")  # the database fails
    update = message_update("olá")
    assert (await kit.post(update)).status_code == 503  # Telegram delivers it again later
    assert (await kit.post(update)).status_code == 503
    # Never silence, and true: the update is safe at Telegram until we accept it.
    assert kit.api.calls("sendMessage") == [{"chat_id": str(CHAT), "text": channel_text(TROUBLE, "pt")}]
    with kit.store.engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE inbox_away RENAME TO inbox_messages")
    assert (await kit.post(update)).status_code == 200
    await kit.settle()
    assert [m.text for m in kit.bot.received] == ["olá"]
    assert [c["text"] for c in kit.api.calls("sendMessage")] == [channel_text(TROUBLE, "pt"), "eco: olá"]
