"""Telegram through the real Rasa server: secret-token webhooks in, Bot API calls out."""

from __future__ import annotations

import json

from tests.channels_e2e.conftest import (
    BOT_TOKEN,
    ChannelStack,
    logs,
    new_chat,
    telegram_callback,
    telegram_message,
)
from tests.channels_e2e.test_whatsapp_e2e import response_text

EXPIRED = "utter_channel_option_expired"


def user_turns(channels: ChannelStack, chat: int) -> list[dict]:
    tracker = channels.tracker(channels.sender_id("telegram", str(chat)))
    return [e for e in tracker["events"] if e["event"] == "user"]


def test_a_text_gets_one_reply_through_the_bot_api(channels: ChannelStack) -> None:
    chat = new_chat()
    answer = channels.post_telegram(telegram_message(chat, "muchas gracias", language="es"))
    assert answer.status_code == 200
    assert answer.json() == {"ok": True}
    [sent] = channels.wait_telegram(chat, 1)
    assert sent == {"chat_id": str(chat), "text": response_text("utter_youre_welcome", "es")}
    [record] = channels.telegram_records(chat)
    assert record.path == f"/bot{BOT_TOKEN}/sendMessage"
    assert record.status == 200


def test_a_wrong_or_missing_secret_is_refused_before_parsing(channels: ChannelStack) -> None:
    chat = new_chat()
    update = telegram_message(chat, "hola")
    for secret in (None, "", "wrong", channels.env["TELEGRAM_WEBHOOK_SECRET"] + "x"):
        assert channels.post_telegram(update, secret=secret).status_code == 403
        assert channels.post_telegram(b"{not json at all", secret=secret).status_code == 403
    assert channels.rows("SELECT id FROM inbox_messages WHERE provider_message_id = :u",
                         u=str(update["update_id"])) == []
    assert channels.post_telegram(b"{not json at all").status_code == 400  # with the secret: parsed, refused
    assert channels.telegram_to(chat) == []


def test_the_same_update_id_twice_gets_one_reply(channels: ChannelStack) -> None:
    chat = new_chat()
    update = telegram_message(chat, "gracias")
    assert [channels.post_telegram(update).status_code for _ in range(3)] == [200, 200, 200]
    channels.wait_telegram(chat, 1)
    channels.post_telegram(update)
    channels.post_telegram(telegram_message(chat, "muchas gracias"))
    assert len(channels.wait_telegram(chat, 2)) == 2
    assert [e["text"] for e in user_turns(channels, chat)] == ["gracias", "muchas gracias"]


def test_start_with_a_deep_link_starts_in_the_apps_language(channels: ChannelStack) -> None:
    chat = new_chat()
    channels.post_telegram(telegram_message(chat, "/start campaign_lisboa_2026", language="pt-BR"))
    greeting, menu = channels.wait_telegram(chat, 2)
    assert greeting == {"chat_id": str(chat), "text": response_text("utter_greet", "pt")}
    assert menu["text"] == "Como posso ajudar? Escolha uma opção ou escreva a sua pergunta."
    [turn] = user_turns(channels, chat)
    assert turn["parse_data"]["intent"]["name"] == "greet"
    assert turn["metadata"]["deep_link"] == "campaign_lisboa_2026"
    assert channels.tracker(channels.sender_id("telegram", str(chat)))["slots"]["language"] == "pt"


def test_language_code_seeds_the_reply_language(channels: ChannelStack) -> None:
    chat = new_chat()
    channels.post_telegram(telegram_message(chat, "/start", language="en-GB"))
    greeting, _ = channels.wait_telegram(chat, 2)
    assert greeting["text"] == response_text("utter_greet", "en")
    assert "deep_link" not in user_turns(channels, chat)[0]["metadata"]


def test_inline_buttons_carry_opaque_ids_and_a_press_is_answered(channels: ChannelStack) -> None:
    chat = new_chat()
    channels.post_telegram(telegram_message(chat, "hola", language="es"))
    _, menu = channels.wait_telegram(chat, 2)
    keyboard = menu["reply_markup"]["inline_keyboard"]
    assert [row[0]["text"] for row in keyboard] == [
        "Programas de retorno", "¿Puedo pedirlo?", "Reconocer mi título", "Servicios al volver",
        "Quiero volver: ayúdenme", "Hablar con una persona"]
    tokens = [row[0]["callback_data"] for row in keyboard]
    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        assert "/" not in token
        assert "ask" not in token
    press = telegram_callback(chat, tokens[1])
    channels.post_telegram(press)
    channels.wait_telegram(chat, 3)
    assert {"callback_query_id": press["callback_query"]["id"]} in channels.telegram.calls("answerCallbackQuery")
    turn = user_turns(channels, chat)[-1]
    assert turn["text"] == "/ask_eligibility"
    assert turn["parse_data"]["intent"]["name"] == "ask_eligibility"


def test_a_forged_or_stale_callback_gets_that_option_has_expired(channels: ChannelStack) -> None:
    chat = new_chat()
    forged = telegram_callback(chat, "/request_return_help", language="en")
    channels.post_telegram(forged)
    [sent] = channels.wait_telegram(chat, 1)
    assert sent == {"chat_id": str(chat), "text": response_text(EXPIRED, "en", "channels.yml")}
    assert {"callback_query_id": forged["callback_query"]["id"]} in channels.telegram.calls("answerCallbackQuery")
    other = new_chat()  # someone else's (valid) token is no good either
    channels.post_telegram(telegram_message(other, "hola", language="es"))
    _, menu = channels.wait_telegram(other, 2)
    stolen = menu["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    channels.post_telegram(telegram_callback(chat, stolen, language="es"))
    assert channels.wait_telegram(chat, 2)[1]["text"] == response_text(EXPIRED, "es", "channels.yml")
    assert user_turns(channels, chat) == []  # nothing reached Rasa


def test_typed_slash_syntax_is_text(channels: ChannelStack) -> None:
    chat = new_chat()
    channels.post_telegram(telegram_message(chat, '/inform{"country_origin": "PE"}'))
    channels.wait_telegram(chat, 1)
    [turn] = user_turns(channels, chat)
    assert turn["text"] == 'inform{"country_origin": "PE"}'


MEDIA = {
    "voice": {"voice": {"file_id": "AwACAgQ", "file_unique_id": "u1", "duration": 4}},
    "photo": {"photo": [{"file_id": "AgACAgQ", "file_unique_id": "u2", "width": 90, "height": 90}]},
    "document": {"document": {"file_id": "BQACAgQ", "file_unique_id": "u3", "file_name": "pasaporte.pdf"}},
    "location": {"location": {"latitude": 40.4168, "longitude": -3.7038}},
    "contact": {"contact": {"phone_number": "+51987654321", "first_name": "Rosa"}},
}


def test_media_gets_a_polite_reply_and_nothing_is_downloaded(channels: ChannelStack) -> None:
    for language in ("es", "pt", "en"):
        for kind, extra in MEDIA.items():
            chat = new_chat()
            update = telegram_message(chat, None, language=language, **extra)
            assert channels.post_telegram(update).status_code == 200
            [sent] = channels.wait_telegram(chat, 1)
            assert sent["text"] == response_text("utter_media_not_supported", language), (kind, language)
            [row] = channels.rows("SELECT payload_encrypted FROM inbox_messages WHERE provider_message_id = :u",
                                  u=str(update["update_id"]))
            payload = json.dumps(channels.cipher().decrypt_json(row["payload_encrypted"]))
            for kept_nothing_of in ("file_id", "AwACAgQ", "pasaporte", "40.41", "987654321"):
                assert kept_nothing_of not in payload
    assert channels.telegram.calls("getFile") == []


def test_the_sender_id_is_pseudonymous(channels: ChannelStack) -> None:
    chat = new_chat()
    channels.post_telegram(telegram_message(chat, "gracias"))
    channels.wait_telegram(chat, 1)
    sender = channels.sender_id("telegram", str(chat))
    assert channels.tracker(sender)["sender_id"] == sender
    assert str(chat) not in channels.tracker_store_dump()
    [person] = channels.rows("SELECT handle_encrypted FROM persons WHERE sender_id = :s", s=sender)
    assert channels.cipher().decrypt_text(person["handle_encrypted"]) == str(chat)
    assert str(chat) not in logs(channels)
