"""Waits, never drops: keeps sends within a provider's per-chat and overall rates.

Telegram allows about one message per second in a chat and thirty per second overall.
`wait(chat)` reserves the next slot that satisfies both and sleeps until it; callers are
served in the order they asked.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_right, insort
from collections import OrderedDict
from collections.abc import Awaitable, Callable

MAX_CHATS = 10_000


class RateLimiter:
    def __init__(
        self, *, per_chat_interval_s: float = 1.0, overall_per_s: int = 30,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._interval = per_chat_interval_s
        self._overall = overall_per_s
        self._clock = clock
        self._sleep = sleep
        self._reserved: list[float] = []  # reserved send times, sorted, recent ones only
        self._chat_next: OrderedDict[str, float] = OrderedDict()
        self._lock = asyncio.Lock()

    async def wait(self, chat: str) -> None:
        async with self._lock:
            now = self._clock()
            at = max(now, self._chat_next.get(chat, now))
            del self._reserved[:bisect_right(self._reserved, now - 1.0)]
            while True:  # the second ending at `at` must have room for one more
                in_window = self._reserved[bisect_right(self._reserved, at - 1.0):bisect_right(self._reserved, at)]
                if len(in_window) < self._overall:
                    break
                at = in_window[0] + 1.0
            insort(self._reserved, at)
            self._chat_next.pop(chat, None)
            self._chat_next[chat] = at + self._interval
            while len(self._chat_next) > MAX_CHATS:
                self._chat_next.popitem(last=False)
        delay = at - self._clock()
        if delay > 0:
            await self._sleep(delay)
