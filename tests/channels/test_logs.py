"""No phone number, chat id or message text in the channels' logs, whatever happens.

Every path that logs is driven with a distinctive phone number, chat id and text, with the
capture at DEBUG for every logger (ours and the libraries'): success, Rasa down, the
provider's API refusing with an error that echoes the recipient, the 24-hour refusal,
status callbacks, a lost handle.
"""

# The fixtures imported from tests.channels.kits are test parameters here, which ruff reads as redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import logging

import pytest

from tests.channels.kits import tg, wa  # noqa: F401 - shared fixtures
from tests.channels.test_telegram import TelegramKit, message_update
from tests.channels.test_whatsapp import PUBLIC, SID, WhatsAppKit, inbound

PHONE = "+34699887766"
CHAT = 555123987
TEXT = "me llamo Xiomara y vivo en Badalona"
SECRETS = (PHONE, PHONE[1:], "699887766", "699 887 766", str(CHAT), "Xiomara", "Badalona")


def assert_clean(caplog: pytest.LogCaptureFixture) -> None:
    logged = caplog.text + " ".join(str(record.args) for record in caplog.records)
    assert caplog.records, "nothing was logged: the check would prove nothing"
    for secret in SECRETS:
        assert secret not in logged, secret


async def test_whatsapp_logs_no_phone_and_no_text(wa: WhatsAppKit, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wa.bot.failures = 1  # Rasa down once
    wa.api.fail_next = [(400, {"code": 21211, "message": f"The 'To' number whatsapp:{PHONE} is not valid"})] * 3
    assert (await wa.post(inbound(TEXT, sid="SM" + "7" * 32, phone=PHONE))).status_code == 200
    await wa.settle()
    for _ in range(4):
        wa.clock.advance(seconds=200)
        await wa.settle()
    status = [("AccountSid", SID), ("MessageSid", "SM" + "8" * 32), ("MessageStatus", "undelivered"),
              ("To", f"whatsapp:{PHONE}"), ("ErrorCode", "63016")]
    path = "/webhooks/whatsapp/status"
    assert (await wa.post(status, url=PUBLIC + path, path=path)).status_code == 200
    # A message that arrives after the 24-hour window closed: the refusal is logged.
    assert (await wa.post(inbound(TEXT, sid="SM" + "6" * 32, phone=PHONE))).status_code == 200
    wa.clock.advance(hours=25)
    await wa.settle()
    assert len(wa.bot.received) >= 1
    assert_clean(caplog)


async def test_telegram_logs_no_chat_id_and_no_text(tg: TelegramKit, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tg.bot.failures = 1
    tg.api.fail_next = [(400, {"ok": False, "error_code": 400, "description": f"Bad Request: chat {CHAT} not found"})] * 3
    update = message_update(TEXT)
    update["message"]["chat"]["id"] = CHAT
    update["message"]["from"]["id"] = CHAT
    assert (await tg.post(update)).status_code == 200
    await tg.settle()
    for _ in range(4):
        tg.clock.advance(seconds=200)
        await tg.settle()
    assert (await tg.post(b"{not json")).status_code in (200, 400)
    assert len(tg.bot.received) >= 1
    assert_clean(caplog)


def test_httpx_request_urls_are_not_logged_at_info() -> None:
    """Telegram's API URLs carry the bot token; httpx would log them at INFO."""
    import logging

    import casework.notify  # noqa: F401 - importing sets the level
    import channels.telegram_chat  # noqa: F401

    # Its own level, not the effective one: Rasa sets the root logger to INFO.
    assert logging.getLogger("httpx").level >= logging.WARNING
