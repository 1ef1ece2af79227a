"""Outgoing HTTP requests leave in one socket write, and still arrive whole.

`install_single_write_requests` holds aiohttp's request head until the body is written
(bot/stores/speedups.py, item 6). These tests count the client's socket writes against a
plain asyncio HTTP server on 127.0.0.1 and check what the server received.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import http_writer
from aiohttp.client_proto import ResponseHandler

from bot.stores.speedups import install_single_write_requests


class RecordingServer:
    """Answers every request `200 ok` (keep-alive), and `100 Continue` when asked to."""

    def __init__(self) -> None:
        self.requests: list[tuple[bytes, bytes]] = []
        self.port = 0
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = head.decode("latin-1").lower()
                length = 0
                for line in headers.split("\r\n"):
                    if line.startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                if "expect: 100-continue" in headers:
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = await reader.readexactly(length) if length else b""
                self.requests.append((head, body))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[RecordingServer]:
    recording = RecordingServer()
    await recording.start()
    yield recording
    await recording.stop()


class CountingTransport:
    """The client connection's transport, counting its non-empty writes (any event loop)."""

    def __init__(self, transport: Any, counted: list[int]) -> None:
        self._transport = transport
        self._counted = counted

    def write(self, data: Any) -> None:
        if data:
            self._counted[0] += 1
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


@pytest.fixture
def client_writes(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """How many non-empty socket writes aiohttp's client connections made."""
    counted = [0]
    original = ResponseHandler.connection_made

    def connection_made(self: ResponseHandler, transport: Any) -> None:
        original(self, CountingTransport(transport, counted))

    monkeypatch.setattr(ResponseHandler, "connection_made", connection_made)
    return lambda: counted[0]


@pytest.fixture(autouse=True)
def installed() -> None:
    install_single_write_requests()


async def test_a_json_post_leaves_in_one_write_and_arrives_whole(
        server: RecordingServer, client_writes: Callable[[], int]) -> None:
    payload = {"next_action": "action_answer", "tracker": {"sender_id": "x", "events": [{"event": "user"}] * 20}}
    async with aiohttp.ClientSession() as session, \
            session.post(f"http://127.0.0.1:{server.port}/webhook", json=payload) as reply:
        assert await reply.text() == "ok"
    assert client_writes() == 1
    head, body = server.requests[0]
    assert head.startswith(b"POST /webhook HTTP/1.1\r\n")
    assert json.loads(body) == payload


async def test_a_get_leaves_in_one_write(server: RecordingServer, client_writes: Callable[[], int]) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(3):  # on one kept-alive connection
            async with session.get(f"http://127.0.0.1:{server.port}/health") as reply:
                assert reply.status == 200
    assert client_writes() == 3
    assert [head.split(b"\r\n")[0] for head, _ in server.requests] == [b"GET /health HTTP/1.1"] * 3


async def test_a_large_body_arrives_whole(server: RecordingServer) -> None:
    body = bytes(range(256)) * 1024  # 256 KiB: several writes and drains
    async with aiohttp.ClientSession() as session, \
            session.post(f"http://127.0.0.1:{server.port}/upload", data=body) as reply:
        assert reply.status == 200
    assert server.requests[0][1] == body


async def test_a_request_that_waits_for_100_continue_still_sends_its_head(server: RecordingServer) -> None:
    async with aiohttp.ClientSession() as session:
        request = session.post(f"http://127.0.0.1:{server.port}/upload", data=b"x" * 100, expect100=True)
        async with await asyncio.wait_for(request, 10) as reply:
            assert reply.status == 200
    head, body = server.requests[0]
    assert b"expect: 100-continue" in head.lower()
    assert body == b"x" * 100


async def test_without_the_patch_a_post_takes_two_writes(
        server: RecordingServer, client_writes: Callable[[], int], monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: what the counting above would see with aiohttp 3.9's own writer."""
    writer_class = http_writer.StreamWriter
    for name in ("write_headers", "_write", "drain"):
        monkeypatch.setattr(writer_class, name, getattr(writer_class, name)._oss_original)
    async with aiohttp.ClientSession() as session, \
            session.post(f"http://127.0.0.1:{server.port}/webhook", json={"a": 1}) as reply:
        assert reply.status == 200
    assert client_writes() == 2
