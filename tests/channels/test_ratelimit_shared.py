"""Send rates shared across Rasa replicas through Redis (channels/ratelimit.py).

Two `RedisRateLimiter` instances, each with its own Redis connection, stand for two
replicas. What is checked are the slots Redis reserved (on Redis's clock), never wall-clock
timings: per chat no two slots closer than the interval, and no window of one second with
more than the overall rate. The same check on two per-process limiters fails, which is why
the production profile needs the shared one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from channels.config import telegram_config
from channels.ratelimit import RateLimiter, RedisRateLimiter, Slot, rate_limiter
from channels.telegram_chat import TelegramInput
from devtools.services import RedisServer, ServiceUnavailable
from devtools.stack import free_port

pytestmark = pytest.mark.redis

MACHINE_REDIS = "redis://127.0.0.1:6379/0"
INTERVAL_S = 1.0
OVERALL = 30


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """The machine's Redis when it answers; otherwise a throwaway one (devtools.services)."""
    try:
        redis.Redis.from_url(MACHINE_REDIS, socket_connect_timeout=1).ping()
        yield MACHINE_REDIS
        return
    except redis.exceptions.RedisError:
        pass
    try:
        server = RedisServer()
        server.start()
    except (ServiceUnavailable, OSError, TimeoutError) as error:
        if os.environ.get("OSS_REQUIRE_SERVICES") == "1":  # CI: a skip would hide a failure
            raise
        pytest.skip(f"no Redis: {error}")
    yield server.url
    server.remove()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test alone (the machine's Redis is shared); removed afterwards."""
    value = f"oss:test-rate:{uuid.uuid4().hex}:"
    yield value
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{value}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
async def replicas(redis_url: str, prefix: str) -> AsyncIterator[tuple[RedisRateLimiter, RedisRateLimiter]]:
    made = tuple(RedisRateLimiter(redis_url, key_prefix=prefix, per_chat_interval_s=INTERVAL_S,
                                  overall_per_s=OVERALL) for _ in range(2))
    yield made  # type: ignore[misc]
    for limiter in made:
        await limiter.close()


def too_close(slots: list[tuple[str, float]], interval_s: float) -> list[tuple[str, float, float]]:
    """Pairs of slots for one chat closer than the interval (a little float slack)."""
    found = []
    for chat in {c for c, _ in slots}:
        times = sorted(at for c, at in slots if c == chat)
        found += [(chat, a, b) for a, b in zip(times, times[1:], strict=False) if b - a < interval_s - 1e-6]
    return found


def busiest_second(times: list[float]) -> int:
    """The most slots inside any half-open window (t - 1 s, t]."""
    ordered = sorted(times)
    return max(sum(1 for other in ordered if at - 1.0 + 1e-6 < other <= at) for at in ordered)


async def reserve_all(limiter: RedisRateLimiter, chats: list[str]) -> list[tuple[str, Slot]]:
    return [(chat, await limiter.reserve(chat)) for chat in chats]


async def test_two_replicas_never_reserve_one_chat_closer_than_the_interval(
    replicas: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    a, b = replicas
    chats = [f"person-{n % 3}" for n in range(12)]  # three people, four sends each per replica
    got = await asyncio.gather(reserve_all(a, chats), reserve_all(b, chats))
    slots = [(chat, slot.at_s) for replica in got for chat, slot in replica]
    assert len(slots) == 24
    assert too_close(slots, INTERVAL_S) == []
    # Each person's eight sends take eight distinct seconds, whichever replica sends.
    for person in ("person-0", "person-1", "person-2"):
        times = sorted(at for chat, at in slots if chat == person)
        assert times[-1] - times[0] >= 7 * INTERVAL_S - 1e-6


async def test_two_replicas_keep_the_overall_rate_together(
    replicas: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    a, b = replicas
    many = [f"person-{n}" for n in range(50)]  # 100 different people at once, 50 per replica
    got = await asyncio.gather(reserve_all(a, many), reserve_all(b, [f"other-{n}" for n in range(50)]))
    times = [slot.at_s for replica in got for _, slot in replica]
    assert busiest_second(times) <= OVERALL
    assert max(slot.delay_s for replica in got for _, slot in replica) > 0  # some had to wait


async def test_slots_follow_the_order_of_the_callers_in_one_replica(
    replicas: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    a, _ = replicas
    slots = await asyncio.gather(*(a.reserve("same-person") for _ in range(5)))
    assert [slot.at_s for slot in slots] == sorted(slot.at_s for slot in slots)


async def test_wait_sleeps_until_the_reserved_slot(redis_url: str, prefix: str) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    limiter = RedisRateLimiter(redis_url, key_prefix=prefix, per_chat_interval_s=INTERVAL_S, sleep=sleep)
    try:
        for _ in range(3):
            await limiter.wait("person")
    finally:
        await limiter.close()
    assert len(slept) == 2  # the first goes at once, the next ones wait for their second
    assert slept[1] > slept[0] > 0
    assert not limiter.degraded


def test_the_checks_catch_per_process_limiters_sharing_a_chat() -> None:
    """Two per-process limiters (what replicas had before) both send to one chat at once."""
    clock = [100.0]
    reserved: list[tuple[str, float]] = []

    async def run() -> None:
        for _ in range(2):  # two replicas, each with its own memory
            limiter = RateLimiter(clock=lambda: clock[0], sleep=lambda s: asyncio.sleep(0))
            await limiter.wait("person")
            reserved.append(("person", clock[0]))

    asyncio.run(run())
    assert too_close(reserved, INTERVAL_S) != []
    assert busiest_second([float(n) / 100 for n in range(31)]) == 31


async def test_redis_down_paces_locally_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    closed = f"redis://127.0.0.1:{free_port()}/0"
    limiter = RedisRateLimiter(closed, key_prefix="oss:test-rate:down:", per_chat_interval_s=INTERVAL_S,
                               sleep=sleep, retry_redis_after_s=0)  # try Redis again on every call
    with caplog.at_level(logging.WARNING, logger="channels.ratelimit"):
        for _ in range(3):
            await limiter.wait("person")  # never raises: the reply goes out, paced here
    await limiter.close()
    assert limiter.degraded
    assert len(slept) == 2
    assert all(s > 0 for s in slept)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "person" not in warnings[0].getMessage()


async def test_pacing_is_shared_again_once_redis_answers(redis_url: str, prefix: str) -> None:
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0", key_prefix=prefix,
                               sleep=lambda s: asyncio.sleep(0), retry_redis_after_s=0)
    await limiter.wait("person")
    assert limiter.degraded
    limiter.url = redis_url  # Redis is back (here: found at its address)
    limiter._clients.clear()
    await limiter.wait("person")
    assert not limiter.degraded
    await limiter.close()


def test_the_channel_shares_its_rates_when_redis_is_configured() -> None:
    base = {"TELEGRAM_BOT_TOKEN": "123456:ABCDEF", "TELEGRAM_WEBHOOK_SECRET": "s" * 20}
    shared = TelegramInput(telegram_config({**base, "REDIS_URL": MACHINE_REDIS})).limiter
    assert isinstance(shared, RedisRateLimiter)
    assert shared.key_prefix == "oss:rate:telegram:123456:"  # per bot: each bot has its own budget
    assert isinstance(TelegramInput(telegram_config(base)).limiter, RateLimiter)
    assert isinstance(rate_limiter(None, scope="x"), RateLimiter)
