"""Engines per backend, the unit of work, and migrating a database to head."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from casework import db
from casework.db import current_revision, make_engine, run_unit_of_work, session_scope, upgrade
from casework.models import AuditEvent
from casework.settings import load_settings
from tests.casework.conftest import Database, throwaway_postgres
from tests.casework.factories import NOW

# The newest migration, whichever it is (several branches add migrations).
HEAD = ScriptDirectory(str(db.MIGRATIONS)).get_current_head()


def test_sqlite_engine_creates_its_folder_and_sets_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'cases.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert (tmp_path / "var").is_dir()
    finally:
        engine.dispose()


def test_postgres_engine_keeps_a_small_checked_pool() -> None:
    engine = make_engine("postgresql://oss@db.invalid/cases")  # no connection is made
    assert engine.pool.size() == 5
    assert engine.pool._max_overflow == 5
    assert engine.pool._pre_ping is True
    assert make_engine("postgresql://oss@db.invalid/cases", pre_ping=False).pool._pre_ping is False


def test_the_unit_of_work_commits_on_success_and_rolls_back_on_error(database: Database) -> None:
    with session_scope(database.engine) as session:
        session.add(AuditEvent(at=NOW, actor="test", action="kept", details={}))

    def fail_midway() -> None:
        with session_scope(database.engine) as session:
            session.add(AuditEvent(at=NOW, actor="test", action="lost", details={}))
            session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_midway()
    assert [row["action"] for row in database.rows("SELECT action FROM audit_events")] == ["kept"]


def test_upgrade_reports_the_revision_and_is_repeatable(empty_database_url: str) -> None:
    assert current_revision(empty_database_url) is None
    assert upgrade(empty_database_url) == HEAD
    assert upgrade(empty_database_url) == HEAD
    engine = make_engine(empty_database_url)
    try:
        with session_scope(engine) as session:
            assert session.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == 0
    finally:
        engine.dispose()


def test_make_db_upgrade_migrates_the_configured_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    load_settings.cache_clear()
    try:
        assert db.main(["upgrade"]) == 0
        assert f"at revision {HEAD}" in capsys.readouterr().out
        assert current_revision(url) == HEAD
        assert db.main(["sideways"]) == 2
    finally:
        load_settings.cache_clear()


def _drop_connections_as_a_restart_does(database: Database) -> None:
    """The server closes every other connection to the test database (pooled ones go stale)."""
    with database.engine.connect() as connection:
        connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ))


def _audit(action: str) -> object:
    return lambda session: session.add(AuditEvent(at=NOW, actor="test", action=action, details={}))


def test_a_unit_of_work_survives_a_database_restart_without_pinging_every_connection(
    postgres_admin: Engine,
) -> None:
    """Only a database server drops its connections: PostgreSQL only."""
    with throwaway_postgres(postgres_admin) as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            _survives_a_restart(Database(kind="postgresql", url=url, engine=engine))
        finally:
            engine.dispose()


def _survives_a_restart(database: Database) -> None:
    unpinged = make_engine(database.url, pre_ping=False)
    try:
        run_unit_of_work(unpinged, _audit("before"))  # a pooled connection now exists
        _drop_connections_as_a_restart_does(database)
        with pytest.raises(OperationalError), session_scope(unpinged) as session:  # what it would cost
            _audit("lost")(session)
        run_unit_of_work(unpinged, _audit("warm"))
        _drop_connections_as_a_restart_does(database)
        run_unit_of_work(unpinged, _audit("after"))  # no error: tried again on a fresh connection
    finally:
        unpinged.dispose()
    assert [row["action"] for row in database.rows("SELECT action FROM audit_events ORDER BY id")] == [
        "before", "warm", "after"]


def test_a_unit_of_work_is_not_run_again_for_other_database_errors(database: Database) -> None:
    calls: list[int] = []

    def broken(session: Session) -> None:
        calls.append(1)
        session.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(DBAPIError):
        run_unit_of_work(database.engine, broken)
    assert len(calls) == 1
