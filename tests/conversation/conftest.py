"""Conversation tests drive the real trained assistant over HTTP (REST channel).

The `stack` fixture (action server + Rasa server) is in tests/conftest.py, shared with the console tests.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from devtools.stack import Stack


class Person:
    """One simulated person talking to the assistant."""

    def __init__(self, stack: Stack, language: str | None = None) -> None:
        self.stack = stack
        self.sender = f"test-{uuid.uuid4().hex[:12]}"
        self.language = language

    def post(self, body: Any) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - local test server
            f"{self.stack.rasa_url}/webhooks/rest/webhook", data=data,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:  # noqa: S310
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def say(self, text: str, **metadata: Any) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"sender": self.sender, "message": text}
        if self.language and "language" not in metadata:
            metadata["language"] = self.language
        if metadata:
            body["metadata"] = metadata
        status, replies = self.post(body)
        assert status == 200, (status, replies)
        return replies

    def text(self, text: str, **metadata: Any) -> str:
        return "\n".join(m.get("text") or "" for m in self.say(text, **metadata))

    def tracker(self) -> dict[str, Any]:
        url = f"{self.stack.rasa_url}/conversations/{self.sender}/tracker"
        with urllib.request.urlopen(url, timeout=30) as reply:  # noqa: S310
            return json.loads(reply.read())


@pytest.fixture
def person(stack: Stack) -> Person:
    return Person(stack)


@pytest.fixture
def make_person(stack: Stack) -> Any:
    return lambda language=None: Person(stack, language)


def buttons(replies: list[dict[str, Any]]) -> list[str]:
    return [b["payload"] for m in replies for b in m.get("buttons") or []]


def intents_of(tracker: dict[str, Any]) -> list[str]:
    return [e["parse_data"]["intent"]["name"] for e in tracker["events"] if e["event"] == "user"]
