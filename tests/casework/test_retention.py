"""Retention: what is older than its period goes, what is younger or still in use stays.

Fixed clocks throughout; conversations are written by Rasa's own SQL tracker store.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from casework.conversations import conversation_texts, purge_conversations
from casework.inbox import record_inbound
from casework.privacy import FieldCipher
from casework.retention import run_retention
from casework.settings import Settings
from tests.casework.conftest import Database
from tests.casework.factories import NOW, add_note, make_intake, make_person, make_ticket

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = Settings(retention_conversation_days=180, retention_closed_case_days=730, retention_inbox_days=7)


def stored_conversation(sender_id: str, *sessions: tuple[float, list[str]]) -> Any:
    """A tracker with one session per (days before NOW, texts), at those times."""
    from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    events: list[Any] = []
    for days_ago, texts in sessions:
        at = (NOW - timedelta(days=days_ago)).timestamp()
        events += [ActionExecuted("action_session_start", timestamp=at), SessionStarted(timestamp=at),
                   ActionExecuted("action_listen", timestamp=at)]
        for number, text in enumerate(texts, start=1):
            events += [UserUttered(text, {"name": "inform", "confidence": 1.0}, timestamp=at + number),
                       BotUttered(f"Entendido: {text}", timestamp=at + number),
                       ActionExecuted("action_listen", timestamp=at + number)]
    return DialogueStateTracker.from_events(sender_id, events)


def said(rasa_store: Any, sender_id: str) -> str:
    return " ".join(conversation_texts(rasa_store.engine, sender_id=sender_id))


def test_conversations_older_than_the_period_go(database: Database, rasa_store: Any) -> None:
    rasa_store.save(stored_conversation("wa-silent", (400, ["hace mucho en Lima"]), (200, ["last message"])))
    rasa_store.save(stored_conversation("wa-back", (300, ["old session in Quito"]), (10, ["new session"])))
    rasa_store.save(stored_conversation("wa-recent", (100, ["one hundred days ago"])))
    in_flight = rasa_store.retrieve("wa-back")  # a turn of wa-back runs while retention does

    before = (NOW - timedelta(days=SETTINGS.retention_conversation_days)).timestamp()
    deleted = purge_conversations(rasa_store.engine, before=before)

    assert said(rasa_store, "wa-silent") == ""
    assert "old session" not in said(rasa_store, "wa-back")
    assert "new session" in said(rasa_store, "wa-back")
    assert "one hundred days ago" in said(rasa_store, "wa-recent")
    assert deleted == 2 * 6 + 6  # wa-silent's two sessions, wa-back's old one
    copies = said(rasa_store, "wa-back").count("new session")
    # The turn in flight stores its new events only: nothing old comes back.
    from rasa.shared.core.events import UserUttered

    in_flight.update(UserUttered("hola", {"name": "greet", "confidence": 1.0}))
    rasa_store.save(in_flight)
    assert "old session" not in said(rasa_store, "wa-back")
    assert said(rasa_store, "wa-back").count("new session") == copies  # not written twice
    assert purge_conversations(rasa_store.engine, before=before) == 0


def test_one_retention_run_applies_every_period(database: Database, cipher: FieldCipher, rasa_store: Any) -> None:
    with database.session() as session:
        person = make_person(session, cipher, sender_id="wa-maria", at=NOW - timedelta(days=10))
        old_case = make_ticket(session, person=person, intake=make_intake(session, cipher, person),
                               status="closed", closed_at=NOW - timedelta(days=731), at=NOW - timedelta(days=900))
        add_note(session, cipher, old_case)
        young_case = make_ticket(session, person=person, status="closed", closed_at=NOW - timedelta(days=700))
        for name, days_ago, status in (("done-old", 8, "done"), ("failed-old", 30, "failed"),
                                       ("done-young", 6, "done"), ("pending-old", 8, "pending")):
            message = record_inbound(session, provider="whatsapp", provider_message_id=name, sender_id="wa-maria",
                                     payload={"Body": "hola"}, cipher=cipher, now=NOW - timedelta(days=days_ago))
            assert message is not None
            message.status = status
        ids = (old_case.id, young_case.id)
    rasa_store.save(stored_conversation("wa-silent", (181, ["me voy a Cusco"])))
    rasa_store.save(stored_conversation("wa-maria", (179, ["still here"])))

    report = run_retention(database.engine, tracker=rasa_store.engine, settings=SETTINGS, now=NOW)

    assert (report.cases.tickets_anonymised, report.cases.notes_erased, report.cases.intakes_anonymised) == (1, 1, 1)
    assert report.cases.inbox_messages_deleted == 2
    assert report.conversation_events_deleted == 6
    tickets = {row["id"]: row for row in database.rows("SELECT id, person_id, anonymised_at, office_id FROM tickets")}
    assert tickets[ids[0]]["person_id"] is None
    assert tickets[ids[0]]["anonymised_at"] is not None
    assert tickets[ids[0]]["office_id"] == "oss-pe"  # the anonymous shell stays
    assert tickets[ids[1]]["anonymised_at"] is None
    assert sorted(r["provider_message_id"] for r in database.rows("SELECT provider_message_id FROM inbox_messages")) == [
        "done-young", "pending-old",
    ]
    assert said(rasa_store, "wa-silent") == ""
    assert "still here" in said(rasa_store, "wa-maria")
    # Run again the next day: nothing more is due.
    again = run_retention(database.engine, tracker=rasa_store.engine, settings=SETTINGS, now=NOW + timedelta(days=1))
    assert (again.cases.tickets_anonymised, again.cases.inbox_messages_deleted, again.conversation_events_deleted) == (0, 0, 0)


def test_the_retention_command_runs_once(database: Database, rasa_store: Any) -> None:
    rasa_store.save(stored_conversation("wa-long-gone", (3650, ["ten years ago"])))
    env = {**os.environ, "DATABASE_URL": database.url, "TRACKER_STORE_URL": database.url, "PYTHONPATH": str(ROOT),
           "RETENTION_CONVERSATION_DAYS": "30"}
    done = subprocess.run([sys.executable, "-m", "casework.retention", "--once"], env=env, cwd=ROOT,  # noqa: S603
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "conversation events deleted: 6" in done.stderr
    assert said(rasa_store, "wa-long-gone") == ""
    assert "wa-long-gone" not in done.stderr + done.stdout


def test_retention_settings_come_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env({"RETENTION_INBOX_DAYS": "3", "TRACKER_DB": str(tmp_path / "tracker.db")})
    assert settings.retention_inbox_days == 3
    assert settings.tracker_store_url == f"sqlite:///{tmp_path / 'tracker.db'}"
    production = Settings.from_env({"TRACKER_STORE_URL": "postgres://rasa@db/tracker", "TRACKER_DB": "ignored.db"})
    assert production.tracker_store_url == "postgresql://rasa@db/tracker"
    defaults = Settings.from_env({})
    assert (defaults.retention_inbox_days, defaults.tracker_store_url) == (7, None)
