"""The channels' outbound HTTP: provider API calls and the action server's health check.

aiohttp rather than httpx because these calls run inside the Rasa process, in every
message's path, where CPU is what limits throughput: a local POST costs about 0.3 ms of
CPU with aiohttp against 0.9 ms with httpx (client and a local server together, measured
with 2,000 requests each), and httpx was about a tenth of a Rasa replica's profile at
saturation. Rasa itself calls the action server with aiohttp, so it adds no dependency.

One pooled session per channel, opened lazily in the running event loop (a session
belongs to the loop it was made in) and closed when the server stops. Idle connections
are dropped after KEEPALIVE_S, sooner than the servers drop them (the action server,
Sanic, after 5 s): reusing a connection the server is closing fails the request. A GET
(the health check) that meets such a connection anyway is sent once more on a new one;
a POST is not (the provider may have acted on it: the worker's retry decides).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

# What a caller catches as "the other side could not be reached in time".
HttpError = (aiohttp.ClientError, asyncio.TimeoutError)
KEEPALIVE_S = 3.0
# The server closed a kept-alive connection as the request went out.
_CLOSED_UNDER_US = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


@dataclass(frozen=True)
class Answer:
    """A read response: status and body (the callers look at nothing else)."""

    status_code: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpClient:
    """A small pooled client with the calls the channels make."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S),
            )
            self._loop = loop
        return self._session

    async def get(self, url: str, *, timeout: float | None = None) -> Answer:
        try:
            return await self._request("GET", url, timeout=timeout)
        except _CLOSED_UNDER_US:
            return await self._request("GET", url, timeout=timeout, fresh=True)

    async def post(self, url: str, *, data: dict[str, str] | None = None, json: Any = None,
                   auth: tuple[str, str] | None = None, timeout: float | None = None) -> Answer:
        return await self._request("POST", url, data=data, json=json, timeout=timeout,
                                   auth=aiohttp.BasicAuth(*auth) if auth else None)

    async def _request(self, method: str, url: str, *, timeout: float | None, fresh: bool = False,
                       **options: Any) -> Answer:
        if timeout is not None:
            options["timeout"] = aiohttp.ClientTimeout(total=timeout)
        if fresh:  # on a connection of its own, closed after this request
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                                             connector=aiohttp.TCPConnector(force_close=True)) as session:
                async with session.request(method, url, **options) as answer:
                    return Answer(answer.status, await answer.read())
        async with self._open().request(method, url, **options) as answer:
            return Answer(answer.status, await answer.read())

    async def close(self) -> None:
        """Close the session if it belongs to the running loop (another loop's is dropped)."""
        session, self._session = self._session, None
        if session is not None and not session.closed and self._loop is asyncio.get_running_loop():
            await session.close()
