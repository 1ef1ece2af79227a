"""Buttons on channels that have none (WhatsApp) or that must not carry intents (Telegram).

WhatsApp: buttons become numbered options; the person's next "2" (or the option's title)
selects that button's payload. Telegram: each inline button carries an opaque random
token, never the payload; a forged or stale token resolves to nothing. The buttons last
offered are kept on the person in the cases database (`casework.handles.offer_buttons`),
so any server process understands the answer; these are the pure parts.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TTL_HOURS = 24


@dataclass(frozen=True)
class Option:
    title: str
    payload: str
    token: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"title": self.title, "payload": self.payload, "token": self.token}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Option:
        return cls(str(data.get("title") or ""), str(data.get("payload") or ""), str(data.get("token") or ""))


def options_of(reply: Mapping[str, Any], *, with_tokens: bool = False) -> list[Option]:
    """A Rasa reply's buttons as options (a button with neither title nor payload is dropped)."""
    options = []
    for button in reply.get("buttons") or []:
        if not isinstance(button, Mapping) or not (button.get("payload") or button.get("title")):
            continue
        title, payload = str(button.get("title") or button.get("payload")), str(button.get("payload") or button.get("title"))
        options.append(Option(title, payload, new_token() if with_tokens else ""))
    return options


def fold(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form of a short answer."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(re.sub(r"[^\w\s]", " ", plain).split())


def choose(options: Iterable[Option], text: str) -> str | None:
    """The payload `text` ("2", or an option's title) selects among `options`, if any."""
    offered = list(options)
    answer = fold(text)
    if answer.isdigit():
        index = int(answer)
        return offered[index - 1].payload if 1 <= index <= len(offered) else None
    for option in offered:
        if answer and answer == fold(option.title):
            return option.payload
    return None


def numbered(options: Iterable[Option]) -> str:
    return "\n".join(f"{number}. {option.title}" for number, option in enumerate(options, start=1))


def new_token() -> str:
    return secrets.token_urlsafe(12)  # 16 characters; Telegram allows 64 bytes of callback data


def resolve(options: Iterable[Option], token: str) -> str | None:
    """The payload of the button that carried `token`; None for a forged or stale one."""
    if not token:
        return None
    for option in options:
        if option.token and secrets.compare_digest(option.token, token):
            return option.payload
    return None
