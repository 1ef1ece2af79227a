"""No message lost, none answered twice: duplicates across two Rasa processes sharing the
database, and outages of the action server and of a Rasa process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from devtools.stack import free_port, wait_http
from tests.channels_e2e.conftest import (
    ChannelStack,
    new_chat,
    new_phone,
    telegram_callback,
    telegram_message,
    whatsapp_message,
)
from tests.channels_e2e.test_whatsapp_e2e import response_text

TROUBLE = "utter_channel_trouble"


@pytest.fixture(scope="module")
def replica(channels: ChannelStack) -> Iterator[str]:
    """A second Rasa server on the same tracker store and cases database."""
    port = free_port()
    proc = channels.stack.start_rasa("rasa-b", port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/", 240, proc)
        yield url
    finally:
        channels.stack.stop_process("rasa-b")


def user_texts(channels: ChannelStack, sender: str, base_url: str | None = None) -> list[str]:
    return [e["text"] for e in channels.tracker(sender, base_url)["events"] if e["event"] == "user"]


def failure_recorded(channels: ChannelStack, sender: str, timeout_s: float = 60) -> dict[str, Any]:
    """The sender's one inbox row, once a failed attempt is recorded on it."""
    deadline = time.monotonic() + timeout_s
    while True:
        [row] = channels.rows("SELECT status, attempts, last_error FROM inbox_messages WHERE sender_id = :s", s=sender)
        if row["last_error"] is not None or time.monotonic() > deadline:
            return row
        time.sleep(0.1)


def test_a_retry_delivered_to_two_rasa_processes_at_once_gets_one_reply(
    channels: ChannelStack, replica: str,
) -> None:
    phones = [new_phone() for _ in range(4)]
    messages = [whatsapp_message(phone, "gracias") for phone in phones]
    chats = [new_chat() for _ in range(4)]
    updates = [telegram_message(chat, "gracias") for chat in chats]
    with ThreadPoolExecutor(max_workers=8) as pool:
        calls = [pool.submit(channels.post_whatsapp, pairs, base_url=base)
                 for pairs in messages for base in (channels.stack.rasa_url, replica, replica)]
        calls += [pool.submit(channels.post_telegram, update, base_url=base)
                  for update in updates for base in (replica, channels.stack.rasa_url, channels.stack.rasa_url)]
        assert [call.result().status_code for call in calls] == [200] * len(calls)
    for phone, pairs in zip(phones, messages, strict=True):
        channels.wait_whatsapp(phone, 1)
        channels.post_whatsapp(whatsapp_message(phone, "muchas gracias"), base_url=replica)  # comes after
        assert [m["Body"] for m in channels.wait_whatsapp(phone, 2)] == [response_text("utter_youre_welcome", "es")] * 2
        assert len(channels.inbox(pairs[0][1])) == 1
        assert user_texts(channels, channels.sender_id("whatsapp", phone)) == ["gracias", "muchas gracias"]
    for chat in chats:
        channels.wait_telegram(chat, 1)
        channels.post_telegram(telegram_message(chat, "muchas gracias"))
        assert len(channels.wait_telegram(chat, 2)) == 2
        assert user_texts(channels, channels.sender_id("telegram", str(chat))) == ["gracias", "muchas gracias"]


def test_a_button_offered_by_one_process_is_understood_by_the_other(channels: ChannelStack, replica: str) -> None:
    phone, chat = new_phone(), new_chat()
    channels.post_whatsapp(whatsapp_message(phone, "hola"))
    channels.wait_whatsapp(phone, 2)
    channels.post_whatsapp(whatsapp_message(phone, "2"), base_url=replica)
    channels.wait_whatsapp(phone, 3)
    assert user_texts(channels, channels.sender_id("whatsapp", phone))[-1] == "/ask_eligibility"
    channels.post_telegram(telegram_message(chat, "hola"))
    _, menu = channels.wait_telegram(chat, 2)
    token = menu["reply_markup"]["inline_keyboard"][2][0]["callback_data"]
    channels.post_telegram(telegram_callback(chat, token), base_url=replica)
    channels.wait_telegram(chat, 3)
    assert user_texts(channels, channels.sender_id("telegram", str(chat)))[-1] == "/ask_qualification_recognition"


def test_with_the_action_server_down_the_message_waits_and_is_answered_once(
    channels: ChannelStack, replica: str,
) -> None:
    phone, chat = new_phone("+55"), new_chat()
    channels.stop_actions()
    try:
        channels.post_whatsapp(whatsapp_message(phone, "olá, bom dia"))
        channels.post_telegram(telegram_message(chat, "hola", language="es"))
        [trouble] = channels.wait_whatsapp(phone, 1)
        assert trouble["Body"] == response_text(TROUBLE, "pt", "channels.yml")
        [tg_trouble] = channels.wait_telegram(chat, 1)
        assert tg_trouble["text"] == response_text(TROUBLE, "es", "channels.yml")
        sender = channels.sender_id("whatsapp", phone)
        # The person is told first, then the failure is recorded.
        row = failure_recorded(channels, sender)
        assert row["status"] in ("pending", "processing")
        assert row["last_error"].startswith("actions_")
        assert user_texts(channels, sender) == []  # Rasa was not asked with its actions away
    finally:
        channels.start_actions()
    greeting, menu = (m["Body"] for m in channels.wait_whatsapp(phone, 3, timeout_s=180)[1:])
    assert greeting == response_text("utter_greet", "pt")
    assert menu.startswith("Como posso ajudar?")
    assert [s["text"] for s in channels.wait_telegram(chat, 3, timeout_s=180)][1] == response_text("utter_greet", "es")
    assert user_texts(channels, sender) == ["olá, bom dia"]
    assert channels.rows("SELECT status FROM inbox_messages WHERE sender_id = :s", s=sender) == [{"status": "done"}]
    assert len(channels.whatsapp_to(phone)) == 3  # trouble once, then the answer once


def test_a_message_stored_by_a_rasa_process_that_dies_is_answered_by_another(
    channels: ChannelStack, replica: str,
) -> None:
    phone = new_phone()
    channels.stop_actions()
    try:
        channels.post_whatsapp(whatsapp_message(phone, "muchas gracias"))  # to the first process
        channels.wait_whatsapp(phone, 1)  # "we are having trouble, your message is safe"
        channels.stack.stop_process("rasa")  # the process that stored it goes away
    finally:
        channels.start_actions()
    try:
        bodies = [m["Body"] for m in channels.wait_whatsapp(phone, 2, timeout_s=180)]
        assert bodies == [response_text(TROUBLE, "es", "channels.yml"), response_text("utter_youre_welcome", "es")]
        sender = channels.sender_id("whatsapp", phone)
        assert user_texts(channels, sender, replica) == ["muchas gracias"]
    finally:
        proc = channels.stack.start_rasa()
        wait_http(f"{channels.stack.rasa_url}/", 240, proc)
