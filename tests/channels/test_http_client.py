"""The channels' HTTP client against servers that close kept-alive connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from channels.http_client import KEEPALIVE_S, HttpClient

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"


class ClosingServer:
    """Answers the first request on each connection and drops the connection, without a
    word, when a second request arrives on it: a keep-alive timeout at the worst moment."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = False
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                break
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            self.requests.append(head.split(b"\r\n")[0] + (await reader.readexactly(length) if length else b""))
            if answered:
                break
            writer.write(OK)
            await writer.drain()
            answered = True
        writer.close()


@pytest.fixture
async def server() -> AsyncIterator[tuple[ClosingServer, str]]:
    closing = ClosingServer()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await closing.handle(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    yield closing, f"http://127.0.0.1:{port}"
    listener.close()
    await listener.wait_closed()


async def test_a_health_check_on_a_connection_closing_under_it_is_asked_again(server: tuple[ClosingServer, str]) -> None:
    closing, url = server
    client = HttpClient(5.0)
    try:
        assert (await client.get(url + "/health")).status_code == 200
        answer = await client.get(url + "/health")  # the kept connection is dropped: asked again on a new one
        assert answer.status_code == 200
        assert answer.json() == {"ok": True}
        assert closing.connections == 2
    finally:
        await client.close()


async def test_a_send_is_not_repeated_when_its_connection_drops(server: tuple[ClosingServer, str]) -> None:
    """The provider may have acted on it: the inbox worker's retry decides, not the client."""
    closing, url = server
    client = HttpClient(5.0)
    try:
        assert (await client.post(url + "/send", json={"n": 1})).status_code == 200
        with pytest.raises(aiohttp.ClientError):
            await client.post(url + "/send", json={"n": 2})
        assert sum(b"/send" in request for request in closing.requests) == 2
    finally:
        await client.close()


def test_idle_connections_are_dropped_before_the_action_server_drops_them() -> None:
    assert KEEPALIVE_S < 5.0  # Sanic's keep-alive timeout (the action server)
