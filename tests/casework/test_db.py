"""Engines per backend, the unit of work, and migrating a database to head."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from casework import db
from casework.db import current_revision, make_engine, session_scope, upgrade
from casework.models import AuditEvent
from casework.settings import load_settings
from tests.casework.conftest import Database
from tests.casework.factories import NOW


def head_revision() -> str:
    """The newest migration (the chain grows as features add tables)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


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
    assert upgrade(empty_database_url) == head_revision()
    assert upgrade(empty_database_url) == head_revision()
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
        assert f"at revision {head_revision()}" in capsys.readouterr().out
        assert current_revision(url) == head_revision()
        assert db.main(["sideways"]) == 2
    finally:
        load_settings.cache_clear()
