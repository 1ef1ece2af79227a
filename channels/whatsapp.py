"""WhatsApp through Twilio: POST /webhooks/whatsapp/webhook and /webhooks/whatsapp/status.

Better than Rasa's own twilio channel: the `X-Twilio-Signature` is checked against the
public URL (PUBLIC_BASE_URL, not what Sanic sees behind a proxy) over the raw form with
blank values kept; only our account and number are accepted; the message is stored
before Twilio gets its 200; replies go out later through Twilio's REST API without
blocking the event loop; media is never downloaded; buttons become numbered options.

Outside WhatsApp's 24-hour customer-service window only an approved template may be sent:
a reply carrying `template` (a Twilio Content SID, from the staff console's bot event
metadata) goes out as `ContentSid` and is allowed at any time; free-form text is refused
there, and so is a malformed Content SID (both recorded).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator

from casework.handles import Handle, record_delivery_status
from channels.config import WhatsAppConfig, whatsapp_config
from channels.durable import InboxChannel, OnNewMessage, Prepared, Rendered, within
from channels.language import language_from_phone
from channels.options import Option, choose, numbered, options_of
from channels.splitting import WHATSAPP_LIMIT, split_text
from channels.texts import NOT_RECEIVED, channel_text
from channels.worker import ClaimedMessage, ProcessingFailed

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 200
MAX_TEXT_CHARS = 4096
WINDOW_HOURS = 24
SENDER = re.compile(r"whatsapp:\+[1-9]\d{5,14}")
MESSAGE_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")
STATUS = re.compile(r"[a-z_]{1,32}")  # queued, sent, delivered, read, undelivered, failed...
ERROR_CODE = re.compile(r"\d{0,8}")
CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")  # Twilio's Content Template SID (error 21655 otherwise)


class FormParams:
    """The form as Twilio's RequestValidator wants it: every value of a repeated name."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def __iter__(self) -> Any:
        return iter(name for name, _ in self._pairs)

    def __bool__(self) -> bool:
        return bool(self._pairs)

    def getall(self, name: str) -> list[str]:
        return [value for key, value in self._pairs if key == name]

    def first(self, name: str) -> str:
        values = self.getall(name)
        return values[0] if values else ""


@dataclass(frozen=True)
class WhatsAppInbound:
    message_sid: str
    handle: str  # "+34600111222"
    payload: dict[str, Any]


class InboundProblem(ValueError):
    pass


def media_kind(form: FormParams) -> str | None:
    """What kind of attachment the message carries; None for plain text."""
    if form.first("Latitude") or form.first("Longitude"):
        return "location"
    try:
        count = int(form.first("NumMedia") or "0")
    except ValueError:
        count = 1 if form.first("MediaContentType0") else 0
    if count <= 0:
        return None
    content_type = form.first("MediaContentType0").lower()
    if "vcard" in content_type:
        return "contact"
    for prefix in ("audio", "image", "video"):
        if content_type.startswith(prefix + "/"):
            return prefix
    return "document"


def parse_inbound(form: FormParams) -> WhatsAppInbound:
    sender = form.first("From").replace(" ", "")
    if not SENDER.fullmatch(sender):
        raise InboundProblem("From is not a WhatsApp number")
    sid = form.first("MessageSid") or form.first("SmsMessageSid")
    if not MESSAGE_SID.fullmatch(sid):
        raise InboundProblem("MessageSid is missing or malformed")
    handle = sender.removeprefix("whatsapp:")
    kind = media_kind(form)
    text = "" if kind else form.first("Body").replace("\x00", "")[:MAX_TEXT_CHARS]
    payload: dict[str, Any] = {"text": text, "media": kind, "language_hint": language_from_phone(handle)}
    return WhatsAppInbound(message_sid=sid, handle=handle, payload=payload)


def reply_twiml(text: str) -> str:
    """A TwiML answer that makes Twilio send `text` to the person who wrote."""
    return f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(text)}</Message></Response>'


def template_of(reply: dict[str, Any]) -> str | None:
    """The Content SID of the approved template the reply asks for; None for free-form text.

    Raises TemplateProblem when the reply asks for a template by anything but a Content SID:
    sending its text instead would be refused by WhatsApp outside the window anyway, and
    inside it would hide a configuration mistake.
    """
    sid = reply.get("template")
    if sid is None:
        return None
    if not isinstance(sid, str) or not CONTENT_SID.fullmatch(sid):
        raise TemplateProblem("template_malformed")
    return sid


class TemplateProblem(ValueError):
    pass


@dataclass(frozen=True)
class TwilioSend:
    sender_id: str
    form: dict[str, str]


class WhatsAppInput(InboxChannel):
    provider = "whatsapp"

    def __init__(self, config: WhatsAppConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.config: WhatsAppConfig = config
        self._warned_no_public_url = False

    @classmethod
    def name(cls) -> str:
        return "whatsapp"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WhatsAppInput:
        return cls(whatsapp_config())

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        hook, on = self.open_blueprint(on_new_message)
        if not on:
            return hook

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            form = self.signed_form(request)
            if form is None:
                return response.text("forbidden", status=403)
            if form.first("AccountSid") != self.config.account_sid or form.first("To").replace(" ", "") != self.config.from_address:
                return response.text("forbidden", status=403)
            try:
                inbound = parse_inbound(form)
            except InboundProblem as problem:
                return response.text(str(problem), status=400)
            try:
                await self.store_inbound(provider_message_id=inbound.message_sid, handle=inbound.handle,
                                         payload=inbound.payload)
            except Exception as error:  # not stored (the database is down)
                logger.error("whatsapp: could not store message (%s)", type(error).__name__)
                # Twilio does not deliver an incoming message again after an error, so the
                # person is asked, in Twilio's own answer, to send it again; never silence.
                text = channel_text(NOT_RECEIVED, inbound.payload.get("language_hint"))
                return response.text(reply_twiml(text), content_type="text/xml")
            return response.text(EMPTY_TWIML, content_type="text/xml")

        @hook.route("/status", methods=["POST"])
        async def status(request: Request) -> HTTPResponse:
            form = self.signed_form(request)
            if form is None or form.first("AccountSid") != self.config.account_sid:
                return response.text("forbidden", status=403)
            sid, state, error_code = form.first("MessageSid"), form.first("MessageStatus"), form.first("ErrorCode")
            if not MESSAGE_SID.fullmatch(sid) or not STATUS.fullmatch(state) or not ERROR_CODE.fullmatch(error_code):
                return response.text("bad status callback", status=400)
            try:
                await self.record_status(sid, state, error_code)
            except Exception as error:  # not recorded: Twilio retries the callback
                logger.error("whatsapp: could not record a status (%s)", type(error).__name__)
                return response.text("unavailable", status=503)
            # Ids and codes only: the status callback also carries the phone number.
            logger.info("whatsapp: message %s is %s%s", sid, state, f" (error {error_code})" if error_code else "")
            return response.text(EMPTY_TWIML, content_type="text/xml")

        return hook

    # --- signatures ------------------------------------------------------------------
    def public_url(self, request: Request) -> str:
        if self.config.public_base_url:
            url = self.config.public_base_url + request.path
        else:
            if not self._warned_no_public_url:
                self._warned_no_public_url = True
                logger.warning("whatsapp: PUBLIC_BASE_URL not set: checking signatures against the local URL")
            url = f"{request.scheme}://{request.host}{request.path}"
        return f"{url}?{request.query_string}" if request.query_string else url

    def signed_form(self, request: Request) -> FormParams | None:
        """The form, if the request carries a valid Twilio signature; None otherwise."""
        signature = request.headers.get("X-Twilio-Signature", "")
        body = request.body or b""
        if not signature or len(body) > MAX_BODY_BYTES:
            return None
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
        except ValueError:  # not UTF-8, or too many fields
            return None
        form = FormParams(pairs)
        validator = RequestValidator(self.config.auth_token)
        try:
            valid = validator.validate(self.public_url(request), form, signature)
        except Exception:  # a hostile URL or signature the validator cannot digest
            return None
        return form if valid else None

    async def record_status(self, sid: str, state: str, error_code: str) -> None:
        await self.in_unit_of_work(lambda session: record_delivery_status(
            session, channel=self.provider, message_id=sid, status=state, error_code=error_code, now=self.clock()))

    # --- processing --------------------------------------------------------------------
    async def prepare(self, message: ClaimedMessage) -> Prepared:
        payload = message.payload
        metadata: dict[str, Any] = {}
        if payload.get("language_hint"):
            metadata["language_hint"] = payload["language_hint"]
        if payload.get("media"):
            metadata["media"] = payload["media"]
            return Prepared(text="", metadata=metadata)
        text = str(payload.get("text") or "")
        chosen = choose(await self.offered_for(message), text)
        if chosen is not None:
            metadata["button"] = True
            return Prepared(text=chosen, metadata=metadata, trusted=True)
        return Prepared(text=text, metadata=metadata)

    def refusal(self, handle: Handle, replies: list[dict[str, Any]]) -> str | None:
        """All or nothing: a malformed template refuses the lot; outside the 24-hour window
        only replies that are all approved templates may go."""
        try:
            templates = [template_of(reply) for reply in replies]
        except TemplateProblem as problem:
            return str(problem)
        only_templates = bool(templates) and all(templates)
        if not only_templates and not within(handle.last_inbound_at, self.clock(), WINDOW_HOURS):
            return "outside_24h_window"  # a free-form message would need a template
        return None

    def render(self, sender_id: str, handle: Handle, replies: list[dict[str, Any]]) -> Rendered:
        """Twilio calls for the replies; numbers are the options of the last reply with buttons
        (none: a "2" means nothing any more)."""
        sends: list[TwilioSend] = []
        offered: list[Option] = []
        for reply in replies:
            template = template_of(reply)
            if template:
                # The approved template is the whole message: its text lives at Twilio (the
                # reply's text is what the tracker and the console show); no buttons with it.
                sends.append(self._send(sender_id, handle, {"ContentSid": template}))
                continue
            text = str(reply.get("text") or "")
            options = options_of(reply)
            if options:
                offered = options
                text = f"{text}\n\n{numbered(options)}" if text else numbered(options)
            if reply.get("image"):
                sends.append(self._send(sender_id, handle, {"MediaUrl": str(reply["image"])}))
            for part in split_text(text, WHATSAPP_LIMIT):
                sends.append(self._send(sender_id, handle, {"Body": part}))
        return Rendered(sends, offered)

    def _send(self, sender_id: str, handle: Handle, content: dict[str, str]) -> TwilioSend:
        form = {"From": self.config.from_address, "To": f"whatsapp:{handle.handle}", **content}
        if self.config.public_base_url:
            form["StatusCallback"] = f"{self.config.public_base_url}/webhooks/whatsapp/status"
        return TwilioSend(sender_id=sender_id, form=form)

    def outbound(self, kept: dict[str, Any]) -> TwilioSend:
        return TwilioSend(**kept)

    async def send(self, outbound: TwilioSend) -> str | None:
        url = f"{self.config.api_base_url}/2010-04-01/Accounts/{self.config.account_sid}/Messages.json"
        try:
            answer = await self.http().post(url, data=outbound.form,
                                            auth=(self.config.account_sid, self.config.auth_token))
        except Exception as error:
            raise ProcessingFailed(f"twilio_{type(error).__name__}") from error
        if answer.status_code in (200, 201):
            return None
        if answer.status_code == 429 or answer.status_code >= 500:
            raise ProcessingFailed(f"twilio_http_{answer.status_code}")
        # Refused for good (bad number, outside the window...): retrying cannot help.
        reason = f"twilio_{_twilio_error_code(answer)}"
        await self.refuse(outbound.sender_id, reason)
        return reason


def _twilio_error_code(answer: Any) -> str:
    try:
        return str(answer.json().get("code") or answer.status_code)[:16]
    except Exception:
        return str(answer.status_code)

