"""Two Rasa replicas, one action server, PostgreSQL trackers and Redis locks: scale-out and faults.

People write on WhatsApp and Telegram: every message is a signed webhook posted to one of
the replicas, stored in the durable inbox and answered through the fake provider APIs,
which is where what the person sees is read. What the tracker store and the inbox hold
afterwards is read back with SQL. The tests run in file order on one shared cluster: the
scale-out checks first, then faults that stop and restart PostgreSQL, Redis and the
action server, slow the action server down, and last a replica killed in the middle of
a turn (it is not restarted).

Each fault hits a person in the middle of an intake: afterwards the intake goes on from
the question it was at (never a blank restart), each stored message was processed once,
and the person got one honest "we are having trouble" message (or was asked to send the
message again when it could not even be stored), then the real answer.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from channels.texts import NOT_RECEIVED, TROUBLE, channel_text
from channels.whatsapp import EMPTY_TWIML, reply_twiml
from devtools.stack import wait_http
from tests.channels_e2e.conftest import new_chat, new_phone, telegram_message, whatsapp_message
from tests.production.conftest import Cluster

REPLICAS = ("rasa-a", "rasa-b")
SCRIPT = [
    "buenas tardes, ¿qué tal?",
    "¿eres un robot?",
    "¿qué ayudas hay para volver a mi país?",
    "soy de Perú y vivo en Madrid",
    "muchas gracias",
]
INTAKE_START = "quiero volver a Perú, ¿me ayudan?"
ANSWERS = {  # the Spanish intake of tests/conversation/test_intake.py
    "intake_consent": "sí, acepto", "intake_adult": "sí, tengo 34", "intake_name": "me llamo Lucía",
    "intake_return_city": "a Cusco", "intake_residence_city": "en Alcobendas", "intake_months_abroad": "hace 5 años",
    "intake_household": "yo y mi hija de 6", "intake_return_months": "en marzo",
}
TROUBLE_ES = channel_text(TROUBLE, "es")


@dataclass
class Person:
    """Someone writing to the assistant on WhatsApp or Telegram."""

    cluster: Cluster
    provider: str  # "whatsapp" or "telegram"
    handle: str  # the phone number, or the chat id

    @classmethod
    def on(cls, cluster: Cluster, provider: str) -> Person:
        return cls(cluster, provider, new_phone() if provider == "whatsapp" else str(new_chat()))

    @property
    def sender_id(self) -> str:
        return self.cluster.sender_id(self.provider, self.handle)

    def message(self, text: str) -> tuple[str, Any]:
        """A new message: (the provider's id for it, the webhook body)."""
        if self.provider == "whatsapp":
            pairs = whatsapp_message(self.handle, text)
            return pairs[0][1], pairs
        update = telegram_message(int(self.handle), text)
        return str(update["update_id"]), update

    def deliver(self, replica: str, body: Any) -> httpx.Response:
        """The provider posts the message (or delivers it again) to a replica."""
        if self.provider == "whatsapp":
            return self.cluster.post_whatsapp(replica, body)
        return self.cluster.post_telegram(replica, body)

    def send(self, text: str, replica: str = "rasa-a") -> str:
        """Write a message; it is stored and acknowledged. Its provider id."""
        message_id, body = self.message(text)
        answer = self.deliver(replica, body)
        assert answer.status_code == 200, (answer.status_code, answer.text)
        if self.provider == "whatsapp":
            assert answer.text == EMPTY_TWIML  # nothing said in Twilio's answer: replies come later
        return message_id

    def say(self, text: str, replica: str = "rasa-a") -> list[str]:
        """Write a message and wait until it is answered; what the person received for it."""
        before = len(self.received())
        self.cluster.wait_done(self.provider, self.send(text, replica))
        return self.received()[before:]

    def received(self) -> list[str]:
        """Every text the person received, in the order the provider got the calls."""
        if self.provider == "whatsapp":
            return [m.get("Body", "") for m in self.cluster.twilio.messages() if m.get("To") == f"whatsapp:{self.handle}"]
        return [str(c.get("text", "")) for c in self.cluster.telegram.calls("sendMessage")
                if str(c.get("chat_id")) == self.handle]

    def wait_received(self, count: int, timeout_s: float = 120) -> list[str]:
        api = self.cluster.twilio if self.provider == "whatsapp" else self.cluster.telegram
        api.wait_until(lambda _: len(self.received()) >= count, timeout_s)
        return self.received()

    def requested(self) -> str | None:
        return self.cluster.tracker(self.sender_id)["slots"].get("requested_slot")


# --- what the stores hold ------------------------------------------------------------------


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


def assert_answered_once(person: Person, events: list[dict[str, Any]], troubles: int = 0) -> None:
    """What the person received is what the assistant said, once each, in order, plus
    `troubles` "we are having trouble" messages. (A long reply may arrive in parts, and a
    WhatsApp reply carries its numbered options: each is recognised by its beginning.)"""
    received = person.received()
    assert received.count(TROUBLE_ES) == troubles, received
    answers = "\n".join(text for text in received if text != TROUBLE_ES)
    heads = [text[:60] for e in events if e["event"] == "bot" and (text := (e.get("text") or "").strip())]
    assert heads, "the assistant said nothing"
    position = 0
    for head in heads:
        found = answers.find(head, position)
        assert found >= 0, f"not received (or out of order): {head!r} in {received}"
        position = found + len(head)
    for head in set(heads):
        assert answers.count(head) == heads.count(head), f"received more than once: {head!r}"


def assert_processed_once(cluster: Cluster, person: Person) -> None:
    """Every message the inbox stored for the person was processed; Rasa saw each once."""
    rows = cluster.cases("SELECT provider_message_id, status FROM inbox_messages WHERE sender_id = :s "
                         "ORDER BY received_at, id", s=person.sender_id)
    assert {row["status"] for row in rows} == {"done"}, rows
    events = stored_events(cluster, person.sender_id)
    ids = [e.get("message_id") for e in events if e["event"] == "user"]
    assert len(ids) == len(set(ids)) == len(rows), (ids, rows)


def duplicate_tickets(cluster: Cluster) -> list[dict[str, Any]]:
    return cluster.cases("SELECT person_id, office_id, count(*) AS n FROM tickets GROUP BY person_id, office_id "
                         "HAVING count(*) > 1")


def wait_for(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


# --- scale-out -----------------------------------------------------------------------------


def converse(person: Person, offset: int) -> None:
    """One person's script, one message at a time, alternating between the replicas."""
    for index, message in enumerate(SCRIPT):
        assert person.say(message, REPLICAS[(index + offset) % 2]), f"no answer to {message!r}"


def test_people_spread_over_both_replicas_get_every_answer_once_in_order(cluster: Cluster) -> None:
    people = [Person.on(cluster, provider) for provider in ("whatsapp", "telegram") for _ in range(4)]
    with ThreadPoolExecutor(max_workers=len(people)) as pool:
        list(pool.map(converse, people, range(len(people))))
    for person in people:
        events = stored_events(cluster, person.sender_id)
        assert user_texts(events) == SCRIPT
        assert_intact(events)
        assert_answered_once(person, events)
        assert_processed_once(cluster, person)
    assert duplicate_tickets(cluster) == []


def test_one_person_writing_to_both_replicas_at_once_is_served_one_turn_at_a_time(cluster: Cluster) -> None:
    burst = ["¿eres un robot?", "¿qué ayudas hay para volver?", "¿puedo volver a España después?",
             "¿cómo homologo mi título?", "¿dónde está la oficina?", "gracias"]
    for person in (Person.on(cluster, "whatsapp"), Person.on(cluster, "telegram")):
        person.say(SCRIPT[0])
        barrier = threading.Barrier(len(burst))

        def send(index: int, person: Person = person, barrier: threading.Barrier = barrier) -> str:
            barrier.wait()
            return person.send(burst[index], REPLICAS[index % 2])

        with ThreadPoolExecutor(max_workers=len(burst)) as pool:
            ids = list(pool.map(send, range(len(burst))))
        for message_id in ids:
            cluster.wait_done(person.provider, message_id)
        events = stored_events(cluster, person.sender_id)
        # One turn at a time, in the order the inbox handed them out, whichever replica took each.
        stored = cluster.cases("SELECT provider_message_id FROM inbox_messages WHERE sender_id = :s "
                               "ORDER BY processed_at, id", s=person.sender_id)
        text_of = dict(zip(ids, burst, strict=True))
        assert user_texts(events) == [SCRIPT[0], *(text_of[row["provider_message_id"]] for row in stored[1:])]
        assert_intact(events)
        assert_answered_once(person, events)
        assert_processed_once(cluster, person)


# --- faults ----------------------------------------------------------------------------------


def start_intake(person: Person) -> list[str]:
    """Ask for help, consent: the intake is at its first question after consent. What Rasa
    was told (a reply that picks an offered option reaches Rasa as the option's payload)."""
    assert person.say(INTAKE_START)
    assert person.requested() == "intake_consent"
    assert person.say(ANSWERS["intake_consent"], "rasa-b")
    assert person.requested() not in (None, "intake_consent")
    said = user_texts(stored_events(person.cluster, person.sender_id))
    assert len(said) == 2
    return said


def assert_intake_went_on(cluster: Cluster, person: Person, said: list[str], asked_before: str | None,
                          troubles: int) -> None:
    """The answer given through the fault moved the intake on; nothing repeated or lost."""
    assert person.requested() not in (None, "intake_consent", asked_before), "the intake did not go on"
    events = stored_events(cluster, person.sender_id)
    *before, last = user_texts(events)
    assert before == said[:-1]
    assert last == said[-1] or last.startswith("/"), (last, said[-1])  # the answer, or the option it picked
    assert_intact(events)
    assert_answered_once(person, events, troubles=troubles)
    assert_processed_once(cluster, person)


def test_postgres_down_the_person_is_told_and_the_intake_goes_on_after_recovery(cluster: Cluster) -> None:
    wa, tg = Person.on(cluster, "whatsapp"), Person.on(cluster, "telegram")
    said = {person.provider: start_intake(person) for person in (wa, tg)}
    asked = {person.provider: person.requested() for person in (wa, tg)}
    answer = {provider: ANSWERS[str(slot)] for provider, slot in asked.items()}
    wa_id, wa_body = wa.message(answer["whatsapp"])
    tg_id, tg_body = tg.message(answer["telegram"])
    cluster.postgres.stop("immediate")
    try:
        # WhatsApp does not deliver it again: Twilio's answer asks the person to resend.
        reply = wa.deliver("rasa-b", wa_body)
        assert (reply.status_code, reply.text) == (200, reply_twiml(channel_text(NOT_RECEIVED, "es")))
        # Telegram does (until the webhook accepts it): the person hears once it is safe.
        # (Told once per replica process: the memory of it cannot be in the database.)
        for _ in range(2):
            assert tg.deliver("rasa-a", tg_body).status_code == 503
        assert tg.received()[-1] == TROUBLE_ES
    finally:
        cluster.postgres.start()
    assert cluster.inbox_status("whatsapp", wa_id) is None  # never stored, so nobody pretends it was
    wa.say(answer["whatsapp"], "rasa-a")  # sent again, as asked
    assert tg.deliver("rasa-b", tg_body).status_code == 200  # Telegram's next delivery
    cluster.wait_done("telegram", tg_id)
    assert_intake_went_on(cluster, wa, [*said["whatsapp"], answer["whatsapp"]], asked["whatsapp"], troubles=0)
    assert_intake_went_on(cluster, tg, [*said["telegram"], answer["telegram"]], asked["telegram"], troubles=1)


def test_postgres_down_in_the_middle_of_a_turn_the_turn_is_retried_whole(cluster: Cluster) -> None:
    person = Person.on(cluster, "telegram")
    said, asked, answer = at_a_question(person)
    before = len(person.received())
    cluster.proxy.slow(600)  # holds the turn in its middle, after the tracker was read
    try:
        message_id = person.send(answer, "rasa-a")
        wait_for(cluster.proxy.held_from, 60, "the turn to reach the action server")
        cluster.postgres.stop("immediate")
    finally:
        cluster.proxy.fast()  # the turn goes on and fails when it saves
    try:
        # Told while the database is away (the chat id was read before the turn).
        assert person.wait_received(before + 1)[before:] == [TROUBLE_ES]
    finally:
        cluster.postgres.start()
    # Back: the worker records the failure, and the retry is the whole turn.
    wait_trouble_then_recover(cluster, person, message_id, before, "rasa_")
    cluster.retry_now(person.sender_id)
    cluster.wait_done(person.provider, message_id)
    assert_intake_went_on(cluster, person, [*said, answer], asked, troubles=1)


def at_a_question(person: Person) -> tuple[list[str], str | None, str]:
    """An intake started and at its first question after consent: what was said, the
    question, and the answer to it."""
    said = start_intake(person)
    asked = person.requested()
    return said, asked, ANSWERS[str(asked)]


def wait_trouble_then_recover(cluster: Cluster, person: Person, message_id: str, before: int,
                              error_prefix: str) -> None:
    """The person hears once that we are having trouble; the message waits for its retry."""
    received = person.wait_received(before + 1)
    assert received[before:] == [TROUBLE_ES]
    # Told first, then the failure is recorded (that may wait for the database).
    wait_for(lambda: cluster.inbox_status(person.provider, message_id) == "pending", 60, "the failure recorded")
    [row] = cluster.cases("SELECT attempts, last_error FROM inbox_messages WHERE provider_message_id = :m",
                          m=message_id)
    assert row["attempts"] == 1, row
    assert str(row["last_error"]).startswith(error_prefix), row


def test_redis_down_the_person_is_told_and_the_intake_goes_on_after_recovery(cluster: Cluster) -> None:
    person = Person.on(cluster, "telegram")
    said, asked, answer = at_a_question(person)
    before = len(person.received())
    cluster.redis.stop()
    try:
        message_id = person.send(answer, "rasa-b")  # stored: PostgreSQL is up
        wait_trouble_then_recover(cluster, person, message_id, before, "rasa_")
        assert user_texts(stored_events(cluster, person.sender_id)) == said  # never processed without the lock
    finally:
        cluster.redis.start()
    cluster.retry_now(person.sender_id)
    cluster.wait_done(person.provider, message_id)
    assert_intake_went_on(cluster, person, [*said, answer], asked, troubles=1)


def test_action_server_down_the_person_is_told_and_the_intake_goes_on_after_recovery(cluster: Cluster) -> None:
    person = Person.on(cluster, "whatsapp")
    said, asked, answer = at_a_question(person)
    before = len(person.received())
    cluster.stack.stop_process("actions")
    try:
        message_id = person.send(answer, "rasa-a")
        wait_trouble_then_recover(cluster, person, message_id, before, "actions_")
        assert user_texts(stored_events(cluster, person.sender_id)) == said  # Rasa not asked without its actions
    finally:
        proc = cluster.stack.start_actions()
        wait_http(f"{cluster.stack.actions_url}/health", 180, proc)
    cluster.retry_now(person.sender_id)
    cluster.wait_done(person.provider, message_id)
    assert_intake_went_on(cluster, person, [*said, answer], asked, troubles=1)


def test_action_server_slower_than_rasas_timeout_no_half_turn_and_the_intake_goes_on(cluster: Cluster) -> None:
    # Rasa 3.6 waits 300 s for an action (rasa.core.constants.DEFAULT_REQUEST_TIMEOUT) and
    # then carries on without the action's events. Here the action server answers after
    # 10 minutes; the channel stops waiting after CHANNEL_TURN_TIMEOUT_S (30 s here).
    person = Person.on(cluster, "telegram")
    said, asked, answer = at_a_question(person)
    before = len(person.received())
    cluster.proxy.slow(600)
    try:
        message_id = person.send(answer, "rasa-a")
        wait_trouble_then_recover(cluster, person, message_id, before, "rasa_timeout")
        # The cut turn left nothing behind: no user event, no half of the action's events.
        assert user_texts(stored_events(cluster, person.sender_id)) == said
    finally:
        cluster.proxy.fast()
    cluster.retry_now(person.sender_id)
    cluster.wait_done(person.provider, message_id)
    assert_intake_went_on(cluster, person, [*said, answer], asked, troubles=1)


def pid_with_local_port(pids: Iterable[int], port: int) -> int | None:
    """Which of `pids` owns the TCP socket bound to local `port` (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return pid
    return None


def test_a_replica_killed_mid_turn_loses_nothing_and_the_other_takes_over(cluster: Cluster) -> None:
    person = Person.on(cluster, "whatsapp")
    said, asked, answer = at_a_question(person)
    cluster.proxy.slow(600)  # holds the turn in the middle: the action ran, its answer waits
    try:
        message_id = person.send(answer, "rasa-a")
        wait_for(cluster.proxy.held_from, 60, "the turn to reach the action server")
        [port] = cluster.proxy.held_from()
        pids = {cluster.stack.processes[name].pid: name for name in REPLICAS}
        busy = pid_with_local_port(pids, port)
        assert busy is not None, "no replica holds the action call"
        os.killpg(busy, signal.SIGKILL)  # the replica dies holding the person's lock and message
        cluster.stack.processes[pids[busy]].wait(timeout=30)
    finally:
        cluster.proxy.fast()
    assert [name for name in REPLICAS if cluster.alive(name)] == [n for n in REPLICAS if n != pids[busy]]
    assert cluster.inbox_status("whatsapp", message_id) == "processing"
    # The dead worker's lease (5 minutes) is over in simulated time; its Redis lock expires
    # with its heartbeat (10 s). The survivor's worker takes the message.
    cluster.retry_now(person.sender_id)
    cluster.wait_done(person.provider, message_id)
    # The killed turn stored nothing (Rasa saves a turn at its end): the answer is there once.
    assert_intake_went_on(cluster, person, [*said, answer], asked, troubles=0)
