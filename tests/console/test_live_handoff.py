"""Take over, reply and hand back against the real Rasa server (REST channel), and the
funnel steps the real action server counts. Runs on SQLite and PostgreSQL for the cases DB.
"""

from __future__ import annotations

from typing import Any

from casework.reference import handoff_text, knowledge_base
from devtools.stack import Stack
from tests.casework.conftest import Database
from tests.console.conftest import ChatPerson, live_console, post_form
from tests.conversation.conftest import intents_of


def bot_events(tracker: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in tracker["events"] if e["event"] == "bot"]


def test_take_over_reply_and_hand_back_through_the_rasa_api(stack: Stack, database: Database) -> None:
    console = live_console(database, stack.rasa_url)
    person = ChatPerson(stack, "es")
    assert person.text("hola")  # the assistant answers before anyone takes over
    reference = console.add_ticket(sender_id=person.sender, channel="rest")
    console.add_staff("ana")
    staff = console.sign_in("ana")
    page = f"/tickets/{reference}"

    assert post_form(staff, f"{page}/take-over", {}, token_from=page).status_code == 302
    tracker = person.tracker()
    assert tracker["paused"] is True
    joined = handoff_text(knowledge_base(), "staff_joined", "es")
    assert bot_events(tracker)[-1]["text"] == joined
    assert bot_events(tracker)[-1]["metadata"]["oss_staff"] == "ana"

    # While paused, the assistant stays quiet and the person's words reach the console.
    assert person.say("¿hay alguien? <b>urgente</b>") == []
    conversation = staff.get(f"{page}/conversation").get_json()
    assert conversation["paused"] is True
    assert conversation["lines"][-2:] == [
        {"who": "staff", "label": "Staff", "text": joined, "at": conversation["lines"][-2]["at"]},
        {"who": "person", "label": "Person", "text": "¿hay alguien? <b>urgente</b>", "at": conversation["lines"][-1]["at"]},
    ]

    assert post_form(staff, f"{page}/reply", {"text": "Hola, soy Ana de la oficina de Lima."}, token_from=page).status_code == 302
    assert bot_events(person.tracker())[-1]["text"] == "Hola, soy Ana de la oficina de Lima."

    assert post_form(staff, f"{page}/hand-back", {}, token_from=page).status_code == 302
    tracker = person.tracker()
    assert tracker["paused"] is False
    assert bot_events(tracker)[-1]["text"] == handoff_text(knowledge_base(), "assistant_back", "es")
    assert person.text("gracias")  # the assistant answers again
    assert intents_of(person.tracker())[-1] == "thank"

    actions = [r["action"] for r in database.rows("SELECT action FROM audit_events WHERE actor = 'staff:ana' ORDER BY id")]
    assert [a for a in actions if a.startswith("handoff_")] == ["handoff_take_over", "handoff_reply", "handoff_hand_back"]


def test_the_actions_count_anonymous_funnel_steps(stack: Stack) -> None:
    from sqlalchemy import create_engine, text

    person = ChatPerson(stack, "es")
    person.text("soy peruana y vivo en Madrid")
    person.text("¿qué programas de retorno voluntario hay y qué cubren?")
    engine = create_engine(stack.env["DATABASE_URL"], future=True)
    try:
        with engine.connect() as connection:
            rows = [dict(r) for r in connection.execute(text(
                "SELECT step, office_id, origin_country, residence_country FROM funnel_events ORDER BY id"
            )).mappings()]
            columns = [c[1] for c in connection.execute(text("PRAGMA table_info(funnel_events)"))]
    finally:
        engine.dispose()
    answered = [r for r in rows if r["step"] == "question_answered"]
    actions = [e.get("name") for e in person.tracker()["events"] if e["event"] == "action"]
    assert answered, (rows, actions, intents_of(person.tracker()))
    assert {"step": "conversation", "office_id": "oss-pe", "origin_country": "PE", "residence_country": "ES"} in rows
    assert answered[-1] == {"step": "question_answered", "office_id": "oss-pe", "origin_country": "PE", "residence_country": "ES"}
    # Nothing about the person is stored: no column could hold it.
    assert columns == ["id", "step", "week", "office_id", "origin_country", "residence_country"]
