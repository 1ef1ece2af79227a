"""WhatsApp through the real Rasa server: signed webhooks in, Twilio REST calls out."""

from __future__ import annotations

import base64

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
