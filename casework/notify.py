"""The senders that tell an office's staff about a ticket: e-mail, Telegram chat, signed webhook.

Each sender takes one `Notification` (an outbox row's target and payload) and either
returns (delivered) or raises (the outbox retries later). A notification carries the
ticket's reference, codes and a console link, never a name, a phone number or free text;
staff open the case in the console.

Telegram: the staff bot is called over the Bot API's `sendMessage` with httpx rather than
through python-telegram-bot, because the case-work core must not import `telegram` (the
architecture test keeps channel libraries out of it). The base URL is configurable, as for
the channels, so tests point it at a fake server on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from casework.offices import OfficesConfig
from casework.settings import Settings, secret_from_env

# httpx logs every request URL at INFO, and Telegram's URLs carry the bot token: keep it out.
logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger("httpx").level))

SIGNATURE_HEADER = "X-OSS-Signature"
DELIVERY_HEADER = "X-OSS-Delivery"
DEFAULT_TIMEOUT_S = 10.0


class DeliveryError(Exception):
    """The target did not accept the notification. The message carries no secret and no URL."""


@dataclass(frozen=True)
class Notification:
    message_id: int
    dedupe_key: str
    office_id: str
    target_kind: str
    target: str
    payload: Mapping[str, Any]


class Sender(Protocol):
    def send(self, notification: Notification) -> None: ...


# Staff-facing text: codes and a link only. Offices read es or pt; en for everyone else.
TEMPLATES = {
    "es": {
        "subject": "[OSS] Nuevo caso {reference} ({priority})",
        "owner": "Nuevo caso para su oficina",
        "informed": "Caso para su información (lo lleva {owner_office_id})",
        "body": "Referencia: {reference}\nPrioridad: {priority}\nOrigen: {origin_country} · Residencia: {residence_country}{region}\n"
                "Necesidades: {needs}\nIdioma de la persona: {language}\nAbrir en la consola: {console_url}",
    },
    "pt": {
        "subject": "[OSS] Novo caso {reference} ({priority})",
        "owner": "Novo caso para o seu escritório",
        "informed": "Caso para a sua informação (a cargo de {owner_office_id})",
        "body": "Referência: {reference}\nPrioridade: {priority}\nOrigem: {origin_country} · Residência: {residence_country}{region}\n"
                "Necessidades: {needs}\nIdioma da pessoa: {language}\nAbrir na consola: {console_url}",
    },
    "en": {
        "subject": "[OSS] New case {reference} ({priority})",
        "owner": "New case for your office",
        "informed": "Case for your information (handled by {owner_office_id})",
        "body": "Reference: {reference}\nPriority: {priority}\nOrigin: {origin_country} · Residence: {residence_country}{region}\n"
                "Needs: {needs}\nPerson's language: {language}\nOpen in the console: {console_url}",
    },
}


def render(payload: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, text) of a ticket notification, in the staff's language."""
    template = TEMPLATES.get(str(payload.get("staff_language")), TEMPLATES["en"])
    values = {
        "reference": payload.get("reference", "?"),
        "priority": payload.get("priority", "?"),
        "origin_country": payload.get("origin_country") or "-",
        "residence_country": payload.get("residence_country") or "-",
        "region": f" ({payload['region']})" if payload.get("region") else "",
        "needs": ", ".join(payload.get("needs") or []) or "-",
        "language": payload.get("language") or "-",
        "console_url": payload.get("console_url", ""),
        "owner_office_id": payload.get("owner_office_id", "?"),
    }
    headline = template["owner" if payload.get("role") == "owner" else "informed"].format(**values)
    return template["subject"].format(**values), headline + "\n\n" + template["body"].format(**values)


def canonical_body(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(body: bytes, secret: str) -> str:
    """The X-OSS-Signature header value: `sha256=` and the hex HMAC-SHA256 of the exact body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str | None) -> bool:
    """What a receiving office does with the header (constant-time comparison)."""
    return header is not None and hmac.compare_digest(sign(body, secret), header)


class EmailSender:
    """Plain SMTP (optionally STARTTLS and login). Blocking: call it from the worker, not an event loop."""

    def __init__(
        self, *, host: str, port: int, sender: str, user: str | None = None, password: str | None = None,
        starttls: bool = False, timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.user, self.password, self.starttls, self.timeout_s = user, password, starttls, timeout_s

    def send(self, notification: Notification) -> None:
        subject, text = render(notification.payload)
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = notification.target
        message["Subject"] = subject
        message["Message-ID"] = f"<{notification.dedupe_key.replace(':', '.')}@oss-assistant>"
        message.set_content(text)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(message)
        except smtplib.SMTPResponseException as error:
            raise DeliveryError(f"smtp: {error.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError(f"smtp: {type(error).__name__}") from None


class TelegramSender:
    """Posts to a staff chat through the Bot API (`{base_url}/bot{token}/sendMessage`)."""

    def __init__(
        self, *, token: str, base_url: str = "https://api.telegram.org", timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/bot{token}/sendMessage"
        self.timeout_s, self._transport = timeout_s, transport

    def send(self, notification: Notification) -> None:
        _subject, text = render(notification.payload)
        body = {"chat_id": notification.target, "text": text, "disable_web_page_preview": True}
        try:
            with httpx.Client(timeout=self.timeout_s, transport=self._transport) as client:
                response = client.post(self._url, json=body)
        except httpx.HTTPError as error:
            # Never the exception's text: it contains the URL, and the URL the bot token.
            raise DeliveryError(f"telegram: {type(error).__name__}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code != 200 or not isinstance(answer, dict) or answer.get("ok") is not True:
            description = str(answer.get("description", ""))[:200] if isinstance(answer, dict) else ""
            raise DeliveryError(f"telegram: HTTP {response.status_code} {description}".strip())


class WebhookSender:
    """POSTs the payload as JSON, signed with the office's secret in X-OSS-Signature."""

    def __init__(
        self, *, secrets: Mapping[str, str], timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._secrets = dict(secrets)
        self.timeout_s, self._transport = timeout_s, transport

    def send(self, notification: Notification) -> None:
        secret = self._secrets.get(notification.office_id)
        if not secret:
            raise DeliveryError(f"webhook: no signing secret for {notification.office_id}")
        body = canonical_body(notification.payload)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, secret),
            DELIVERY_HEADER: notification.dedupe_key,  # lets the receiver drop a repeated delivery
        }
        try:
            with httpx.Client(timeout=self.timeout_s, transport=self._transport) as client:
                response = client.post(notification.target, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise DeliveryError(f"webhook: {type(error).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"webhook: HTTP {response.status_code}")


def build_senders(settings: Settings, offices: OfficesConfig) -> dict[str, Sender]:
    """The senders the configured offices need; a missing secret fails here, at worker start."""
    senders: dict[str, Sender] = {
        "email": EmailSender(
            host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from,
            user=settings.smtp_user, password=settings.smtp_password, starttls=settings.smtp_starttls,
        ),
    }
    kinds = {office.notify.kind for office in offices.offices.values()}
    if "telegram" in kinds:
        senders["telegram"] = TelegramSender(
            token=settings.require_telegram_bot_token(), base_url=settings.telegram_api_base_url,
        )
    secrets = {
        office_id: secret_from_env(office.notify.secret_env)
        for office_id, office in offices.offices.items()
        if office.notify.kind == "webhook" and office.notify.secret_env
    }
    senders["webhook"] = WebhookSender(secrets=secrets)
    return senders
