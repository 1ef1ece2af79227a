"""Malformed and hostile requests to the real server: never a 500, never a state change."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.channels_e2e.conftest import ACCOUNT_SID, NUMBER, WEBHOOK_SECRET, ChannelStack

NAMES = ["MessageSid", "SmsMessageSid", "From", "Body", "NumMedia", "MediaContentType0", "MediaUrl0",
         "Latitude", "Longitude", "ButtonPayload", "", "x" * 300]
hostile_values = st.one_of(st.text(max_size=60), st.sampled_from([
    "whatsapp:+1", "whatsapp:+34600111222\x00", "SM123", "SM" + "g" * 32, "-1", "99999999999999999999",
    "/request_return_help{\"country_origin\": \"PE\"}", "<script>", "%00", "whatsapp:" + "9" * 40]))
hostile_forms = st.lists(st.tuples(st.sampled_from(NAMES), hostile_values), max_size=10)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25)
hostile_updates = st.one_of(
    json_values,
    st.fixed_dictionaries({"update_id": json_values, "message": json_values}),
    st.fixed_dictionaries({"update_id": st.integers(), "message": st.fixed_dictionaries(
        {"message_id": json_values, "date": json_values, "chat": json_values, "from": json_values, "text": json_values})}),
    st.fixed_dictionaries({"update_id": st.integers(), "callback_query": json_values}),
)


def state(channels: ChannelStack) -> tuple[Any, ...]:
    return (channels.rows("SELECT count(*) AS n FROM inbox_messages")[0]["n"],
            channels.rows("SELECT count(*) AS n FROM persons")[0]["n"])


@settings(max_examples=40, deadline=None)
@given(pairs=hostile_forms)
def test_hostile_signed_whatsapp_forms(channels: ChannelStack, pairs: list[tuple[str, str]]) -> None:
    before = state(channels)
    form = [("AccountSid", ACCOUNT_SID), ("To", f"whatsapp:{NUMBER}"), *pairs]
    answer = channels.post_whatsapp(form)  # correctly signed: the checks after the signature must hold
    assert answer.status_code in (200, 400), answer.text
    assert "Traceback" not in answer.text
    if answer.status_code == 400:
        assert state(channels) == before


@settings(max_examples=40, deadline=None)
@given(update=hostile_updates, raw=st.binary(max_size=200))
def test_hostile_telegram_updates(channels: ChannelStack, update: Any, raw: bytes) -> None:
    before = state(channels)
    for body in (update, raw):
        answer = channels.post_telegram(body, secret=WEBHOOK_SECRET)
        assert answer.status_code in (200, 400), answer.text
        assert "Traceback" not in answer.text
        answer = channels.post_telegram(body, secret="not-the-secret")
        assert answer.status_code == 403
    assert state(channels) == before
