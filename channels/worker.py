"""Drains the durable inbox after the webhook has acknowledged the provider.

One worker per process and database serves every inbox channel: `claim_next` does not
filter by provider, so the worker hands each claimed message to the handler registered
for its provider. A failure gives the message back with a growing delay (`mark_failed`);
the person hears once that we are having trouble; nothing is dropped. Database calls run
in a thread, never on the event loop, and each step of a message is one unit of work:
the claim also reads the person's handle and offered buttons; the kept replies carry the
buttons they offer; the last part sent is recorded by marking the message done.

Several people's messages are processed at once (`concurrency`, `INBOX_CONCURRENCY`):
a message mostly waits (on the action server, the databases, a Telegram reply paced out
over seconds), and one-at-a-time made a replica's throughput one over the latency of a
turn. The Rasa turns themselves are mostly CPU under one interpreter lock: at most
`turns` (`TURN_CONCURRENCY`) run at once (`turn_slot`), since more only slowed each of
them, while messages whose replies are being sent hold no turn. One person's messages still go one
at a time and in order, in this process and across replicas: `claim_next` never hands
out a message while an earlier one of the same sender is unfinished. SQLite (the
embedded default) keeps one at a time: it has a single writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from casework.db import run_unit_of_work
from casework.handles import SenderState, offer_buttons, sender_state
from casework.inbox import claim_next, keep_replies, kept_replies, mark_done, mark_failed, mark_replies_sent
from casework.privacy import FieldCipher

logger = logging.getLogger(__name__)

BACKOFF_S = (15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0)
MAX_ATTEMPTS = 12  # about half a day of retries before a message is left for staff as "failed"
LEASE_S = 300.0
POLL_S = 5.0
DEFAULT_CONCURRENCY = 32
DEFAULT_TURNS = 4
UNKNOWN_PROVIDER_RETRY_S = 60.0


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class ClaimedMessage:
    id: int
    provider: str
    sender_id: str
    payload: dict[str, Any]
    attempts: int
    replies: list[Any] | None = None  # rendered replies kept by an earlier attempt
    replies_sent: int = 0
    sender: SenderState | None = None  # read with the claim (None: read it when needed)


class ProcessingFailed(Exception):
    """Processing did not complete; `code` (no personal data) goes into the inbox row."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class MessageHandler(Protocol):
    async def process(self, message: ClaimedMessage) -> None:
        """Handle the message completely, or raise: it will be retried."""

    async def on_first_failure(self, message: ClaimedMessage) -> None:
        """Tell the person, once, that the answer is delayed."""

    def forget(self, message: ClaimedMessage) -> None:
        """The message is finished for good: drop whatever was kept for a retry."""


class InboxWorker:
    def __init__(
        self, engine: Any, cipher: FieldCipher, *, clock: Callable[[], datetime] = utc_now,
        lease_s: float = LEASE_S, poll_s: float = POLL_S, backoff_s: Sequence[float] = BACKOFF_S,
        max_attempts: int = MAX_ATTEMPTS, name: str | None = None, concurrency: int = DEFAULT_CONCURRENCY,
        turns: int = DEFAULT_TURNS,
    ) -> None:
        self.engine = engine
        self.cipher = cipher
        self.clock = clock
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.backoff_s = tuple(backoff_s)
        self.max_attempts = max_attempts
        self.concurrency = 1 if engine.dialect.name == "sqlite" else max(1, int(concurrency))
        self.turns = max(1, int(turns))
        self._turn_slots: asyncio.Semaphore | None = None  # made in the running loop
        self.name = name or f"channels-{secrets.token_hex(4)}"
        self._handlers: dict[str, MessageHandler] = {}
        self._troubled: set[str] = set()  # senders already told about the trouble
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._drain_lock: asyncio.Lock | None = None

    def register(self, provider: str, handler: MessageHandler) -> None:
        self._handlers[provider] = handler

    def turn_slot(self) -> asyncio.Semaphore:
        """Hold it while Rasa takes a turn: at most `turns` at once in this process."""
        if self._turn_slots is None:
            self._turn_slots = asyncio.Semaphore(self.turns)
        return self._turn_slots

    def kick(self) -> None:
        """Make sure the background loop runs and looks at the inbox now."""
        loop = asyncio.get_running_loop()
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name=f"inbox-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        assert self._wake is not None  # noqa: S101 - set by kick()
        while True:
            self._wake.clear()
            try:
                await self.drain()
            except Exception as error:  # the database is down: try again later
                logger.warning("inbox worker: draining failed (%s); retrying in %ss", type(error).__name__, self.poll_s)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)

    async def drain(self) -> int:
        """Process every message available now, up to `concurrency` at a time; returns how many.

        Keeps claiming while a slot is free: whenever a turn finishes or a new message is
        announced (`kick`), so messages that arrive meanwhile are taken at once; returns
        when nothing is in flight and nothing is available.
        """
        if self._drain_lock is None:
            self._drain_lock = asyncio.Lock()
        handled = 0
        in_flight: set[asyncio.Task[None]] = set()
        async with self._drain_lock:
            while True:
                while len(in_flight) < self.concurrency:
                    try:
                        message = await asyncio.to_thread(self._claim)
                    except Exception:
                        if in_flight:  # let the turns under way finish before reporting
                            await asyncio.wait(in_flight)
                        raise
                    if message is None:
                        break
                    logger.debug("inbox worker: claimed %s message %s (attempt %s)",
                                 message.provider, message.id, message.attempts + 1)
                    in_flight.add(asyncio.create_task(self._process(message)))
                if not in_flight:
                    return handled
                # Wait for a turn to finish, or for a new message (kick): a Telegram reply
                # paced over seconds must not hold back everybody else's first answer.
                woken = asyncio.create_task(self._wake.wait()) if self._wake is not None else None
                done, _ = await asyncio.wait(in_flight | ({woken} if woken else set()),
                                             return_when=asyncio.FIRST_COMPLETED)
                if woken is not None:
                    if woken.done():
                        self._wake.clear()  # type: ignore[union-attr]  # woken only exists with _wake
                    else:
                        woken.cancel()
                    done.discard(woken)
                in_flight -= done
                for task in done:
                    task.result()
                handled += len(done)

    def _claim(self) -> ClaimedMessage | None:
        def work(session: Any) -> ClaimedMessage | None:
            row = claim_next(session, worker=self.name, now=self.clock(), lease_s=self.lease_s)
            if row is None:
                return None
            replies, sent = kept_replies(row, self.cipher)
            return ClaimedMessage(
                id=row.id, provider=row.provider, sender_id=row.sender_id,
                payload=self.cipher.decrypt_json(row.payload_encrypted), attempts=row.attempts,
                replies=replies, replies_sent=sent,
                sender=sender_state(session, sender_id=row.sender_id, cipher=self.cipher),
            )

        return run_unit_of_work(self.engine, work)

    async def _process(self, message: ClaimedMessage) -> None:
        handler = self._handlers.get(message.provider)
        if handler is None:
            logger.warning("inbox worker: no channel for provider %s here (message %s)", message.provider, message.id)
            await asyncio.to_thread(self._fail, message, "no_channel", UNKNOWN_PROVIDER_RETRY_S)
            return
        try:
            await handler.process(message)
        except Exception as error:
            code = error.code if isinstance(error, ProcessingFailed) else type(error).__name__
            delay = self.backoff_s[min(message.attempts, len(self.backoff_s) - 1)]
            logger.warning("%s: message %s failed (%s), attempt %s; retry in %ss",
                           message.provider, message.id, code, message.attempts + 1, delay)
            # Once per message (attempts is shared by every process), and once per sender
            # here; told before the failure is recorded, which may wait for the database.
            if message.attempts == 0 and message.sender_id not in self._troubled:
                self._troubled.add(message.sender_id)
                try:
                    await handler.on_first_failure(message)
                except Exception as trouble_error:
                    logger.warning("%s: could not tell the person about the delay (%s)",
                                   message.provider, type(trouble_error).__name__)
            status = await self._fail_when_possible(message, code, delay)
            if status == "failed":
                handler.forget(message)
            return
        self._troubled.discard(message.sender_id)
        await asyncio.to_thread(self._done, message)
        handler.forget(message)

    async def keep_replies(
        self, message: ClaimedMessage, replies: list[Any], *, buttons: list[dict[str, str]] | None = None,
    ) -> None:
        """Keep what is about to be sent for `message`: a retry anywhere resumes from it.

        `buttons` (None: leave them) are remembered as the person's offered buttons in the
        same unit of work.
        """
        def write(session: Any) -> None:
            if not keep_replies(session, message_id=message.id, worker=self.name, replies=replies,
                                cipher=self.cipher):
                raise ProcessingFailed("lease_lost")
            if buttons is not None:
                offer_buttons(session, sender_id=message.sender_id, buttons=buttons, now=self.clock())

        await asyncio.to_thread(run_unit_of_work, self.engine, write)

    async def mark_sent(self, message: ClaimedMessage, count: int) -> None:
        """The first `count` kept replies went out (the last one is recorded by marking done)."""
        def write(session: Any) -> None:
            if not mark_replies_sent(session, message_id=message.id, worker=self.name, count=count):
                raise ProcessingFailed("lease_lost")

        await asyncio.to_thread(run_unit_of_work, self.engine, write)

    def _done(self, message: ClaimedMessage) -> None:
        def write(session: Any) -> bool:
            return mark_done(session, message_id=message.id, worker=self.name, now=self.clock())

        if not run_unit_of_work(self.engine, write):
            logger.warning("inbox worker: lost the lease on message %s before finishing it", message.id)

    async def _fail_when_possible(self, message: ClaimedMessage, code: str, delay_s: float) -> str | None:
        """Give the message back; while the database itself is down, keep trying.

        Giving up here would leave the message leased to this worker until the lease runs
        out (minutes after the database is back) and the person without the "we are having
        trouble" message. The worker has nothing else to do meanwhile: without the database
        it can claim nothing.
        """
        while True:
            try:
                return await asyncio.to_thread(self._fail, message, code, delay_s)
            except Exception as error:
                logger.warning("inbox worker: cannot give message %s back (%s); retrying in %ss",
                               message.id, type(error).__name__, self.poll_s)
                await asyncio.sleep(self.poll_s)

    def _fail(self, message: ClaimedMessage, code: str, delay_s: float) -> str | None:
        retry_at = self.clock() + timedelta(seconds=delay_s)
        return run_unit_of_work(self.engine, lambda session: mark_failed(
            session, message_id=message.id, worker=self.name, error=code, retry_at=retry_at,
            max_attempts=self.max_attempts,
        ))
