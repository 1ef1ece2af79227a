"""Channel test kit: a migrated SQLite inbox, a settable clock, a bot double, fake provider APIs."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import sanic
from rasa.core.channels.channel import UserMessage
from sqlalchemy import text

from casework.db import make_engine, upgrade
from casework.privacy import FieldCipher
from channels.config import CaseStore
from tests.channels.fakes import FakeTelegram, FakeTwilio

sanic.Sanic.test_mode = True
START = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class BotDouble:
    """Plays Rasa: records each UserMessage and puts `reply(message)` into the collector."""

    reply: Callable[[UserMessage], list[dict[str, Any]]] = lambda m: [{"text": f"eco: {m.text}"}]
    received: list[UserMessage] = field(default_factory=list)
    failures: int = 0  # raise this many times first (Rasa down)

    async def __call__(self, message: UserMessage) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("rasa is down")
        self.received.append(message)
        for answer in self.reply(message):
            await message.output_channel.send_response(message.sender_id, dict(answer))


@dataclass
class Store:
    url: str
    engine: Any
    cipher: FieldCipher
    case_store: CaseStore

    def rows(self, sql: str) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(text(sql)).mappings()]

    def count(self, table: str) -> int:
        return int(self.rows(f"SELECT count(*) AS n FROM {table}")[0]["n"])  # noqa: S608 - test table names


@pytest.fixture
def store(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    upgrade(url)
    engine = make_engine(url)
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    yield Store(url, engine, FieldCipher([key]), CaseStore(url, (key,), secrets.token_hex(16)))
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bot() -> BotDouble:
    return BotDouble()


@pytest.fixture
async def twilio_api() -> AsyncIterator[FakeTwilio]:
    api = await FakeTwilio().start()
    yield api
    await api.stop()


@pytest.fixture
async def telegram_api() -> AsyncIterator[FakeTelegram]:
    api = await FakeTelegram().start()
    yield api
    await api.stop()


async def serve(channel: Any, on_new_message: Any) -> tuple[sanic.Sanic, httpx.AsyncClient]:
    """The channel's blueprint in a Sanic app, and an HTTP client that reaches it (ASGI)."""
    app = sanic.Sanic(f"test_{secrets.token_hex(4)}")
    app.blueprint(channel.blueprint(on_new_message))

    async def root(request: Any) -> Any:  # Rasa's own routes; an app with no route cannot start
        return sanic.response.text("ok")

    app.add_route(root, "/")
    await app._startup()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:5005")
    return app, client
