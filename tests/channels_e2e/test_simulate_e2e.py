"""`make simulate`'s simulator: signed webhooks in, the phone's view of the replies out."""

from __future__ import annotations

from devtools.simulate import Credentials, Simulator
from tests.channels_e2e.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BOT_TOKEN,
    PUBLIC,
    WEBHOOK_SECRET,
    ChannelStack,
    new_chat,
    new_phone,
)
from tests.channels_e2e.test_whatsapp_e2e import response_text


def simulator(channels: ChannelStack, language_code: str = "es") -> Simulator:
    credentials = Credentials(ACCOUNT_SID, AUTH_TOKEN, BOT_TOKEN, WEBHOOK_SECRET)
    return Simulator(channels.stack.rasa_url, PUBLIC, credentials, channels.twilio, channels.telegram,
                     phone=new_phone(), chat_id=new_chat(), language_code=language_code)


def test_the_simulator_chats_on_whatsapp(channels: ChannelStack) -> None:
    person = simulator(channels)
    greeting, menu = person.whatsapp("hola")
    assert greeting == response_text("utter_greet", "es")
    assert menu.endswith("5. Quiero volver: ayúdenme\n6. Hablar con una persona")
    assert person.whatsapp("", media="voice")[0] == response_text("utter_media_not_supported", "es")


def test_the_simulator_chats_on_telegram_and_presses_buttons(channels: ChannelStack) -> None:
    person = simulator(channels, language_code="en")
    greeting, menu = person.telegram_text("/start")
    assert greeting == response_text("utter_greet", "en")
    assert menu.splitlines()[1:3] == ["  [#1] Return programmes", "  [#2] Can I apply?"]
    assert person.press(2)  # the eligibility check starts
    user = [e for e in channels.tracker(channels.sender_id("telegram", str(person.chat_id)))["events"]
            if e["event"] == "user"]
    assert user[-1]["text"] == "/ask_eligibility"
    assert person.press(99) == ["(there is no button 99)"]
