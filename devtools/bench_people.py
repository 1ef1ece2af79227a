"""The simulated people of `make bench-serving`: their scripts, and the webhooks they send.

Each person follows the script of their language (devtools/bench_conversations.yml):
a greeting, questions, the eligibility pre-check and a full intake with consent that ends
in a ticket. Half of them write on WhatsApp (a Twilio form signed with
`X-Twilio-Signature` against the public URL, as Twilio does), half on Telegram (an update
with the webhook's secret token). Everything here is pure: no network, no clock.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml
from twilio.request_validator import RequestValidator

from devtools import ROOT

CONVERSATIONS = ROOT / "devtools" / "bench_conversations.yml"
LANGUAGES = ("es", "pt", "en")
# In the order a person goes through them; `closing` may be left out.
STEPS = ("greeting", "questions", "eligibility", "intake", "closing")
REQUIRED_STEPS = STEPS[:4]
WHATSAPP_HOOK = "/webhooks/whatsapp/webhook"
TELEGRAM_HOOK = "/webhooks/telegram/webhook"
TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
# A phone prefix per language: the WhatsApp channel guesses the language from it.
PHONE_PREFIX = {"es": "+34", "pt": "+351", "en": "+44"}


class ScriptProblem(ValueError):
    """The conversations file is not what the bench can follow."""


@dataclass(frozen=True)
class Turn:
    step: str  # one of STEPS
    text: str


@dataclass(frozen=True)
class Script:
    language: str
    turns: tuple[Turn, ...]

    def texts(self, step: str) -> list[str]:
        return [turn.text for turn in self.turns if turn.step == step]

    @property
    def ticket_after(self) -> int:
        """How many turns open a ticket: through the intake's last line (the confirmation)."""
        return max((index + 1 for index, turn in enumerate(self.turns) if turn.step == "intake"), default=0)


def parse_scripts(document: Any) -> dict[str, Script]:
    """The scripts of a loaded conversations file, checked; ScriptProblem says what is wrong.

    YAML reads an unquoted `no`/`yes` as a boolean: such an answer is refused here rather
    than sent as "False".
    """
    if not isinstance(document, dict):
        raise ScriptProblem("the conversations file must map languages to scripts")
    missing = [language for language in LANGUAGES if language not in document]
    unknown = [language for language in document if language not in LANGUAGES]
    if missing or unknown:
        raise ScriptProblem(f"languages must be exactly {', '.join(LANGUAGES)} "
                            f"(missing: {missing or 'none'}, unknown: {unknown or 'none'})")
    scripts = {}
    for language in LANGUAGES:
        sections = document[language]
        if not isinstance(sections, dict):
            raise ScriptProblem(f"{language}: expected steps ({', '.join(STEPS)})")
        for step in sections:
            if step not in STEPS:
                raise ScriptProblem(f"{language}: unknown step {step!r} (steps: {', '.join(STEPS)})")
        turns = []
        for step in STEPS:
            texts = sections.get(step)
            if texts is None and step not in REQUIRED_STEPS:
                continue
            if not isinstance(texts, list) or not texts:
                raise ScriptProblem(f"{language}.{step}: expected a non-empty list of messages")
            for index, text in enumerate(texts):
                if not isinstance(text, str) or not text.strip():
                    raise ScriptProblem(f"{language}.{step}[{index}]: {text!r} is not a message "
                                        "(quote yes/no answers in YAML)")
                turns.append(Turn(step, text))
        scripts[language] = Script(language, tuple(turns))
    return scripts


def load_scripts(path: Path = CONVERSATIONS) -> dict[str, Script]:
    return parse_scripts(yaml.safe_load(path.read_text(encoding="utf-8")))


@dataclass
class Person:
    """One simulated person on one channel, somewhere in their script."""

    channel: str  # "whatsapp", "telegram" or "rest"
    handle: str  # a phone number, a Telegram chat id, or the REST sender
    script: Script
    position: int = 0
    finished: bool = False  # said the last line of the script

    @property
    def reached_ticket(self) -> bool:
        """Has confirmed the intake (said its last line): one ticket is expected."""
        ticket_after = self.script.ticket_after
        return bool(ticket_after) and self.position >= ticket_after

    @property
    def language(self) -> str:
        return self.script.language

    def next_turn(self) -> Turn | None:
        """The next line to say, or None when the script is over (the person leaves)."""
        if self.position >= len(self.script.turns):
            return None
        turn = self.script.turns[self.position]
        self.position += 1
        self.finished = self.position >= len(self.script.turns)
        return turn


@dataclass
class Crowd:
    """Makes people: languages in turn, WhatsApp and Telegram alternately (half each)."""

    scripts: dict[str, Script]
    channels: tuple[str, ...] = ("whatsapp", "telegram")
    made: list[Person] = field(default_factory=list)

    def new(self) -> Person:
        index = len(self.made)
        language = LANGUAGES[index % len(LANGUAGES)]
        channel = self.channels[index % len(self.channels)]
        handle = new_handle(channel, language)
        person = Person(channel, handle, self.scripts[language])
        self.made.append(person)
        return person


def new_handle(channel: str, language: str) -> str:
    if channel == "whatsapp":
        return PHONE_PREFIX[language] + str(600_000_000 + secrets.randbelow(399_999_999))
    if channel == "telegram":
        return str(100_000_000 + secrets.randbelow(899_999_999))
    return f"bench-{secrets.token_hex(6)}"


@dataclass(frozen=True)
class ProviderSecrets:
    """Made up per run; the stack is started with the same ones (see `env`)."""

    account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    whatsapp_number: str = "+14155238886"
    bot_token: str = field(default_factory=lambda: f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(24)}")
    webhook_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    public_base_url: str = "https://oss-bench.example.org"  # signatures are checked against it

    def env(self, twilio_base_url: str, telegram_base_url: str) -> dict[str, str]:
        return {
            "TWILIO_ACCOUNT_SID": self.account_sid, "TWILIO_AUTH_TOKEN": self.auth_token,
            "TWILIO_WHATSAPP_NUMBER": self.whatsapp_number, "TWILIO_API_BASE_URL": twilio_base_url,
            "PUBLIC_BASE_URL": self.public_base_url,
            "TELEGRAM_BOT_TOKEN": self.bot_token, "TELEGRAM_WEBHOOK_SECRET": self.webhook_secret,
            "TELEGRAM_API_BASE_URL": telegram_base_url,
        }


@dataclass(frozen=True)
class Webhook:
    """One request as the provider sends it; `message_id` is what the inbox keys it by."""

    path: str
    body: bytes
    headers: dict[str, str]
    provider: str
    message_id: str


def twilio_signature(auth_token: str, url: str, form: dict[str, str]) -> str:
    return RequestValidator(auth_token).compute_signature(url, form)


def whatsapp_webhook(keys: ProviderSecrets, phone: str, text: str) -> Webhook:
    sid = "SM" + secrets.token_hex(16)
    form = {"SmsMessageSid": sid, "NumMedia": "0", "ProfileName": "Bench", "SmsSid": sid,
            "WaId": phone.lstrip("+"), "SmsStatus": "received", "Body": text,
            "To": f"whatsapp:{keys.whatsapp_number}", "NumSegments": "1", "MessageSid": sid,
            "AccountSid": keys.account_sid, "From": f"whatsapp:{phone}", "ApiVersion": "2010-04-01"}
    signature = twilio_signature(keys.auth_token, keys.public_base_url + WHATSAPP_HOOK, form)
    return Webhook(WHATSAPP_HOOK, urlencode(form).encode(), {
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature,
    }, "whatsapp", sid)


def telegram_webhook(keys: ProviderSecrets, chat: str, text: str, language: str, update_id: int) -> Webhook:
    user = {"id": int(chat), "is_bot": False, "first_name": "Bench", "language_code": language}
    update = {"update_id": update_id, "message": {
        "message_id": update_id % 1_000_000, "date": 1_764_000_000, "text": text, "from": user,
        "chat": {"id": int(chat), "type": "private", "first_name": "Bench"}}}
    return Webhook(TELEGRAM_HOOK, json.dumps(update).encode(), {
        "Content-Type": "application/json", TELEGRAM_SECRET_HEADER: keys.webhook_secret,
    }, "telegram", str(update_id))
