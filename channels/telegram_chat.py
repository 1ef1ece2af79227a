"""Telegram: POST /webhooks/telegram/webhook (python-telegram-bot parses, aiohttp sends).

The secret token (`X-Telegram-Bot-Api-Secret-Token`) is compared in constant time before
the body is even parsed. `update_id` de-duplicates through the durable inbox. Inline
buttons carry opaque server-issued tokens, never intents; a forged or stale token gets
the domain's "that option has expired". Sends respect Telegram's rates (about one message
per second per chat, thirty overall) by waiting, never by dropping; with REDIS_URL set the
rates are shared by every Rasa replica (channels/ratelimit.py).

`/start` (with or without a deep-link payload) reaches Rasa as the server-chosen intent
`/greet` (the person did not type slash syntax: the channel decides what starting means),
with the payload, if any, in metadata as `deep_link`. Any other typed "/..." is text.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import Bot, Message, Update

from casework.handles import Handle
from channels.config import TelegramConfig, telegram_config
from channels.durable import InboxChannel, OnNewMessage, Prepared, Rendered
from channels.language import language_from_code
from channels.options import Option, options_of, resolve
from channels.ratelimit import Limiter, rate_limiter
from channels.splitting import TELEGRAM_LIMIT, split_text, utf16_length
from channels.texts import TROUBLE, channel_text
from channels.worker import ClaimedMessage, ProcessingFailed

logger = logging.getLogger(__name__)
# httpx (setWebhook, python-telegram-bot) logs every request URL at INFO, and Telegram's URLs
# carry the bot token: keep it out.
logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger("httpx").level))

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name, not a secret
MAX_BODY_BYTES = 256 * 1024
MAX_TEXT_CHARS = 4096
START = re.compile(r"/start(?:@\w+)?(?:\s+([A-Za-z0-9_-]{1,64}))?\s*")
START_INTENT = "/greet"
MAX_RETRY_AFTER_S = 60
SEND_ATTEMPTS = 3
NOT_STORED_QUIET_S = 600.0
NOT_STORED_SEND_TIMEOUT_S = 5.0


class UpdateProblem(ValueError):
    pass


@dataclass(frozen=True)
class TelegramInbound:
    update_id: int
    handle: str  # the private chat's id
    payload: dict[str, Any]


def message_media(message: Message) -> str | None:
    if message.voice or message.audio:
        return "audio"
    if message.photo or message.sticker:
        return "image"
    if message.video or message.video_note or message.animation:
        return "video"
    if message.location or message.venue:
        return "location"
    if message.contact:
        return "contact"
    if message.document:
        return "document"
    return None


def read_update(update: Update) -> TelegramInbound | None:
    """What to store from an update; None for updates we do not handle (groups, edits...)."""
    if not isinstance(update.update_id, int):
        raise UpdateProblem("update_id is not a number")
    if update.message is not None:
        message = update.message
        user = message.from_user
        if message.chat.type != "private" or user is None or user.is_bot:
            return None
        payload: dict[str, Any] = {"kind": "message", "language_hint": language_from_code(user.language_code)}
        media = message_media(message)
        if media:
            payload.update(text="", media=media)
        else:
            text = (message.text or "").replace("\x00", "")[:MAX_TEXT_CHARS]
            start = START.fullmatch(text)
            if start:
                payload.update(text="", start=True, deep_link=start.group(1))
            else:
                payload["text"] = text
        return TelegramInbound(update.update_id, str(message.chat.id), payload)
    query = update.callback_query
    if query is not None:
        chat = query.message.chat if query.message is not None else None
        if chat is not None and chat.type != "private":
            return None
        payload = {
            "kind": "callback", "token": (query.data or "")[:64], "callback_query_id": query.id,
            "language_hint": language_from_code(query.from_user.language_code),
        }
        return TelegramInbound(update.update_id, str(chat.id if chat else query.from_user.id), payload)
    return None


@dataclass(frozen=True)
class TelegramSend:
    method: str
    body: dict[str, Any]
    chat: str
    sender_id: str


class TelegramInput(InboxChannel):
    provider = "telegram"

    def __init__(self, config: TelegramConfig, *, limiter: Limiter | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.config: TelegramConfig = config
        # Shared by the replicas through Redis in production (REDIS_URL), per process otherwise.
        self.limiter = limiter or rate_limiter(config.redis_url, scope=f"telegram:{config.bot_id}")
        self._bot: Bot | None = None
        self._told_not_stored: dict[str, float] = {}  # chat -> time.monotonic() when told

    @classmethod
    def name(cls) -> str:
        return "telegram"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TelegramInput:
        return cls(telegram_config())

    @property
    def bot(self) -> Bot:
        if self._bot is None:  # no network: Bot() only holds the token until initialize()
            self._bot = Bot(self.config.bot_token, base_url=f"{self.config.api_base_url}/bot")
        return self._bot

    def api(self, method: str) -> str:
        return f"{self.config.api_base_url}/bot{self.config.bot_token}/{method}"

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        hook, on = self.open_blueprint(on_new_message)
        if not on:
            return hook

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.secret_matches(request.headers.get(SECRET_HEADER, "")):
                return response.text("forbidden", status=403)
            body = request.body or b""
            if len(body) > MAX_BODY_BYTES:
                return response.text("too large", status=413)
            try:
                data = json.loads(body)
                if not isinstance(data, dict):
                    raise UpdateProblem("not an object")
                update = Update.de_json(data, self.bot)
                inbound = read_update(update) if update is not None else None
            except Exception as problem:  # anything the parser refuses is a bad request, not a 500
                logger.info("telegram: unreadable update (%s)", type(problem).__name__)
                return response.text("bad update", status=400)
            if inbound is None:
                return response.json({"ok": True})
            try:
                await self.store_inbound(provider_message_id=str(inbound.update_id), handle=inbound.handle,
                                         payload=inbound.payload)
            except Exception as error:  # not stored: Telegram must retry
                logger.error("telegram: could not store update (%s)", type(error).__name__)
                await self.tell_not_stored(inbound)
                return response.text("unavailable", status=503)
            return response.json({"ok": True})

        return hook

    async def tell_not_stored(self, inbound: TelegramInbound) -> None:
        """Tell the person, once per outage, that the answer is delayed; never raises.

        Telegram delivers an update again until the webhook accepts it (for up to a day),
        so "your message is safe" is true although we could not store it: the redelivery
        after the outage is answered like any message. Kept in memory only (the database is
        what is down); a chat hears it at most once per NOT_STORED_QUIET_S in this process.
        """
        now = time.monotonic()
        told = self._told_not_stored.get(inbound.handle)
        if told is not None and now - told < NOT_STORED_QUIET_S:
            return
        self._told_not_stored = {chat: at for chat, at in self._told_not_stored.items() if now - at < NOT_STORED_QUIET_S}
        self._told_not_stored[inbound.handle] = now
        text = channel_text(TROUBLE, inbound.payload.get("language_hint"))
        try:
            await self.http().post(self.api("sendMessage"), json={"chat_id": inbound.handle, "text": text},
                                   timeout=NOT_STORED_SEND_TIMEOUT_S)
        except Exception as error:
            logger.warning("telegram: could not tell a chat about the delay (%s)", type(error).__name__)

    def secret_matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.config.webhook_secret.encode("utf-8"))

    # --- processing ---------------------------------------------------------------------
    async def prepare(self, message: ClaimedMessage) -> Prepared:
        payload = message.payload
        metadata: dict[str, Any] = {}
        if payload.get("language_hint"):
            metadata["language_hint"] = payload["language_hint"]
        if payload.get("kind") == "callback":
            await self.answer_callback(str(payload.get("callback_query_id") or ""), message.sender_id)
            chosen = resolve(await self.offered_for(message), str(payload.get("token") or ""))
            if chosen is None:
                text = channel_text("utter_channel_option_expired", payload.get("language_hint"))
                return Prepared(direct_replies=[{"text": text}])
            metadata["button"] = True
            return Prepared(text=chosen, metadata=metadata, trusted=True)
        if payload.get("media"):
            metadata["media"] = payload["media"]
            return Prepared(text="", metadata=metadata)
        if payload.get("start"):
            if payload.get("deep_link"):
                metadata["deep_link"] = payload["deep_link"]
            return Prepared(text=START_INTENT, metadata=metadata, trusted=True)  # the server's choice
        return Prepared(text=str(payload.get("text") or ""), metadata=metadata)

    async def answer_callback(self, query_id: str, sender_id: str) -> None:
        """Stop the button's spinner; best effort (a late answer is refused by Telegram).

        Counted in the bot's overall rate and paced per person, not under one key for the
        whole bot: that allowed one answer a second across all people (and all replicas)."""
        if not query_id:
            return
        try:
            await self.limiter.wait(f"callback:{sender_id}")
            await self.http().post(self.api("answerCallbackQuery"), json={"callback_query_id": query_id})
        except Exception as error:
            logger.info("telegram: answerCallbackQuery failed (%s)", type(error).__name__)

    def render(self, sender_id: str, handle: Handle, replies: list[dict[str, Any]]) -> Rendered:
        """Bot API calls for the replies; buttons carry fresh opaque tokens. A turn with
        buttons replaces the offered ones; a turn without keeps the last keyboard usable."""
        sends: list[TelegramSend] = []
        offered: list[Option] = []
        for reply in replies:
            options = options_of(reply, with_tokens=True)
            offered += options
            if reply.get("image"):
                sends.append(TelegramSend("sendPhoto", {"chat_id": handle.handle, "photo": str(reply["image"])},
                                          handle.handle, sender_id))
            parts = split_text(str(reply.get("text") or ""), TELEGRAM_LIMIT, utf16_length)
            if options and not parts:
                parts = ["👇"]
            for index, part in enumerate(parts):
                body: dict[str, Any] = {"chat_id": handle.handle, "text": part}
                if options and index == len(parts) - 1:
                    body["reply_markup"] = {"inline_keyboard": [
                        [{"text": option.title[:64], "callback_data": option.token}] for option in options
                    ]}
                sends.append(TelegramSend("sendMessage", body, handle.handle, sender_id))
        return Rendered(sends, offered or None)

    def outbound(self, kept: dict[str, Any]) -> TelegramSend:
        return TelegramSend(**kept)

    async def send(self, outbound: TelegramSend) -> str | None:
        for _ in range(SEND_ATTEMPTS):
            # Paced per person by the pseudonymous id (one per chat): no chat id leaves for Redis.
            await self.limiter.wait(outbound.sender_id)
            try:
                answer = await self.http().post(self.api(outbound.method), json=outbound.body)
            except Exception as error:
                raise ProcessingFailed(f"telegram_{type(error).__name__}") from error
            if answer.status_code == 200:
                return None
            if answer.status_code == 429:
                await asyncio.sleep(min(_retry_after(answer), MAX_RETRY_AFTER_S))
                continue
            if answer.status_code >= 500:
                raise ProcessingFailed(f"telegram_http_{answer.status_code}")
            # 400/403 (chat gone, bot blocked): retrying cannot help.
            reason = f"telegram_http_{answer.status_code}"
            await self.refuse(outbound.sender_id, reason)
            return reason
        raise ProcessingFailed("telegram_rate_limited")


def _retry_after(answer: Any) -> float:
    try:
        return float(answer.json()["parameters"]["retry_after"])
    except Exception:
        return 1.0
