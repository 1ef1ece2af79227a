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
import os
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from casework.db import make_engine, run_unit_of_work
from casework.handles import (
    Handle,
    handle_for,
    offer_buttons,
    offered_buttons,
    record_refused_send,
    remember_handle,
)
from casework.inbox import store_inbound as store_inbound_row
from casework.privacy import FieldCipher, pseudonymous_sender_id
from channels.config import CaseStore, inbox_concurrency, turn_concurrency, turn_timeout_s
from channels.http_client import HttpClient, HttpError
from channels.inbound import inbound_text
from channels.options import TTL_HOURS, Option
from channels.texts import channel_text
from channels.worker import ClaimedMessage, InboxWorker, ProcessingFailed, utc_now

logger = logging.getLogger(__name__)
T = TypeVar("T")

HTTP_TIMEOUT_S = 15.0
MAX_REMEMBERED_HANDLES = 1024
HEALTH_TIMEOUT_S = 5.0
_announced_off: set[str] = set()
_workers: dict[str, InboxWorker] = {}


def announce_off(channel: str, missing: tuple[str, ...]) -> None:
    """Log once per process that a channel is off, and why."""
    if channel not in _announced_off:
        _announced_off.add(channel)
        logger.warning("%s channel off: %s not set", channel, ", ".join(missing))


@lru_cache(maxsize=4)
def _engine(url: str) -> Any:
    # No ping per checkout: every unit of work here goes through run_unit_of_work, which
    # retries once on a fresh connection after a database restart.
    return make_engine(url, pre_ping=False)


def shared_worker(engine: Any, cipher: FieldCipher) -> InboxWorker:
    """One worker per process and database, shared by every inbox channel.

    `INBOX_CONCURRENCY` people's messages are processed at once (default 32; keep it
    generous: a Telegram reply in several parts waits about a second between parts), of
    which `TURN_CONCURRENCY` (default 4) may be in a Rasa turn.
    """
    key = str(engine.url)
    if key not in _workers:
        _workers[key] = InboxWorker(engine, cipher, concurrency=inbox_concurrency(os.environ),
                                    turns=turn_concurrency(os.environ))
    return _workers[key]


@dataclass
class Prepared:
    """What to do with a claimed message: ask Rasa (text, metadata) or answer directly."""

    text: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    direct_replies: list[dict[str, Any]] | None = None
    trusted: bool = False  # chosen by the server (a button, /start): slash syntax allowed


@dataclass
class Rendered:
    """The provider calls for some replies, and the buttons they offer (None: offer nothing new)."""

    sends: list[Any]
    buttons: list[Option] | None = None


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
        self._engine = engine
        self._cipher = cipher
        self._worker = worker
        self._http = HttpClient(HTTP_TIMEOUT_S)
        self._on_new_message: OnNewMessage | None = None
        self.actions_health_url: str | None = None
        self.turn_timeout_s = turn_timeout_s()
        # Handles read for messages under way (several at once), for on_first_failure.
        self._handles: OrderedDict[int, Handle | None] = OrderedDict()

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

    async def in_unit_of_work(self, work: Callable[[Any], T]) -> T:
        """`work(session)` in one unit of work, in a thread (see `run_unit_of_work`)."""
        return await asyncio.to_thread(run_unit_of_work, self.engine, work)

    def http(self) -> HttpClient:
        return self._http

    async def close(self) -> None:
        await self._http.close()

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
            self.actions_health_url = actions_health_url(app)
            self.worker.kick()  # messages stored before a restart

        @hook.listener("before_server_stop")
        async def close_http(app: Any, loop: Any) -> None:
            await self.close()

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

        def unit_of_work(session: Any) -> bool:
            now = self.clock()
            stored = store_inbound_row(
                session, provider=self.provider, provider_message_id=provider_message_id,
                sender_id=sender_id, payload=payload, cipher=self.cipher, now=now,
            )
            if stored is None:
                return False
            remember_handle(session, sender_id=sender_id, channel=self.provider, handle=handle,
                            cipher=self.cipher, now=now)
            return True

        stored = await self.in_unit_of_work(unit_of_work)
        if stored:
            self.worker.kick()
        return stored

    # --- worker side (MessageHandler) ------------------------------------------------
    async def process(self, message: ClaimedMessage) -> None:
        if message.replies is None:
            prepared = await self.prepare(message)
            # Read before Rasa is asked (with the claim, as a rule): if the turn fails because
            # the database went away meanwhile, the person can still be told (on_first_failure).
            handle = message.sender.handle if message.sender is not None else await self.handle_of(message.sender_id)
            self._handles[message.id] = handle
            while len(self._handles) > MAX_REMEMBERED_HANDLES:
                self._handles.popitem(last=False)
            replies = prepared.direct_replies
            if replies is None:
                replies = await self.ask_rasa(message, prepared)
            if handle is None:
                logger.warning("%s: no handle for message %s (erased?): nothing sent", self.provider, message.id)
                return
            refusal = self.refusal(handle, replies)
            if refusal:
                await self.refuse(message.sender_id, refusal)
                return
            rendered = self.render(message.sender_id, handle, replies)
            sends, done = rendered.sends, 0
            if sends or rendered.buttons is not None:
                # Kept before the first send, with the buttons they offer: a retry (here or
                # in another process) sends the rest without asking Rasa again, and nothing twice.
                buttons = None if rendered.buttons is None else [button.as_dict() for button in rendered.buttons]
                await self.worker.keep_replies(message, [asdict(outbound) for outbound in sends], buttons=buttons)
        else:
            sends, done = [self.outbound(kept) for kept in message.replies], message.replies_sent
        for index in range(done, len(sends)):
            await self.send(sends[index])
            if index + 1 < len(sends):  # the last one is recorded when the worker marks the message done
                await self.worker.mark_sent(message, index + 1)

    async def ask_rasa(self, message: ClaimedMessage, prepared: Prepared) -> list[dict[str, Any]]:
        """Rasa's replies to the message; ProcessingFailed (retry later) when it cannot answer.

        The action server is asked first: Rasa itself carries on when a custom action
        fails and would answer half a conversation turn, which a retry could not undo.
        """
        if self._on_new_message is None:
            raise ProcessingFailed("channel_not_started")
        await self.check_actions()
        collector = CollectingOutputChannel()
        # Typed text never keeps slash syntax; only what the server chose for the person does.
        text = prepared.text if prepared.trusted else inbound_text(prepared.text, message.sender_id, None)
        user_message = UserMessage(text, collector, message.sender_id, input_channel=self.name(),
                                   metadata=prepared.metadata, message_id=f"{self.provider}-{message.id}")
        on_new_message = self._on_new_message

        async def turn() -> None:
            async with self.worker.turn_slot():
                await on_new_message(user_message)

        try:
            # Rasa saves the tracker only at the end of a turn: a turn cut short here (an
            # action server slower than the timeout) leaves nothing stored, and its lock is
            # released on the way out, so the retry is the whole turn, never half of it.
            # The wait for a turn slot counts too: a message never outlives its lease here.
            await asyncio.wait_for(turn(), self.turn_timeout_s)
        except asyncio.TimeoutError as error:
            raise ProcessingFailed("rasa_timeout") from error
        except Exception as error:  # the tracker was not saved: asking again is safe
            raise ProcessingFailed(f"rasa_{type(error).__name__}") from error
        if not collector.messages:
            # Rasa handled it (the tracker holds the turn): asking again would repeat the turn.
            logger.warning("%s: Rasa had no reply for message %s", self.provider, message.id)
        return list(collector.messages)

    async def check_actions(self) -> None:
        if not self.actions_health_url:
            return
        try:
            answer = await self.http().get(self.actions_health_url, timeout=HEALTH_TIMEOUT_S)
        except HttpError as error:
            raise ProcessingFailed(f"actions_{type(error).__name__}") from error
        if answer.status_code != 200:
            raise ProcessingFailed(f"actions_http_{answer.status_code}")

    async def on_first_failure(self, message: ClaimedMessage) -> None:
        if message.id in self._handles:
            handle = self._handles.pop(message.id)
        else:
            handle = await self.handle_of(message.sender_id)
        if handle is None:
            return
        text = channel_text("utter_channel_trouble", message.payload.get("language_hint") or handle.language)
        if self.refusal(handle, [{"text": text}]):
            return
        for outbound in self.render(message.sender_id, handle, [{"text": text}]).sends:
            await self.send(outbound)

    def forget(self, message: ClaimedMessage) -> None:
        """Drop the handle kept for this message; the inbox row holds what a retry needs."""
        self._handles.pop(message.id, None)

    async def handle_of(self, sender_id: str) -> Handle | None:
        return await self.in_unit_of_work(lambda session: handle_for(session, sender_id=sender_id, cipher=self.cipher))

    async def remember_buttons(self, sender_id: str, buttons: list[Option] | None) -> None:
        if buttons is None:
            return
        await self.in_unit_of_work(lambda session: offer_buttons(
            session, sender_id=sender_id, buttons=[b.as_dict() for b in buttons], now=self.clock()))

    async def offered_for(self, message: ClaimedMessage) -> list[Option]:
        """The fresh buttons last offered to the message's sender, as read with the claim."""
        if message.sender is None:
            return await self.offered(message.sender_id)
        since = self.clock() - timedelta(hours=TTL_HOURS)
        return [Option.from_dict(button) for button in message.sender.offered_since(since)]

    async def offered(self, sender_id: str) -> list[Option]:
        """The buttons last offered to the person, while they are fresh (any process offered them)."""
        buttons = await self.in_unit_of_work(lambda session: offered_buttons(
            session, sender_id=sender_id, since=self.clock() - timedelta(hours=TTL_HOURS)))
        return [Option.from_dict(button) for button in buttons]

    async def refuse(self, sender_id: str, reason: str) -> None:
        logger.warning("%s: reply to %s not sent: %s", self.provider, sender_id, reason)

        await self.in_unit_of_work(lambda session: record_refused_send(
            session, sender_id=sender_id, channel=self.provider, reason=reason, now=self.clock()))

    # --- sends that do not answer an inbound message (Rasa's HTTP API, staff) ----------
    def get_output_channel(self) -> OutputChannel | None:
        """What Rasa's HTTP API uses with `output_channel=latest` (or this channel's name):
        bot messages appended with `execute_side_effects=true` reach the person here."""
        return LiveOutput(self) if self.config.on else None

    async def deliver(self, sender_id: str, replies: list[dict[str, Any]]) -> None:
        """Send `replies` to the person behind `sender_id` now; DeliveryRefused when it may
        not or cannot be sent (the refusal is recorded), ProcessingFailed on an outage."""
        handle = await self.handle_of(sender_id)
        if handle is None:
            raise DeliveryRefused(self.provider, "unknown_recipient")
        refusal = self.refusal(handle, replies)
        if refusal:
            await self.refuse(sender_id, refusal)
            raise DeliveryRefused(self.provider, refusal)
        rendered = self.render(sender_id, handle, replies)
        await self.remember_buttons(sender_id, rendered.buttons)
        for outbound in rendered.sends:
            refused = await self.send(outbound)
            if refused:
                raise DeliveryRefused(self.provider, refused)

    # --- what each channel provides ------------------------------------------------
    @abstractmethod
    async def prepare(self, message: ClaimedMessage) -> Prepared:
        """Turn a claimed inbox message into the UserMessage text and metadata."""

    def refusal(self, handle: Handle, replies: list[dict[str, Any]]) -> str | None:
        """Why `replies` may not be sent to this person now (None: go ahead)."""
        return None

    @abstractmethod
    def render(self, sender_id: str, handle: Handle, replies: list[dict[str, Any]]) -> Rendered:
        """The provider's outbound calls for Rasa's replies, and the buttons they offer."""

    @abstractmethod
    def outbound(self, kept: dict[str, Any]) -> Any:
        """An outbound call back from its kept form (`dataclasses.asdict`)."""

    @abstractmethod
    async def send(self, outbound: Any) -> str | None:
        """Send one outbound call to the provider's API.

        Raises ProcessingFailed when a retry may help (outage, rate limit); returns the
        reason code, already recorded, when the provider refused it for good; None when sent.
        """


class DeliveryRefused(Exception):
    """A reply that was not sent, and why (a code, no personal data)."""

    def __init__(self, provider: str, reason: str) -> None:
        super().__init__(f"{provider} send refused: {reason}")
        self.reason = reason


class LiveOutput(OutputChannel):
    """Rasa's output channel for sends outside an inbound turn: they go straight to the
    provider (rendered like any reply, same rules: WhatsApp's 24-hour window applies).

    Rasa hands over `BotUttered.message()`: the event's data with its `metadata` merged in
    at the top level, so the console's `metadata.template` (a WhatsApp Content SID) arrives
    here as `message["template"]` and is passed on (any value: a malformed one is refused).
    """

    def __init__(self, channel: InboxChannel) -> None:
        self.channel = channel

    def name(self) -> str:  # type: ignore[override]  # Rasa calls it on instances too
        return self.channel.name()

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        reply = {key: value for key, value in message.items() if key in ("text", "buttons", "image") and value}
        if message.get("template") is not None:
            reply["template"] = message["template"]
        if reply:
            await self.channel.deliver(recipient_id, [reply])

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {**kwargs, "text": text})


def actions_health_url(app: Any) -> str | None:
    """The action server's /health, from the endpoint Rasa was started with (None: no actions)."""
    endpoint = getattr(getattr(getattr(app, "ctx", None), "agent", None), "action_endpoint", None)
    url = getattr(endpoint, "url", None)
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return None
    base = url.rstrip("/")
    return (base.removesuffix("/webhook") or base) + "/health"


def within(last: datetime | None, now: datetime, hours: float) -> bool:
    return last is not None and now - last <= timedelta(hours=hours)
