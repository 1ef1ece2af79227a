"""Throwaway PostgreSQL and Redis servers in a temporary folder, on free ports.

For the production tests and the benchmark: they stop and restart these to inject
faults without touching the machine's shared services. PostgreSQL refuses to run as
root, so as root the cluster belongs to the `postgres` user (`runuser`).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from devtools.stack import free_port


class ServiceUnavailable(RuntimeError):
    """The binaries to run a throwaway service are not installed here."""


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ServiceUnavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")


def _as_postgres_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _wait_port(port: int, timeout_s: float) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {timeout_s:.0f}s")


@dataclass
class PostgresServer:
    """One PostgreSQL cluster; `stop()`/`start()` keep its data and port."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="oss-pg-")))
    port: int = field(default_factory=free_port)
    max_connections: int = 100

    def __post_init__(self) -> None:
        self.bin = postgres_bin()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self.data = self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(  # noqa: S603 - fixed argv
            _as_postgres_user([str(self.bin / "pg_ctl"), "-D", str(self.data), *args]),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        if not self.data.exists():
            subprocess.run(  # noqa: S603
                _as_postgres_user([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust",
                                   "-U", "postgres", "--no-sync", "-E", "UTF8"]),
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   f"-c max_connections={self.max_connections}")
        self._pg_ctl("-o", options, "-l", str(self.root / "postgres.log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`immediate` is a crash from the clients' point of view)."""
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("-m", mode, "-w", "stop")

    def create_database(self, name: str) -> str:
        subprocess.run(  # noqa: S603
            [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name],
            check=True,
        )
        return self.url(name)

    def remove(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class RedisServer:
    """One redis-server without persistence; `stop()`/`start()` keep its port (not its data)."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="oss-redis-")))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if not self.binary:
            raise ServiceUnavailable("redis-server is not installed")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.root / "redis.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603
            [str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        _wait_port(self.port, 20)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
