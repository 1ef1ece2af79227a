"""The console's words in four languages, notifications, the CLI, and the conversation view."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from casework.funnel import COUNTS
from casework.models import PRIORITIES, STAFF_ROLES, TICKET_STATUSES
from casework.tickets import CLOSE_REASONS as REASONS
from console.i18n import UI_LANGUAGES, catalog
from console.rasa_api import chat_lines
from devtools import ROOT
from tests.casework.factories import new_key
from tests.console.conftest import OFFICE_A, Console, post_form

CONSOLE = ROOT / "console"
USED = re.compile(r"""\bt\(\s*["']([a-z_]+)["']""")


def test_every_word_of_the_console_exists_in_four_languages() -> None:
    texts = catalog()
    used = {key for path in [*CONSOLE.glob("*.py"), *(CONSOLE / "templates").glob("*.html")]
            for key in USED.findall(path.read_text(encoding="utf-8")) if not key.endswith("_")}  # "status_" + s: below
    used |= {f"status_{s}" for s in TICKET_STATUSES} | {f"priority_{p}" for p in PRIORITIES}
    used |= {f"role_{r}" for r in STAFF_ROLES} | {f"reason_{r}" for r in REASONS}
    used |= {f"who_{w}" for w in ("person", "assistant", "staff")} | {f"funnel_{c}" for c in COUNTS}
    assert sorted(used - set(texts)) == []
    assert all(set(UI_LANGUAGES) <= set(texts[key]) for key in used)


@pytest.mark.parametrize(("language", "word"), [("es", "Bandeja"), ("pt", "Fila"), ("en", "Queue"), ("it", "Coda")])
def test_the_interface_speaks_the_staff_members_language(console: Console, language: str, word: str) -> None:
    console.add_staff("ana")
    client = console.sign_in("ana")
    assert f"<h1>{word}" in client.get("/queue", headers={"Accept-Language": language}).get_data(as_text=True)
    post_form(client, "/language", {"lang": "it", "next": "/queue"})
    assert "<h1>Coda" in client.get("/queue", headers={"Accept-Language": language}).get_data(as_text=True)


def test_new_tickets_are_notified_until_the_queue_is_opened(console: Console) -> None:
    console.add_staff("ana")
    client = console.sign_in("ana")
    client.get("/queue")
    assert client.get("/notifications").get_json()["new_tickets"] == 0
    console.clock.advance(minutes=5)
    console.add_ticket(office=OFFICE_A)
    console.add_ticket(office="oss-bo")  # another office's ticket is not ours to hear about
    console.clock.advance(minutes=1)
    assert client.get("/notifications").get_json() == {"new_tickets": 1, "text": "1 new tickets"}
    client.get("/queue")
    assert client.get("/notifications").get_json()["new_tickets"] == 0
    console.clock.advance(minutes=31)
    assert console.client().get("/notifications").status_code == 401


def test_the_conversation_keeps_only_messages_and_marks_staff_replies() -> None:
    tracker = {"events": [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "hola", "timestamp": 1.0},
        {"event": "bot", "text": "¡Hola!", "timestamp": 2.0, "metadata": {}},
        {"event": "pause"},
        {"event": "bot", "text": "Soy Ana", "timestamp": 3.0, "metadata": {"oss_staff": "ana"}},
        {"event": "bot", "text": None, "timestamp": 4.0},
    ]}
    assert [(line.who, line.text) for line in chat_lines(tracker)] == [
        ("person", "hola"), ("assistant", "¡Hola!"), ("staff", "Soy Ana")]


def test_a_whatsapp_conversation_outside_24_hours_offers_the_template_instead_of_a_reply(console: Console) -> None:
    console.add_staff("ana")
    late = console.add_ticket(channel="whatsapp", last_inbound_at=console.clock() - timedelta(hours=25))
    fresh = console.add_ticket(channel="whatsapp", last_inbound_at=console.clock() - timedelta(hours=2))
    client = console.sign_in("ana")
    late_page = client.get(f"/tickets/{late}").get_data(as_text=True)
    assert 'id="window-closed"' in late_page
    assert 'id="reply"' not in late_page
    assert "whatsapp_template" in late_page  # no template configured here: the page says where to set it
    assert 'id="reply"' in client.get(f"/tickets/{fresh}").get_data(as_text=True)
    refused = post_form(client, f"/tickets/{late}/reply", {"text": "hola"}, token_from=f"/tickets/{late}")
    assert refused.status_code == 302
    assert "24" in client.get(f"/tickets/{late}").get_data(as_text=True)


def test_accounts_are_created_from_the_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": f"sqlite:///{tmp_path / 'cases.db'}",
           "FIELD_ENCRYPTION_KEY": new_key()}
    subprocess.run([sys.executable, "-m", "casework.db", "upgrade"], env=env, check=True, capture_output=True)

    def accounts(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "console.accounts", *args], env=env, input=stdin,
                              capture_output=True, text=True, timeout=120)

    created = accounts("create", "Ana.P", "--office", "oss-pe", "--role", "office_lead", "--password-stdin",
                       stdin="a long enough passphrase\n")
    assert created.returncode == 0, created.stderr
    assert "created ana.p (office_lead, oss-pe)" in created.stdout
    coordinator = accounts("create", "coord", "--office", "fallback", "--role", "coordinator", "--generate")
    assert "otpauth://totp/" in coordinator.stdout
    assert accounts("create", "x1", "--office", "nowhere", "--generate").returncode == 1
    assert accounts("lock", "ana.p").returncode == 0
    listing = accounts("list").stdout
    assert "ana.p\toss-pe\toffice_lead\tlocked\ttotp=no" in listing
    assert "coord\tfallback\tcoordinator\tactive\ttotp=yes" in listing
