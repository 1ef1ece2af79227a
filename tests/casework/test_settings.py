"""Settings come from the environment once, with defaults, and secrets fail clearly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from casework.settings import MissingSecret, Settings, SettingsError, load_settings
from tests.casework.factories import new_key

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_need_nothing_configured() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == f"sqlite:///{ROOT / 'var' / 'cases.db'}"
    assert settings.retention_conversation_days == 180
    assert settings.retention_closed_case_days == 730
    assert settings.fallback_office_id == "fallback"
    assert settings.field_encryption_keys == ()
    assert settings.sender_id_secret is None


def test_every_variable_is_read() -> None:
    old, new = new_key(), new_key()
    settings = Settings.from_env({
        "DATABASE_URL": "postgres://oss@db:5432/cases",
        "FIELD_ENCRYPTION_KEY": f" {new} , {old} ,",
        "SENDER_ID_SECRET": "s3cret",
        "RETENTION_CONVERSATION_DAYS": "30",
        "RETENTION_CLOSED_CASE_DAYS": "365",
        "FALLBACK_OFFICE_ID": "oss-es",
    })
    assert settings.database_url == "postgresql://oss@db:5432/cases"
    assert settings.field_encryption_keys == (new, old)
    assert settings.require_field_encryption_keys()[0] == new  # the first key encrypts
    assert settings.require_sender_id_secret() == "s3cret"
    assert (settings.retention_conversation_days, settings.retention_closed_case_days) == (30, 365)
    assert settings.fallback_office_id == "oss-es"


@pytest.mark.parametrize("value", ["soon", "0", "-3", "1.5"])
def test_a_bad_retention_period_is_refused_by_name(value: str) -> None:
    with pytest.raises(SettingsError, match="RETENTION_CLOSED_CASE_DAYS"):
        Settings.from_env({"RETENTION_CLOSED_CASE_DAYS": value})


def test_missing_secrets_fail_when_needed_and_say_what_to_set() -> None:
    settings = Settings.from_env({"FIELD_ENCRYPTION_KEY": " ", "SENDER_ID_SECRET": ""})
    with pytest.raises(MissingSecret, match="FIELD_ENCRYPTION_KEY is not set.*urlsafe_b64encode"):
        settings.require_field_encryption_keys()
    with pytest.raises(MissingSecret, match="SENDER_ID_SECRET is not set"):
        settings.require_sender_id_secret()


def test_load_settings_reads_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    load_settings.cache_clear()
    try:
        monkeypatch.setenv("FALLBACK_OFFICE_ID", "first")
        first = load_settings()
        monkeypatch.setenv("FALLBACK_OFFICE_ID", "second")
        assert load_settings() is first
        assert first.fallback_office_id == "first"
    finally:
        load_settings.cache_clear()


def test_importing_casework_does_no_work(tmp_path: Path) -> None:
    """No settings read, no engine, no database file at import time."""
    database = tmp_path / "not-yet" / "cases.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "PYTHONPATH": str(ROOT)}
    env.pop("FIELD_ENCRYPTION_KEY", None)
    env.pop("SENDER_ID_SECRET", None)
    code = "import casework.db, casework.inbox, casework.privacy, casework.audit, casework.models"
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=tmp_path, timeout=60)
    assert not database.parent.exists()
