"""Local stand-ins for the notification targets: an SMTP server, the Telegram Bot API, a webhook.

All listen on 127.0.0.1 on a free port and are started and stopped by fixtures.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from casework.notify import SIGNATURE_HEADER, verify


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeHttp:
    """Records every POST; answers with `status` (and Telegram's envelope when asked to)."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    status: int = 200
    telegram: bool = False
    secret: str | None = None  # webhook: verify X-OSS-Signature with this
    verified: list[bool] = field(default_factory=list)


@contextmanager
def fake_http(**options: Any) -> Iterator[FakeHttp]:
    state = FakeHttp(**options)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 -- the http.server API
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                state.requests.append(Recorded(self.path, dict(self.headers), body))
                if state.secret is not None:
                    state.verified.append(verify(body, state.secret, self.headers.get(SIGNATURE_HEADER)))
            if state.telegram and state.status == 200:
                sent = json.loads(body)
                answer = {"ok": True, "result": {"message_id": len(state.requests), "date": 0,
                                                 "chat": {"id": int(sent["chat_id"]), "type": "group"},
                                                 "text": sent["text"]}}
            elif state.telegram:
                answer = {"ok": False, "error_code": state.status, "description": "Bad Request: chat not found"}
            else:
                answer = {"received": state.status < 300}
            data = json.dumps(answer).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class FakeSmtp:
    host: str
    port: int
    messages: list[Any] = field(default_factory=list)


@contextmanager
def fake_smtp() -> Iterator[FakeSmtp]:
    port = free_port()
    state = FakeSmtp(host="127.0.0.1", port=port)

    class Handler:
        async def handle_DATA(self, _server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 -- aiosmtpd API
            state.messages.append(envelope)
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield state
    finally:
        controller.stop()
