"""Buttons on channels that have none (WhatsApp) or that must not carry intents (Telegram).

WhatsApp: buttons become numbered options; the person's next "2" (or the option's title)
is translated back to that button's payload. Telegram: each inline button carries an
opaque random token, mapped here to the payload and the sender it was issued to; a forged
or stale token resolves to nothing. Both are bounded, in-memory, per process.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass

TTL_S = 24 * 3600
MAX_ENTRIES = 50_000


@dataclass(frozen=True)
class Option:
    title: str
    payload: str


def fold(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form of a short answer."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(re.sub(r"[^\w\s]", " ", plain).split())


class NumberedOptions:
    """The options last offered to each sender, to read "2" or "Sí" as a button press."""

    def __init__(self, ttl_s: float = TTL_S, max_senders: int = MAX_ENTRIES) -> None:
        self._ttl, self._max = ttl_s, max_senders
        self._offered: OrderedDict[str, tuple[float, list[Option]]] = OrderedDict()
        self._lock = threading.Lock()

    def offer(self, sender: str, options: list[Option]) -> None:
        with self._lock:
            self._offered.pop(sender, None)
            if options:
                self._offered[sender] = (time.monotonic(), list(options))
            while len(self._offered) > self._max:
                self._offered.popitem(last=False)

    def choose(self, sender: str, text: str) -> str | None:
        """The payload `text` selects among the options offered to `sender`, if any."""
        with self._lock:
            entry = self._offered.get(sender)
        if entry is None or time.monotonic() - entry[0] > self._ttl:
            return None
        options = entry[1]
        answer = fold(text)
        if answer.isdigit():
            index = int(answer)
            return options[index - 1].payload if 1 <= index <= len(options) else None
        for option in options:
            if answer and answer == fold(option.title):
                return option.payload
        return None


def numbered(options: list[Option]) -> str:
    return "\n".join(f"{number}. {option.title}" for number, option in enumerate(options, start=1))


class CallbackTokens:
    """Opaque callback_data for Telegram buttons: token -> (sender, payload)."""

    def __init__(self, ttl_s: float = TTL_S, max_tokens: int = MAX_ENTRIES) -> None:
        self._ttl, self._max = ttl_s, max_tokens
        self._tokens: OrderedDict[str, tuple[float, str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self, sender: str, payload: str) -> str:
        token = secrets.token_urlsafe(12)  # 16 characters; Telegram allows 64 bytes
        with self._lock:
            self._tokens[token] = (time.monotonic(), sender, payload)
            while len(self._tokens) > self._max:
                self._tokens.popitem(last=False)
        return token

    def resolve(self, sender: str, token: str) -> str | None:
        with self._lock:
            entry = self._tokens.get(token)
        if entry is None:
            return None
        issued, owner, payload = entry
        if owner != sender or time.monotonic() - issued > self._ttl:
            return None
        return payload
