"""The load generator of `make bench-serving`: clients, load shapes and their figures.

Two ways to reach a system:
- `ChannelClient` (ours): a signed WhatsApp or Telegram webhook; the answer time runs from
  the POST to the first outbound call with text that the fake provider API receives for
  that person (`OutboundWatch`, fed by the fakes' `listeners`). The webhook only stores
  the message (durable inbox) and acknowledges; the reply goes out later. A turn is
  complete when its inbox row is done, i.e. every part was sent (`InboxWatch`, one batched
  query on the cases database every 100 ms). A person writes again only after that, so
  the next first outbound cannot be the tail of the last reply; on Telegram they also
  leave the one second the channel keeps between two sends to a chat (a person cannot
  type faster; otherwise the pacing would be measured as latency).
- `RestClient` (bare Rasa, which has no other channel): the REST webhook's reply.

An error is a webhook answered with anything but 200, or no answer within the timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import aiohttp

from devtools.bench_people import (
    Crowd,
    Person,
    ProviderSecrets,
    Turn,
    telegram_webhook,
    whatsapp_webhook,
)
from devtools.fake_providers import FakeTelegram, FakeTwilio, Recorded

TELEGRAM_GAP_S = 1.0  # channels.ratelimit: one send per second and chat
POLL_S = 0.1


@dataclass
class TurnResult:
    ok: bool
    latency_s: float  # POST to the answer (or to the error)
    step: str
    channel: str
    error: str | None = None
    complete: bool | None = None  # every part of the reply was sent (channels only)
    complete_s: float | None = None  # POST to the last part


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _ms(values: list[float], q: float) -> float | None:
    return round(percentile(values, q) * 1000, 1) if values else None


def summary(results: list[TurnResult], seconds: float) -> dict[str, Any]:
    """The figures of one load run: answered messages per second, latency percentiles,
    errors and their kinds, and (channels) how many replies were complete."""
    answered = [r.latency_s for r in results if r.ok]
    out: dict[str, Any] = {
        "sent": len(results), "answered": len(answered), "errors": len(results) - len(answered),
        "msgs_per_s": round(len(answered) / seconds, 2) if seconds > 0 else None,
        "p50_ms": _ms(answered, 50), "p95_ms": _ms(answered, 95), "p99_ms": _ms(answered, 99),
        "error_kinds": dict(Counter(r.error for r in results if r.error)),
    }
    tracked = [r for r in results if r.complete is not None]
    if tracked:
        out["complete_share"] = round(sum(1 for r in tracked if r.complete) / len(tracked), 3)
        done = [r.complete_s for r in tracked if r.complete and r.complete_s is not None]
        out["complete_p50_ms"], out["complete_p95_ms"] = _ms(done, 50), _ms(done, 95)
    by_channel = {}
    for channel in sorted({r.channel for r in results}):
        mine = [r for r in results if r.channel == channel]
        ok = [r.latency_s for r in mine if r.ok]
        by_channel[channel] = {"sent": len(mine), "answered": len(ok), "p50_ms": _ms(ok, 50), "p95_ms": _ms(ok, 95)}
    out["by_channel"] = by_channel
    by_step = {}
    for step in sorted({r.step for r in results}):
        ok = [r.latency_s for r in results if r.step == step and r.ok]
        by_step[step] = {"answered": len(ok), "p50_ms": _ms(ok, 50), "p95_ms": _ms(ok, 95)}
    out["by_step"] = by_step
    return out


class Client(Protocol):
    path: str  # what the figures measure, for the report

    async def turn(self, session: aiohttp.ClientSession, person: Person, turn: Turn) -> TurnResult:
        """Say `turn.text` as `person`; when it returns, the person may write again."""

    def ready_at(self, person: Person) -> float:
        """The earliest time.monotonic() at which the person writes again."""

    def sender_id(self, person: Person) -> str:
        """The person's conversation id in Rasa."""


class RestClient:
    """Rasa's REST channel: the answer is the webhook's own reply."""

    path = "REST channel (POST /webhooks/rest/webhook, reply in the HTTP response)"

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s

    async def turn(self, session: aiohttp.ClientSession, person: Person, turn: Turn) -> TurnResult:
        body = {"sender": person.handle, "message": turn.text, "metadata": {"language": person.language}}
        started = time.monotonic()
        try:
            async with session.post(f"{self.url}/webhooks/rest/webhook", json=body,
                                    timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as reply:
                if reply.status != 200:
                    return TurnResult(False, time.monotonic() - started, turn.step, "rest", f"http {reply.status}")
                replies = await reply.json()
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            return TurnResult(False, time.monotonic() - started, turn.step, "rest", type(error).__name__)
        latency = time.monotonic() - started
        if not any(isinstance(m, dict) and m.get("text") for m in replies or []):
            return TurnResult(False, latency, turn.step, "rest", "no text")
        return TurnResult(True, latency, turn.step, "rest")

    def ready_at(self, person: Person) -> float:
        return 0.0

    def sender_id(self, person: Person) -> str:
        return person.handle


@dataclass
class _Waiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[tuple[float, str]]  # (time.monotonic() at the fake, text)
    since: float


class OutboundWatch:
    """The first outbound call with text per person, from the fake providers' listeners
    (called on the fakes' thread; futures are settled on the waiting loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[tuple[str, str], _Waiter] = {}
        self.last_at: dict[tuple[str, str], float] = {}
        self.calls = 0

    def attach(self, twilio: FakeTwilio, telegram: FakeTelegram) -> None:
        twilio.listeners.append(self._twilio)
        telegram.listeners.append(self._telegram)

    def expect(self, key: tuple[str, str]) -> asyncio.Future[tuple[float, str]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[float, str]] = loop.create_future()
        with self._lock:
            self._waiting[key] = _Waiter(loop, future, time.monotonic())
        return future

    def forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._waiting.pop(key, None)

    def _twilio(self, record: Recorded) -> None:
        to = record.form.get("To", "")
        if record.path.endswith("/Messages.json") and to.startswith("whatsapp:"):
            self._seen(("whatsapp", to.removeprefix("whatsapp:")), record.at, record.form.get("Body") or "")

    def _telegram(self, record: Recorded) -> None:
        body = record.json
        if record.path.endswith(("/sendMessage", "/sendPhoto")) and isinstance(body, dict):
            self._seen(("telegram", str(body.get("chat_id"))), record.at, str(body.get("text") or body.get("caption") or ""))

    def _seen(self, key: tuple[str, str], at: float, text: str) -> None:
        with self._lock:
            self.calls += 1
            self.last_at[key] = at
            waiter = self._waiting.get(key)
            if waiter is None or not text or at < waiter.since:
                return
            del self._waiting[key]
        waiter.loop.call_soon_threadsafe(_settle, waiter.future, (at, text))


@lru_cache(maxsize=1)
def trouble_texts() -> frozenset[str]:
    """What a channel sends by itself when the assistant cannot answer now."""
    from channels.texts import TROUBLE, load_texts

    return frozenset(load_texts()[TROUBLE].values())


def _settle(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


class InboxWatch:
    """When each inbound message is finished (every reply part sent), from the inbox table."""

    def __init__(self, database_url: str) -> None:
        from casework.db import make_engine

        self.engine = make_engine(database_url)
        self._waiting: dict[tuple[str, str], asyncio.Future[tuple[str, float | None]]] = {}
        self._task: asyncio.Task[None] | None = None

    def expect(self, provider: str, message_id: str) -> asyncio.Future[tuple[str, float | None]]:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            # Waiters left by a finished event loop (an earlier asyncio.run) are dropped.
            self._waiting = {k: f for k, f in self._waiting.items() if f.get_loop() is loop}
            self._task = loop.create_task(self._poll())
        future: asyncio.Future[tuple[str, float | None]] = loop.create_future()
        self._waiting[(provider, message_id)] = future
        return future

    def forget(self, provider: str, message_id: str) -> None:
        self._waiting.pop((provider, message_id), None)

    async def _poll(self) -> None:
        while self._waiting:
            await asyncio.sleep(POLL_S)
            keys = list(self._waiting)
            if not keys:
                return
            for provider, message_id, status, processed in await asyncio.to_thread(self._finished, keys):
                future = self._waiting.pop((provider, message_id), None)
                if future is not None:
                    _settle(future, (status, processed))

    def _finished(self, keys: list[tuple[str, str]]) -> list[tuple[str, str, str, float | None]]:
        """The watched messages that are finished; one indexed query per provider."""
        from sqlalchemy import bindparam, text

        query = text("SELECT provider_message_id, status, processed_at FROM inbox_messages "
                     "WHERE provider = :provider AND provider_message_id IN :ids AND status IN ('done', 'failed')"
                     ).bindparams(bindparam("ids", expanding=True))
        found = []
        with self.engine.connect() as connection:
            for provider in sorted({provider for provider, _ in keys}):
                ids = [message_id for p, message_id in keys if p == provider]
                for message_id, status, at in connection.execute(query, {"provider": provider, "ids": ids}).all():
                    found.append((provider, message_id, status, at.timestamp() if at is not None else None))
        return found

    def unfinished(self) -> int:
        """Messages stored but not finished yet (a backlog)."""
        from sqlalchemy import text

        with self.engine.connect() as connection:
            return int(connection.execute(text(
                "SELECT count(*) FROM inbox_messages WHERE status IN ('pending', 'processing')")).scalar_one())

    async def drained(self, timeout_s: float) -> int:
        """Wait (up to `timeout_s`) for the backlog to clear, so that a run does not measure
        the last one's; returns what is left."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if not await asyncio.to_thread(self.unfinished):
                return 0
            await asyncio.sleep(0.5)
        return await asyncio.to_thread(self.unfinished)

    def dispose(self) -> None:
        self.engine.dispose()


class ChannelClient:
    """Ours through WhatsApp or Telegram, as the providers call it (see the module's doc)."""

    path = ("signed WhatsApp (Twilio form + X-Twilio-Signature) and Telegram (update + secret token) "
            "webhooks; answer = first outbound call with text at the fake provider API")

    def __init__(self, rasa_url: str, keys: ProviderSecrets, outbound: OutboundWatch, inbox: InboxWatch,
                 sender_id: Callable[[str, str], str], timeout_s: float) -> None:
        self.rasa_url = rasa_url
        self._replicas = itertools.cycle([rasa_url])
        self.keys = keys
        self.outbound = outbound
        self.inbox = inbox
        self._sender_id = sender_id
        self.timeout_s = timeout_s
        self._update_ids = itertools.count(int(time.time() * 1000) % 10**12)

    def spread_over(self, rasa_urls: list[str]) -> None:
        """Post each webhook to the next replica in turn, as a round-robin load balancer does."""
        self._replicas = itertools.cycle(rasa_urls)

    def ready_at(self, person: Person) -> float:
        if person.channel != "telegram":
            return 0.0
        return self.outbound.last_at.get((person.channel, person.handle), 0.0) + TELEGRAM_GAP_S

    def sender_id(self, person: Person) -> str:
        return self._sender_id(person.channel, person.handle)

    async def turn(self, session: aiohttp.ClientSession, person: Person, turn: Turn) -> TurnResult:
        wait = self.ready_at(person) - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if person.channel == "whatsapp":
            hook = whatsapp_webhook(self.keys, person.handle, turn.text)
        else:
            hook = telegram_webhook(self.keys, person.handle, turn.text, person.language, next(self._update_ids))
        key = (person.channel, person.handle)
        answer = self.outbound.expect(key)
        done = self.inbox.expect(hook.provider, hook.message_id)
        started, posted_wall = time.monotonic(), time.time()

        def failed(kind: str) -> TurnResult:
            self.outbound.forget(key)
            self.inbox.forget(hook.provider, hook.message_id)
            return TurnResult(False, time.monotonic() - started, turn.step, person.channel, kind)

        try:
            async with session.post(next(self._replicas) + hook.path, data=hook.body, headers=hook.headers,
                                    timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as reply:
                await reply.read()
                if reply.status != 200:
                    return failed(f"http {reply.status}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            return failed(type(error).__name__)
        deadline = started + self.timeout_s
        waiting: set[asyncio.Future[Any]] = {answer, done}
        await asyncio.wait(waiting, timeout=max(0.0, deadline - time.monotonic()),
                           return_when=asyncio.FIRST_COMPLETED)
        if done.done() and not answer.done():  # finished: its first send is already recorded
            await asyncio.wait({answer}, timeout=0.5)
        if not answer.done():
            self.outbound.forget(key)
        if not done.done():
            await asyncio.wait({done}, timeout=max(0.0, deadline - time.monotonic()))
        complete, complete_s = False, None
        if done.done():
            status, processed = done.result()
            complete = status == "done"
            complete_s = processed - posted_wall if processed is not None else None
        else:
            self.inbox.forget(hook.provider, hook.message_id)
        if not answer.done():
            answer.cancel()
            kind = "no outbound" if not done.done() else f"no outbound ({done.result()[0]})"
            return TurnResult(False, time.monotonic() - started, turn.step, person.channel, kind, complete)
        at, text = answer.result()
        if text in trouble_texts():  # the channel's "try again later": honest, but not an answer
            return TurnResult(False, at - started, turn.step, person.channel, "trouble message", complete)
        return TurnResult(True, at - started, turn.step, person.channel, None, complete, complete_s)


# --- load shapes --------------------------------------------------------------------------

def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


async def closed_loop(client: Client, crowd: Crowd, people: int, seconds: float | None = None,
                      messages: int | None = None,
                      every: tuple[int, Callable[[int], None]] | None = None) -> dict[str, Any]:
    """Each person writes as soon as their last reply is complete, for `seconds` or until
    `messages` were sent; `every=(n, f)` calls f(sent) every n messages (the soak's RSS)."""
    results: list[TurnResult] = []
    end = time.monotonic() + seconds if seconds else float("inf")
    sent = 0

    def more() -> bool:
        return time.monotonic() < end and (messages is None or sent < messages)

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal sent
        person = crowd.new()
        while more():
            turn = person.next_turn()
            if turn is None:
                person = crowd.new()
                continue
            sent += 1
            if every and sent % every[0] == 0:
                every[1](sent)
            results.append(await client.turn(session, person, turn))

    started = time.monotonic()
    async with _session() as session:
        await asyncio.gather(*(one(session) for _ in range(people)))
    result = summary(results, time.monotonic() - started)
    result["people"] = people
    return result


async def open_loop(client: Client, crowd: Crowd, rate: float, seconds: float) -> dict[str, Any]:
    """Messages arrive at `rate` per second whatever the answers do. Each comes from a
    person whose last reply is complete (the one idle longest), else from someone new."""
    results: list[TurnResult] = []
    idle: deque[Person] = deque()

    async def one(session: aiohttp.ClientSession, person: Person, turn: Turn) -> None:
        results.append(await client.turn(session, person, turn))
        if not person.finished:
            idle.append(person)

    def someone() -> Person:
        now = time.monotonic()
        for index, person in enumerate(idle):
            if client.ready_at(person) <= now:
                del idle[index]
                return person
        return crowd.new()

    started = time.monotonic()
    tasks = []
    async with _session() as session:
        for index in range(int(rate * seconds)):
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            person = someone()
            turn = person.next_turn()
            if turn is None:  # cannot happen: finished people are not idle
                continue
            tasks.append(asyncio.create_task(one(session, person, turn)))
        await asyncio.gather(*tasks)
    result = summary(results, seconds)
    result["offered_msgs_per_s"] = rate
    return result
