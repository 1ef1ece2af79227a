"""The durable inbox: each provider message stored once, claimed by one worker, in order."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from casework.inbox import claim_next, mark_done, mark_failed, pending_count, record_inbound
from casework.models import InboxMessage
from casework.privacy import FieldCipher
from tests.casework.conftest import Database
from tests.casework.factories import NOW, later


def receive(
    database: Database, cipher: FieldCipher, provider_message_id: str, sender_id: str = "wa-maria",
    at: datetime = NOW, text: str = "hola, quiero volver a Perú",
) -> int | None:
    with database.session() as session:
        message = record_inbound(
            session, provider="whatsapp", provider_message_id=provider_message_id, sender_id=sender_id,
            payload={"text": text, "profile_name": "María"}, cipher=cipher, now=at,
        )
        return message.id if message else None


def claim(database: Database, worker: str, at: datetime = NOW, lease_s: float = 60) -> InboxMessage | None:
    with database.session() as session:
        return claim_next(session, worker=worker, now=at, lease_s=lease_s)


def claimed(database: Database, worker: str, at: datetime = NOW, lease_s: float = 60) -> InboxMessage:
    message = claim(database, worker, at, lease_s)
    assert message is not None, "expected a message to claim"
    return message


def done(database: Database, message: InboxMessage, worker: str) -> bool:
    with database.session() as session:
        return mark_done(session, message_id=message.id, worker=worker, now=NOW)


def in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(i)` in `count` threads released together; their results, or their errors."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = work(index)
        except Exception as error:  # reported by the assertion in the test
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


# ---------------------------------------------------------------- recording

def test_a_message_is_stored_encrypted(database: Database, cipher: FieldCipher) -> None:
    receive(database, cipher, "SM1")
    [row] = database.rows("SELECT * FROM inbox_messages")
    assert "Perú" not in row["payload_encrypted"]
    assert "María" not in row["payload_encrypted"]
    assert cipher.decrypt_json(row["payload_encrypted"]) == {"text": "hola, quiero volver a Perú", "profile_name": "María"}
    assert (row["status"], row["attempts"], row["sender_id"]) == ("pending", 0, "wa-maria")


def test_a_retried_delivery_is_recorded_once(database: Database, cipher: FieldCipher) -> None:
    assert receive(database, cipher, "SM1") is not None
    assert receive(database, cipher, "SM1") is None
    assert len(database.rows("SELECT id FROM inbox_messages")) == 1


def test_the_same_id_from_another_provider_is_another_message(database: Database, cipher: FieldCipher) -> None:
    receive(database, cipher, "42")
    with database.session() as session:
        assert record_inbound(session, provider="telegram", provider_message_id="42", sender_id="tg-x",
                              payload={}, cipher=cipher, now=NOW) is not None


def test_a_duplicate_leaves_the_session_usable(database: Database, cipher: FieldCipher) -> None:
    receive(database, cipher, "SM1")
    with database.session() as session:
        first = record_inbound(session, provider="whatsapp", provider_message_id="SM2", sender_id="wa-maria",
                               payload={}, cipher=cipher, now=NOW)
        duplicate = record_inbound(session, provider="whatsapp", provider_message_id="SM1", sender_id="wa-maria",
                                   payload={}, cipher=cipher, now=NOW)
        after = record_inbound(session, provider="whatsapp", provider_message_id="SM3", sender_id="wa-maria",
                               payload={}, cipher=cipher, now=NOW)
    assert first is not None
    assert duplicate is None
    assert after is not None
    assert sorted(row["provider_message_id"] for row in database.rows("SELECT * FROM inbox_messages")) == ["SM1", "SM2", "SM3"]


def test_two_processes_recording_the_same_id_at_once_store_it_once(database: Database, cipher: FieldCipher) -> None:
    """The first holds its uncommitted insert while the second tries: the database decides."""
    inserted = threading.Event()

    def first() -> int | None:
        with database.session() as session:
            message = record_inbound(session, provider="whatsapp", provider_message_id="SM1", sender_id="wa-maria",
                                     payload={"text": "a"}, cipher=cipher, now=NOW)
            inserted.set()
            time.sleep(0.5)  # the second one now waits on our row (or on the write lock)
            return message.id if message else None

    def second() -> tuple[int | None, int | None]:
        inserted.wait(timeout=30)
        with database.session() as session:
            message = record_inbound(session, provider="whatsapp", provider_message_id="SM1", sender_id="wa-maria",
                                     payload={"text": "b"}, cipher=cipher, now=NOW)
            follow_up = record_inbound(session, provider="whatsapp", provider_message_id="SM2", sender_id="wa-maria",
                                       payload={"text": "c"}, cipher=cipher, now=NOW)
            return (message.id if message else None), (follow_up.id if follow_up else None)

    results = in_threads(2, lambda index: first() if index == 0 else second())
    assert not [result for result in results if isinstance(result, Exception)], results
    assert results[0] is not None
    assert results[1][0] is None  # the duplicate, refused
    assert results[1][1] is not None  # and its session still works
    rows = database.rows("SELECT provider_message_id, payload_encrypted FROM inbox_messages ORDER BY id")
    assert [row["provider_message_id"] for row in rows] == ["SM1", "SM2"]
    assert cipher.decrypt_json(rows[0]["payload_encrypted"]) == {"text": "a"}


def test_many_concurrent_deliveries_of_one_id_store_one_row(database: Database, cipher: FieldCipher) -> None:
    results = in_threads(6, lambda index: receive(database, cipher, "SM-retry"))
    assert not [result for result in results if isinstance(result, Exception)], results
    assert sum(result is not None for result in results) == 1
    assert len(database.rows("SELECT id FROM inbox_messages")) == 1


# ---------------------------------------------------------------- claiming

def test_messages_are_claimed_oldest_first_and_one_at_a_time_per_sender(database: Database, cipher: FieldCipher) -> None:
    maria_1 = receive(database, cipher, "SM1", "wa-maria", at=later(1))
    jose_1 = receive(database, cipher, "SM2", "wa-jose", at=later(2))
    maria_2 = receive(database, cipher, "SM3", "wa-maria", at=later(3))
    first, second = claimed(database, "w1"), claimed(database, "w2")
    assert (first.id, second.id) == (maria_1, jose_1)
    assert (first.status, first.claimed_by) == ("processing", "w1")
    assert claim(database, "w3") is None  # maria's second waits for her first
    assert done(database, first, "w1")
    assert claimed(database, "w3").id == maria_2


def test_an_expired_lease_is_claimed_again(database: Database, cipher: FieldCipher) -> None:
    receive(database, cipher, "SM1")
    held = claimed(database, "w1", at=NOW, lease_s=30)
    assert claim(database, "w2", at=later(29)) is None
    again = claimed(database, "w2", at=later(31))
    assert (again.id, again.claimed_by) == (held.id, "w2")
    assert not done(database, held, "w1")  # the first worker lost it
    assert done(database, again, "w2")
    assert database.rows("SELECT status, claimed_by FROM inbox_messages") == [{"status": "done", "claimed_by": None}]


def test_a_failed_message_is_retried_later_then_given_up(database: Database, cipher: FieldCipher) -> None:
    receive(database, cipher, "SM1", "wa-maria", at=later(1))
    receive(database, cipher, "SM2", "wa-maria", at=later(2))
    message = claimed(database, "w1")
    with database.session() as session:
        status = mark_failed(session, message_id=message.id, worker="w1", error="ConnectionError",
                             retry_at=later(60), max_attempts=2)
    assert status == "pending"
    assert claim(database, "w1", at=later(59)) is None  # not yet, and SM2 must wait behind it
    message = claimed(database, "w1", at=later(61))
    assert message.attempts == 1
    with database.session() as session:
        status = mark_failed(session, message_id=message.id, worker="w1", error="ConnectionError",
                             retry_at=later(120), max_attempts=2)
    assert status == "failed"
    [row] = database.rows("SELECT status, attempts, last_error FROM inbox_messages WHERE provider_message_id = 'SM1'")
    assert row == {"status": "failed", "attempts": 2, "last_error": "ConnectionError"}
    following = claimed(database, "w1", at=later(62))  # a dead message no longer holds up the sender
    with database.session() as session:
        assert mark_failed(session, message_id=following.id, worker="someone-else", error="x", retry_at=later(90)) is None


def test_pending_count_counts_unfinished_messages(database: Database, cipher: FieldCipher) -> None:
    receive(database, cipher, "SM1", "wa-maria")
    receive(database, cipher, "SM2", "wa-jose")
    message = claimed(database, "w1")
    with database.session() as session:
        assert pending_count(session) == 2
        assert pending_count(session, sender_id="wa-jose") == 1
    done(database, message, "w1")
    with database.session() as session:
        assert pending_count(session) == 1


def test_concurrent_workers_never_share_a_message(database: Database, cipher: FieldCipher) -> None:
    for number in range(24):
        receive(database, cipher, f"SM{number}", f"wa-{number}", at=later(number))

    def hoard(worker: int) -> list[int]:
        claimed = []
        while (message := claim(database, f"w{worker}")) is not None:
            claimed.append(message.id)
        return claimed

    results = in_threads(4, hoard)
    assert not [result for result in results if isinstance(result, Exception)], results
    claimed = [message_id for result in results for message_id in result]
    assert sorted(claimed) == sorted(Counter(claimed))  # no message twice
    assert len(claimed) == 24


def test_concurrent_workers_keep_each_senders_order(database: Database, cipher: FieldCipher) -> None:
    senders = [f"wa-{number}" for number in range(4)]
    expected: dict[str, list[int | None]] = {sender: [] for sender in senders}
    for number in range(20):
        sender = senders[number % 4]
        expected[sender].append(receive(database, cipher, f"SM{number}", sender, at=later(number)))
    handled: list[tuple[str, int | None]] = []
    lock = threading.Lock()

    def work(worker: int) -> int:
        idle = 0
        while idle < 20:
            message = claim(database, f"w{worker}")
            if message is None:
                idle += 1
                time.sleep(0.01)
                continue
            idle = 0
            with lock:
                handled.append((message.sender_id, message.id))
            assert done(database, message, f"w{worker}")
        return worker

    results = in_threads(3, work)
    assert not [result for result in results if isinstance(result, Exception)], results
    for sender in senders:
        assert [message_id for who, message_id in handled if who == sender] == expected[sender]
    assert len(handled) == 20
