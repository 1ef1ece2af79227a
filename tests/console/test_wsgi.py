"""The console in production: under gunicorn, behind a proxy (ProxyFix), with probes.

- gunicorn really serves `console.wsgi:app` with `console/gunicorn_conf.py` (a subprocess,
  the way deploy/Procfile and the image start it): health, readiness, the sign-in page, and
  a Secure `__Host-` cookie when the public origin is https.
- Behind CONSOLE_TRUSTED_PROXIES proxies the client address that sign-in throttling counts
  is the one the proxy saw, and the scheme is https; with 0 the same headers change nothing.
- `/ready` is 503 until the cases database is migrated.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask, url_for

import console.app as console_app
from casework.db import make_engine, upgrade
from casework.settings import Settings
from console.app import create_app
from console.config import ConsoleSettings
from devtools.stack import free_port, wait_http
from tests.casework.factories import new_key
from tests.console.conftest import Console, csrf_token

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
PROXY = {"X-Forwarded-For": "6.6.6.6, 198.51.100.9", "X-Forwarded-Proto": "https"}


def behind_proxies(console: Console, proxies: int, *, probe: bool = False) -> Flask:
    """The fixture's console built again with `proxies` trusted proxies (same database)."""
    services = console.app.extensions["oss_console"]
    app = create_app(replace(services.settings, trusted_proxies=proxies),
                     casework=Settings(database_url=console.db.url, field_encryption_keys=(new_key(),)),
                     engine=console.db.engine, rasa=services.rasa, clock=console.clock)
    app.extensions["oss_console"].cipher = console.cipher
    if probe:  # what a view would see: the client address, the scheme, an external link
        @app.get("/_probe")
        def probe_view() -> dict[str, object]:
            from flask import request
            return {"client": request.remote_addr, "secure": request.is_secure,
                    "link": url_for("auth.login", _external=True)}
    return app


def failed_sign_in_from(app: Flask, console: Console, headers: dict[str, str]) -> list[str]:
    client = app.test_client()
    token = csrf_token(client, "/login")
    # Over https Flask-WTF also wants the browser's Referer of this host (Referrer-Policy same-origin).
    reply = client.post("/login", data={"username": "nobody", "password": "wrong password!",
                                        "csrf_token": token}, headers={**headers, "Referer": "https://localhost/login"})
    assert reply.status_code == 401
    return [row["key"] for row in console.db.rows("SELECT key FROM staff_login_failures WHERE key LIKE 'ip:%'")]


def test_behind_one_proxy_throttling_counts_the_address_the_proxy_saw(console: Console) -> None:
    app = behind_proxies(console, 1)
    # The client wrote 6.6.6.6 itself; the proxy appended the address it really saw.
    assert failed_sign_in_from(app, console, PROXY) == ["ip:198.51.100.9"]


def test_without_trusted_proxies_forwarded_headers_are_ignored(console: Console) -> None:
    app = behind_proxies(console, 0)
    assert failed_sign_in_from(app, console, PROXY) == ["ip:127.0.0.1"]


def test_behind_a_proxy_the_scheme_and_links_are_https(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_app, "PUBLIC_ENDPOINTS", console_app.PUBLIC_ENDPOINTS | {"probe_view"})
    seen = behind_proxies(console, 1, probe=True).test_client().get("/_probe", headers=PROXY).get_json()
    assert seen == {"client": "198.51.100.9", "secure": True, "link": "https://localhost/login"}
    direct = behind_proxies(console, 0, probe=True).test_client().get("/_probe", headers=PROXY).get_json()
    assert direct == {"client": "127.0.0.1", "secure": False, "link": "http://localhost/login"}


def test_behind_a_proxy_a_post_without_the_consoles_referer_is_refused(console: Console) -> None:
    """Why the Referrer-Policy is same-origin, not no-referrer: over https a POST must carry it."""
    client = behind_proxies(console, 1).test_client()
    token = csrf_token(client, "/login")
    form = {"username": "nobody", "password": "wrong password!", "csrf_token": token}
    assert client.post("/login", data=form, headers=PROXY).status_code == 400
    assert client.post("/login", data=form, headers={**PROXY, "Referer": "https://evil.example/"}).status_code == 400
    assert client.get("/login", headers=PROXY).headers["Referrer-Policy"] == "same-origin"


def test_ready_only_once_the_database_is_migrated(console: Console, tmp_path: Path) -> None:
    assert console.client().get("/ready").status_code == 200
    assert console.client().get("/health").status_code == 200
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    services = console.app.extensions["oss_console"]
    unmigrated = create_app(services.settings, casework=Settings(database_url=console.db.url,
                                                                 field_encryption_keys=(new_key(),)),
                            engine=empty, rasa=services.rasa, clock=console.clock)
    reply = unmigrated.test_client().get("/ready")
    assert (reply.status_code, reply.get_json()) == (503, {"status": "unavailable"})
    assert unmigrated.test_client().get("/health").status_code == 200  # alive: no restart for a DB outage
    empty.dispose()


def test_trusted_proxies_come_from_the_environment() -> None:
    base = {"CONSOLE_SECRET_KEY": "k" * 40}
    assert ConsoleSettings.from_env(base).trusted_proxies == 0
    assert ConsoleSettings.from_env({**base, "CONSOLE_TRUSTED_PROXIES": "2"}).trusted_proxies == 2
    with pytest.raises(ValueError, match="CONSOLE_TRUSTED_PROXIES"):
        ConsoleSettings.from_env({**base, "CONSOLE_TRUSTED_PROXIES": "-1"})


# --- gunicorn, for real ------------------------------------------------------------------------

@pytest.fixture
def gunicorn_console(tmp_path: Path) -> Iterator[str]:
    database_url = f"sqlite:///{tmp_path / 'cases.db'}"
    upgrade(database_url)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CONSOLE_", "RASA_"))},
        "PYTHONPATH": str(ROOT), "DATABASE_URL": database_url, "FIELD_ENCRYPTION_KEY": new_key(),
        "SENDER_ID_SECRET": "s" * 32, "CONSOLE_SECRET_KEY": "c" * 40, "CONSOLE_PORT": str(port),
        "CONSOLE_BASE_URL": "https://console.example.org", "CONSOLE_TRUSTED_PROXIES": "1",
        "CONSOLE_WORKERS": "1",
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen([str(GUNICORN), "-c", "python:console.gunicorn_conf", "console.wsgi:app"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", 60, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        logged = (tmp_path / "gunicorn.log").read_text()
        assert "Traceback" not in logged, logged[-3000:]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=20) as reply:
            return reply.status, dict(reply.headers), reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def test_gunicorn_serves_health_readiness_and_the_sign_in_page(gunicorn_console: str) -> None:
    assert get(f"{gunicorn_console}/health")[::2] == (200, '{"status":"ok"}\n')
    assert get(f"{gunicorn_console}/ready")[0] == 200
    status, headers, page = get(f"{gunicorn_console}/login", {"X-Forwarded-Proto": "https",
                                                              "X-Forwarded-For": "198.51.100.9"})
    assert status == 200
    assert re.search(r'name="csrf_token" value="[^"]+"', page)
    assert headers["Server"] == "gunicorn"
    cookie = headers["Set-Cookie"]
    assert cookie.startswith("__Host-oss_console=")
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert headers["Strict-Transport-Security"].startswith("max-age=")
