"""A proxy on 127.0.0.1 in front of the action server that can hold its answers back.

The fault tests point the Rasa replicas' ACTION_SERVER_URL here. `slow(seconds)` makes
every /webhook answer (the action server still runs the action at once) arrive that much
later, as an overloaded action server would; `fast()` lets held answers go. /health is
always passed through at once: the action server is slow, not down. `held_from()` says
which local ports of Rasa's connections are waiting, so a test can tell which replica is
in the middle of a turn.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import aiohttp
from aiohttp import web


class SlowActionProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.base_url = ""
        self.delay_s = 0.0
        self._held: dict[int, int] = {}  # request number -> the Rasa connection's port
        self._lock = threading.Lock()
        self._count = 0
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: asyncio.Event | None = None

    # --- FakeProviders protocol (start/stop on its loop) ---------------------------------
    async def start(self, port: int = 0) -> SlowActionProxy:
        self._loop = asyncio.get_running_loop()
        self._release = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.base_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self.fast()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- test controls (any thread) ---------------------------------------------------------
    def slow(self, seconds: float) -> None:
        assert self._loop is not None  # noqa: S101 - start() ran
        assert self._release is not None  # noqa: S101
        self.delay_s = seconds
        self._loop.call_soon_threadsafe(self._release.clear)

    def fast(self) -> None:
        self.delay_s = 0.0
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)

    def held_from(self) -> list[int]:
        with self._lock:
            return list(self._held.values())

    # --- the proxy ------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "content-encoding")}
        async with aiohttp.ClientSession() as session, session.request(
            request.method, self.upstream + request.path_qs, data=body, headers=headers,
        ) as answer:
            payload, status = await answer.read(), answer.status
            content_type = answer.headers.get("Content-Type", "application/json")
        if request.path.endswith("/webhook") and self.delay_s > 0:
            await self._hold(request)
        return web.Response(body=payload, status=status, headers={"Content-Type": content_type})

    async def _hold(self, request: web.Request) -> None:
        assert self._release is not None  # noqa: S101
        peer: Any = request.transport.get_extra_info("peername") if request.transport else None
        with self._lock:
            self._count += 1
            number = self._count
            self._held[number] = int(peer[1]) if peer else 0
        try:
            await asyncio.wait_for(self._release.wait(), self.delay_s)
        except asyncio.TimeoutError:
            pass
        finally:
            with self._lock:
                self._held.pop(number, None)
