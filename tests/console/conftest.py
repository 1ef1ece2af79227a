"""Fixtures for the console: a migrated database per backend (the case-work pattern), the
Flask app on it with a settable clock, staff accounts of two offices, and a signed-in client.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from casework.models import Intake, Person, Ticket
from casework.privacy import FieldCipher
from casework.settings import Settings
from casework.staff import create_account
from console.app import create_app
from console.config import ConsoleSettings
from console.rasa_api import RasaAPI
from devtools.stack import free_port
from knowledge.loader import knowledge_base
from tests.casework.conftest import Database, database, empty_database_url, postgres_admin  # noqa: F401
from tests.casework.factories import NOW, new_key

PASSWORD = "correct horse battery staple"
OFFICE_A, OFFICE_B = "oss-pe", "oss-bo"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Clock:
    """The app's notion of now; tests move it to expire sessions and throttling windows."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Console:
    app: Flask
    db: Database
    cipher: FieldCipher
    clock: Clock
    totp_secrets: dict[str, str] = field(default_factory=dict)

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def add_staff(self, username: str, *, office: str = OFFICE_A, role: str = "caseworker", totp: bool = False) -> str:
        kb = knowledge_base()
        with self.db.session() as session:
            _staff, secret = create_account(
                session, username=username, office_id=office, role=role, password=PASSWORD, now=self.clock(),
                cipher=self.cipher, known_offices={o.id for o in kb.offices}, totp=totp,
            )
        if secret:
            self.totp_secrets[username] = secret
        return username

    def add_ticket(self, *, office: str = OFFICE_A, channel: str = "rest", sender_id: str | None = None,
                   fields: dict[str, Any] | None = None, priority: str = "normal", origin: str = "PE",
                   needs: tuple[str, ...] = ("employment",), at: datetime | None = None,
                   last_inbound_at: datetime | None = None, eligibility: dict[str, Any] | None = None) -> str:
        at = at or self.clock()
        with self.db.session() as session:
            person = Person(sender_id=sender_id or f"rest-{secrets.token_hex(8)}", channel=channel,
                            handle_encrypted=self.cipher.encrypt_text("+34600111222"), language="es",
                            created_at=at, last_inbound_at=last_inbound_at or at)
            session.add(person)
            session.flush()
            intake = Intake(person_id=person.id, fields_encrypted=self.cipher.encrypt_json(
                fields or {"preferred_name": "María Quispe", "residence_city": "Alcobendas"}),
                origin_country=origin, residence_country="ES", needs=list(needs),
                eligibility=eligibility or {"outcome": "likely_eligible", "country": "ES", "reasons": ["es-minimum-stay"]},
                vulnerability_flag=False, created_at=at, completed_at=at)
            session.add(intake)
            session.flush()
            reference = "OSS-" + "".join(secrets.choice("23456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(6))
            session.add(Ticket(
                reference=reference, idempotency_key=secrets.token_hex(16), person_id=person.id, intake_id=intake.id,
                office_id=office, status="new", priority=priority, origin_country=origin, residence_country="ES",
                needs=list(needs), language="es", created_at=at, updated_at=at,
            ))
        return reference

    def sign_in(self, username: str, client: FlaskClient | None = None) -> FlaskClient:
        client = client or self.client()
        reply = post_form(client, "/login", {"username": username, "password": PASSWORD})
        if username in self.totp_secrets:
            assert reply.headers.get("Location", "").endswith("/login/totp"), reply.status_code
            code = pyotp.TOTP(self.totp_secrets[username]).at(self.clock())
            reply = post_form(client, "/login/totp", {"code": code})
        assert reply.status_code == 302, reply.get_data(as_text=True)[:500]
        return client


def csrf_token(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    found = _CSRF.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {path} ({page.status_code})"
    return found.group(1)


def post_form(client: FlaskClient, path: str, data: dict[str, str], *, token_from: str | None = None) -> Any:
    """POST like the browser does: with the CSRF token of the page the form is on."""
    token = csrf_token(client, token_from or ("/login" if path.startswith("/login") else "/queue"))
    return client.post(path, data={**data, "csrf_token": token})


@pytest.fixture
def console(database: Database) -> Iterator[Console]:  # noqa: F811
    key = new_key()
    cipher = FieldCipher([key])
    clock = Clock()
    app = create_app(
        ConsoleSettings(secret_key=secrets.token_urlsafe(32), secure_cookies=False),
        casework=Settings(database_url=database.url, field_encryption_keys=(key,)),
        engine=database.engine,
        # Nothing listens here: a test that reached the Rasa server by mistake sees "unavailable".
        rasa=RasaAPI(f"http://127.0.0.1:{free_port()}"),
        clock=clock,
    )
    return Console(app=app, db=database, cipher=cipher, clock=clock)


# --- The real assistant, for live handoff and for the funnel steps the actions count ----------

from tests.conversation.conftest import Person as ChatPerson  # noqa: E402


def live_console(database: Database, rasa_url: str, clock: Clock | None = None) -> Console:  # noqa: F811
    """The console on `database`, talking to the real Rasa server at `rasa_url`."""
    key = new_key()
    clock = clock or Clock(datetime.now(timezone.utc))
    app = create_app(
        ConsoleSettings(secret_key=secrets.token_urlsafe(32), secure_cookies=False),
        casework=Settings(database_url=database.url, field_encryption_keys=(key,)),
        engine=database.engine, rasa=RasaAPI(rasa_url), clock=clock,
    )
    return Console(app=app, db=database, cipher=FieldCipher([key]), clock=clock)


__all__ = ["ChatPerson", "live_console"]
