"""The last NLU step: what the model must not guess at."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.components import FLAGS_KEY, MessageGuard, message_flags


def guarded(text: str, intent: str, confidence: float = 0.5, metadata: dict | None = None) -> Message:
    message = Message(data={TEXT: text, INTENT: {"name": intent, "confidence": confidence},
                            INTENT_RANKING_KEY: [{"name": intent, "confidence": confidence}]})
    message.set(FLAGS_KEY, message_flags(text, metadata))
    [out] = MessageGuard().process([message])
    return out


@pytest.mark.parametrize("payload", ["vuln:minors", "vuln:violence", "time:morning", "contact:phone", "edit:name", "edit"])
def test_a_button_payload_answers_the_form_whatever_the_model_guessed(payload: str) -> None:
    """e5 read "vuln:minors" as report_distress; a tap on a button must reach the form that asked."""
    out = guarded(payload, "report_distress")
    assert out.get(INTENT) == {"name": "inform", "confidence": 1.0}
    assert [r["name"] for r in out.get(INTENT_RANKING_KEY)] == ["inform"]


@pytest.mark.parametrize("text", ["mi pareja me pega y tengo miedo", "vuln:minors pero me pegan", "EDIT:name?"])
def test_words_around_a_payload_are_still_read_by_the_model(text: str) -> None:
    assert guarded(text, "report_distress", 0.9).get(INTENT)["name"] == "report_distress"


@pytest.mark.parametrize(("text", "metadata"), [("😀😀", None), ("", None), ("hola", {"media": "audio"})])
def test_no_words_or_only_media_is_a_fallback(text: str, metadata: dict | None) -> None:
    out = guarded(text, "greet", 0.9, metadata)
    assert out.get(INTENT) == {"name": "nlu_fallback", "confidence": 1.0}
