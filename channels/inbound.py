"""What every channel does to inbound text before Rasa sees it.

Rasa treats text starting with "/" as a ready-made intent with entities (slash syntax),
which would let anyone skip NLU and fill slots by typing `/intent{"slot": "x"}`. Only a
payload the server itself offered as a button, to this sender, keeps its slash; anything
else typed with a slash is passed on as ordinary text.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

OFFER_TTL_S = 24 * 3600
MAX_SENDERS = 50_000
MAX_OFFERS_PER_SENDER = 40


class ButtonOffers:
    """Remembers, per sender, the button payloads recently offered (bounded, in memory)."""

    def __init__(self, ttl_s: float = OFFER_TTL_S, max_senders: int = MAX_SENDERS) -> None:
        self._ttl = ttl_s
        self._max = max_senders
        self._offers: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def offer(self, sender: str, payloads: Iterable[str]) -> None:
        now = time.monotonic()
        with self._lock:
            offered = self._offers.pop(sender, OrderedDict())
            for payload in payloads:
                offered.pop(payload, None)
                offered[payload] = now
            while len(offered) > MAX_OFFERS_PER_SENDER:
                offered.popitem(last=False)
            self._offers[sender] = offered
            while len(self._offers) > self._max:
                self._offers.popitem(last=False)

    def was_offered(self, sender: str, payload: str) -> bool:
        with self._lock:
            offered = self._offers.get(sender)
            stamp = offered.get(payload) if offered else None
            return stamp is not None and time.monotonic() - stamp <= self._ttl


def neutralise_slash(text: str) -> str:
    """Typed text that looks like slash syntax, as plain text."""
    stripped = text.lstrip()
    while stripped.startswith("/"):
        stripped = stripped[1:].lstrip()
    return stripped


def inbound_text(text: str, sender: str, offers: ButtonOffers | None) -> str:
    if text.lstrip().startswith("/"):
        if offers is not None and offers.was_offered(sender, text.strip()):
            return text.strip()
        return neutralise_slash(text)
    return text


def button_payloads(messages: Iterable[dict[str, Any]]) -> list[str]:
    payloads = []
    for message in messages:
        for button in message.get("buttons") or []:
            payload = button.get("payload")
            if isinstance(payload, str) and payload.startswith("/"):
                payloads.append(payload)
    return payloads
