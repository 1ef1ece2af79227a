"""REST channel at /webhooks/rest/webhook (CONTRACT.md), hardened.

Same request and response shape as Rasa's RestInput, plus: malformed requests get a 400
with a reason instead of a 500; typed slash syntax is treated as text; only known
metadata keys pass (`language`); message text never reaches the logs; and when the action
server does not answer its health check the caller gets a 503 to retry, not a half turn
(Rasa itself carries on without the action and answers nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.durable import HEALTH_TIMEOUT_S, actions_health_url
from channels.http_client import HttpClient, HttpError
from channels.inbound import ButtonOffers, button_payloads, inbound_text

logger = logging.getLogger(__name__)

MAX_SENDER_CHARS = 128
MAX_TEXT_CHARS = 100_000
ALLOWED_METADATA = {"language"}
LANGUAGES = {"es", "pt", "en"}
RETRY_AFTER_S = "30"


class RequestProblem(ValueError):
    pass


def parse_rest_request(body: Any) -> tuple[str, str, dict[str, Any]]:
    """sender, text and cleaned metadata from a REST body, or RequestProblem."""
    if not isinstance(body, dict):
        raise RequestProblem("the body must be a JSON object")
    sender = body.get("sender")
    if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
        raise RequestProblem(f"'sender' must be a non-empty string of at most {MAX_SENDER_CHARS} characters")
    text = body.get("message", "")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise RequestProblem("'message' must be a string")
    if len(text) > MAX_TEXT_CHARS:
        raise RequestProblem(f"'message' is longer than {MAX_TEXT_CHARS} characters")
    raw_metadata = body.get("metadata") or {}
    if not isinstance(raw_metadata, dict):
        raise RequestProblem("'metadata' must be an object")
    metadata = {k: v for k, v in raw_metadata.items() if k in ALLOWED_METADATA}
    if "language" in metadata and metadata["language"] not in LANGUAGES:
        metadata.pop("language")
    return sender.strip(), text.replace("\x00", ""), metadata


class SafeRestInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "rest"

    def __init__(self) -> None:
        self.offers = ButtonOffers()
        self._http = HttpClient(HEALTH_TIMEOUT_S)

    async def actions_answer(self, app: Any) -> bool:
        """Whether the action server answers its health check (True when there is none).

        Checked on every message (a local round trip of a millisecond or two), like the
        WhatsApp/Telegram channels do: a cached "healthy" would let a half turn through.
        """
        url = actions_health_url(app)
        if url is None:
            return True
        try:
            return (await self._http.get(url)).status_code == 200
        except HttpError:
            return False

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> SafeRestInput:
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("rest_webhook", __name__)

        @hook.listener("before_server_stop")
        async def close_http(app: Any, loop: Any) -> None:
            await self._http.close()

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = request.json
            except Exception:  # sanic raises on invalid JSON
                return response.json({"error": "the body is not valid JSON"}, status=400)
            try:
                sender, text, metadata = parse_rest_request(body)
            except RequestProblem as problem:
                return response.json({"error": str(problem)}, status=400)
            if not await self.actions_answer(request.app):
                logger.warning("rest: the action server is not answering; asked the caller to retry")
                return response.json(
                    {"error": "the assistant is having trouble right now; nothing was processed, please retry"},
                    status=503, headers={"Retry-After": RETRY_AFTER_S},
                )
            collector = CollectingOutputChannel()
            message = UserMessage(
                inbound_text(text, sender, self.offers), collector, sender,
                input_channel=self.name(), metadata=metadata,
            )
            try:
                await on_new_message(message)
            except Exception:
                logger.exception("rest: handling a message failed")
                return response.json({"error": "the assistant could not handle the message"}, status=503)
            self.offers.offer(sender, button_payloads(collector.messages))
            return response.json(collector.messages)

        return hook
