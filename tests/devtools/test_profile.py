"""The pure pieces of `make profile`: reading py-spy's stacks and naming where time goes.

No sampling here: the profile's figures belong in reports/, not in tests.
"""

from __future__ import annotations

from devtools.profile_serving import OTHER, Breakdown, area_of, entry_of, markdown, parse_frame, parse_raw

RAW = """\
<module> (rasa:8);serve (sanic/server/runners.py:155);turn (channels/durable.py:265);run_unit_of_work (casework/db.py:120);claim_next (casework/inbox.py:102);execute (sqlalchemy/orm/session.py:1717) 6
<module> (rasa:8);handle_message (rasa/core/processor.py:167);_save (bot/stores/tracker.py:316);do_execute (sqlalchemy/engine/default.py:736) 3
<module> (rasa:8);serve (sanic/server/runners.py:155);turn (channels/durable.py:265);_request (aiohttp/client.py:437) 2
<module> (rasa:8);parse (rasa/core/processor.py:900);process (bot/nlu/components.py:40);find (bot/nlu/gazetteer.py:77) 1
<module> (rasa:8);<lambda> (uuid.py:720) 1
"""


def test_a_frame_is_read_with_its_file_and_without_its_line() -> None:
    frame = parse_frame("claim_next (casework/inbox.py:102)")
    assert (frame.function, frame.file) == ("claim_next", "casework/inbox.py")
    assert parse_frame("<lambda> (<string>)").file == "<string>"


def test_raw_stacks_are_read_root_first_with_their_counts() -> None:
    samples = parse_raw(RAW.splitlines() + ["", "garbage without a count"])
    assert [count for _, count in samples] == [6, 3, 2, 1, 1]
    assert samples[0][0][-1].function == "execute"  # the leaf is last


def test_library_code_counts_for_the_code_that_called_it() -> None:
    """SQLAlchemy under the inbox is the cases database; under the tracker store, the store."""
    samples = parse_raw(RAW.splitlines())
    areas = [area_of(stack) for stack, _ in samples]
    assert areas[0].startswith("cases database")
    assert areas[1].startswith("tracker store")
    assert areas[2].startswith("channels")  # aiohttp called by a channel: the channel's sending
    assert areas[3].startswith("NLU pipeline")
    assert areas[4] == OTHER


def test_an_area_is_entered_at_its_outermost_frame() -> None:
    """The inbox's claim, not the unit-of-work wrapper around it nor SQLAlchemy inside it."""
    samples = parse_raw(RAW.splitlines())
    assert entry_of(samples[0][0]) == "claim_next (casework/inbox.py)"
    assert entry_of(samples[3][0]) == "process (bot/nlu/components.py)"
    assert entry_of(samples[4][0]) == "<lambda> (uuid.py)"  # no area: the leaf


def test_the_report_gives_each_area_its_share_and_its_cost_per_message() -> None:
    breakdown = Breakdown.of(parse_raw(RAW.splitlines()))
    assert breakdown.samples == 13
    run = {"date": "2026-11-24 16:00 UTC", "cpus": 2, "people": 48, "seconds": 40.0,
           "load": {"answered": 1000, "msgs_per_s": 25.0, "errors": 0},
           "cpu_ms_per_msg": {"rasa": 26.0, "actions": 5.0}}
    text = markdown(run, {"rasa": breakdown})
    # 6 of 13 samples in the cases database: 46.2%, so 12.0 of the 26.0 ms per message.
    assert "| cases database (casework: inbox, handles, tickets) | 46.2% | 12.0 |" in text
    assert "## rasa: 26.0 ms of CPU per message, 13 samples" in text
    assert "`execute (sqlalchemy/orm/session.py)` | 46.2%" in text
    assert "| `claim_next (casework/inbox.py)` | 46.2% |" in text
