"""Fake Twilio REST API and Telegram Bot API on 127.0.0.1, for tests and `make simulate`.

They record every request and answer like the real APIs do, including the refusals a
channel must handle: wrong credentials (401), a WhatsApp body over 1,600 characters
(Twilio error 21617), a malformed template ContentSid (21655), a Telegram text over 4,096
characters or callback data over 64 bytes (400). `fail_next` makes the next calls fail (an outage). The fake Twilio can also
call the message's `StatusCallback` back, signed like Twilio does ("sent", "delivered").

Tests in the same event loop use `await api.start()`; synchronous callers (the end-to-end
tests, `make simulate`) run them on a background loop with `FakeProviders`.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl

import httpx
from aiohttp import web
from twilio.request_validator import RequestValidator

TWILIO_BODY_LIMIT = 1600
CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
TELEGRAM_TEXT_LIMIT = 4096
TELEGRAM_CALLBACK_DATA_BYTES = 64


@dataclass
class Recorded:
    """One request a fake API received, as the provider would have seen it."""

    method: str
    path: str
    form: dict[str, str] = field(default_factory=dict)
    json: Any = None
    authorization: str = ""
    at: float = 0.0  # time.monotonic() on arrival
    status: int = 0  # what the fake answered


class FakeApi(ABC):
    """An aiohttp server that records requests; thread-safe to read from another thread."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.fail_next: list[tuple[int, dict[str, Any]]] = []
        self.listeners: list[Callable[[Recorded], None]] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._ids = itertools.count(1)
        self._changed = threading.Condition()

    async def start(self, port: int = 0) -> FakeApi:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{bound}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        record = Recorded(request.method, request.path, authorization=request.headers.get("Authorization", ""),
                          at=time.monotonic())
        if request.content_type == "application/json":
            try:
                record.json = json.loads(raw or b"null")
            except ValueError:
                record.json = None
        else:
            record.form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        with self._changed:
            failure = self.fail_next.pop(0) if self.fail_next else None
        answer = web.json_response(failure[1], status=failure[0]) if failure else self.answer(record)
        record.status = answer.status
        with self._changed:
            self.requests.append(record)
            self._changed.notify_all()
        for listener in list(self.listeners):
            listener(record)
        if failure is None and answer.status < 300:
            self.after(record)
        return answer

    def snapshot(self) -> list[Recorded]:
        with self._changed:
            return list(self.requests)

    def clear(self) -> None:
        with self._changed:
            self.requests.clear()

    def wait_until(self, ready: Callable[[list[Recorded]], bool], timeout_s: float = 60.0) -> list[Recorded]:
        """Block (from another thread) until `ready(requests)`; the requests, or TimeoutError."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not ready(list(self.requests)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{type(self).__name__}: condition not met in {timeout_s:.0f}s; "
                                       f"{len(self.requests)} requests recorded")
                self._changed.wait(min(left, 0.5))
            return list(self.requests)

    def after(self, record: Recorded) -> None:  # noqa: B027 - optional hook
        """What the provider does after answering (e.g. a status callback); nothing by default."""

    @abstractmethod
    def answer(self, record: Recorded) -> web.Response:
        """The provider's reply to one recorded request."""


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class FakeTwilio(FakeApi):
    """Twilio's Messages API; `account_sid`/`auth_token` given: other credentials get 401."""

    def __init__(self, account_sid: str | None = None, auth_token: str | None = None,
                 status_callbacks: bool = False) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.status_callbacks = status_callbacks
        self.callbacks_answered: list[int] = []  # HTTP status of each status callback we made
        self._tasks: set[asyncio.Task[None]] = set()

    def answer(self, record: Recorded) -> web.Response:
        if not record.path.endswith("/Messages.json") or record.method != "POST":
            return web.json_response({"code": 20404, "message": "not found", "status": 404}, status=404)
        if self.account_sid and self.auth_token:
            expected_path = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
            if record.authorization != basic_auth(self.account_sid, self.auth_token) or record.path != expected_path:
                return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        body = record.form.get("Body", "")
        content_sid = record.form.get("ContentSid")
        if content_sid is not None and not CONTENT_SID.fullmatch(content_sid):
            return web.json_response({"code": 21655, "message": "The ContentSid is Invalid", "status": 400},
                                     status=400)
        if len(body) > TWILIO_BODY_LIMIT:
            return web.json_response({"code": 21617, "message": "The concatenated message body exceeds the "
                                      "1600 character limit", "status": 400}, status=400)
        if not body and not record.form.get("MediaUrl") and not content_sid:  # a template needs no Body
            return web.json_response({"code": 21602, "message": "Message body is required", "status": 400},
                                     status=400)
        sid = f"SM{next(self._ids):032x}"
        record.form.setdefault("_sid", sid)
        return web.json_response({
            "sid": sid, "status": "queued", "from": record.form.get("From"), "to": record.form.get("To"),
            "body": body, "num_media": "1" if "MediaUrl" in record.form else "0",
        }, status=201)

    def messages(self) -> list[dict[str, str]]:
        """The form of every accepted or refused message create, without the fake's own keys."""
        return [{k: v for k, v in r.form.items() if not k.startswith("_")}
                for r in self.snapshot() if r.path.endswith("/Messages.json")]

    def after(self, record: Recorded) -> None:
        callback = record.form.get("StatusCallback")
        if self.status_callbacks and callback and self.auth_token:
            task = asyncio.get_running_loop().create_task(self._report(record, callback))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _report(self, record: Recorded, url: str) -> None:
        validator = RequestValidator(self.auth_token or "")
        async with httpx.AsyncClient(timeout=10) as client:
            for state in ("sent", "delivered"):
                form = {"AccountSid": self.account_sid or "", "MessageSid": record.form["_sid"],
                        "MessageStatus": state, "To": record.form.get("To", ""), "From": record.form.get("From", ""),
                        "ApiVersion": "2010-04-01", "ErrorCode": ""}
                headers = {"X-Twilio-Signature": validator.compute_signature(url, form)}
                try:
                    answer = await client.post(url, data=form, headers=headers)
                    self.callbacks_answered.append(answer.status_code)
                except httpx.HTTPError:
                    self.callbacks_answered.append(0)


class FakeTelegram(FakeApi):
    """The Bot API; `bot_token` given: another token gets 401, like Telegram."""

    def __init__(self, bot_token: str | None = None) -> None:
        super().__init__()
        self.bot_token = bot_token

    def answer(self, record: Recorded) -> web.Response:
        token, _, method = record.path.removeprefix("/bot").partition("/")
        if self.bot_token and token != self.bot_token:
            return _telegram_error(401, "Unauthorized")
        body = record.json if isinstance(record.json, dict) else {}
        if method in ("sendMessage", "sendPhoto"):
            text = str(body.get("text", ""))
            if method == "sendMessage" and not text.strip():
                return _telegram_error(400, "Bad Request: message text is empty")
            if len(text.encode("utf-16-le")) // 2 > TELEGRAM_TEXT_LIMIT:
                return _telegram_error(400, "Bad Request: message is too long")
            for row in (body.get("reply_markup") or {}).get("inline_keyboard") or []:
                for button in row:
                    if len(str(button.get("callback_data", "")).encode()) > TELEGRAM_CALLBACK_DATA_BYTES:
                        return _telegram_error(400, "Bad Request: BUTTON_DATA_INVALID")
            return web.json_response({"ok": True, "result": {
                "message_id": next(self._ids), "date": int(time.time()),
                "chat": {"id": _int(body.get("chat_id")), "type": "private"}, "text": text,
            }})
        if method in ("answerCallbackQuery", "setWebhook", "deleteWebhook"):
            return web.json_response({"ok": True, "result": True})
        return _telegram_error(404, "Not Found")

    def calls(self, method: str) -> list[Any]:
        return [r.json for r in self.snapshot() if r.path.endswith("/" + method)]


def _telegram_error(code: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": code, "description": description}, status=code)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class LocalServer(Protocol):
    """What FakeProviders runs: a fake API, or any local server started on its loop."""

    async def start(self, port: int = 0) -> Any: ...

    async def stop(self) -> None: ...


class FakeProviders:
    """Runs fake APIs (or other local servers) on a background event loop, for callers that are not async."""

    def __init__(self, *apis: LocalServer) -> None:
        self.apis = apis
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-providers", daemon=True)

    def __enter__(self) -> FakeProviders:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()
        for api in self.apis:
            asyncio.run_coroutine_threadsafe(api.start(), self._loop).result(timeout=30)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        for api in self.apis:
            asyncio.run_coroutine_threadsafe(api.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
