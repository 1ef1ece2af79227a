"""Fixtures for the case-work tests: a migrated database per backend, keys, a clock.

Every test that takes `database` runs twice: on a SQLite file and on a throwaway
PostgreSQL database (`oss_test_<random>`, created, migrated and dropped around the test).
Without a reachable PostgreSQL the second run is skipped with the reason, unless
OSS_REQUIRE_SERVICES=1 (CI), where it fails instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from casework.db import make_engine, session_scope, upgrade
from casework.privacy import FieldCipher
from tests.casework.factories import new_key

POSTGRES_ADMIN_URL = os.environ.get("OSS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

@dataclass
class Database:
    """A migrated test database: its URL, the engine, and raw SQL for checking what is stored."""

    kind: str
    url: str
    engine: Engine

    def session(self) -> AbstractContextManager[Session]:
        return session_scope(self.engine)

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """Rows as the database holds them, bypassing the models."""
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(text(sql), params).mappings()]


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    engine = create_engine(POSTGRES_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT",
                           connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        engine.dispose()
        reason = f"PostgreSQL is not reachable at {make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)}: {str(error.orig).strip().splitlines()[0]}"
        if os.environ.get("OSS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (OSS_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    yield engine
    engine.dispose()


@contextmanager
def throwaway_postgres(admin: Engine) -> Iterator[str]:
    name = f"oss_test_{secrets.token_hex(6)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"),
                {"name": name},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (not migrated) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cases.db'}"
        return
    with throwaway_postgres(request.getfixturevalue("postgres_admin")) as url:
        yield url


@pytest.fixture
def database(empty_database_url: str) -> Iterator[Database]:
    """A database migrated to head, on each backend."""
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    yield Database(kind=engine.dialect.name, url=empty_database_url, engine=engine)
    engine.dispose()


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher([new_key()])



@pytest.fixture
def rasa_store(database: Database) -> Iterator[Any]:
    """Rasa's own SQL tracker store on the test database (tests/casework/tracker_store.py)."""
    from tests.casework.tracker_store import RasaStore

    store = RasaStore(database)
    yield store
    store.close()
