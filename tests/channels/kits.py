"""The WhatsApp and Telegram channels wired to the local fakes, as fixtures several test modules share.

Import the fixtures (`from tests.channels.kits import tg, wa`) where a module needs both channels.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from channels.whatsapp import WhatsAppInput
from channels.worker import InboxWorker
from tests.channels.conftest import BotDouble, Clock, Store, serve
from tests.channels.fakes import FakeTelegram, FakeTwilio
from tests.channels.test_telegram import TelegramKit, telegram_kit
from tests.channels.test_whatsapp import WhatsAppKit, config


@pytest.fixture
async def wa(store: Store, twilio_api: FakeTwilio, bot: BotDouble, clock: Clock) -> AsyncIterator[WhatsAppKit]:
    worker = InboxWorker(store.engine, store.cipher, clock=clock, poll_s=0.05)
    channel = WhatsAppInput(config(store, twilio_api), engine=store.engine, cipher=store.cipher, worker=worker, clock=clock)
    _, client = await serve(channel, bot)
    yield WhatsAppKit(channel, client, twilio_api, store, bot, clock)
    await worker.stop()
    await client.aclose()
    await channel.close()


@pytest.fixture
async def tg(store: Store, telegram_api: FakeTelegram, bot: BotDouble, clock: Clock) -> AsyncIterator[TelegramKit]:
    async with telegram_kit(store, telegram_api, bot, clock) as built:
        yield built
