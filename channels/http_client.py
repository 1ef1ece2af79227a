"""The channels' outbound HTTP: provider API calls and the action server's health check.

aiohttp rather than httpx because these calls run inside the Rasa process, in every
message's path, where CPU is what limits throughput: a local POST costs about 0.3 ms of
CPU with aiohttp against 0.9 ms with httpx (client and a local server together, measured
with 2,000 requests each), and httpx was about a tenth of a Rasa replica's profile at
saturation. Rasa itself calls the action server with aiohttp, so it adds no dependency.

One pooled session per channel, opened lazily in the running event loop (a session
belongs to the loop it was made in) and closed when the server stops.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

# What a caller catches as "the other side could not be reached in time".
HttpError = (aiohttp.ClientError, asyncio.TimeoutError)


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
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
            self._loop = loop
        return self._session

    async def get(self, url: str, *, timeout: float | None = None) -> Answer:
        return await self._request("GET", url, timeout=timeout)

    async def post(self, url: str, *, data: dict[str, str] | None = None, json: Any = None,
                   auth: tuple[str, str] | None = None, timeout: float | None = None) -> Answer:
        return await self._request("POST", url, data=data, json=json, timeout=timeout,
                                   auth=aiohttp.BasicAuth(*auth) if auth else None)

    async def _request(self, method: str, url: str, *, timeout: float | None, **options: Any) -> Answer:
        if timeout is not None:
            options["timeout"] = aiohttp.ClientTimeout(total=timeout)
        async with self._open().request(method, url, **options) as answer:
            return Answer(answer.status, await answer.read())

    @property
    def is_closed(self) -> bool:
        return self._session is None or self._session.closed

    async def close(self) -> None:
        """Close the session if it belongs to the running loop (another loop's is dropped)."""
        session, self._session = self._session, None
        if session is not None and not session.closed and self._loop is asyncio.get_running_loop():
            await session.close()
