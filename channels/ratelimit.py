"""Waits, never drops: keeps sends within a provider's per-chat and overall rates.

Telegram allows about one message per second in a chat and thirty per second overall,
per bot, whichever process sends. `wait(chat)` reserves the next slot that satisfies both
and sleeps until it; callers are served in the order they asked.

Two implementations with one rule:
- `RateLimiter` keeps the reservations in this process: right for `make run` (one Rasa
  process) and the fallback below.
- `RedisRateLimiter` keeps them in Redis (`REDIS_URL`, the production profile), so several
  Rasa replicas behind a load balancer share one budget per chat and one per bot. A Lua
  script reserves the slot atomically on Redis's clock (`TIME`), so replicas need neither
  synchronised clocks nor a lock; each replica reserves in its callers' order.

When Redis is unreachable the Redis limiter paces locally (one warning per outage, then
Redis is tried again every `retry_redis_after_s`). That is a deliberate choice: an
answer sent late, or not at all, because the pacing store is down is worse for the person
than an occasional 429 from Telegram, which the channel already honours (`retry_after`).
While Redis is down the rates hold per replica only.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from abc import ABC, abstractmethod
from bisect import bisect_right, insort
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

logger = logging.getLogger(__name__)

MAX_CHATS = 10_000
WINDOW_S = 1.0  # the overall rate is counted per second

Sleep = Callable[[float], Awaitable[object]]


class Limiter(ABC):
    """What the channels use: wait for the next slot of `chat`, never drop."""

    @abstractmethod
    async def wait(self, chat: str) -> None: ...


class RateLimiter(Limiter):
    """The per-process limiter (see the module docstring)."""

    def __init__(
        self, *, per_chat_interval_s: float = 1.0, overall_per_s: int = 30,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
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
            del self._reserved[:bisect_right(self._reserved, now - WINDOW_S)]
            while True:  # the second ending at `at` must have room for one more
                in_window = self._reserved[bisect_right(self._reserved, at - WINDOW_S):bisect_right(self._reserved, at)]
                if len(in_window) < self._overall:
                    break
                at = in_window[0] + WINDOW_S
            insort(self._reserved, at)
            self._chat_next.pop(chat, None)
            self._chat_next[chat] = at + self._interval
            while len(self._chat_next) > MAX_CHATS:
                self._chat_next.popitem(last=False)
        delay = at - self._clock()
        if delay > 0:
            await self._sleep(delay)


# KEYS[1] the chat's next free time, KEYS[2] the reserved send times (sorted set).
# ARGV[1] per-chat interval, ARGV[2] sends allowed per window, ARGV[3] window, ARGV[4] a
# unique member. Times in microseconds of Redis's clock. Returns {slot, now}.
# Numbers go back to Redis through %.0f: Lua 5.1 prints large numbers as 1.7e+15.
_RESERVE = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, overall, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local at = now
local chat_next = tonumber(redis.call('GET', KEYS[1]))
if chat_next and chat_next > at then at = chat_next end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.0f', now - window))
while true do
  local lo = '(' .. string.format('%.0f', at - window)
  local in_window = redis.call('ZRANGEBYSCORE', KEYS[2], lo, string.format('%.0f', at),
                               'WITHSCORES', 'LIMIT', 0, overall)
  if #in_window / 2 < overall then break end
  at = tonumber(in_window[2]) + window
end
redis.call('ZADD', KEYS[2], string.format('%.0f', at), ARGV[4])
local last = tonumber(redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')[2])
redis.call('PEXPIRE', KEYS[2], math.ceil((math.max(at, last) - now + window) / 1000) + 1000)
redis.call('SET', KEYS[1], string.format('%.0f', at + interval),
           'PX', math.ceil((at - now + interval) / 1000) + 1000)
return {string.format('%.0f', at), string.format('%.0f', now)}
"""


@dataclass(frozen=True)
class Slot:
    """A reserved send time on Redis's clock, and how long to wait for it from now."""

    at_s: float
    delay_s: float


class RedisRateLimiter(Limiter):
    """Rates shared by every process that uses the same Redis and key prefix (see above)."""

    def __init__(
        self, url: str, *, key_prefix: str = "oss:rate:", per_chat_interval_s: float = 1.0,
        overall_per_s: int = 30, socket_timeout_s: float = 0.5, retry_redis_after_s: float = 30.0,
        sleep: Sleep = asyncio.sleep, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.key_prefix = key_prefix
        self.interval_s = per_chat_interval_s
        self.overall_per_s = overall_per_s
        self.socket_timeout_s = socket_timeout_s
        self.retry_redis_after_s = retry_redis_after_s
        self._sleep = sleep
        self._clock = clock
        self.local = RateLimiter(per_chat_interval_s=per_chat_interval_s, overall_per_s=overall_per_s,
                                 clock=clock, sleep=sleep)
        self._clients: dict[int, aioredis.Redis] = {}
        self._order = asyncio.Lock()
        self._down_until: float | None = None  # set while Redis is unreachable

    @property
    def degraded(self) -> bool:
        """True while pacing is local because Redis could not be reached."""
        return self._down_until is not None

    # One client per event loop: redis.asyncio connections belong to the loop that made them.
    def _redis(self) -> aioredis.Redis:
        loop_id = id(asyncio.get_running_loop())
        client = self._clients.get(loop_id)
        if client is None:
            client = aioredis.Redis.from_url(
                self.url, socket_timeout=self.socket_timeout_s, socket_connect_timeout=self.socket_timeout_s,
                # One retry: after a Redis restart the pooled connection is dead, not Redis.
                retry=Retry(NoBackoff(), 1), retry_on_error=[redis.exceptions.ConnectionError],
            )
            self._clients[loop_id] = client
        return client

    def _keys(self, chat: str) -> tuple[str, str]:
        # A digest of what the channel passes (Telegram passes the pseudonymous sender id):
        # bounded key length, and never a raw chat id in Redis.
        digest = hashlib.blake2b(chat.encode(), digest_size=12, key=self.key_prefix.encode()[:64]).hexdigest()
        return f"{self.key_prefix}chat:{digest}", f"{self.key_prefix}sent"

    async def reserve(self, chat: str) -> Slot:
        """Reserve the next slot for `chat` in Redis; raises RedisError when unreachable."""
        chat_key, sent_key = self._keys(chat)
        at_us, now_us = await self._redis().eval(
            _RESERVE, 2, chat_key, sent_key, str(round(self.interval_s * 1e6)), str(self.overall_per_s),
            str(round(WINDOW_S * 1e6)), secrets.token_hex(8),
        )
        at, now = int(at_us) / 1e6, int(now_us) / 1e6
        return Slot(at, max(0.0, at - now))

    async def wait(self, chat: str) -> None:
        if self._down_until is not None and self._clock() < self._down_until:
            await self.local.wait(chat)
            return
        try:
            async with self._order:  # reservations leave this process in its callers' order
                slot = await self.reserve(chat)
        except (redis.exceptions.RedisError, OSError) as error:
            if self._down_until is None:
                logger.warning("rate limits: Redis unreachable (%s); pacing sends in this process only "
                               "until it is back", type(error).__name__)
            self._down_until = self._clock() + self.retry_redis_after_s
            await self.local.wait(chat)
            return
        if self._down_until is not None:
            logger.info("rate limits: Redis reachable again; pacing shared across processes")
            self._down_until = None
        if slot.delay_s > 0:
            await self._sleep(slot.delay_s)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close(close_connection_pool=True)
        self._clients.clear()


def rate_limiter(redis_url: str | None, *, scope: str, per_chat_interval_s: float = 1.0,
                 overall_per_s: int = 30) -> Limiter:
    """The limiter for one provider account (`scope`): shared through Redis when
    `redis_url` is set (production), per process otherwise (`make run`)."""
    if redis_url:
        return RedisRateLimiter(redis_url, key_prefix=f"oss:rate:{scope}:",
                                per_chat_interval_s=per_chat_interval_s, overall_per_s=overall_per_s)
    return RateLimiter(per_chat_interval_s=per_chat_interval_s, overall_per_s=overall_per_s)
