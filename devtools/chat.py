"""A terminal chat with the running assistant over the REST channel.

Buttons are shown as numbered options; typing the number chooses one.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.request
import uuid
from typing import Any


def send(url: str, sender: str, text: str, language: str | None) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"sender": sender, "message": text}
    if language:
        body["metadata"] = {"language": language}
    request = urllib.request.Request(  # noqa: S310 - local URL chosen by the user
        f"{url}/webhooks/rest/webhook", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as reply:  # noqa: S310
        return json.loads(reply.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('RASA_PORT', '5005')}")
    parser.add_argument("--language", choices=["es", "pt", "en"], default=None)
    args = parser.parse_args()
    sender = f"terminal-{uuid.uuid4().hex[:8]}"
    buttons: list[dict[str, Any]] = []
    print("Write to the assistant (Ctrl-D or Ctrl-C to leave).")
    while True:
        try:
            text = input("> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if text.isdigit() and 0 < int(text) <= len(buttons):
            text = buttons[int(text) - 1]["payload"]
        buttons = []
        for message in send(args.url, sender, text, args.language):
            if message.get("text"):
                print(f"bot: {message['text']}")
            for button in message.get("buttons") or []:
                buttons.append(button)
                print(f"     {len(buttons)}. {button['title']}")


if __name__ == "__main__":
    main()
