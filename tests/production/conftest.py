"""Fixtures for the production profile: throwaway PostgreSQL and Redis, and a small cluster.

The services are started from the installed binaries in a temporary folder on free
ports (devtools/services.py), so the fault tests can stop them without disturbing the
machine's shared PostgreSQL and Redis. Without the binaries the tests skip with the
reason, unless OSS_REQUIRE_SERVICES=1 (CI), where they fail.

The cluster (two Rasa replicas with the production endpoints and the WhatsApp and
Telegram channels on, one action server behind a proxy that can slow it down, fake
Twilio and Telegram APIs on 127.0.0.1) is started once per session: each replica takes a
minute or more and about 1 GB. People write to it with signed webhooks, as the providers
would, and what they receive is read from the fake APIs.
"""

from __future__ import annotations

import os
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa
from rasa.shared.core.domain import Domain

from casework.privacy import pseudonymous_sender_id
from devtools.fake_providers import FakeProviders, FakeTelegram, FakeTwilio
from devtools.services import PostgresServer, RedisServer, ServiceUnavailable
from devtools.stack import Stack, free_port, make_stack, wait_http
from tests.channels_e2e.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BOT_TOKEN,
    PUBLIC,
    SECRET_HEADER,
    TG_HOOK,
    WA_HOOK,
    WEBHOOK_SECRET,
    channel_env,
    sign,
)
from tests.production.action_proxy import SlowActionProxy

ROOT = Path(__file__).resolve().parents[2]


def _unavailable(reason: str) -> None:
    if os.environ.get("OSS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (OSS_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
        server.start()
    except (ServiceUnavailable, OSError) as error:
        _unavailable(f"cannot start a throwaway PostgreSQL: {error}")
    yield server
    server.remove()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
        server.start()
    except (ServiceUnavailable, OSError, TimeoutError) as error:
        _unavailable(f"cannot start a throwaway Redis: {error}")
    yield server
    server.remove()


@pytest.fixture
def tracker_db(postgres_server: PostgresServer) -> str:
    """A fresh database on the throwaway server for one test."""
    return postgres_server.create_database(f"trackers_{uuid.uuid4().hex[:10]}")


@dataclass
class Cluster:
    """Two Rasa replicas and one action server on the production endpoints, with channels."""

    stack: Stack
    replica_ports: dict[str, int]
    postgres: PostgresServer
    redis: RedisServer
    tracker_url: str
    cases_url: str
    twilio: FakeTwilio
    telegram: FakeTelegram
    proxy: SlowActionProxy

    def url(self, replica: str) -> str:
        return f"http://127.0.0.1:{self.replica_ports[replica]}"

    # --- the providers calling a replica -----------------------------------------------
    def post_whatsapp(self, replica: str, pairs: list[tuple[str, str]]) -> httpx.Response:
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sign(PUBLIC + WA_HOOK, pairs)}
        return httpx.post(self.url(replica) + WA_HOOK, content=urlencode(pairs), headers=headers, timeout=60)

    def post_telegram(self, replica: str, update: dict[str, Any]) -> httpx.Response:
        headers = {"Content-Type": "application/json", SECRET_HEADER: WEBHOOK_SECRET}
        return httpx.post(self.url(replica) + TG_HOOK, json=update, headers=headers, timeout=60)

    # --- what the server kept ----------------------------------------------------------
    def sender_id(self, provider: str, handle: str) -> str:
        return pseudonymous_sender_id(provider, handle, self.stack.env["SENDER_ID_SECRET"])

    def cases(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        engine = sa.create_engine(self.cases_url)
        try:
            with engine.begin() as connection:
                result = connection.execute(sa.text(sql), params)
                return [dict(row) for row in result.mappings()] if result.returns_rows else []
        finally:
            engine.dispose()

    def inbox_status(self, provider: str, provider_message_id: str) -> str | None:
        rows = self.cases("SELECT status FROM inbox_messages WHERE provider = :p AND provider_message_id = :m",
                          p=provider, m=provider_message_id)
        return rows[0]["status"] if rows else None

    def wait_done(self, provider: str, provider_message_id: str, timeout_s: float = 180) -> None:
        """Until the stored message is processed (its replies went out)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.inbox_status(provider, provider_message_id)
            if status == "done":
                return
            assert status != "failed", f"{provider} message {provider_message_id} failed for good"
            time.sleep(0.2)
        raise TimeoutError(f"{provider} message {provider_message_id} not processed in {timeout_s:.0f}s:\n{self.logs()}")

    def retry_now(self, sender_id: str) -> None:
        """Simulated time: the waits of the sender's messages (retry times, and the lease of
        a worker that died) are over now; the replicas' workers pick them up on their poll."""
        self.cases("UPDATE inbox_messages SET claimed_until = now() WHERE sender_id = :s "
                   "AND status IN ('pending', 'processing')", s=sender_id)

    def tracker(self, sender_id: str) -> dict[str, Any]:
        """The conversation as Rasa's HTTP API shows it (from a replica still alive)."""
        replica = next(name for name in self.replica_ports if self.alive(name))
        answer = httpx.get(f"{self.url(replica)}/conversations/{sender_id}/tracker", timeout=30)
        answer.raise_for_status()
        return dict(answer.json())

    def alive(self, replica: str) -> bool:
        proc = self.stack.processes.get(replica)
        return proc is not None and proc.poll() is None

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
                         for p in sorted(self.stack.log_dir.glob("*.log")))


@pytest.fixture(scope="session")
def cluster(postgres_server: PostgresServer, redis_server: RedisServer,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from devtools.train import ensure_model

    model = ensure_model(quiet=True)
    tracker_url = postgres_server.create_database("rasa_trackers")
    cases_url = postgres_server.create_database("oss_cases")
    actions_port = free_port()
    ports = {"rasa-a": free_port(), "rasa-b": free_port()}
    workdir = tmp_path_factory.mktemp("cluster")
    twilio, telegram = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN), FakeTelegram(BOT_TOKEN)
    proxy = SlowActionProxy(f"http://127.0.0.1:{actions_port}")
    with FakeProviders(twilio, telegram, proxy):
        stack = make_stack(model, ports["rasa-a"], actions_port, workdir, extra_env={
            **channel_env(workdir, twilio, telegram),
            "DATABASE_URL": cases_url,
            "TRACKER_STORE_URL": tracker_url,
            "REDIS_URL": redis_server.url,
            "ACTION_SERVER_URL": f"{proxy.base_url}/webhook",
            # Shorter than the default 60 s so the slow-action test is quick; still far
            # above a turn's time on a loaded machine.
            "CHANNEL_TURN_TIMEOUT_S": "30",
        })
        stack.endpoints = str(ROOT / "deploy" / "endpoints.yml")
        running = Cluster(stack, ports, postgres_server, redis_server, tracker_url, cases_url, twilio, telegram, proxy)
        try:
            stack.prepare_database()
            actions = stack.start_actions()
            replicas = {name: stack.start_rasa(name, port) for name, port in ports.items()}
            wait_http(f"{stack.actions_url}/health", 240, actions)
            for name, proc in replicas.items():
                wait_http(f"{running.url(name)}/", 300, proc)
        except Exception as error:
            logs = running.logs()
            stack.stop()
            raise RuntimeError(f"the cluster did not start ({error}):\n{logs}") from None
        try:
            yield running
        finally:
            stack.stop()


@pytest.fixture(scope="session")
def domain() -> Domain:
    """The assistant's domain as Rasa loads it, for the tests that call our actions through
    Rasa's RemoteAction (tests/production/action_server.py)."""
    with warnings.catch_warnings():  # Rasa's own notices about its 2.x slot options
        warnings.simplefilter("ignore")
        return Domain.load(str(ROOT / "domain"))
