"""Two Rasa replicas, one action server, PostgreSQL trackers and Redis locks: scale-out and faults.

What a person would notice is asserted, and what the tracker store holds afterwards is
read back with SQL. The tests run in file order on one shared cluster: the scale-out
checks first, then faults that stop and restart PostgreSQL, Redis and the action server,
and last a replica killed in the middle of a turn (it is not restarted).

Today the person's messages arrive on our REST channel (channels/rest.py), which answers
503 when a turn fails. The signed WhatsApp/Telegram channels with a durable inbox take
this path later; a failed turn is then retried from the inbox (or by the provider).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
import sqlalchemy as sa

from devtools.stack import wait_http
from tests.production.conftest import Cluster

SCRIPT = [
    "buenas tardes, ¿qué tal?",
    "¿eres un robot?",
    "¿qué ayudas hay para volver a mi país?",
    "soy de Perú y vivo en Madrid",
    "muchas gracias",
]


def texts(replies: Any) -> str:
    return "\n".join(m.get("text") or "" for m in replies) if isinstance(replies, list) else ""


def assert_answered(status: int, replies: Any) -> None:
    assert status == 200, replies
    assert texts(replies), "no answer"


def stored_events(cluster: Cluster, sender: str) -> list[dict[str, Any]]:
    """The person's events as the tracker store holds them, in insertion order."""
    engine = sa.create_engine(cluster.tracker_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender})
            return [json.loads(data) for (data,) in rows]
    finally:
        engine.dispose()


def user_texts(events: list[dict[str, Any]]) -> list[str]:
    return [e["text"] for e in events if e["event"] == "user"]


def assert_intact(events: list[dict[str, Any]]) -> None:
    """No event stored twice; every turn complete: user, then bot action(s), then listen."""
    keys = Counter((e["event"], e.get("name"), e.get("timestamp")) for e in events)
    assert [k for k, n in keys.items() if n > 1] == []
    assert sum(e["event"] == "session_started" for e in events) == 1, "the conversation restarted"
    turn: list[dict[str, Any]] = []
    for event in events:
        if event["event"] == "user":
            turn = [event]
        elif turn:
            turn.append(event)
            if event["event"] == "action" and event.get("name") == "action_listen":
                actions = [e for e in turn if e["event"] == "action" and e["name"] != "action_listen"]
                assert actions, f"a turn without any bot action: {turn[0]['text']!r}"
                turn = []
    assert not turn, "a turn was stored without its end (action_listen)"


def duplicate_tickets(cluster: Cluster) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(cluster.cases_url)
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(sa.text(
                "SELECT person_id, office_id, count(*) FROM tickets GROUP BY person_id, office_id HAVING count(*) > 1"))]
    finally:
        engine.dispose()


def converse(cluster: Cluster, sender: str, offset: int) -> list[tuple[int, str]]:
    """One person's script, one message at a time, alternating between the replicas."""
    results = []
    for index, message in enumerate(SCRIPT):
        replica = ("rasa-a", "rasa-b")[(index + offset) % 2]
        status, replies = cluster.say(replica, sender, message)
        results.append((status, texts(replies)))
    return results


def test_people_spread_over_both_replicas_get_every_answer_once_in_order(cluster: Cluster) -> None:
    senders = [f"scale-{i}-{uuid.uuid4().hex[:8]}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=len(senders)) as pool:
        results = list(pool.map(lambda pair: converse(cluster, *pair), [(s, i) for i, s in enumerate(senders)]))
    for sender, answers in zip(senders, results, strict=True):
        assert all(status == 200 and text for status, text in answers), (sender, answers)
        events = stored_events(cluster, sender)
        assert user_texts(events) == SCRIPT
        assert_intact(events)
    assert duplicate_tickets(cluster) == []


def test_one_person_writing_to_both_replicas_at_once_is_served_one_turn_at_a_time(cluster: Cluster) -> None:
    sender = f"burst-{uuid.uuid4().hex[:8]}"
    cluster.say("rasa-a", sender, SCRIPT[0])
    burst = ["¿eres un robot?", "¿qué ayudas hay para volver?", "¿puedo volver a España después?",
             "¿cómo homologo mi título?", "¿dónde está la oficina?", "gracias"]
    barrier = threading.Barrier(len(burst))

    def send(index: int) -> tuple[int, str]:
        barrier.wait()
        status, replies = cluster.say(("rasa-a", "rasa-b")[index % 2], sender, burst[index])
        return status, texts(replies)

    with ThreadPoolExecutor(max_workers=len(burst)) as pool:
        answers = list(pool.map(send, range(len(burst))))
    assert all(status == 200 and text for status, text in answers), answers
    events = stored_events(cluster, sender)
    assert sorted(user_texts(events)) == sorted([SCRIPT[0], *burst])
    assert_intact(events)


# --- faults -------------------------------------------------------------------------


def test_postgres_down_the_turn_fails_without_a_restart_and_is_answered_after_recovery(cluster: Cluster) -> None:
    sender = f"pgdown-{uuid.uuid4().hex[:8]}"
    for message in SCRIPT[:2]:
        assert texts(cluster.say("rasa-a", sender, message)[1])
    cluster.postgres.stop("immediate")
    try:
        status, replies = cluster.say("rasa-b", sender, SCRIPT[2])
        # A loud failure, not an answer from a blank in-memory conversation (Rasa's
        # fail-safe store would have greeted the person as new).
        assert status == 503, replies
    finally:
        cluster.postgres.start()
    status, replies = cluster.say("rasa-b", sender, SCRIPT[2])  # the retry
    assert_answered(status, replies)
    events = stored_events(cluster, sender)
    assert user_texts(events) == SCRIPT[:3]
    assert_intact(events)


def test_redis_down_the_turn_fails_loudly_and_is_answered_after_recovery(cluster: Cluster) -> None:
    sender = f"redisdown-{uuid.uuid4().hex[:8]}"
    assert texts(cluster.say("rasa-a", sender, SCRIPT[0])[1])
    cluster.redis.stop()
    try:
        status, replies = cluster.say("rasa-b", sender, SCRIPT[1])
        assert status == 503, replies  # never processed without the lock
        assert user_texts(stored_events(cluster, sender)) == SCRIPT[:1]
    finally:
        cluster.redis.start()
    status, replies = cluster.say("rasa-b", sender, SCRIPT[1])
    assert_answered(status, replies)
    events = stored_events(cluster, sender)
    assert user_texts(events) == SCRIPT[:2]
    assert_intact(events)


def stop_actions_during(cluster: Cluster, sender: str, message: str) -> tuple[int, str]:
    """Send `message` while the action server is down; restart it afterwards."""
    actions = cluster.stack.processes["actions"]
    actions.terminate()
    actions.wait(timeout=30)
    try:
        status, replies = cluster.say("rasa-b", sender, message)
        return status, texts(replies) if isinstance(replies, list) else str(replies)
    finally:
        proc = cluster.stack.start_actions()
        wait_http(f"{cluster.stack.actions_url}/health", 180, proc)


def test_action_server_down_does_not_restart_the_conversation(cluster: Cluster) -> None:
    sender = f"actionsdown-{uuid.uuid4().hex[:8]}"
    assert texts(cluster.say("rasa-a", sender, SCRIPT[0])[1])
    stop_actions_during(cluster, sender, SCRIPT[2])
    status, replies = cluster.say("rasa-b", sender, SCRIPT[2])
    assert_answered(status, replies)
    events = stored_events(cluster, sender)
    assert sum(e["event"] == "session_started" for e in events) == 1
    assert user_texts(events)[0] == SCRIPT[0]


def test_action_server_down_the_person_is_not_left_in_silence(cluster: Cluster) -> None:
    sender = f"actionsdown-{uuid.uuid4().hex[:8]}"
    assert texts(cluster.say("rasa-a", sender, SCRIPT[0])[1])
    status, text = stop_actions_during(cluster, sender, SCRIPT[2])
    # The REST channel checks the action server first: a 503 to retry, never a silent 200.
    assert status == 503, (status, text)
    assert "retry" in text


def test_a_replica_killed_mid_turn_loses_nothing_and_the_other_takes_over(cluster: Cluster) -> None:
    sender = f"kill-{uuid.uuid4().hex[:8]}"
    assert texts(cluster.say("rasa-a", sender, SCRIPT[0])[1])
    queue = redis.Redis.from_url(cluster.redis.url)
    outcome: dict[str, Any] = {}

    def in_flight() -> None:
        try:
            outcome["reply"] = cluster.say("rasa-a", sender, SCRIPT[1], timeout=60)
        except OSError as error:
            outcome["error"] = error

    thread = threading.Thread(target=in_flight)
    thread.start()
    deadline = time.monotonic() + 30
    while not queue.exists(f"oss:lock:q:{sender}") and time.monotonic() < deadline:
        time.sleep(0.001)
    assert queue.exists(f"oss:lock:q:{sender}"), "the turn never took the lock"
    cluster.stack.processes["rasa-a"].kill()  # SIGKILL while it holds the person's lock
    thread.join(timeout=60)
    queue.close()
    # The provider (or the inbox) sends the message again; the other replica answers it
    # once the dead replica's heartbeat has expired.
    status, replies = cluster.say("rasa-b", sender, SCRIPT[1])
    assert_answered(status, replies)
    status, replies = cluster.say("rasa-b", sender, SCRIPT[2])
    assert_answered(status, replies)
    events = stored_events(cluster, sender)
    said = user_texts(events)
    # The killed turn was stored whole or not at all (one transaction at the end of a turn).
    assert said in (SCRIPT[:3], [SCRIPT[0], SCRIPT[1], SCRIPT[1], SCRIPT[2]])
    assert_intact(events)
