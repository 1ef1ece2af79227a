"""The one place channels read configuration (CONTRACT.md section 6).

A channel is on when its required variables are all set; otherwise `missing` names them
and the channel registers no routes. The case-work secrets (database, field encryption,
sender id secret) come from `casework.settings`, read from the same environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from casework.settings import Settings
from channels.worker import DEFAULT_CONCURRENCY, DEFAULT_TURNS

TWILIO_API_BASE_URL = "https://api.twilio.com"
TELEGRAM_API_BASE_URL = "https://api.telegram.org"
TURN_TIMEOUT_S = 60.0




@dataclass(frozen=True)
class CaseStore:
    """Where inbound messages and handles are kept, and the secrets that protect them."""

    database_url: str
    field_encryption_keys: tuple[str, ...]
    sender_id_secret: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CaseStore:
        settings = Settings.from_env(environ)
        return cls(settings.database_url, settings.field_encryption_keys, settings.sender_id_secret)

    def missing(self) -> list[str]:
        names = []
        if not self.field_encryption_keys:
            names.append("FIELD_ENCRYPTION_KEY")
        if not self.sender_id_secret:
            names.append("SENDER_ID_SECRET")
        return names


@dataclass(frozen=True)
class WhatsAppConfig:
    account_sid: str
    auth_token: str
    whatsapp_number: str  # "+14155238886", without the "whatsapp:" prefix
    api_base_url: str = TWILIO_API_BASE_URL
    public_base_url: str | None = None
    store: CaseStore = field(default_factory=lambda: CaseStore("sqlite://", (), None))
    missing: tuple[str, ...] = ()

    @property
    def on(self) -> bool:
        return not self.missing

    @property
    def from_address(self) -> str:
        return f"whatsapp:{self.whatsapp_number}"


@dataclass(frozen=True)
class TelegramConfig:
    bot_token: str
    webhook_secret: str
    api_base_url: str = TELEGRAM_API_BASE_URL
    public_base_url: str | None = None
    store: CaseStore = field(default_factory=lambda: CaseStore("sqlite://", (), None))
    missing: tuple[str, ...] = ()
    # Production profile: send rates shared by the Rasa replicas (None: paced per process).
    redis_url: str | None = None

    @property
    def on(self) -> bool:
        return not self.missing

    @property
    def bot_id(self) -> str:
        """The bot's numeric id, the public part of the token (rates are per bot)."""
        return self.bot_token.split(":", 1)[0]


def _text(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def _base(environ: Mapping[str, str], name: str, default: str | None) -> str | None:
    return (_text(environ, name) or default or "").rstrip("/") or None


def whatsapp_config(environ: Mapping[str, str] | None = None) -> WhatsAppConfig:
    env = os.environ if environ is None else environ
    required = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_WHATSAPP_NUMBER")
    store = CaseStore.from_env(env)
    missing = [name for name in required if not _text(env, name)] + store.missing()
    return WhatsAppConfig(
        account_sid=_text(env, "TWILIO_ACCOUNT_SID"),
        auth_token=_text(env, "TWILIO_AUTH_TOKEN"),
        whatsapp_number=_text(env, "TWILIO_WHATSAPP_NUMBER").removeprefix("whatsapp:").replace(" ", ""),
        api_base_url=_base(env, "TWILIO_API_BASE_URL", TWILIO_API_BASE_URL) or TWILIO_API_BASE_URL,
        public_base_url=_base(env, "PUBLIC_BASE_URL", None),
        store=store, missing=tuple(missing),
    )


def telegram_config(environ: Mapping[str, str] | None = None) -> TelegramConfig:
    env = os.environ if environ is None else environ
    required = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET")
    store = CaseStore.from_env(env)
    missing = [name for name in required if not _text(env, name)] + store.missing()
    return TelegramConfig(
        bot_token=_text(env, "TELEGRAM_BOT_TOKEN"),
        webhook_secret=_text(env, "TELEGRAM_WEBHOOK_SECRET"),
        api_base_url=_base(env, "TELEGRAM_API_BASE_URL", TELEGRAM_API_BASE_URL) or TELEGRAM_API_BASE_URL,
        public_base_url=_base(env, "PUBLIC_BASE_URL", None),
        store=store, missing=tuple(missing), redis_url=_text(env, "REDIS_URL") or None,
    )


def inbox_concurrency(environ: Mapping[str, str]) -> int:
    """`INBOX_CONCURRENCY`: people whose messages one process handles at once (default 32)."""
    return _count(environ, "INBOX_CONCURRENCY", DEFAULT_CONCURRENCY)


def turn_concurrency(environ: Mapping[str, str]) -> int:
    """`TURN_CONCURRENCY`: Rasa turns one process runs at once (default 4, at most
    `INBOX_CONCURRENCY` matter). A turn is mostly CPU under one interpreter lock: more at
    once only made each slower (reports/bench.md), while messages whose replies are being
    paced out (Telegram) wait without holding a turn."""
    return _count(environ, "TURN_CONCURRENCY", DEFAULT_TURNS)


def _count(environ: Mapping[str, str], name: str, default: int, most: int = 64) -> int:
    """A whole number from 1 to `most` in `name`; `default` when unset; ValueError otherwise."""
    raw = _text(environ, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from error
    if not 1 <= value <= most:
        raise ValueError(f"{name} must be between 1 and {most}, not {value}")
    return value


def turn_timeout_s(environ: Mapping[str, str] | None = None) -> float:
    """How long a channel waits for Rasa's turn before giving the message back for a retry.

    Rasa 3.6 waits up to 5 minutes for a custom action (DEFAULT_REQUEST_TIMEOUT, not
    configurable) and then carries on without the action's events: half a turn. The
    channel stops waiting first (CHANNEL_TURN_TIMEOUT_S, default 60 s, at most the inbox
    lease), so the turn is cancelled before anything is stored and the person is told.
    """
    env = os.environ if environ is None else environ
    try:
        value = float(_text(env, "CHANNEL_TURN_TIMEOUT_S") or TURN_TIMEOUT_S)
    except ValueError:
        return TURN_TIMEOUT_S
    return min(max(value, 1.0), 240.0)
