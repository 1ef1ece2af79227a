"""The Rasa server's HTTP API, as the console uses it for live handoff.

Taking over appends a `pause` event (Rasa then stops predicting for that person) and a
bot message saying a staff member joined; staff replies are `bot` events sent with
`output_channel=latest&execute_side_effects=true`, so Rasa delivers them through the
channel the person last wrote on (WhatsApp, Telegram; on the REST channel they only land
in the tracker). Handing back appends `resume` and tells the person.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

TIMEOUT = httpx.Timeout(10.0, connect=3.0)


class RasaUnavailable(RuntimeError):
    """The Rasa server did not answer, or refused the request."""


@dataclass(frozen=True)
class ChatLine:
    """One message of the conversation as the console shows it."""

    who: str  # person | assistant | staff
    text: str
    at: float


@dataclass(frozen=True)
class ConversationState:
    paused: bool
    lines: tuple[ChatLine, ...]


class RasaAPI:
    def __init__(self, base_url: str, token: str | None = None, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.transport = transport

    def _params(self, **extra: str) -> dict[str, str]:
        return {**({"token": self.token} if self.token else {}), **extra}

    def _request(self, method: str, sender_id: str, suffix: str, *, params: dict[str, str], json: Any = None) -> Any:
        url = f"{self.base_url}/conversations/{quote(sender_id, safe='')}/{suffix}"
        try:
            with httpx.Client(timeout=TIMEOUT, transport=self.transport) as client:
                reply = client.request(method, url, params=params, json=json)
        except httpx.HTTPError as error:
            raise RasaUnavailable(f"the assistant's server is not reachable ({type(error).__name__})") from None
        if reply.status_code >= 400:
            raise RasaUnavailable(f"the assistant's server answered {reply.status_code}")
        return reply.json()

    def conversation(self, sender_id: str) -> ConversationState:
        tracker = self._request("GET", sender_id, "tracker", params=self._params())
        return ConversationState(paused=bool(tracker.get("paused")), lines=tuple(chat_lines(tracker)))

    def _append(self, sender_id: str, events: list[dict[str, Any]], *, deliver: bool) -> None:
        extra = {"output_channel": "latest", "execute_side_effects": "true"} if deliver else {}
        self._request("POST", sender_id, "tracker/events", params=self._params(**extra), json=events)

    def take_over(self, sender_id: str, *, notice: str, staff: str) -> None:
        self._append(sender_id, [{"event": "pause"}], deliver=False)
        self.say(sender_id, notice, staff=staff)

    def say(self, sender_id: str, text: str, *, staff: str, template: str | None = None) -> None:
        metadata: dict[str, Any] = {"oss_staff": staff}
        if template:
            metadata["template"] = template  # the WhatsApp channel sends the approved template by this id
        self._append(sender_id, [{"event": "bot", "text": text, "metadata": metadata}], deliver=True)

    def hand_back(self, sender_id: str, *, notice: str, staff: str) -> None:
        self.say(sender_id, notice, staff=staff)
        self._append(sender_id, [{"event": "resume"}], deliver=False)


def chat_lines(tracker: dict[str, Any]) -> list[ChatLine]:
    """The person's and the assistant's/staff's messages, in order; everything else left out."""
    lines = []
    for event in tracker.get("events") or []:
        kind, text = event.get("event"), event.get("text")
        if kind not in ("user", "bot") or not isinstance(text, str) or not text:
            continue
        if kind == "user":
            who = "person"
        else:
            who = "staff" if (event.get("metadata") or {}).get("oss_staff") else "assistant"
        lines.append(ChatLine(who=who, text=text, at=float(event.get("timestamp") or 0)))
    return lines
