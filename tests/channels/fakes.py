"""Fake Twilio REST API and Telegram Bot API on 127.0.0.1: record every request, answer like the real ones."""

from __future__ import annotations

import itertools
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web


@dataclass
class Recorded:
    method: str
    path: str
    form: dict[str, str] = field(default_factory=dict)
    json: Any = None
    authorization: str = ""


class FakeApi(ABC):
    """An aiohttp server in the test's event loop; `fail_next` makes the next calls fail."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.fail_next: list[tuple[int, dict[str, Any]]] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._ids = itertools.count(1)

    async def start(self) -> FakeApi:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        record = Recorded(request.method, request.path, authorization=request.headers.get("Authorization", ""))
        if request.content_type == "application/json":
            record.json = json.loads(raw or b"null")
        else:
            record.form = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        self.requests.append(record)
        if self.fail_next:
            status, body = self.fail_next.pop(0)
            return web.json_response(body, status=status)
        return self.answer(record)

    @abstractmethod
    def answer(self, record: Recorded) -> web.Response:
        """The provider's reply to one recorded request."""


class FakeTwilio(FakeApi):
    def answer(self, record: Recorded) -> web.Response:
        if not record.path.endswith("/Messages.json") or record.method != "POST":
            return web.json_response({"code": 20404, "message": "not found", "status": 404}, status=404)
        sid = f"SM{next(self._ids):032x}"
        return web.json_response({
            "sid": sid, "status": "queued", "from": record.form.get("From"), "to": record.form.get("To"),
            "body": record.form.get("Body"), "num_media": "1" if "MediaUrl" in record.form else "0",
        }, status=201)

    def messages(self) -> list[dict[str, str]]:
        return [r.form for r in self.requests if r.path.endswith("/Messages.json")]


class FakeTelegram(FakeApi):
    def answer(self, record: Recorded) -> web.Response:
        method = record.path.rsplit("/", 1)[-1]
        body = record.json or {}
        if method in ("sendMessage", "sendPhoto"):
            return web.json_response({"ok": True, "result": {
                "message_id": next(self._ids), "date": 1_700_000_000,
                "chat": {"id": int(body.get("chat_id", 0)), "type": "private"}, "text": body.get("text", ""),
            }})
        if method in ("answerCallbackQuery", "setWebhook"):
            return web.json_response({"ok": True, "result": True})
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    def calls(self, method: str) -> list[Any]:
        return [r.json for r in self.requests if r.path.endswith("/" + method)]
