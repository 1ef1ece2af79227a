"""Fixtures for the production profile: throwaway PostgreSQL and Redis, and a small cluster.

The services are started from the installed binaries in a temporary folder on free
ports (devtools/services.py), so the fault tests can stop them without disturbing the
machine's shared PostgreSQL and Redis. Without the binaries the tests skip with the
reason, unless OSS_REQUIRE_SERVICES=1 (CI), where they fail.

The cluster (two Rasa replicas with the production endpoints, one action server) is
started once per session: each replica takes a minute or more and about 1 GB.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devtools.services import PostgresServer, RedisServer, ServiceUnavailable
from devtools.stack import Stack, free_port, make_stack, wait_http

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
    """Two Rasa replicas and one action server on the production endpoints."""

    stack: Stack
    replica_ports: dict[str, int]
    postgres: PostgresServer
    redis: RedisServer
    tracker_url: str
    cases_url: str

    def url(self, replica: str) -> str:
        return f"http://127.0.0.1:{self.replica_ports[replica]}"

    def say(self, replica: str, sender: str, text: str, timeout: float = 120, **metadata: Any) -> tuple[int, Any]:
        body = {"sender": sender, "message": text, "metadata": {"language": "es", **metadata}}
        request = urllib.request.Request(
            f"{self.url(replica)}/webhooks/rest/webhook", data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

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
    stack = make_stack(model, ports["rasa-a"], actions_port, workdir, extra_env={
        "DATABASE_URL": cases_url,
        "TRACKER_STORE_URL": tracker_url,
        "REDIS_URL": redis_server.url,
        "ACTION_SERVER_URL": f"http://127.0.0.1:{actions_port}/webhook",
    })
    stack.endpoints = str(ROOT / "deploy" / "endpoints.yml")
    running = Cluster(stack, ports, postgres_server, redis_server, tracker_url, cases_url)
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
    yield running
    stack.stop()
