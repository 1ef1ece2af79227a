"""Configuration of the case-work core, read from the environment in this one place.

Nothing is read at import time: `load_settings()` reads the environment the first time it
is called and caches the result for the process. Secrets are optional here and only
demanded where they are used (`require_*`), so a schema migration runs without them and a
missing key fails with an error that says which variable to set and how.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite:///{REPO_ROOT / 'var' / 'cases.db'}"

KEY_HINT = "python -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"


class SettingsError(ValueError):
    """A setting is present but unusable (not a number, not a key...)."""


class MissingSecret(RuntimeError):
    """A secret the current operation needs is not configured."""


@dataclass(frozen=True)
class Settings:
    """Everything `casework` is configured with. Build it directly in tests."""

    database_url: str = DEFAULT_DATABASE_URL
    # The first key encrypts; every key decrypts (rotation: prepend the new key).
    field_encryption_keys: tuple[str, ...] = ()
    sender_id_secret: str | None = None
    retention_conversation_days: int = 180
    retention_closed_case_days: int = 730
    fallback_office_id: str = "fallback"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read the variables named in CONTRACT.md section 6; unset or empty means default."""

        def text(name: str) -> str | None:
            value = environ.get(name, "").strip()
            return value or None

        return cls(
            database_url=normalise_database_url(text("DATABASE_URL") or DEFAULT_DATABASE_URL),
            field_encryption_keys=split_keys(text("FIELD_ENCRYPTION_KEY") or ""),
            sender_id_secret=text("SENDER_ID_SECRET"),
            retention_conversation_days=days(environ, "RETENTION_CONVERSATION_DAYS", 180),
            retention_closed_case_days=days(environ, "RETENTION_CLOSED_CASE_DAYS", 730),
            fallback_office_id=text("FALLBACK_OFFICE_ID") or "fallback",
        )

    def require_field_encryption_keys(self) -> tuple[str, ...]:
        if not self.field_encryption_keys:
            raise MissingSecret(
                "FIELD_ENCRYPTION_KEY is not set: personal fields cannot be encrypted or read. "
                f"Generate a key with: {KEY_HINT}"
            )
        return self.field_encryption_keys

    def require_sender_id_secret(self) -> str:
        if not self.sender_id_secret:
            raise MissingSecret(
                "SENDER_ID_SECRET is not set: pseudonymous sender ids cannot be computed. "
                f"Generate one with: {KEY_HINT}"
            )
        return self.sender_id_secret


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings.from_env(os.environ)


def split_keys(raw: str) -> tuple[str, ...]:
    return tuple(key.strip() for key in raw.split(",") if key.strip())


def days(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number of days, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be at least 1 day, got {value}")
    return value


def normalise_database_url(url: str) -> str:
    """Accept the `postgres://` spelling many hosting providers hand out."""
    if url.startswith("postgres://"):
        return "postgresql://" + url.removeprefix("postgres://")
    return url
