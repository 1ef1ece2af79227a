"""Start and stop the local stack: action server, Rasa server, the case-work workers and
(for `make run`) the staff console.

Used by `make run` and by the conversation tests, so both exercise the same processes.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devtools import ROOT

VENV_BIN = Path(sys.executable).parent
LOCAL_SECRETS = ROOT / ".env.local"
GENERATED_SECRETS = ("FIELD_ENCRYPTION_KEY", "SENDER_ID_SECRET", "CONSOLE_SECRET_KEY")


def local_secrets() -> dict[str, str]:
    """Secrets for local runs: from the environment, else generated once into .env.local.

    Never committed (.gitignore); production sets them in the environment.
    """
    values: dict[str, str] = {}
    if LOCAL_SECRETS.exists():
        for line in LOCAL_SECRETS.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    changed = False
    for key in GENERATED_SECRETS:
        if os.environ.get(key):
            values[key] = os.environ[key]
        elif key not in values:
            values[key] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
            changed = True
    if changed:
        LOCAL_SECRETS.write_text(
            "# Generated for local runs by devtools/stack.py; never commit this file.\n"
            + "".join(f"{k}={v}\n" for k, v in values.items())
        )
        LOCAL_SECRETS.chmod(0o600)
    return values


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:  # noqa: S310 - local URL
                if reply.status < 500:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f}s")


@dataclass
class Stack:
    model: Path
    rasa_port: int
    actions_port: int
    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    endpoints: str = "endpoints.yml"
    console_port: int | None = None  # the staff console is started only when a port is given

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.console_port}"

    @property
    def actions_url(self) -> str:
        return f"http://127.0.0.1:{self.actions_port}"

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(  # noqa: S603 - fixed argv
            cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = proc
        return proc

    def prepare_database(self) -> None:
        """Bring the cases database to the latest migration (SQLite file by default)."""
        from casework.db import upgrade

        upgrade(self.env["DATABASE_URL"])

    def start_actions(self) -> subprocess.Popen[bytes]:
        return self._spawn("actions", [
            sys.executable, "-m", "bot.serve", "--actions", "bot.actions",
            "--port", str(self.actions_port),
        ])

    def start_rasa(self, name: str = "rasa", port: int | None = None) -> subprocess.Popen[bytes]:
        """One Rasa server; the production tests start several replicas with `name`/`port`."""
        return self._spawn(name, [
            str(VENV_BIN / "rasa"), "run", "--model", str(self.model), "--enable-api",
            "--interface", "127.0.0.1", "--port", str(port or self.rasa_port),
            "--credentials", "credentials.yml", "--endpoints", self.endpoints,
            # Optional: with RASA_API_TOKEN set, the HTTP API (used by the console) needs ?token=.
            *(["--auth-token", self.env["RASA_API_TOKEN"]] if self.env.get("RASA_API_TOKEN") else []),
        ])

    def start(self, timeout_s: float = 180) -> None:
        self.prepare_database()
        actions = self.start_actions()
        rasa = self.start_rasa()
        # The background workers: staff notifications, and erasure/retention (casework.retention).
        self._spawn("outbox", [sys.executable, "-m", "casework.outbox", "--loop"])
        self._spawn("privacy", [sys.executable, "-m", "casework.retention", "--loop", "--interval", "1"])
        console = None
        if self.console_port is not None:
            console = self._spawn("console", [sys.executable, "-m", "console"])
        wait_http(f"{self.actions_url}/health", timeout_s, actions)
        wait_http(f"{self.rasa_url}/", timeout_s, rasa)
        if console is not None:
            wait_http(f"{self.console_url}/health", timeout_s, console)

    def stop_process(self, name: str) -> None:
        """Stop one process of the stack (tests of an outage), and forget it."""
        proc = self.processes.pop(name, None)
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 20
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.processes.clear()


def make_stack(model: Path, rasa_port: int, actions_port: int, workdir: Path,
               extra_env: dict[str, str] | None = None, console_port: int | None = None) -> Stack:
    env = {
        **os.environ,
        **local_secrets(),
        "PYTHONPATH": str(ROOT),
        # Logs written as they happen: the tests that read them must see the latest lines.
        "PYTHONUNBUFFERED": "1",
        "RASA_PORT": str(rasa_port),
        "ACTIONS_PORT": str(actions_port),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        # One TensorFlow thread each: a turn's model work is small, and more threads only
        # contend with the other processes for the cores (reports/bench.md).
        "TF_INTER_OP_PARALLELISM_THREADS": os.environ.get("TF_INTER_OP_PARALLELISM_THREADS", "1"),
        "TF_INTRA_OP_PARALLELISM_THREADS": os.environ.get("TF_INTRA_OP_PARALLELISM_THREADS", "1"),
        # Likewise one OpenMP thread (the e5 sentence encoder): see bot/nlu/encoder.py.
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "RASA_TELEMETRY_ENABLED": "false",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "TRACKER_DB": str(workdir / "tracker.db"),
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{workdir / 'cases.db'}",
        **({"CONSOLE_PORT": str(console_port)} if console_port is not None else {}),
        **(extra_env or {}),
    }
    workdir.mkdir(parents=True, exist_ok=True)
    return Stack(model=model, rasa_port=rasa_port, actions_port=actions_port, env=env,
                 log_dir=workdir / "logs", console_port=console_port)
