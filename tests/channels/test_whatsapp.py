"""WhatsApp (Twilio): signatures, the durable inbox, replies through a fake Twilio API."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasa.core.channels.channel import UserMessage
from sqlalchemy import event
from twilio.request_validator import RequestValidator

from channels.config import WhatsAppConfig, whatsapp_config
from channels.durable import DeliveryRefused
from channels.language import language_from_phone
from channels.splitting import WHATSAPP_LIMIT, split_text
from channels.texts import NOT_RECEIVED, channel_text
from channels.whatsapp import EMPTY_TWIML, FormParams, WhatsAppInput, reply_twiml
from channels.worker import InboxWorker
from tests.channels.conftest import BotDouble, Clock, Store, serve
from tests.channels.fakes import FakeTwilio

SID = "AC" + "a" * 32
TOKEN = "twilio-auth-token"
NUMBER = "+14155238886"
PHONE = "+34600111222"
PUBLIC = "https://bot.example.org"
HOOK = "/webhooks/whatsapp/webhook"


@dataclass
class WhatsAppKit:
    channel: WhatsAppInput
    client: httpx.AsyncClient
    api: FakeTwilio
    store: Store
    bot: BotDouble
    clock: Clock

    async def post(self, pairs: list[tuple[str, str]], *, signature: str | None = "sign",
                   url: str = PUBLIC + HOOK, path: str = HOOK) -> httpx.Response:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature == "sign":
            signature = RequestValidator(TOKEN).compute_signature(url, FormParams(pairs))
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        return await self.client.post(path, content=urlencode(pairs), headers=headers)

    async def settle(self) -> None:
        await self.channel.worker.drain()


def inbound(body: str = "hola", sid: str = "SM" + "1" * 32, phone: str = PHONE, **extra: str) -> list[tuple[str, str]]:
    pairs = [("AccountSid", SID), ("MessageSid", sid), ("From", f"whatsapp:{phone}"),
             ("To", f"whatsapp:{NUMBER}"), ("Body", body), ("NumMedia", "0"), ("ProfileName", "")]
    return pairs + list(extra.items())


def config(store: Store, api: FakeTwilio, public: str | None = PUBLIC) -> WhatsAppConfig:
    return WhatsAppConfig(account_sid=SID, auth_token=TOKEN, whatsapp_number=NUMBER, api_base_url=api.base_url,
                          public_base_url=public, store=store.case_store)


@pytest.fixture
async def kit(store: Store, twilio_api: FakeTwilio, bot: BotDouble, clock: Clock) -> AsyncIterator[WhatsAppKit]:
    worker = InboxWorker(store.engine, store.cipher, clock=clock, poll_s=0.05)
    channel = WhatsAppInput(config(store, twilio_api), engine=store.engine, cipher=store.cipher,
                            worker=worker, clock=clock)
    _, client = await serve(channel, bot)
    yield WhatsAppKit(channel, client, twilio_api, store, bot, clock)
    await worker.stop()
    await client.aclose()
    await channel.close()


async def test_a_signed_message_is_stored_acknowledged_and_answered(kit: WhatsAppKit) -> None:
    answer = await kit.post(inbound("hola"))
    assert answer.status_code == 200
    assert answer.text == EMPTY_TWIML
    assert kit.store.count("inbox_messages") == 1
    await kit.settle()
    [message] = kit.bot.received
    assert message.text == "hola"
    assert message.sender_id.startswith("wa-")
    assert PHONE not in message.sender_id
    assert message.input_channel == "whatsapp"
    assert message.metadata == {"language_hint": "es"}
    assert kit.api.messages() == [{
        "From": f"whatsapp:{NUMBER}", "To": f"whatsapp:{PHONE}", "Body": "eco: hola",
        "StatusCallback": f"{PUBLIC}/webhooks/whatsapp/status",
    }]
    assert kit.api.requests[0].path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert kit.api.requests[0].authorization.startswith("Basic ")
    stored = kit.store.rows("SELECT status, payload_encrypted FROM inbox_messages")[0]
    assert stored["status"] == "done"
    assert "hola" not in stored["payload_encrypted"]
    person = kit.store.rows("SELECT handle_encrypted FROM persons")[0]
    assert PHONE not in person["handle_encrypted"]


async def test_a_message_answered_in_one_part_takes_four_units_of_work(kit: WhatsAppKit) -> None:
    """Store; claim (reading the handle and the offered buttons too); keep the reply; mark it
    done. Under load, separate round trips for each step were most of a replica's CPU."""
    commits: list[int] = []

    def count(connection: object) -> None:
        commits.append(1)

    event.listen(kit.store.engine, "commit", count)
    try:
        await kit.post(inbound("hola"))
        await kit.settle()
    finally:
        event.remove(kit.store.engine, "commit", count)
    assert [m["Body"] for m in kit.api.messages()] == ["eco: hola"]
    # ... and the claims that find nothing more as the worker winds down (two).
    assert len(commits) <= 4 + 2


async def test_rasa_is_asked_inside_a_turn_slot_and_gives_it_back(kit: WhatsAppKit) -> None:
    slot = asyncio.Semaphore(1)  # one slot, to see it taken
    kit.channel.worker._turn_slots = slot  # noqa: SLF001
    held: list[bool] = []
    reply = kit.bot.reply
    kit.bot.reply = lambda m: held.append(slot.locked()) or reply(m)
    await kit.post(inbound("hola"))
    await kit.settle()
    assert held == [True]  # Rasa's turn ran holding the only slot
    assert not slot.locked()  # and the reply went out after giving it back
    assert [m["Body"] for m in kit.api.messages()] == ["eco: hola"]


@pytest.mark.parametrize("signature", [None, "", "bm90IGEgc2lnbmF0dXJl", "sign-for-other-url"])
async def test_a_missing_or_wrong_signature_is_refused_and_nothing_stored(kit: WhatsAppKit, signature: str | None) -> None:
    if signature == "sign-for-other-url":
        signature = RequestValidator(TOKEN).compute_signature("https://evil.example" + HOOK, FormParams(inbound()))
    answer = await kit.post(inbound(), signature=signature)
    assert answer.status_code == 403
    assert kit.store.count("inbox_messages") == 0
    assert kit.store.count("persons") == 0


async def test_a_tampered_body_fails_the_signature(kit: WhatsAppKit) -> None:
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + HOOK, FormParams(inbound("hola")))
    answer = await kit.post(inbound("/request_return_help"), signature=signature)
    assert answer.status_code == 403
    assert kit.store.count("inbox_messages") == 0


async def test_blank_parameters_are_part_of_the_signature(kit: WhatsAppKit) -> None:
    pairs = inbound() + [("ButtonText", ""), ("Latitude", "")]
    with_blanks = RequestValidator(TOKEN).compute_signature(PUBLIC + HOOK, FormParams(pairs))
    without = RequestValidator(TOKEN).compute_signature(PUBLIC + HOOK, FormParams([p for p in pairs if p[1]]))
    assert with_blanks != without
    assert (await kit.post(pairs, signature=without)).status_code == 403
    assert (await kit.post(pairs, signature=with_blanks)).status_code == 200


async def test_the_signature_is_checked_against_the_public_url_behind_a_proxy(kit: WhatsAppKit) -> None:
    local = RequestValidator(TOKEN).compute_signature("http://127.0.0.1:5005" + HOOK, FormParams(inbound()))
    assert (await kit.post(inbound(), signature=local)).status_code == 403
    assert (await kit.post(inbound(), url=PUBLIC + HOOK)).status_code == 200


@pytest.mark.parametrize(("field", "value"), [("AccountSid", "AC" + "b" * 32), ("To", "whatsapp:+15550001111")])
async def test_only_our_account_and_number_are_accepted(kit: WhatsAppKit, field: str, value: str) -> None:
    pairs = [(k, value if k == field else v) for k, v in inbound()]
    assert (await kit.post(pairs)).status_code == 403
    assert kit.store.count("inbox_messages") == 0


async def test_retries_and_concurrent_duplicates_get_one_reply(kit: WhatsAppKit) -> None:
    answers = await asyncio.gather(*[kit.post(inbound("hola")) for _ in range(5)])
    assert [a.status_code for a in answers] == [200] * 5
    await kit.settle()
    assert (await kit.post(inbound("hola"))).status_code == 200  # a late retry
    await kit.settle()
    assert kit.store.count("inbox_messages") == 1
    assert len(kit.bot.received) == 1
    assert len(kit.api.messages()) == 1


async def test_long_replies_are_split_between_words(kit: WhatsAppKit) -> None:
    url = "https://www.example.org/" + "a" * 80
    long_text = " ".join(["palabra"] * 300 + [url] + ["fin"] * 50)
    kit.bot.reply = lambda m: [{"text": long_text}]
    await kit.post(inbound())
    await kit.settle()
    bodies = [m["Body"] for m in kit.api.messages()]
    assert len(bodies) > 1
    assert all(len(b) <= WHATSAPP_LIMIT for b in bodies)
    assert " ".join(bodies) == long_text
    assert any(url in b for b in bodies)


def test_split_text_keeps_words_and_urls_whole() -> None:
    text = "uno dos tres https://example.org/x?y=1 cuatro"
    for limit in range(len("https://example.org/x?y=1"), len(text) + 1):
        parts = split_text(text, limit)
        assert " ".join(parts) == text
        assert all(len(p) <= limit for p in parts)


async def test_numbered_options_round_trip_to_the_button_payload(kit: WhatsAppKit) -> None:
    kit.bot.reply = lambda m: [{"text": "¿Quieres ayuda para volver?", "buttons": [
        {"title": "Sí", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]}]
    await kit.post(inbound("quiero volver", sid="SM" + "1" * 32))
    await kit.settle()
    assert kit.api.messages()[0]["Body"] == "¿Quieres ayuda para volver?\n\n1. Sí\n2. No"
    await kit.post(inbound("2", sid="SM" + "2" * 32))
    await kit.post(inbound("  si ", sid="SM" + "3" * 32))
    await kit.settle()
    assert [m.text for m in kit.bot.received] == ["quiero volver", "/deny", "/affirm"]


async def test_typed_slash_syntax_is_text(kit: WhatsAppKit) -> None:
    await kit.post(inbound('/request_return_help{"country_origin": "PE"}'))
    await kit.settle()
    assert kit.bot.received[0].text == 'request_return_help{"country_origin": "PE"}'


@pytest.mark.parametrize(("extra", "kind"), [
    ({"NumMedia": "1", "MediaContentType0": "audio/ogg", "MediaUrl0": "https://api.twilio.com/m/1"}, "audio"),
    ({"NumMedia": "1", "MediaContentType0": "image/jpeg", "MediaUrl0": "https://api.twilio.com/m/2"}, "image"),
    ({"NumMedia": "1", "MediaContentType0": "application/pdf", "MediaUrl0": "https://api.twilio.com/m/3"}, "document"),
    ({"NumMedia": "1", "MediaContentType0": "text/vcard", "MediaUrl0": "https://api.twilio.com/m/4"}, "contact"),
    ({"Latitude": "-12.04", "Longitude": "-77.03"}, "location"),
])
async def test_media_goes_to_rasa_as_metadata_and_is_never_downloaded(
    kit: WhatsAppKit, extra: dict[str, str], kind: str,
) -> None:
    pairs = [(k, v) for k, v in inbound("mira") if k not in extra] + list(extra.items())
    assert (await kit.post(pairs)).status_code == 200
    await kit.settle()
    [message] = kit.bot.received
    assert message.text == ""
    assert message.metadata == {"language_hint": "es", "media": kind}
    assert all(r.path.endswith("/Messages.json") for r in kit.api.requests)  # nothing fetched


async def test_outside_the_24_hour_window_nothing_is_sent_and_the_refusal_is_recorded(kit: WhatsAppKit) -> None:
    await kit.post(inbound())
    kit.clock.advance(hours=25)  # e.g. Rasa was down for a day
    await kit.settle()
    assert kit.api.messages() == []
    events = kit.store.rows("SELECT action, details FROM audit_events")
    assert events[0]["action"] == "send_refused"
    assert "outside_24h_window" in str(events[0]["details"])
    assert kit.store.rows("SELECT status FROM inbox_messages")[0]["status"] == "done"


async def test_a_turn_slower_than_the_turn_timeout_is_cut_and_retried_whole(kit: WhatsAppKit) -> None:
    kit.channel.turn_timeout_s = 0.2
    rasa = kit.channel._on_new_message
    assert rasa is not None
    asked: list[str] = []

    async def slow_once(message: UserMessage) -> None:
        asked.append(message.text or "")
        if len(asked) == 1:
            await asyncio.sleep(60)  # an action server slower than any timeout
        await rasa(message)

    kit.channel._on_new_message = slow_once
    await kit.post(inbound("hola"))
    await kit.settle()
    row = kit.store.rows("SELECT status, attempts, last_error FROM inbox_messages")[0]
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 1, "rasa_timeout")
    assert kit.bot.received == []  # the cut turn never reached its end
    assert [m["Body"][:27] for m in kit.api.messages()] == ["Estamos teniendo problemas "]
    kit.clock.advance(seconds=20)
    await kit.settle()
    assert kit.store.rows("SELECT status FROM inbox_messages")[0]["status"] == "done"
    assert asked == ["hola", "hola"]
    assert [m["Body"] for m in kit.api.messages()][1:] == ["eco: hola"]


async def test_a_failure_while_the_database_is_down_is_told_at_once_and_recorded_once_it_is_back(
    kit: WhatsAppKit,
) -> None:
    def rename(old: str, new: str) -> None:
        with kit.store.engine.begin() as connection:
            connection.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {new}")

    def back() -> None:
        told.extend(m["Body"][:27] for m in kit.api.messages())  # what the person had by then
        rename("inbox_away", "inbox_messages")
        rename("persons_away", "persons")

    told: list[str] = []

    async def database_goes_down(message: UserMessage) -> None:
        rename("inbox_messages", "inbox_away")
        rename("persons", "persons_away")
        asyncio.get_running_loop().call_later(0.3, back)
        raise ConnectionError("the tracker store is down too")

    kit.channel._on_new_message = database_goes_down
    await kit.post(inbound("hola"))
    await kit.settle()  # the worker keeps trying to give the message back until it can
    row = kit.store.rows("SELECT status, attempts, claimed_by, last_error FROM inbox_messages")[0]
    assert (row["status"], row["attempts"], row["claimed_by"]) == ("pending", 1, None)
    assert row["last_error"] == "rasa_ConnectionError"
    assert told == ["Estamos teniendo problemas "]  # while the database was away
    assert [m["Body"][:27] for m in kit.api.messages()] == ["Estamos teniendo problemas "]


async def test_a_processing_failure_is_retried_later_and_the_person_told_once(kit: WhatsAppKit) -> None:
    kit.bot.failures = 2
    await kit.post(inbound("hola"))
    await kit.settle()
    row = kit.store.rows("SELECT status, attempts, last_error FROM inbox_messages")[0]
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "hola" not in row["last_error"]
    trouble = kit.api.messages()
    assert len(trouble) == 1
    assert trouble[0]["Body"].startswith("Estamos teniendo problemas")
    await kit.settle()  # not yet time to retry
    assert kit.store.rows("SELECT attempts FROM inbox_messages")[0]["attempts"] == 1
    kit.clock.advance(seconds=20)
    await kit.settle()
    kit.clock.advance(seconds=120)
    await kit.settle()
    assert kit.store.rows("SELECT status FROM inbox_messages")[0]["status"] == "done"
    assert [m["Body"] for m in kit.api.messages()][1:] == ["eco: hola"]
    assert len(kit.bot.received) == 1


async def test_a_twilio_outage_after_rasa_answered_does_not_ask_rasa_twice(kit: WhatsAppKit) -> None:
    kit.bot.reply = lambda m: [{"text": "uno"}, {"text": "dos"}]
    kit.api.fail_next = [(201, {"sid": "SM1"}), (503, {"code": 20500})]
    await kit.post(inbound())
    await kit.settle()
    kit.clock.advance(seconds=20)
    await kit.settle()
    bodies = [m["Body"] for m in kit.api.messages()]
    assert bodies.count("uno") == 1
    assert bodies[-1] == "dos"
    assert len(kit.bot.received) == 1


async def test_status_callbacks_are_signed_and_logged_without_the_phone(
    kit: WhatsAppKit, caplog: pytest.LogCaptureFixture,
) -> None:
    pairs = [("AccountSid", SID), ("MessageSid", "SM" + "9" * 32), ("MessageStatus", "delivered"),
             ("To", f"whatsapp:{PHONE}"), ("ErrorCode", "")]
    path = "/webhooks/whatsapp/status"
    assert (await kit.post(pairs, signature="bad", url=PUBLIC + path, path=path)).status_code == 403
    with caplog.at_level(logging.INFO, logger="channels.whatsapp"):
        assert (await kit.post(pairs, url=PUBLIC + path, path=path)).status_code == 200
    assert "delivered" in caplog.text
    assert PHONE not in caplog.text


@pytest.mark.parametrize(("phone", "language"), [
    ("+5511999990000", "pt"), ("+351912345678", "pt"), ("+34600111222", "es"), ("+51987654321", "es"),
    ("+593991234567", "es"), ("+447700900000", "en"), ("+12025550100", "en"), ("+390612345678", None),
])
def test_the_phone_prefix_gives_a_language_hint(phone: str, language: str | None) -> None:
    assert language_from_phone(phone) == language


def test_the_channel_is_off_without_its_variables(caplog: pytest.LogCaptureFixture) -> None:
    off = whatsapp_config({"TWILIO_ACCOUNT_SID": SID})
    assert not off.on
    assert "TWILIO_AUTH_TOKEN" in off.missing
    assert "TWILIO_WHATSAPP_NUMBER" in off.missing
    channel = WhatsAppInput(off)
    with caplog.at_level(logging.WARNING):
        blueprint = channel.blueprint(BotDouble())
        channel.blueprint(BotDouble())
    assert not blueprint._future_routes
    assert caplog.text.count("whatsapp channel off: ") <= 1


async def test_an_off_channel_answers_404(store: Store) -> None:
    channel = WhatsAppInput(whatsapp_config({}))
    _, client = await serve(channel, BotDouble())
    answer = await client.post(HOOK, content=urlencode(inbound()))
    assert answer.status_code == 404
    await client.aclose()


def test_from_credentials_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_WHATSAPP_NUMBER": f"whatsapp:{NUMBER}",
                        "TWILIO_API_BASE_URL": "http://127.0.0.1:9/", "PUBLIC_BASE_URL": PUBLIC + "/",
                        "FIELD_ENCRYPTION_KEY": "k", "SENDER_ID_SECRET": "s"}.items():
        monkeypatch.setenv(name, value)
    channel = WhatsAppInput.from_credentials(None)
    assert channel.name() == "whatsapp"
    assert channel.config.on
    assert channel.config.whatsapp_number == NUMBER
    assert channel.config.api_base_url == "http://127.0.0.1:9"
    assert channel.config.public_base_url == PUBLIC


form_values = st.text(max_size=40)
hostile_forms = st.lists(st.tuples(st.sampled_from(["AccountSid", "MessageSid", "From", "To", "Body", "NumMedia",
                                                    "MediaContentType0", "Latitude", "x", ""]), form_values),
                         max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=hostile_forms, signed=st.booleans(), raw=st.binary(max_size=200))
async def test_hostile_requests_never_crash_nor_store(kit: WhatsAppKit, pairs: list[tuple[str, str]],
                                                       signed: bool, raw: bytes) -> None:
    if signed:
        answer = await kit.post(pairs)
    else:
        answer = await kit.client.post(HOOK, content=raw, headers={"X-Twilio-Signature": "x"})
    assert answer.status_code < 500
    assert kit.store.count("inbox_messages") == 0


async def test_hostile_signed_forms_with_our_account_are_rejected(kit: WhatsAppKit) -> None:
    for pairs in ([("AccountSid", SID), ("To", f"whatsapp:{NUMBER}")],
                  inbound(phone="+1") , inbound(sid="SM123"), inbound() + [("NumMedia", "many")]):
        answer = await kit.post(pairs)
        assert answer.status_code < 500
    # only the last one is a real message (NumMedia unreadable: treated as text)
    assert kit.store.count("inbox_messages") <= 1


async def test_another_process_understands_the_numbered_options(kit: WhatsAppKit, twilio_api: FakeTwilio) -> None:
    kit.bot.reply = lambda m: [{"text": "¿Seguimos?", "buttons": [
        {"title": "Sí", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]}]
    await kit.post(inbound("hola", sid="SM" + "1" * 32))
    await kit.settle()
    await kit.channel.worker.stop()  # the first process stops polling: the other one must answer
    other_bot = BotDouble()
    worker = InboxWorker(kit.store.engine, kit.store.cipher, clock=kit.clock, poll_s=0.05)
    other = WhatsAppInput(config(kit.store, twilio_api), engine=kit.store.engine, cipher=kit.store.cipher,
                          worker=worker, clock=kit.clock)
    _, client = await serve(other, other_bot)
    try:
        pairs = inbound("2", sid="SM" + "2" * 32)
        signature = RequestValidator(TOKEN).compute_signature(PUBLIC + HOOK, FormParams(pairs))
        await client.post(HOOK, content=urlencode(pairs), headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})
        await worker.drain()
        assert [m.text for m in other_bot.received] == ["/deny"]
    finally:
        await worker.stop()
        await client.aclose()
        await other.close()


async def test_numbered_options_expire_after_a_day(kit: WhatsAppKit) -> None:
    kit.bot.reply = lambda m: [{"text": "¿Seguimos?", "buttons": [{"title": "Sí", "payload": "/affirm"}]}]
    await kit.post(inbound("hola", sid="SM" + "1" * 32))
    await kit.settle()
    kit.clock.advance(hours=25)
    await kit.post(inbound("1", sid="SM" + "2" * 32))
    await kit.settle()
    assert [m.text for m in kit.bot.received] == ["hola", "1"]


async def test_a_live_send_goes_out_within_the_window_and_is_refused_outside(kit: WhatsAppKit) -> None:
    await kit.post(inbound("hola"))
    await kit.settle()
    sender = kit.bot.received[0].sender_id
    output = kit.channel.get_output_channel()
    assert output is not None
    await output.send_response(sender, {"text": "Hola, soy Marta.", "buttons": [{"title": "Vale", "payload": "/affirm"}]})
    assert kit.api.messages()[-1]["Body"] == "Hola, soy Marta.\n\n1. Vale"
    kit.clock.advance(hours=30)
    with pytest.raises(DeliveryRefused, match="outside_24h_window"):
        await output.send_response(sender, {"text": "¿Sigues ahí?"})
    assert len(kit.api.messages()) == 2
    with pytest.raises(DeliveryRefused, match="unknown_recipient"):
        await output.send_response("wa-nobody", {"text": "hola"})


async def test_rasa_is_not_asked_while_the_action_server_is_down(kit: WhatsAppKit) -> None:
    kit.channel.actions_health_url = kit.api.base_url + "/health"  # answers 404: not a healthy action server
    await kit.post(inbound("hola"))
    await kit.settle()
    assert kit.bot.received == []
    row = kit.store.rows("SELECT status, last_error FROM inbox_messages")[0]
    assert row == {"status": "pending", "last_error": "actions_http_404"}
    assert [m["Body"][:27] for m in kit.api.messages()] == ["Estamos teniendo problemas "]


async def test_status_callbacks_are_recorded_by_message_id(kit: WhatsAppKit) -> None:
    path = "/webhooks/whatsapp/status"
    pairs = [("AccountSid", SID), ("MessageSid", "SM" + "9" * 32), ("MessageStatus", "read"),
             ("To", f"whatsapp:{PHONE}"), ("ErrorCode", "")]
    assert (await kit.post(pairs, url=PUBLIC + path, path=path)).status_code == 200
    hostile = [(k, "delivered; DROP TABLE" if k == "MessageStatus" else v) for k, v in pairs]
    assert (await kit.post(hostile, url=PUBLIC + path, path=path)).status_code == 400
    [event] = kit.store.rows("SELECT actor, action, details FROM audit_events")
    assert (event["actor"], event["action"]) == ("whatsapp", "delivery_status")
    assert PHONE not in str(event["details"])
    assert "read" in str(event["details"])


async def test_a_message_that_cannot_be_stored_is_answered_with_a_request_to_send_it_again(kit: WhatsAppKit) -> None:
    with kit.store.engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE inbox_messages RENAME TO inbox_away")  # the database fails
    answer = await kit.post(inbound("hola"))
    # Twilio does not deliver an incoming message again after an error (its retries cover
    # connection failures for 15 s at most): the person is asked in Twilio's own answer.
    assert answer.status_code == 200
    assert answer.text == reply_twiml(channel_text(NOT_RECEIVED, "es"))
    assert "hola" not in answer.text
    assert kit.store.count("inbox_away") == 0


async def test_a_retry_in_another_process_sends_the_rest_without_asking_rasa_again(
    kit: WhatsAppKit, twilio_api: FakeTwilio,
) -> None:
    kit.bot.reply = lambda m: [{"text": "uno"}, {"text": "dos"}, {"text": "tres"}]
    kit.api.fail_next = [(201, {"sid": "SM1"}), (503, {"code": 20500})]  # "dos" hits an outage
    await kit.post(inbound())
    await kit.settle()
    await kit.channel.worker.stop()  # this process goes away
    row = kit.store.rows("SELECT status, replies_sent, replies_encrypted FROM inbox_messages")[0]
    assert (row["status"], row["replies_sent"]) == ("pending", 1)
    assert PHONE not in row["replies_encrypted"]
    other_bot = BotDouble()
    worker = InboxWorker(kit.store.engine, kit.store.cipher, clock=kit.clock, poll_s=0.05)
    other = WhatsAppInput(config(kit.store, twilio_api), engine=kit.store.engine, cipher=kit.store.cipher,
                          worker=worker, clock=kit.clock)
    _, client = await serve(other, other_bot)
    try:
        kit.clock.advance(seconds=20)
        await worker.drain()
        assert other_bot.received == []  # Rasa was not asked again
        calls = [(r.form["Body"][:10], r.status) for r in kit.api.requests]
        assert calls == [("uno", 201), ("dos", 503), ("Estamos te", 201), ("dos", 201), ("tres", 201)]
        done = kit.store.rows("SELECT status, replies_encrypted FROM inbox_messages")[0]
        assert done == {"status": "done", "replies_encrypted": None}
    finally:
        await worker.stop()
        await client.aclose()
        await other.close()
