"""WhatsApp's approved templates: the staff console's way back to a person after 24 hours.

A live send (Rasa's HTTP API, `execute_side_effects`) whose bot event metadata carries
`template` (a Twilio Content SID) goes out as `ContentSid`, inside or outside the 24-hour
window; free-form text is refused outside it; a malformed SID is never sent. Telegram has
no window and no templates: the message's text is sent.
"""

# The fixtures imported from tests.channels.kits are test parameters here, which ruff reads as redefinitions.
# ruff: noqa: F811

from __future__ import annotations

from datetime import timedelta

import pytest
from rasa.core.processor import MessageProcessor
from rasa.shared.core.events import BotUttered
from rasa.shared.core.trackers import DialogueStateTracker

from casework.handles import Handle
from channels.durable import DeliveryRefused
from tests.channels.conftest import START, Store
from tests.channels.kits import tg, wa  # noqa: F401 - shared fixtures
from tests.channels.test_telegram import CHAT, TelegramKit, message_update
from tests.channels.test_whatsapp import NUMBER, PHONE, PUBLIC, WhatsAppKit, inbound

TEMPLATE = "HX" + "0123456789abcdef" * 2
REOPEN = "Hola, te escribe la Ventanilla Única sobre tu solicitud. ¿Podemos seguir hablando?"
MALFORMED = ["HX123", "MG" + "0" * 32, "HX" + "g" * 32, "HX" + "0" * 33, " " + TEMPLATE, "", 42, ["HX"]]


def staff_event(text: str, template: object = None) -> BotUttered:
    """The bot event as the console appends it (console.rasa_api.RasaAPI.say)."""
    metadata: dict[str, object] = {"oss_staff": "marta"}
    if template is not None:
        metadata["template"] = template
    return BotUttered(text, metadata=metadata)


async def rasa_sends(output: object, sender_id: str, event: BotUttered) -> None:
    """What Rasa's server does with `execute_side_effects=true`: the event's message() to the channel."""
    tracker = DialogueStateTracker(sender_id, slots=[])
    await MessageProcessor._send_bot_messages([event], tracker, output)  # type: ignore[arg-type]


async def person_wrote(kit: WhatsAppKit) -> str:
    await kit.post(inbound("hola"))
    await kit.settle()
    return kit.bot.received[0].sender_id


def refusals(store: Store) -> list[str]:
    return [str(row["details"]) for row in store.rows("SELECT details FROM audit_events WHERE action = 'send_refused'")]


async def test_outside_the_window_the_template_goes_out_as_its_content_sid_and_text_is_refused(wa: WhatsAppKit) -> None:
    sender = await person_wrote(wa)
    wa.clock.advance(hours=30)
    output = wa.channel.get_output_channel()
    with pytest.raises(DeliveryRefused, match="outside_24h_window"):
        await rasa_sends(output, sender, staff_event("¿Sigues ahí?"))
    assert len(wa.api.messages()) == 1  # only the answer to "hola"
    assert any("outside_24h_window" in details for details in refusals(wa.store))

    await rasa_sends(output, sender, staff_event(REOPEN, template=TEMPLATE))
    assert wa.api.messages()[-1] == {
        "From": f"whatsapp:{NUMBER}", "To": f"whatsapp:{PHONE}", "ContentSid": TEMPLATE,
        "StatusCallback": f"{PUBLIC}/webhooks/whatsapp/status",
    }
    assert [r.status for r in wa.api.requests] == [201, 201]


async def test_inside_the_window_a_template_is_sent_as_a_template_too(wa: WhatsAppKit) -> None:
    sender = await person_wrote(wa)
    await rasa_sends(wa.channel.get_output_channel(), sender, staff_event(REOPEN, template=TEMPLATE))
    sent = wa.api.messages()[-1]
    assert sent["ContentSid"] == TEMPLATE
    assert "Body" not in sent  # Twilio: a template replaces Body, its text is the approved one


@pytest.mark.parametrize("sid", MALFORMED)
async def test_a_malformed_content_sid_is_never_sent_and_the_refusal_recorded(wa: WhatsAppKit, sid: object) -> None:
    sender = await person_wrote(wa)
    with pytest.raises(DeliveryRefused, match="template_malformed"):
        await rasa_sends(wa.channel.get_output_channel(), sender, staff_event(REOPEN, template=sid))
    assert len(wa.api.messages()) == 1  # not even its text: inside the window too
    assert any("template_malformed" in details for details in refusals(wa.store))


async def test_the_decision_template_or_text_inside_or_outside_the_window(wa: WhatsAppKit) -> None:
    fresh = Handle(handle=PHONE, last_inbound_at=START - timedelta(hours=23), language="es")
    stale = Handle(handle=PHONE, last_inbound_at=START - timedelta(hours=25), language="es")
    never = Handle(handle=PHONE, last_inbound_at=None, language="es")
    text, template = {"text": "hola"}, {"text": REOPEN, "template": TEMPLATE}
    decide = wa.channel.refusal
    assert decide(fresh, [text]) is None
    assert decide(fresh, [template]) is None
    assert decide(stale, [template]) is None
    assert decide(never, [template]) is None
    assert decide(stale, [text]) == "outside_24h_window"
    assert decide(stale, [template, text]) == "outside_24h_window"  # all or nothing
    assert decide(stale, []) == "outside_24h_window"
    assert decide(fresh, [{"text": "hola", "template": "HX1"}]) == "template_malformed"
    assert decide(stale, [template, {"template": None, "text": "hola"}]) == "outside_24h_window"


async def test_telegram_sends_a_template_marked_message_as_its_text(tg: TelegramKit) -> None:
    await tg.post(message_update("hola"))
    await tg.settle()
    sender = tg.bot.received[0].sender_id
    tg.clock.advance(hours=72)  # no window on Telegram
    await rasa_sends(tg.channel.get_output_channel(), sender, staff_event(REOPEN, template=TEMPLATE))
    assert tg.api.calls("sendMessage")[-1] == {"chat_id": str(CHAT), "text": REOPEN}
