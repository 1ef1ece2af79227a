"""What the WhatsApp and Telegram channels share: store first, answer later.

The webhook checks the provider's signature, pseudonymises the sender, stores the message
(durable inbox) and the encrypted handle in one unit of work, acknowledges, and kicks the
worker. The worker asks Rasa (with a collecting output channel), renders the replies for
the channel and sends them; a failure is retried later and the person is told once.
Rendered sends are kept per message until all went out, so a retry after a partial send
neither asks Rasa again nor repeats what was already delivered.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import httpx
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from casework.db import make_engine, session_scope
from casework.handles import Handle, handle_for, record_refused_send, remember_handle
from casework.inbox import record_inbound
from casework.privacy import FieldCipher, pseudonymous_sender_id
from channels.config import CaseStore
from channels.inbound import ButtonOffers, button_payloads, inbound_text
from channels.texts import channel_text
from channels.worker import ClaimedMessage, InboxWorker, ProcessingFailed, utc_now

logger = logging.getLogger(__name__)

HTTP_TIMEOUT_S = 15.0
_announced_off: set[str] = set()
_workers: dict[str, InboxWorker] = {}


def announce_off(channel: str, missing: tuple[str, ...]) -> None:
    """Log once per process that a channel is off, and why."""
    if channel not in _announced_off:
        _announced_off.add(channel)
        logger.warning("%s channel off: %s not set", channel, ", ".join(missing))


@lru_cache(maxsize=4)
def _engine(url: str) -> Any:
    return make_engine(url)


def shared_worker(engine: Any, cipher: FieldCipher) -> InboxWorker:
    """One worker per process and database, shared by every inbox channel."""
    key = str(engine.url)
    if key not in _workers:
        _workers[key] = InboxWorker(engine, cipher)
    return _workers[key]


@dataclass
class Prepared:
    """What to do with a claimed message: ask Rasa (text, metadata) or answer directly."""

    text: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    direct_replies: list[dict[str, Any]] | None = None


OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class InboxChannel(InputChannel, ABC):
    """Base of the channels that go through the durable inbox."""

    provider = ""

    def __init__(
        self, config: Any, *, engine: Any = None, cipher: FieldCipher | None = None,
        worker: InboxWorker | None = None, clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.config = config
        self.clock = clock
        self.offers = ButtonOffers()
        self._engine = engine
        self._cipher = cipher
        self._worker = worker
        self._http: httpx.AsyncClient | None = None
        self._on_new_message: OnNewMessage | None = None
        self._pending: dict[int, tuple[list[Any], int]] = {}  # message id -> (rendered sends, sent)

    # --- wiring --------------------------------------------------------------------
    @property
    def store(self) -> CaseStore:
        return self.config.store

    @property
    def engine(self) -> Any:
        if self._engine is None:
            self._engine = _engine(self.store.database_url)
        return self._engine

    @property
    def cipher(self) -> FieldCipher:
        if self._cipher is None:
            self._cipher = FieldCipher(self.store.field_encryption_keys)
        return self._cipher

    @property
    def worker(self) -> InboxWorker:
        if self._worker is None:
            self._worker = shared_worker(self.engine, self.cipher)
        return self._worker

    def http(self) -> httpx.AsyncClient:
        if self._http is None or self._http.is_closed:
            self._http = httpx.AsyncClient(timeout=HTTP_TIMEOUT_S)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def open_blueprint(self, on_new_message: OnNewMessage) -> tuple[Blueprint, bool]:
        """The channel's blueprint at /webhooks/<name>, with a health route and, after a
        restart, the processing of messages stored before it; (blueprint, False) when off."""
        hook = Blueprint(f"{self.name()}_webhook", url_prefix=f"/webhooks/{self.name()}")
        if not self.config.on:
            announce_off(self.name(), self.config.missing)
            return hook, False
        self.start(on_new_message)

        @hook.listener("after_server_start")
        async def resume(app: Any, loop: Any) -> None:
            self.worker.kick()  # messages stored before a restart

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        return hook, True

    def start(self, on_new_message: OnNewMessage) -> None:
        self._on_new_message = on_new_message
        self.worker.register(self.provider, self)

    def sender_id_for(self, handle: str) -> str:
        return pseudonymous_sender_id(self.provider, handle, self.store.sender_id_secret or "")

    # --- webhook side --------------------------------------------------------------
    async def store_inbound(self, *, provider_message_id: str, handle: str, payload: dict[str, Any]) -> bool:
        """Store the message and the handle; False when it was a duplicate delivery."""
        sender_id = self.sender_id_for(handle)

        def unit_of_work() -> bool:
            now = self.clock()
            with session_scope(self.engine) as session:
                stored = record_inbound(
                    session, provider=self.provider, provider_message_id=provider_message_id,
                    sender_id=sender_id, payload=payload, cipher=self.cipher, now=now,
                )
                if stored is None:
                    return False
                remember_handle(session, sender_id=sender_id, channel=self.provider, handle=handle,
                                cipher=self.cipher, now=now)
                return True

        stored = await asyncio.to_thread(unit_of_work)
        if stored:
            self.worker.kick()
        return stored

    # --- worker side (MessageHandler) ------------------------------------------------
    async def process(self, message: ClaimedMessage) -> None:
        if message.id not in self._pending:
            prepared = await self.prepare(message)
            replies = prepared.direct_replies
            if replies is None:
                replies = await self.ask_rasa(message, prepared)
            handle = await self.handle_of(message.sender_id)
            if handle is None:
                logger.warning("%s: no handle for message %s (erased?): nothing sent", self.provider, message.id)
                return
            refusal = self.refusal(handle)
            if refusal:
                await self.refuse(message.sender_id, refusal)
                return
            self._pending[message.id] = (self.render(message, handle, replies), 0)
        sends, done = self._pending[message.id]
        for index in range(done, len(sends)):
            await self.send(sends[index])
            self._pending[message.id] = (sends, index + 1)

    async def ask_rasa(self, message: ClaimedMessage, prepared: Prepared) -> list[dict[str, Any]]:
        if self._on_new_message is None:
            raise ProcessingFailed("channel_not_started")
        collector = CollectingOutputChannel()
        text = inbound_text(prepared.text, message.sender_id, self.offers)
        user_message = UserMessage(text, collector, message.sender_id, input_channel=self.name(),
                                   metadata=prepared.metadata, message_id=f"{self.provider}-{message.id}")
        try:
            await self._on_new_message(user_message)
        except Exception as error:
            raise ProcessingFailed(f"rasa_{type(error).__name__}") from error
        if not collector.messages:
            raise ProcessingFailed("rasa_no_reply")
        self.offers.offer(message.sender_id, button_payloads(collector.messages))
        return list(collector.messages)

    async def on_first_failure(self, message: ClaimedMessage) -> None:
        handle = await self.handle_of(message.sender_id)
        if handle is None or self.refusal(handle):
            return
        text = channel_text("utter_channel_trouble", message.payload.get("language_hint") or handle.language)
        for outbound in self.render(message, handle, [{"text": text}], keep_options=True):
            await self.send(outbound)

    def forget(self, message: ClaimedMessage) -> None:
        self._pending.pop(message.id, None)

    async def handle_of(self, sender_id: str) -> Handle | None:
        def read() -> Handle | None:
            with session_scope(self.engine) as session:
                return handle_for(session, sender_id=sender_id, cipher=self.cipher)

        return await asyncio.to_thread(read)

    async def refuse(self, sender_id: str, reason: str) -> None:
        logger.warning("%s: reply to %s not sent: %s", self.provider, sender_id, reason)

        def record() -> None:
            with session_scope(self.engine) as session:
                record_refused_send(session, sender_id=sender_id, channel=self.provider, reason=reason, now=self.clock())

        await asyncio.to_thread(record)

    # --- what each channel provides ------------------------------------------------
    @abstractmethod
    async def prepare(self, message: ClaimedMessage) -> Prepared:
        """Turn a claimed inbox message into the UserMessage text and metadata."""

    def refusal(self, handle: Handle) -> str | None:
        """Why no reply may be sent to this person now (None: go ahead)."""
        return None

    @abstractmethod
    def render(self, message: ClaimedMessage, handle: Handle, replies: list[dict[str, Any]],
               keep_options: bool = False) -> list[Any]:
        """The provider's outbound calls for Rasa's replies."""

    @abstractmethod
    async def send(self, outbound: Any) -> None:
        """Send one outbound call to the provider's API."""


def within(last: datetime | None, now: datetime, hours: float) -> bool:
    return last is not None and now - last <= timedelta(hours=hours)
