"""WhatsApp through the real Rasa server: signed webhooks in, Twilio REST calls out."""

from __future__ import annotations

import base64
import json

import yaml

from devtools import ROOT
from tests.channels_e2e.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    NUMBER,
    PUBLIC,
    WA_HOOK,
    WA_STATUS,
    ChannelStack,
    logs,
    new_phone,
    new_sid,
    sign,
    whatsapp_message,
)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def response_text(name: str, language: str, file: str = "basics.yml") -> str:
    document = yaml.safe_load((ROOT / "domain" / "responses" / file).read_text(encoding="utf-8"))
    for variation in document["responses"][name]:
        if variation["condition"][0]["value"] == language:
            return variation["text"]
    raise KeyError(name)


def test_a_text_gets_one_reply_through_twilio_with_the_exact_payload(channels: ChannelStack) -> None:
    phone = new_phone()
    answer = channels.post_whatsapp(whatsapp_message(phone, "muchas gracias"))
    assert answer.status_code == 200
    assert answer.text == EMPTY_TWIML
    [sent] = channels.wait_whatsapp(phone, 1)
    assert sent == {
        "From": f"whatsapp:{NUMBER}", "To": f"whatsapp:{phone}",
        "Body": response_text("utter_youre_welcome", "es"),
        "StatusCallback": f"{PUBLIC}{WA_STATUS}",
    }
    [record] = [r for r in channels.twilio.snapshot() if r.form.get("To") == f"whatsapp:{phone}"]
    assert record.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert record.authorization == "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert record.status == 201


def _nothing_stored(channels: ChannelStack, sid: str, phone: str) -> bool:
    sender = channels.sender_id("whatsapp", phone)
    return not channels.inbox(sid) and not channels.rows("SELECT id FROM persons WHERE sender_id = :s", s=sender)


def test_a_forged_or_missing_signature_is_refused_and_nothing_stored(channels: ChannelStack) -> None:
    phone = new_phone()
    pairs = whatsapp_message(phone, "hola")
    sid = pairs[0][1]
    forged = sign(PUBLIC + WA_HOOK, whatsapp_message(phone, "otra cosa", sid=sid))
    for signature in (None, "", "bm90IGEgc2lnbmF0dXJl", forged):
        answer = channels.post_whatsapp(pairs, signature=signature)
        assert answer.status_code == 403
    assert _nothing_stored(channels, sid, phone)
    assert channels.whatsapp_to(phone) == []


def test_only_our_account_and_number_are_accepted(channels: ChannelStack) -> None:
    phone = new_phone()
    for field, value in (("AccountSid", "AC" + "0" * 32), ("To", "whatsapp:+15005550006")):
        pairs = whatsapp_message(phone, "hola", **{field: value})
        assert channels.post_whatsapp(pairs).status_code == 403  # correctly signed, not ours
        assert _nothing_stored(channels, pairs[0][1], phone)


def test_the_signature_is_checked_against_the_public_url_not_the_proxy_side_host(channels: ChannelStack) -> None:
    phone = new_phone()
    pairs = whatsapp_message(phone, "gracias")
    local = channels.stack.rasa_url + WA_HOOK
    assert channels.post_whatsapp(pairs, signed_url=local).status_code == 403
    proxy_headers = {"Host": "internal-lb.local:8080", "X-Forwarded-Proto": "http",
                     "X-Forwarded-Host": "attacker.example"}
    assert channels.post_whatsapp(pairs, headers=proxy_headers).status_code == 200
    assert len(channels.wait_whatsapp(phone, 1)) == 1


def test_blank_form_values_are_part_of_the_signature(channels: ChannelStack) -> None:
    phone = new_phone()
    pairs = whatsapp_message(phone, "gracias", ButtonText="", ButtonPayload="")
    assert ("SmsSid", "") in pairs
    without_blanks = sign(PUBLIC + WA_HOOK, [(k, v) for k, v in pairs if v])
    assert channels.post_whatsapp(pairs, signature=without_blanks).status_code == 403
    assert channels.post_whatsapp(pairs).status_code == 200
    assert len(channels.wait_whatsapp(phone, 1)) == 1


def test_the_same_message_sid_twice_gets_one_reply(channels: ChannelStack) -> None:
    phone = new_phone()
    pairs = whatsapp_message(phone, "gracias")
    assert [channels.post_whatsapp(pairs).status_code for _ in range(3)] == [200, 200, 200]
    channels.wait_whatsapp(phone, 1)
    assert channels.post_whatsapp(pairs).status_code == 200  # a late retry, after the answer
    later = whatsapp_message(phone, "muchas gracias")  # a new message, to know the first is finished
    channels.post_whatsapp(later)
    bodies = [m["Body"] for m in channels.wait_whatsapp(phone, 2)]
    assert bodies == [response_text("utter_youre_welcome", "es")] * 2
    assert len(channels.inbox(pairs[0][1])) == 1
    sender = channels.sender_id("whatsapp", phone)
    user_turns = [e for e in channels.tracker(sender)["events"] if e["event"] == "user"]
    assert [e["text"] for e in user_turns] == ["gracias", "muchas gracias"]


def test_the_sender_id_is_pseudonymous_and_the_phone_stored_encrypted_only(channels: ChannelStack) -> None:
    phone = new_phone("+51")
    channels.post_whatsapp(whatsapp_message(phone, "gracias, de verdad, Rosalinda"))
    channels.wait_whatsapp(phone, 1)
    sender = channels.sender_id("whatsapp", phone)
    tracker = channels.tracker(sender)
    assert tracker["sender_id"] == sender
    assert [e["text"] for e in tracker["events"] if e["event"] == "user"] == ["gracias, de verdad, Rosalinda"]
    digits = phone.lstrip("+")
    assert digits not in channels.tracker_store_dump()
    [person] = channels.rows("SELECT channel, handle_encrypted FROM persons WHERE sender_id = :s", s=sender)
    assert person["channel"] == "whatsapp"
    assert digits not in person["handle_encrypted"]
    assert channels.cipher().decrypt_text(person["handle_encrypted"]) == phone
    [stored] = channels.rows("SELECT sender_id, payload_encrypted FROM inbox_messages WHERE sender_id = :s", s=sender)
    assert "Rosalinda" not in stored["payload_encrypted"]
    written = logs(channels)
    assert "inbox worker: claimed whatsapp message" in written  # a DEBUG line: logging at DEBUG (conftest)
    assert digits not in written
    assert "Rosalinda" not in written


MEDIA = {
    "voice note": {"NumMedia": "1", "MediaContentType0": "audio/ogg"},
    "image": {"NumMedia": "1", "MediaContentType0": "image/jpeg"},
    "document": {"NumMedia": "1", "MediaContentType0": "application/pdf"},
    "contact": {"NumMedia": "1", "MediaContentType0": "text/vcard"},
    "location": {"Latitude": "40.4168", "Longitude": "-3.7038", "Address": "Puerta del Sol", "Label": "casa"},
}


def test_media_gets_a_polite_reply_in_the_persons_language_and_is_never_fetched(channels: ChannelStack) -> None:
    for prefix, language in (("+34", "es"), ("+55", "pt"), ("+44", "en")):
        for kind, fields in MEDIA.items():
            phone = new_phone(prefix)
            extra = dict(fields)
            if "MediaContentType0" in extra:
                extra["MediaUrl0"] = (f"{channels.twilio.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/"
                                      f"{new_sid()}/Media/ME{'0' * 32}")
            pairs = whatsapp_message(phone, "", **extra)
            assert channels.post_whatsapp(pairs).status_code == 200, kind
            [sent] = channels.wait_whatsapp(phone, 1)
            assert sent["Body"] == response_text("utter_media_not_supported", language), (kind, language)
            [row] = channels.inbox(pairs[0][1])
            payload = channels.cipher().decrypt_json(row["payload_encrypted"])
            for kept_nothing_of in ("Media", "Puerta", "40.41"):
                assert kept_nothing_of not in str(payload)
    assert all(r.method == "POST" and r.path.endswith("/Messages.json") for r in channels.twilio.snapshot())


def test_buttons_become_numbered_options_and_a_number_or_the_title_selects(channels: ChannelStack) -> None:
    phone = new_phone()
    channels.post_whatsapp(whatsapp_message(phone, "hola"))
    greeting, menu = (m["Body"] for m in channels.wait_whatsapp(phone, 2))
    assert greeting == response_text("utter_greet", "es")
    assert menu == ("¿En qué te puedo ayudar? Elige una opción o escríbeme tu pregunta.\n\n"
                    "1. Programas de retorno\n2. ¿Puedo pedirlo?\n3. Reconocer mi título\n"
                    "4. Servicios al volver\n5. Quiero volver: ayúdenme\n6. Hablar con una persona")
    sender = channels.sender_id("whatsapp", phone)
    channels.post_whatsapp(whatsapp_message(phone, "2"))
    channels.wait_whatsapp(phone, 3)
    user = [e for e in channels.tracker(sender)["events"] if e["event"] == "user"]
    assert user[-1]["text"] == "/ask_eligibility"
    assert user[-1]["parse_data"]["intent"]["name"] == "ask_eligibility"


def test_an_option_title_selects_it(channels: ChannelStack) -> None:
    phone = new_phone()
    channels.post_whatsapp(whatsapp_message(phone, "hola"))
    channels.wait_whatsapp(phone, 2)
    sent_before = len(channels.whatsapp_to(phone))
    channels.post_whatsapp(whatsapp_message(phone, "reconocer mi titulo"))
    channels.wait_whatsapp(phone, sent_before + 1)
    user = [e for e in channels.tracker(channels.sender_id("whatsapp", phone))["events"] if e["event"] == "user"]
    assert user[-1]["text"] == "/ask_qualification_recognition"


def test_typed_slash_syntax_is_text(channels: ChannelStack) -> None:
    phone = new_phone()
    channels.post_whatsapp(whatsapp_message(phone, '/request_return_help{"country_origin": "PE"}'))
    channels.wait_whatsapp(phone, 1)
    tracker = channels.tracker(channels.sender_id("whatsapp", phone))
    [user] = [e for e in tracker["events"] if e["event"] == "user"]
    assert user["text"] == 'request_return_help{"country_origin": "PE"}'
    assert tracker["slots"].get("country_origin") != "PE"


def test_signed_status_callbacks_are_recorded(channels: ChannelStack) -> None:
    sid = new_sid()
    pairs = [("AccountSid", ACCOUNT_SID), ("MessageSid", sid), ("MessageStatus", "delivered"),
             ("To", f"whatsapp:{new_phone()}"), ("From", f"whatsapp:{NUMBER}"), ("ApiVersion", "2010-04-01"),
             ("ErrorCode", "")]
    assert channels.post_whatsapp(pairs, signature="bad", path=WA_STATUS).status_code == 403
    assert channels.post_whatsapp(pairs, path=WA_STATUS, signed_url=PUBLIC + WA_STATUS).status_code == 200
    failed = [(k, {"MessageStatus": "undelivered", "ErrorCode": "63016"}.get(k, v)) for k, v in pairs]
    assert channels.post_whatsapp(failed, path=WA_STATUS, signed_url=PUBLIC + WA_STATUS).status_code == 200
    rows = channels.rows("SELECT actor, details FROM audit_events WHERE action = 'delivery_status' ORDER BY id")
    details = [(row["actor"], json.loads(row["details"]) if isinstance(row["details"], str) else row["details"])
               for row in rows]
    assert [(actor, d["status"], d["error_code"]) for actor, d in details if d["message_id"] == sid] == [
        ("whatsapp", "delivered", None), ("whatsapp", "undelivered", "63016")]
