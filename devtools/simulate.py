"""`make simulate`: chat as a WhatsApp or Telegram user with no provider accounts.

Starts fake Twilio and Telegram APIs on 127.0.0.1 and the whole stack with both channels
on and pointed at them, then reads lines from the terminal and posts them to the Rasa
server exactly as the providers would (a Twilio-signed form, a Telegram update with the
secret token). What the assistant sends back is read from the fake API and printed as the
person's phone would show it.

Commands: `:whatsapp` / `:telegram` switch channel; `:voice`, `:photo`, `:document`,
`:location`, `:contact` send an attachment; on Telegram `#2` presses the second button of
the last keyboard; `:quit` (or Ctrl-D) leaves. Anything else is sent as text.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator

from devtools import ROOT
from devtools.fake_providers import FakeProviders, FakeTelegram, FakeTwilio, Recorded
from devtools.stack import free_port, make_stack

QUIET_S = 2.5  # Telegram paces parts about a second apart: wait a little longer for the next
FIRST_REPLY_S = 90.0
WHATSAPP_NUMBER = "+14155238886"
TWILIO_MEDIA = {
    "voice": {"NumMedia": "1", "MediaContentType0": "audio/ogg"},
    "photo": {"NumMedia": "1", "MediaContentType0": "image/jpeg"},
    "document": {"NumMedia": "1", "MediaContentType0": "application/pdf"},
    "contact": {"NumMedia": "1", "MediaContentType0": "text/vcard"},
    "location": {"Latitude": "40.4168", "Longitude": "-3.7038"},
}
TELEGRAM_MEDIA: dict[str, dict[str, Any]] = {
    "voice": {"voice": {"file_id": "sim-voice", "file_unique_id": "v", "duration": 3}},
    "photo": {"photo": [{"file_id": "sim-photo", "file_unique_id": "p", "width": 64, "height": 64}]},
    "document": {"document": {"file_id": "sim-doc", "file_unique_id": "d", "file_name": "papel.pdf"}},
    "location": {"location": {"latitude": 40.4168, "longitude": -3.7038}},
    "contact": {"contact": {"phone_number": "+34600000000", "first_name": "Rosa"}},
}


@dataclass(frozen=True)
class Credentials:
    """Made up for this run: the fakes and the stack are configured with the same ones."""

    account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    bot_token: str = field(default_factory=lambda: f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(24)}")
    webhook_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    def env(self, public_base_url: str, twilio: FakeTwilio, telegram: FakeTelegram) -> dict[str, str]:
        return {
            "TWILIO_ACCOUNT_SID": self.account_sid, "TWILIO_AUTH_TOKEN": self.auth_token,
            "TWILIO_WHATSAPP_NUMBER": WHATSAPP_NUMBER, "TWILIO_API_BASE_URL": twilio.base_url,
            "PUBLIC_BASE_URL": public_base_url,
            "TELEGRAM_BOT_TOKEN": self.bot_token, "TELEGRAM_WEBHOOK_SECRET": self.webhook_secret,
            "TELEGRAM_API_BASE_URL": telegram.base_url,
        }


class Simulator:
    """One person on WhatsApp (a phone number) and Telegram (a chat id)."""

    def __init__(self, rasa_url: str, public_base_url: str, credentials: Credentials,
                 twilio: FakeTwilio, telegram: FakeTelegram, *, phone: str, chat_id: int,
                 language_code: str | None) -> None:
        self.rasa_url = rasa_url
        self.public_base_url = public_base_url
        self.credentials = credentials
        self.twilio = twilio
        self.telegram = telegram
        self.phone = phone
        self.chat_id = chat_id
        self.language_code = language_code
        self.keyboard: list[dict[str, Any]] = []
        self._update_ids = itertools.count(int(time.time()))

    # --- the person writes ------------------------------------------------------------
    def whatsapp(self, text: str = "", media: str | None = None) -> list[str]:
        sid = "SM" + secrets.token_hex(16)
        form = {"SmsMessageSid": sid, "NumMedia": "0", "ProfileName": "Simulated", "SmsSid": sid,
                "WaId": self.phone.lstrip("+"), "SmsStatus": "received", "Body": "" if media else text,
                "To": f"whatsapp:{WHATSAPP_NUMBER}", "NumSegments": "1", "MessageSid": sid,
                "AccountSid": self.credentials.account_sid, "From": f"whatsapp:{self.phone}",
                "ApiVersion": "2010-04-01", **(TWILIO_MEDIA.get(media or "") or {})}
        path = "/webhooks/whatsapp/webhook"
        signature = RequestValidator(self.credentials.auth_token).compute_signature(self.public_base_url + path, form)
        seen = len(self.twilio.snapshot())
        answer = httpx.post(self.rasa_url + path, content=urlencode(form), timeout=30, headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})
        if answer.status_code != 200:
            return [f"(webhook answered {answer.status_code})"]
        return [self._show_whatsapp(r) for r in self._replies(self.twilio, seen, self._to_phone)]

    def telegram_text(self, text: str = "", media: str | None = None) -> list[str]:
        user: dict[str, Any] = {"id": self.chat_id, "is_bot": False, "first_name": "Simulated"}
        if self.language_code:
            user["language_code"] = self.language_code
        message: dict[str, Any] = {"message_id": next(self._update_ids), "date": int(time.time()),
                                   "chat": {"id": self.chat_id, "type": "private"}, "from": user,
                                   **(TELEGRAM_MEDIA.get(media or "") or {})}
        if not media:
            message["text"] = text
        return self._telegram({"update_id": next(self._update_ids), "message": message})

    def press(self, number: int) -> list[str]:
        if not 1 <= number <= len(self.keyboard):
            return [f"(there is no button {number})"]
        button = self.keyboard[number - 1]
        user: dict[str, Any] = {"id": self.chat_id, "is_bot": False, "first_name": "Simulated"}
        if self.language_code:
            user["language_code"] = self.language_code
        return self._telegram({"update_id": next(self._update_ids), "callback_query": {
            "id": str(secrets.randbelow(10**12)), "chat_instance": "simulate", "data": button["callback_data"],
            "from": user, "message": {"message_id": 1, "date": int(time.time()),
                                      "chat": {"id": self.chat_id, "type": "private"}, "text": "?"}}})

    def _telegram(self, update: dict[str, Any]) -> list[str]:
        seen = len(self.telegram.snapshot())
        answer = httpx.post(self.rasa_url + "/webhooks/telegram/webhook", content=json.dumps(update), timeout=30,
                            headers={"Content-Type": "application/json",
                                     "X-Telegram-Bot-Api-Secret-Token": self.credentials.webhook_secret})
        if answer.status_code != 200:
            return [f"(webhook answered {answer.status_code})"]
        return [self._show_telegram(r) for r in self._replies(self.telegram, seen, self._to_chat)]

    # --- what arrives on the phone --------------------------------------------------------
    def _to_phone(self, record: Recorded) -> bool:
        return record.form.get("To") == f"whatsapp:{self.phone}"

    def _to_chat(self, record: Recorded) -> bool:
        return isinstance(record.json, dict) and str(record.json.get("chat_id")) == str(self.chat_id) \
            and record.path.endswith(("/sendMessage", "/sendPhoto"))

    @staticmethod
    def _replies(api: FakeTwilio | FakeTelegram, seen: int, mine: Any) -> list[Recorded]:
        """The calls for this person after `seen`, once they have stopped coming."""
        def new() -> list[Recorded]:
            return [r for r in api.snapshot()[seen:] if mine(r)]

        try:
            api.wait_until(lambda _: bool(new()), FIRST_REPLY_S)
        except TimeoutError:
            return []
        count = -1
        while count != len(new()):
            count = len(new())
            time.sleep(QUIET_S)
        return new()

    def _show_whatsapp(self, record: Recorded) -> str:
        refused = "" if record.status < 300 else f"   (Twilio refused it: HTTP {record.status})"
        return (record.form.get("Body") or f"[media {record.form.get('MediaUrl')}]") + refused

    def _show_telegram(self, record: Recorded) -> str:
        body = record.json
        lines = [str(body.get("text") or f"[photo {body.get('photo')}]")]
        rows = (body.get("reply_markup") or {}).get("inline_keyboard") or []
        if rows:
            self.keyboard = [button for row in rows for button in row]
            lines += [f"  [#{n}] {button['text']}" for n, button in enumerate(self.keyboard, start=1)]
        return "\n".join(lines)


def run_terminal(simulator: Simulator, channel: str) -> None:
    print(__doc__.split("\n\n", 2)[2])
    while True:
        try:
            line = input(f"you ({channel})> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if line in (":quit", ":q"):
            return
        if line in (":whatsapp", ":telegram"):
            channel = line[1:]
            continue
        media = line[1:] if line[1:] in TWILIO_MEDIA and line.startswith(":") else None
        if channel == "telegram" and line.startswith("#") and line[1:].isdigit():
            shown = simulator.press(int(line[1:]))
        elif channel == "telegram":
            shown = simulator.telegram_text(line, media)
        else:
            shown = simulator.whatsapp(line, media)
        for text in shown or ["(no reply)"]:
            print(f"assistant ({channel})> " + text.replace("\n", "\n    "))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Chat as a WhatsApp or Telegram user against fake providers.")
    parser.add_argument("--channel", choices=["whatsapp", "telegram"], default="whatsapp")
    parser.add_argument("--phone", default="+34600000001", help="the simulated WhatsApp number")
    parser.add_argument("--chat-id", type=int, default=700000001, help="the simulated Telegram chat id")
    parser.add_argument("--language-code", default="es", help="the Telegram app's language (e.g. pt-BR)")
    args = parser.parse_args(argv)
    from devtools.train import ensure_model

    model = ensure_model()
    credentials = Credentials()
    twilio = FakeTwilio(credentials.account_sid, credentials.auth_token, status_callbacks=True)
    telegram = FakeTelegram(credentials.bot_token)
    workdir = ROOT / "var" / "simulate"
    rasa_port, actions_port = free_port(), free_port()
    public = f"http://127.0.0.1:{rasa_port}"  # the fake Twilio's status callbacks come back here
    with FakeProviders(twilio, telegram):
        env = {**credentials.env(public, twilio, telegram), "TRACKER_DB": str(workdir / "tracker.db"),
               "DATABASE_URL": os.environ.get("SIMULATE_DATABASE_URL") or f"sqlite:///{workdir / 'cases.db'}"}
        stack = make_stack(model, rasa_port, actions_port, workdir, extra_env=env)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        print("simulate: starting the action server and the Rasa server with WhatsApp and Telegram on "
              "(fake providers)...", flush=True)
        try:
            stack.start()
            print(f"simulate: fake Twilio at {twilio.base_url}, fake Telegram at {telegram.base_url}, "
                  f"Rasa at {stack.rasa_url}; logs in {workdir / 'logs'}")
            simulator = Simulator(stack.rasa_url, public, credentials, twilio, telegram, phone=args.phone,
                                  chat_id=args.chat_id, language_code=args.language_code)
            run_terminal(simulator, args.channel)
        except Exception as error:
            print(f"simulate: {error}. Logs are in {workdir / 'logs'}.", file=sys.stderr)
            return 1
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
