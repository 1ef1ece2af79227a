"""A Redis lock store that holds across Rasa replicas: one turn per person at a time.

Rasa 3.6's `RedisLockStore` keeps a JSON list of tickets under one key and changes it
by GET, modify in Python, SET. Two replicas that issue a ticket for the same person at
the same moment both read the same list and both write ticket 0: both believe they hold
the lock and run the turn concurrently (tests/production/test_locks.py shows it). Its
tickets also expire after a fixed lifetime (60 s) whether or not the turn is still
running, and its wait loop polls once a second.

`FairRedisLockStore` does each step atomically in Redis (Lua scripts):
- a waiter appends a random token to the person's queue (a Redis list) and keeps a
  heartbeat key `<token>` alive with a short expiry (SET ... PX), renewed while it waits
  and while it works;
- the lock belongs to the token at the head of the queue (first come, first served, so
  a person's messages are answered in the order they arrived);
- a head whose heartbeat has expired (its replica died) is dropped by the next waiter;
- release removes only its own token (compare-and-delete), so a slow holder can never
  delete someone else's lock.
Redis being unreachable raises `LockError`: the turn fails loudly instead of running
unlocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncGenerator
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LockError, LockStore
from rasa.utils.endpoints import EndpointConfig
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

logger = logging.getLogger(__name__)

# KEYS[1] queue, ARGV[1] token, ARGV[2] heartbeat prefix.
# 1: token is at the head (lock held); 0: wait; -1: token is not queued (it expired).
_TRY_ACQUIRE = """
for _ = 1, 64 do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head then return -1 end
  if head == ARGV[1] then return 1 end
  if redis.call('EXISTS', ARGV[2] .. head) == 1 then
    if redis.call('LPOS', KEYS[1], ARGV[1]) then return 0 end
    return -1
  end
  redis.call('LREM', KEYS[1], 1, head)
end
return 0
"""

# KEYS[1] queue, KEYS[2] heartbeat; ARGV[1] token, ARGV[2] ttl ms, ARGV[3] queue ttl ms.
# Idempotent, so a retried call (reply lost on a broken connection) queues the token once.
_ENQUEUE = """
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
if not redis.call('LPOS', KEYS[1], ARGV[1]) then
  redis.call('RPUSH', KEYS[1], ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS[1] queue, KEYS[2] heartbeat; ARGV[1] ttl ms, ARGV[2] queue ttl ms.
# 1 renewed; 0 the heartbeat had already expired (ownership may be lost).
_RENEW = """
if redis.call('SET', KEYS[2], '1', 'PX', ARGV[1], 'XX') then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS[1] queue, KEYS[2] heartbeat; ARGV[1] token. Removes only this token.
_RELEASE = """
redis.call('DEL', KEYS[2])
return redis.call('LREM', KEYS[1], 1, ARGV[1])
"""


class FairRedisLockStore(LockStore):
    """FIFO per-person lock in Redis with heartbeats; see the module docstring."""

    def __init__(
        self,
        endpoint_config: EndpointConfig | None = None,
        url: str | None = None,
        heartbeat_ms: int = 10_000,
        wait_timeout_s: float = 120,
        poll_interval_s: float = 0.02,
        key_prefix: str = "oss:lock:",
        socket_timeout_s: float = 5,
    ) -> None:
        settings: dict[str, Any] = dict(endpoint_config.kwargs) if endpoint_config else {}
        self.url = url or (endpoint_config.url if endpoint_config else None)
        if not self.url or "://" not in self.url:
            raise LockError("FairRedisLockStore needs a redis:// URL (url: ${REDIS_URL})")
        self.heartbeat_ms = int(settings.get("heartbeat_ms", heartbeat_ms))
        self.wait_timeout_s = float(settings.get("wait_timeout_s", wait_timeout_s))
        self.poll_interval_s = float(settings.get("poll_interval_s", poll_interval_s))
        self.key_prefix = str(settings.get("key_prefix", key_prefix))
        self.socket_timeout_s = float(settings.get("socket_timeout_s", socket_timeout_s))
        self._clients: dict[int, aioredis.Redis] = {}
        super().__init__()

    # One client per event loop: redis.asyncio connections belong to the loop that made them.
    def _redis(self) -> aioredis.Redis:
        loop_id = id(asyncio.get_running_loop())
        client = self._clients.get(loop_id)
        if client is None:
            # Retry on a broken connection: after Redis restarts, the pooled connection
            # is dead and the first command would otherwise fail a person's turn.
            client = aioredis.Redis.from_url(
                self.url, socket_timeout=self.socket_timeout_s,
                socket_connect_timeout=self.socket_timeout_s,
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
                retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
            )
            self._clients[loop_id] = client
        return client

    def _keys(self, conversation_id: str, token: str) -> tuple[str, str]:
        return f"{self.key_prefix}q:{conversation_id}", f"{self.key_prefix}hb:{token}"

    @contextlib.asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float | None = None,
        wait_time_in_seconds: float | None = None,
    ) -> AsyncGenerator[TicketLock, None]:
        """Hold the person's lock for the body; Rasa's lifetime/wait arguments are ignored.

        The lock lives as long as the holder keeps its heartbeat, not a fixed lifetime.
        """
        token = secrets.token_hex(16)
        queue, heartbeat = self._keys(conversation_id, token)
        queue_ttl = str(max(self.heartbeat_ms * 6, 60_000))
        client = self._redis()
        try:
            await client.eval(_ENQUEUE, 2, queue, heartbeat, token, str(self.heartbeat_ms), queue_ttl)
        except redis.exceptions.RedisError as error:
            raise LockError(f"lock store unreachable: {error}") from error
        stop = asyncio.Event()
        renewer = asyncio.create_task(self._keep_alive(queue, heartbeat, queue_ttl, stop))
        try:
            await self._wait_for_turn(client, conversation_id, queue, token)
            yield TicketLock(conversation_id)
        finally:
            # Stop the heartbeat by a flag, not only by cancelling it: a cancellation that
            # lands while redis-py's read timeout fires is turned into a TimeoutError and
            # lost, and a heartbeat that never stops holds the person's lock for ever.
            stop.set()
            renewer.cancel()
            await asyncio.wait({renewer}, timeout=self.socket_timeout_s + 1)
            await self._release(client, queue, heartbeat, token)

    async def _wait_for_turn(self, client: aioredis.Redis, conversation_id: str, queue: str, token: str) -> None:
        deadline = time.monotonic() + self.wait_timeout_s
        prefix = f"{self.key_prefix}hb:"
        while True:
            try:
                state = await client.eval(_TRY_ACQUIRE, 1, queue, token, prefix)
            except redis.exceptions.RedisError as error:
                raise LockError(f"lock store unreachable: {error}") from error
            if state == 1:
                return
            if state == -1:
                raise LockError("lost my place in the queue (heartbeat expired while waiting)")
            if time.monotonic() >= deadline:
                raise LockError(f"waited {self.wait_timeout_s:.0f}s for the lock of one conversation")
            await asyncio.sleep(self.poll_interval_s)

    async def _keep_alive(self, queue: str, heartbeat: str, queue_ttl: str, stop: asyncio.Event) -> None:
        client = self._redis()
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.heartbeat_ms / 3000)
            if stop.is_set():
                return
            try:
                renewed = await client.eval(_RENEW, 2, queue, heartbeat, str(self.heartbeat_ms), queue_ttl)
            except redis.exceptions.RedisError:
                logger.warning("lock heartbeat failed: Redis unreachable")
                continue
            if not renewed:
                logger.error("lock heartbeat expired before renewal; another turn may run concurrently")
                return

    async def _release(self, client: aioredis.Redis, queue: str, heartbeat: str, token: str) -> None:
        """Remove our own token; never raises (the turn is done, its reply must go out)."""
        try:
            await client.eval(_RELEASE, 2, queue, heartbeat, token)
        except redis.exceptions.RedisError:
            logger.warning("lock release failed: Redis unreachable; it expires with its heartbeat")
