"""The console's configuration, read from the environment in this one place (never at import)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from casework.settings import KEY_HINT, MissingSecret


@dataclass(frozen=True)
class ConsoleSettings:
    secret_key: str
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_api_token: str | None = None
    # Secure cookies need https; on by default, off only for a plain-http local run.
    secure_cookies: bool = True
    # A session ends after this long without a request, and in any case after `absolute`.
    idle_timeout: timedelta = timedelta(minutes=30)
    absolute_timeout: timedelta = timedelta(hours=10)
    port: int = 8080
    # How many proxies in front of the console append X-Forwarded-For/-Proto (0: none; the
    # headers are then ignored, so a client cannot choose the address it is throttled by).
    trusted_proxies: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ConsoleSettings:
        env = os.environ if environ is None else environ
        secret = env.get("CONSOLE_SECRET_KEY", "").strip()
        if len(secret) < 32:
            raise MissingSecret(
                "CONSOLE_SECRET_KEY is not set (or shorter than 32 characters): it signs the console's "
                f"session cookies. Generate one with: {KEY_HINT}"
            )
        base = env.get("CONSOLE_BASE_URL", "").strip() or "http://localhost:8080"
        rasa_port = env.get("RASA_PORT", "").strip() or "5005"
        return cls(
            secret_key=secret,
            rasa_url=(env.get("RASA_URL", "").strip() or f"http://127.0.0.1:{rasa_port}").rstrip("/"),
            rasa_api_token=env.get("RASA_API_TOKEN", "").strip() or None,
            secure_cookies=base.startswith("https://"),
            idle_timeout=timedelta(minutes=int(env.get("CONSOLE_IDLE_MINUTES", "").strip() or 30)),
            absolute_timeout=timedelta(hours=int(env.get("CONSOLE_SESSION_HOURS", "").strip() or 10)),
            port=int(env.get("CONSOLE_PORT", "").strip() or 8080),
            trusted_proxies=_proxies(env.get("CONSOLE_TRUSTED_PROXIES", "")),
        )


def _proxies(value: str) -> int:
    count = int(value.strip() or 0)
    if not 0 <= count <= 5:
        raise ValueError("CONSOLE_TRUSTED_PROXIES must be between 0 and 5 (the proxies in front of the console)")
    return count
