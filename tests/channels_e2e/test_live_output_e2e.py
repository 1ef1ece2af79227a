"""Rasa's HTTP API sends through the person's own channel (the staff console's live reply).

`POST /conversations/<sender_id>/tracker/events?output_channel=latest&execute_side_effects=true`
with a `bot` event: the text reaches the person on WhatsApp or Telegram, rendered like any
reply (split at the channel's limit), and WhatsApp's 24-hour window applies: outside it
only the approved template the console sends (`metadata.template`, a Content SID) goes out.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from channels.splitting import TELEGRAM_LIMIT, WHATSAPP_LIMIT
from console.rasa_api import RasaAPI, RasaUnavailable
from tests.channels_e2e.conftest import (
    NUMBER,
    PUBLIC,
    WA_STATUS,
    ChannelStack,
    new_chat,
    new_phone,
    telegram_message,
    whatsapp_message,
)

TEMPLATE = "HX" + "0123456789abcdef" * 2
REOPEN = "Hola, te escribe la Ventanilla Única sobre tu solicitud. ¿Podemos seguir hablando?"
LINK = "https://www.inclusion.gob.es/retorno-voluntario/programas-de-ayuda?pais=PE&idioma=es&seccion=" + "x" * 60


def refusals(channels: ChannelStack) -> list[dict[str, str]]:
    return [json.loads(r["details"]) if isinstance(r["details"], str) else r["details"]
            for r in channels.rows("SELECT details FROM audit_events WHERE action = 'send_refused'")]


def live_reply(channels: ChannelStack, sender_id: str, text: str) -> httpx.Response:
    return httpx.post(
        f"{channels.stack.rasa_url}/conversations/{sender_id}/tracker/events",
        params={"output_channel": "latest", "execute_side_effects": "true"},
        json={"event": "bot", "text": text}, timeout=60,
    )


def long_text(sentences: int) -> str:
    """Sentences with a long link after every seventh, so that some cut falls near a link."""
    words = []
    for index in range(sentences):
        words.append("Hola, te escribe Marta de la oficina de Lima sobre tu retorno.")
        if index % 7 == 6:
            words.append(LINK)
    return " ".join(words + ["Saludos."])


def test_a_staff_message_reaches_the_person_on_whatsapp(channels: ChannelStack) -> None:
    phone = new_phone()
    channels.post_whatsapp(whatsapp_message(phone, "gracias"))
    channels.wait_whatsapp(phone, 1)
    sender = channels.sender_id("whatsapp", phone)
    answer = live_reply(channels, sender, "Hola, soy Marta, de la oficina de Lima. ¿Te llamo mañana?")
    assert answer.status_code == 200
    sent = channels.wait_whatsapp(phone, 2)[-1]
    assert sent["Body"] == "Hola, soy Marta, de la oficina de Lima. ¿Te llamo mañana?"
    assert sent["To"] == f"whatsapp:{phone}"
    bot_events = [e for e in channels.tracker(sender)["events"] if e["event"] == "bot"]
    assert bot_events[-1]["text"].startswith("Hola, soy Marta")


def test_a_long_staff_message_is_split_between_words_and_urls_on_whatsapp(channels: ChannelStack) -> None:
    phone = new_phone()
    channels.post_whatsapp(whatsapp_message(phone, "gracias"))
    channels.wait_whatsapp(phone, 1)
    text = long_text(60)
    assert len(text) > 2 * WHATSAPP_LIMIT
    assert live_reply(channels, channels.sender_id("whatsapp", phone), text).status_code == 200
    channels.twilio.wait_until(lambda _: sum(len(m["Body"]) for m in channels.whatsapp_to(phone)[1:]) >= len(text) - 10)
    parts = [m["Body"] for m in channels.whatsapp_to(phone)[1:]]
    assert len(parts) >= 3
    assert all(len(part) <= WHATSAPP_LIMIT for part in parts)
    assert " ".join(parts) == text
    assert sum(part.count(LINK) for part in parts) == text.count(LINK)


def test_outside_the_24_hour_window_nothing_is_sent_and_the_reason_recorded(channels: ChannelStack) -> None:
    phone = new_phone()
    channels.post_whatsapp(whatsapp_message(phone, "gracias"))
    channels.wait_whatsapp(phone, 1)
    sender = channels.sender_id("whatsapp", phone)
    two_days_ago = datetime.now(timezone.utc) - timedelta(hours=49)
    channels.execute("UPDATE persons SET last_inbound_at = :t WHERE sender_id = :s", t=two_days_ago, s=sender)
    answer = live_reply(channels, sender, "Hola, ¿sigues interesada?")
    assert answer.status_code == 500  # Rasa's API reports the refusal; the event is not kept
    assert "outside_24h_window" in answer.json()["message"]
    assert len(channels.whatsapp_to(phone)) == 1
    refusals = [json.loads(r["details"]) if isinstance(r["details"], str) else r["details"]
                for r in channels.rows("SELECT details FROM audit_events WHERE action = 'send_refused'")]
    assert {"sender_id": sender, "reason": "outside_24h_window"} in refusals
    assert not [e for e in channels.tracker(sender)["events"] if e["event"] == "bot" and "sigues" in e["text"]]


def test_outside_the_window_the_console_s_free_reply_is_refused_and_its_template_delivered(
    channels: ChannelStack,
) -> None:
    phone = new_phone()
    channels.post_whatsapp(whatsapp_message(phone, "gracias"))
    channels.wait_whatsapp(phone, 1)
    sender = channels.sender_id("whatsapp", phone)
    channels.execute("UPDATE persons SET last_inbound_at = :t WHERE sender_id = :s",
                     t=datetime.now(timezone.utc) - timedelta(hours=49), s=sender)
    console = RasaAPI(channels.stack.rasa_url)  # the staff console's own client

    with pytest.raises(RasaUnavailable, match="500"):
        console.say(sender, "Hola, ¿sigues interesada?", staff="marta")
    assert len(channels.whatsapp_to(phone)) == 1
    assert {"sender_id": sender, "reason": "outside_24h_window"} in refusals(channels)

    console.say(sender, REOPEN, staff="marta", template=TEMPLATE)
    sent = channels.wait_whatsapp(phone, 2)[-1]
    assert sent == {"From": f"whatsapp:{NUMBER}", "To": f"whatsapp:{phone}", "ContentSid": TEMPLATE,
                    "StatusCallback": PUBLIC + WA_STATUS}
    assert channels.twilio.snapshot()[-1].status == 201
    bot_events = [e for e in channels.tracker(sender)["events"] if e["event"] == "bot"]
    assert (bot_events[-1]["text"], bot_events[-1]["metadata"]["template"]) == (REOPEN, TEMPLATE)
    assert not [e for e in bot_events if "sigues" in (e["text"] or "")]


def test_a_malformed_template_is_refused_and_recorded_even_inside_the_window(channels: ChannelStack) -> None:
    phone = new_phone()
    channels.post_whatsapp(whatsapp_message(phone, "gracias"))
    channels.wait_whatsapp(phone, 1)
    sender = channels.sender_id("whatsapp", phone)
    with pytest.raises(RasaUnavailable, match="500"):
        RasaAPI(channels.stack.rasa_url).say(sender, REOPEN, staff="marta", template="HX-not-a-content-sid")
    assert len(channels.whatsapp_to(phone)) == 1
    assert {"sender_id": sender, "reason": "template_malformed"} in refusals(channels)


def test_a_staff_message_reaches_the_person_on_telegram_split_and_paced(channels: ChannelStack) -> None:
    chat = new_chat()
    channels.post_telegram(telegram_message(chat, "gracias"))
    channels.wait_telegram(chat, 1)
    text = long_text(140)
    assert len(text) > 2 * TELEGRAM_LIMIT
    assert live_reply(channels, channels.sender_id("telegram", str(chat)), text).status_code == 200
    sent = channels.telegram_to(chat)[1:]
    parts = [s["text"] for s in sent]
    assert len(parts) >= 3
    assert all(len(part) <= TELEGRAM_LIMIT for part in parts)
    assert " ".join(parts) == text
    assert sum(part.count(LINK) for part in parts) == text.count(LINK)
    arrivals = [r.at for r in channels.telegram_records(chat)]
    # Telegram's limit of about one message a second in a chat: waited for, nothing dropped.
    assert all(later - earlier >= 0.9 for earlier, later in zip(arrivals, arrivals[1:], strict=False))


def test_an_unknown_person_gets_nothing(channels: ChannelStack) -> None:
    before = len(channels.twilio.snapshot()) + len(channels.telegram.snapshot())
    chat = new_chat()
    channels.post_telegram(telegram_message(chat, "gracias"))
    channels.wait_telegram(chat, 1)
    channels.execute("UPDATE persons SET handle_encrypted = NULL, erased_at = :t WHERE sender_id = :s",
                     t=datetime.now(timezone.utc), s=channels.sender_id("telegram", str(chat)))
    answer = live_reply(channels, channels.sender_id("telegram", str(chat)), "¿Hola?")
    assert answer.status_code == 500
    assert "unknown_recipient" in answer.json()["message"]
    assert len(channels.twilio.snapshot()) + len(channels.telegram.snapshot()) == before + 1
