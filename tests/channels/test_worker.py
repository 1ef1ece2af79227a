"""The inbox worker answers several people at once, and each person in order, one message at a time.

Before, one replica handled one message at a time for everybody: a person waited for every
turn queued before theirs. Concurrency is observed by counting turns under way (no timings).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from casework.db import make_engine, session_scope, upgrade
from casework.inbox import record_inbound
from casework.privacy import FieldCipher
from channels.config import inbox_concurrency, turn_concurrency
from channels.worker import ClaimedMessage, InboxWorker
from tests.casework.conftest import postgres_admin, throwaway_postgres  # noqa: F401 - fixture
from tests.casework.factories import new_key

START = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


class Recorder:
    """A channel handler that notes what overlapped.

    Each turn waits (at most a few seconds) until `expect` people are under way, as a slow
    action server would make it wait, so the count does not depend on the machine's speed.
    """

    def __init__(self, expect: int) -> None:
        self.expect = expect
        self.enough = asyncio.Event()
        self.running: set[str] = set()
        self.most_at_once = 0
        self.overlap_same_sender = False
        self.order: dict[str, list[str]] = defaultdict(list)

    async def process(self, message: ClaimedMessage) -> None:
        sender = message.sender_id
        self.overlap_same_sender |= sender in self.running
        self.running.add(sender)
        self.most_at_once = max(self.most_at_once, len(self.running))
        if len(self.running) >= self.expect:
            self.enough.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.enough.wait(), 5)
        self.order[sender].append(message.payload["text"])
        self.running.discard(sender)

    async def on_first_failure(self, message: ClaimedMessage) -> None:
        raise AssertionError("nothing fails here")

    def forget(self, message: ClaimedMessage) -> None:
        pass


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # noqa: ANN001
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cases.db'}"
        upgrade(url)
        yield url
        return
    with throwaway_postgres(request.getfixturevalue("postgres_admin")) as url:
        upgrade(url)
        yield url


async def test_people_are_answered_at_once_and_each_in_order(database_url: str) -> None:
    engine, cipher = make_engine(database_url), FieldCipher([new_key()])
    messages = [("ana", "a1"), ("ana", "a2"), ("ana", "a3"), ("bea", "b1"), ("caio", "c1"), ("dani", "d1"),
                ("bea", "b2")]
    with session_scope(engine) as session:
        for index, (sender, text) in enumerate(messages):
            record_inbound(session, provider="whatsapp", provider_message_id=f"SM{index}", sender_id=sender,
                           payload={"text": text}, cipher=cipher, now=START + timedelta(seconds=index))
    recorder = Recorder(expect=1 if engine.dialect.name == "sqlite" else 4)
    worker = InboxWorker(engine, cipher, clock=lambda: START + timedelta(minutes=1), concurrency=8)
    worker.register("whatsapp", recorder)
    try:
        assert await worker.drain() == len(messages)
    finally:
        engine.dispose()
    assert dict(recorder.order) == {"ana": ["a1", "a2", "a3"], "bea": ["b1", "b2"], "caio": ["c1"], "dani": ["d1"]}
    assert not recorder.overlap_same_sender, "one person's messages must never be processed at once"
    if engine.dialect.name == "sqlite":
        assert recorder.most_at_once == 1  # a single writer: one at a time
    else:
        assert recorder.most_at_once == 4  # ana, bea, caio and dani together


class Blocking:
    """Holds the first message (a reply paced over seconds) until released; notes the others."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started: list[str] = []
        self.finished: list[str] = []

    async def process(self, message: ClaimedMessage) -> None:
        self.started.append(message.payload["text"])
        if message.payload["text"] == "slow":
            await self.release.wait()
        self.finished.append(message.payload["text"])

    async def on_first_failure(self, message: ClaimedMessage) -> None:
        raise AssertionError("nothing fails here")

    def forget(self, message: ClaimedMessage) -> None:
        pass


@pytest.mark.postgres
async def test_a_new_message_is_taken_while_a_long_reply_is_still_going_out(postgres_admin) -> None:  # noqa: ANN001, F811
    """Before, the worker looked for new messages only when a turn finished: everyone waited
    for the slowest reply under way (a Telegram reply in parts takes seconds)."""
    with throwaway_postgres(postgres_admin) as url:
        upgrade(url)
        engine, cipher = make_engine(url), FieldCipher([new_key()])
        handler = Blocking()
        worker = InboxWorker(engine, cipher, poll_s=30, concurrency=8)
        worker.register("telegram", handler)

        def record(index: int, sender: str, text: str) -> None:
            with session_scope(engine) as session:
                record_inbound(session, provider="telegram", provider_message_id=str(index), sender_id=sender,
                               payload={"text": text}, cipher=cipher, now=datetime.now(timezone.utc))

        try:
            record(1, "ana", "slow")
            worker.kick()
            for _ in range(200):
                if handler.started:
                    break
                await asyncio.sleep(0.02)
            record(2, "bea", "quick")
            worker.kick()
            for _ in range(250):  # the poll is 30 s: only the kick can bring it in time
                if "quick" in handler.finished:
                    break
                await asyncio.sleep(0.02)
            assert handler.finished == ["quick"], "the new message waited for the slow reply"
            handler.release.set()
            for _ in range(250):
                if "slow" in handler.finished:
                    break
                await asyncio.sleep(0.02)
            assert handler.finished == ["quick", "slow"]
        finally:
            handler.release.set()
            await worker.stop()
            engine.dispose()


class PacedTurns:
    """A channel's shape: a Rasa turn (in a turn slot), then a reply paced out over time."""

    def __init__(self, worker: InboxWorker) -> None:
        self.worker = worker
        self.turns_now = self.most_turns = self.in_flight = self.most_in_flight = 0

    async def process(self, message: ClaimedMessage) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        async with self.worker.turn_slot():
            self.turns_now += 1
            self.most_turns = max(self.most_turns, self.turns_now)
            await asyncio.sleep(0.02)  # the turn
            self.turns_now -= 1
        await asyncio.sleep(0.2)  # parts of the reply paced out (Telegram: about 1 s apart)
        self.in_flight -= 1

    async def on_first_failure(self, message: ClaimedMessage) -> None:
        raise AssertionError("nothing fails here")

    def forget(self, message: ClaimedMessage) -> None:
        pass


async def test_replies_being_paced_out_hold_no_turn_and_turns_are_capped(database_url: str) -> None:
    engine, cipher = make_engine(database_url), FieldCipher([new_key()])
    with session_scope(engine) as session:
        for index in range(8):
            record_inbound(session, provider="telegram", provider_message_id=str(index), sender_id=f"tg-{index}",
                           payload={"text": "hola"}, cipher=cipher, now=START + timedelta(seconds=index))
    worker = InboxWorker(engine, cipher, clock=lambda: START + timedelta(minutes=1), concurrency=8, turns=2)
    handler = PacedTurns(worker)
    worker.register("telegram", handler)
    try:
        assert await worker.drain() == 8
    finally:
        engine.dispose()
    if engine.dialect.name == "sqlite":
        assert (handler.most_in_flight, handler.most_turns) == (1, 1)
    else:
        assert handler.most_turns == 2  # never more Rasa turns at once than allowed
        assert handler.most_in_flight == 8  # while every paced reply still goes out at once


def test_the_operator_sets_how_many_turns_and_messages_run_at_once() -> None:
    assert (inbox_concurrency({}), turn_concurrency({})) == (32, 4)
    assert (inbox_concurrency({"INBOX_CONCURRENCY": "48"}), turn_concurrency({"TURN_CONCURRENCY": " 2 "})) == (48, 2)
    for name, parse in (("INBOX_CONCURRENCY", inbox_concurrency), ("TURN_CONCURRENCY", turn_concurrency)):
        for wrong in ("0", "65", "four"):
            with pytest.raises(ValueError, match=name):
                parse({name: wrong})
