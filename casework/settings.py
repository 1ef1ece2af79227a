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
DEFAULT_OFFICES_CONFIG = REPO_ROOT / "config" / "offices.yml"

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
    # Processed WhatsApp/Telegram payloads are only kept to recognise a provider's retry.
    retention_inbox_days: int = 7
    # Rasa's tracker store (the conversations), for erasure and retention; None: not configured.
    tracker_store_url: str | None = None
    fallback_office_id: str = "fallback"
    # Staff notifications (casework.outbox): where each office is told about a new ticket.
    offices_config_path: Path = DEFAULT_OFFICES_CONFIG
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_from: str = "oss-assistant@notify.invalid"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    telegram_api_base_url: str = "https://api.telegram.org"
    # The bot that writes to the staff chats; the channel's bot unless STAFF_TELEGRAM_BOT_TOKEN is set.
    telegram_bot_token: str | None = None
    console_base_url: str = "http://localhost:8080"
    outbox_max_attempts: int = 10  # 30 s doubling, capped at 1 h: the last try ~3 h after the first

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
            retention_inbox_days=days(environ, "RETENTION_INBOX_DAYS", 7),
            tracker_store_url=tracker_store_url(environ),
            fallback_office_id=text("FALLBACK_OFFICE_ID") or "fallback",
            offices_config_path=Path(text("OFFICES_CONFIG") or DEFAULT_OFFICES_CONFIG),
            smtp_host=text("SMTP_HOST") or "localhost",
            smtp_port=whole(environ, "SMTP_PORT", 25, minimum=1, maximum=65535),
            smtp_from=text("SMTP_FROM") or "oss-assistant@notify.invalid",
            smtp_user=text("SMTP_USER"),
            smtp_password=text("SMTP_PASSWORD"),
            smtp_starttls=(text("SMTP_STARTTLS") or "").lower() in ("1", "true", "yes", "on"),
            telegram_api_base_url=(text("TELEGRAM_API_BASE_URL") or "https://api.telegram.org").rstrip("/"),
            telegram_bot_token=text("STAFF_TELEGRAM_BOT_TOKEN") or text("TELEGRAM_BOT_TOKEN"),
            console_base_url=(text("CONSOLE_BASE_URL") or "http://localhost:8080").rstrip("/"),
            outbox_max_attempts=whole(environ, "OUTBOX_MAX_ATTEMPTS", 10, minimum=1, maximum=100),
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

    def require_telegram_bot_token(self) -> str:
        if not self.telegram_bot_token:
            raise MissingSecret(
                "TELEGRAM_BOT_TOKEN (or STAFF_TELEGRAM_BOT_TOKEN) is not set: an office notified on "
                "Telegram cannot be reached. Set the token of the bot that is a member of the staff chat."
            )
        return self.telegram_bot_token


def secret_from_env(name: str, environ: Mapping[str, str] | None = None) -> str:
    """A secret whose variable name is itself configuration (an office's webhook secret)."""
    value = (os.environ if environ is None else environ).get(name, "").strip()
    if not value:
        raise MissingSecret(f"{name} is not set: it holds an office's webhook signing secret (config/offices.yml)")
    return value


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


def whole(environ: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def tracker_store_url(environ: Mapping[str, str]) -> str | None:
    """Where Rasa keeps conversations: TRACKER_STORE_URL (production), else the SQLite file
    TRACKER_DB that endpoints.yml gives Rasa for local runs."""
    url = environ.get("TRACKER_STORE_URL", "").strip()
    if url:
        return normalise_database_url(url)
    path = environ.get("TRACKER_DB", "").strip()
    return f"sqlite:///{Path(path).resolve()}" if path else None


def normalise_database_url(url: str) -> str:
    """Accept the `postgres://` spelling many hosting providers hand out."""
    if url.startswith("postgres://"):
        return "postgresql://" + url.removeprefix("postgres://")
    return url
