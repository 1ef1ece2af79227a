"""The consented intake through the real assistant: consent first, age, the questions, the
summary, and exactly one ticket in the stack's database, routed and encrypted.

The tests answer whatever the form asks (read from `requested_slot`), so they follow the
form's order and its reuse of what the person already said. On the REST channel the
assistant cannot write back later, so these people give a phone number or an e-mail.
Set INTAKE_TRANSCRIPTS=<dir> to keep the transcripts of the full intakes.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from casework.consent import PRIVACY_NOTICE_VERSION
from casework.db import make_engine
from devtools.stack import Stack
from tests.conversation.conftest import Person, buttons


@pytest.fixture(scope="module")
def cases(stack: Stack) -> Iterator[Engine]:
    engine = make_engine(stack.env["DATABASE_URL"])
    yield engine
    engine.dispose()


def rows(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(text(sql), params).mappings()]


def tickets_of(engine: Engine, sender: str) -> list[dict[str, Any]]:
    return rows(engine, "SELECT t.*, i.fields_encrypted FROM tickets t JOIN persons p ON p.id = t.person_id "
                        "LEFT JOIN intakes i ON i.id = t.intake_id WHERE p.sender_id = :sender", sender=sender)


def persons_named(engine: Engine, sender: str) -> int:
    return len(rows(engine, "SELECT id FROM persons WHERE sender_id = :sender", sender=sender))


def text_of(replies: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text") or "" for m in replies)


def requested(person: Person) -> str | None:
    return person.tracker()["slots"].get("requested_slot")


def answer_until(person: Person, answers: dict[str, str], stop_at: str | None = None,
                 max_turns: int = 25) -> tuple[list[str], list[dict[str, Any]]]:
    """Answer each question asked until `stop_at` is asked (or the form ends)."""
    asked: list[str] = []
    replies: list[dict[str, Any]] = []
    for _ in range(max_turns):
        slot = requested(person)
        if slot is None or slot == stop_at:
            return asked, replies
        asked.append(slot)
        assert slot in answers, f"unexpected question {slot} (asked so far: {asked})"
        replies = person.say(answers[slot])
    raise AssertionError(f"the intake did not end: {asked}")


def transcript(person: Person) -> str:
    lines = []
    for event in person.tracker()["events"]:
        if event["event"] == "user":
            lines.append(f"**person:** {event.get('text')}")
        elif event["event"] == "bot":
            shown = (event.get("text") or "").replace("\n", "\n    ")
            options = [b["title"] for b in (event.get("data") or {}).get("buttons") or []]
            lines.append(f"**assistant:** {shown}" + (f"  [{' | '.join(options)}]" if options else ""))
    return "\n".join(lines)


def keep_transcript(person: Person, name: str) -> None:
    folder = os.environ.get("INTAKE_TRANSCRIPTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{name}.md").write_text(transcript(person) + "\n", encoding="utf-8")


def execute(person: Person, action: str) -> None:
    request = urllib.request.Request(  # noqa: S310 - local test server
        f"{person.stack.rasa_url}/conversations/{person.sender}/execute",
        data=json.dumps({"name": action}).encode(), headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as reply:  # noqa: S310
        assert reply.status == 200


SPANISH = {
    "intake_consent": "sí, acepto", "intake_adult": "sí, tengo 34", "intake_name": "me llamo Lucía",
    "intake_return_city": "a Cusco", "intake_residence_city": "en Alcobendas", "intake_months_abroad": "hace 5 años",
    "intake_household": "yo y mi hija de 6", "intake_return_months": "en marzo",
    "intake_needs": "empleo y vivienda", "intake_qualification": "técnico en electricidad",
    "intake_vulnerability": "ninguna", "intake_contact_channel": "por teléfono",
    "intake_contact_detail": "+34 611 222 333", "intake_contact_time": "por la mañana",
    "intake_confirmed": "sí, todo correcto",
}


def test_a_full_intake_in_spanish_opens_one_encrypted_ticket_for_the_right_office(make_person, cases) -> None:
    person = make_person("es")
    person.text("hola, soy peruana y vivo en Madrid")
    notice = person.say("quiero volver a Perú, ¿me ayudan?")
    assert PRIVACY_NOTICE_VERSION in text_of(notice)
    assert "borra mis datos" in text_of(notice)
    assert "/affirm" in buttons(notice)
    assert "/deny" in buttons(notice)
    asked, replies = answer_until(person, SPANISH)
    assert asked[:2] == ["intake_consent", "intake_adult"]  # consent, then age, before anything personal
    assert "country_origin" not in asked
    assert "country_residence" not in asked
    done = text_of(replies)
    (ticket,) = tickets_of(cases, person.sender)
    assert ticket["reference"] in done
    assert "te contactará por teléfono, normalmente en un plazo de 3 días laborables." in done  # oss-pe: 3
    assert ticket["office_id"] == "oss-pe"
    assert ticket["status"] == "new"
    assert "Lucía" not in str(ticket)
    assert "611" not in str(ticket)
    assert ticket["fields_encrypted"]
    outbox = rows(cases, "SELECT office_id, status FROM outbox_messages WHERE ticket_id = :id ORDER BY id",
                  id=ticket["id"])
    assert outbox == [{"office_id": "oss-pe", "status": "pending"}, {"office_id": "eu-es-madrid", "status": "pending"}]
    consent = rows(cases, "SELECT c.notice_version, c.language FROM consent_records c JOIN persons p "
                          "ON p.id = c.person_id WHERE p.sender_id = :sender", sender=person.sender)
    assert consent == [{"notice_version": PRIVACY_NOTICE_VERSION, "language": "es"}]
    keep_transcript(person, "intake_es")

    # A second "yes", and the finishing action run again, never make a second ticket.
    person.say("sí")
    execute(person, "action_intake_finish")
    execute(person, "action_listen")  # the API leaves the turn open; a real turn ends listening
    person.say("sí, confirmo")
    assert len(tickets_of(cases, person.sender)) == 1

    status = person.text("¿cómo va mi caso?")
    assert ticket["reference"] in status
    assert "recibido" in status


def test_a_full_intake_in_portuguese_goes_to_brazil_and_portugal(make_person, cases) -> None:
    person = make_person("pt")
    person.text("sou brasileira e moro em Lisboa")
    person.say("quero voltar pro Brasil, vocês me ajudam?")
    answers = {
        "intake_consent": "sim, aceito", "intake_adult": "sim", "intake_name": "pode me chamar de Ana Paula",
        "intake_return_city": "Belo Horizonte", "intake_residence_city": "Lisboa", "intake_months_abroad": "faz 3 anos",
        "intake_household": "só eu", "intake_return_months": "daqui a 2 meses", "intake_needs": "1, 3",
        "intake_qualification": "graduação em enfermagem", "intake_vulnerability": "prefiro não dizer",
        "intake_contact_channel": "ana.paula@example.org", "intake_contact_time": "à tarde",
        "intake_confirmed": "confirmar",
    }
    asked, replies = answer_until(person, answers)
    (ticket,) = tickets_of(cases, person.sender)
    assert ticket["office_id"] == "oss-br"
    assert ticket["language"] == "pt"
    assert ticket["reference"] in text_of(replies)
    assert "vai entrar em contato por e-mail, normalmente no dia útil seguinte." in text_of(replies)  # oss-br: 1
    assert "ana.paula" not in str(ticket)
    offices = [r["office_id"] for r in rows(cases, "SELECT office_id FROM outbox_messages WHERE ticket_id = :id",
                                            id=ticket["id"])]
    assert offices == ["oss-br", "eu-pt"]
    keep_transcript(person, "intake_pt")


def test_a_full_intake_in_english_with_a_correction_halfway(make_person, cases) -> None:
    person = make_person("en")
    person.say("I want to go back to Colombia, can you help me?")
    answers = {
        "intake_consent": "yes, I agree", "intake_adult": "yes", "intake_name": "Call me Jorge",
        "intake_return_city": "Medellín", "country_residence": "I live in Barcelona",
        "intake_months_abroad": "two years", "intake_household": "me and my wife and our son aged 4",
        "intake_return_months": "next month", "intake_needs": "jobs and training",
        "intake_qualification": "bachelor in engineering", "intake_vulnerability": "none",
        "intake_contact_channel": "by phone", "intake_contact_detail": "+39 345 678 9012",
        "intake_contact_time": "evening", "intake_confirmed": "confirm",
    }
    answer_until(person, answers, stop_at="intake_months_abroad")
    assert person.tracker()["slots"]["country_residence"] == "ES"
    corrected = person.text("no, wait, I live in Rome")
    slots = person.tracker()["slots"]
    assert slots["country_residence"] == "IT"
    assert slots["intake_residence_city"] == "Rome"
    assert slots["requested_slot"] == "intake_months_abroad"  # the open question comes back
    assert "Corrected" in corrected
    assert "How long" in corrected
    asked, replies = answer_until(person, answers)
    (ticket,) = tickets_of(cases, person.sender)
    assert ticket["office_id"] == "oss-co"
    assert ticket["residence_country"] == "IT"
    assert ticket["reference"] in text_of(replies)
    assert "will contact you by phone. To check on it" in text_of(replies)  # oss-co committed to no delay
    keep_transcript(person, "intake_en")


def test_no_consent_no_personal_question_and_nothing_stored(make_person, cases) -> None:
    person = make_person("es")
    person.say("quiero volver a Bolivia, ayúdenme")
    reply = person.text("no")
    tracker = person.tracker()
    asked = [e["value"] for e in tracker["events"] if e["event"] == "slot" and e["name"] == "requested_slot"]
    assert set(asked) <= {"intake_consent", None}
    assert tracker["slots"]["requested_slot"] is None
    assert "no guardo ningún dato" in reply
    assert "@" in reply
    assert persons_named(cases, person.sender) == 0
    answer = person.text("¿qué ayudas hay para volver?")  # still answers questions
    assert "Fuente" in answer or "¿En qué país" in answer


def test_under_18_gets_help_and_no_intake(make_person, cases) -> None:
    person = make_person("es")
    person.text("vivo en Valencia")
    person.say("me quiero volver a Ecuador")
    person.say("sí, acepto")
    reply = person.text("tengo 16 años")
    assert "adulto de confianza" in reply
    assert "112" in reply
    assert "servicios sociales" in reply
    assert person.tracker()["slots"]["requested_slot"] is None
    assert persons_named(cases, person.sender) == 0


def test_cancel_midway_keeps_nothing(make_person, cases) -> None:
    person = make_person("pt")
    person.say("quero voltar para o Brasil")
    answer_until(person, {"intake_consent": "sim", "intake_adult": "sim", "intake_name": "Marcos"},
                 stop_at="intake_return_city")
    reply = person.text("cancelar")
    slots = person.tracker()["slots"]
    assert "Nada foi guardado" in reply
    assert slots["intake_name"] is None
    assert slots["intake_consent"] is None
    assert slots["country_origin"] is None
    assert slots["requested_slot"] is None
    assert persons_named(cases, person.sender) == 0


def test_why_is_answered_and_the_same_question_comes_back(make_person) -> None:
    person = make_person("es")
    person.text("soy colombiano y vivo en Barcelona")
    person.say("quiero regresar a Colombia")
    answer_until(person, SPANISH | {"intake_residence_city": "Badalona"}, stop_at="intake_household")
    reply = person.text("¿para qué necesitas eso?")
    assert "escolarización" in reply  # why the children's ages are asked
    assert "¿Quién vuelve contigo?" in reply  # and the question again
    assert requested(person) == "intake_household"


def test_two_unclear_answers_give_an_example_then_a_person_is_offered(make_person) -> None:
    person = make_person("es")
    person.text("soy chilena y vivo en Milán")
    person.say("quiero volver a Chile, ayúdenme")
    answer_until(person, SPANISH | {"intake_residence_city": "Milán"}, stop_at="intake_household")
    first = person.text("muchos")
    assert "Por ejemplo" in first
    assert requested(person) == "intake_household"
    second = person.say("varios")
    assert "/talk_to_human" in buttons(second)
    slots = person.tracker()["slots"]
    assert slots["intake_household"] == "unknown"
    assert slots["requested_slot"] == "intake_return_months"


def test_asking_for_a_person_offers_the_intake_or_the_contacts(make_person) -> None:
    person = make_person("en")
    offer = person.say("I want to talk to a person")
    assert buttons(offer) == ["/request_return_help", "/deny"]
    contacts = person.text("/deny")
    assert "@" in contacts
    assert requested(person) is None


def test_case_status_without_a_case_says_so_and_offers_the_intake(make_person) -> None:
    person = make_person("pt")
    replies = person.say("como está o meu caso?")
    assert "Não encontro nenhum caso" in text_of(replies)
    assert "/request_return_help" in buttons(replies)


def test_the_summary_can_be_edited_before_confirming(make_person, cases) -> None:
    person = make_person("en")
    person.text("I'm Ecuadorian and I live in Lisbon")
    answers = {
        "intake_consent": "yes", "intake_adult": "yes", "intake_name": "Rosa", "intake_return_city": "Quito",
        "intake_residence_city": "Lisbon",
        "intake_months_abroad": "4 years", "intake_household": "just me", "intake_return_months": "in 6 months",
        "intake_needs": "1", "intake_qualification": "secondary", "intake_vulnerability": "none",
        "intake_contact_channel": "rosa@example.org", "intake_contact_time": "any time",
    }
    person.say("I want to return to Ecuador, please help me")
    answer_until(person, answers, stop_at="intake_confirmed")
    which = person.say("edit")
    assert "edit:needs" in buttons(which)
    again = person.text("edit:needs")
    assert requested(person) == "intake_needs"
    assert "What do you need help with" in again
    summary = person.text("housing and health")
    assert requested(person) == "intake_confirmed"
    assert "housing, health and psychosocial support" in summary
    person.say("confirm")
    (ticket,) = tickets_of(cases, person.sender)
    needs = json.loads(ticket["needs"]) if isinstance(ticket["needs"], str) else ticket["needs"]
    assert needs == ["housing", "health"]
    assert ticket["office_id"] == "oss-ec"


def test_danger_in_the_optional_question_gets_the_safety_path_first_and_an_urgent_case(make_person, cases) -> None:
    person = make_person("es")
    person.text("soy boliviana y vivo en Barcelona")
    person.say("quiero volver a Bolivia con mis hijos")
    answer_until(person, SPANISH | {"intake_residence_city": "Barcelona", "intake_return_months": "el año que viene"},
                 stop_at="intake_vulnerability")
    reply = person.text("mi pareja me maltrata")
    assert "112" in reply
    assert "016" in reply
    assert requested(person) == "intake_contact_channel"  # then the intake goes on
    answer_until(person, SPANISH)
    (ticket,) = tickets_of(cases, person.sender)
    assert ticket["priority"] == "urgent"
    assert ticket["office_id"] == "oss-bo"


def test_the_eligibility_result_and_answers_are_reused_and_stored_with_the_intake(make_person, cases) -> None:
    from tests.conversation.test_eligibility import SPAIN_LIKELY, run_check

    person = make_person("es")
    person.text("hola, soy peruana y vivo en Madrid")
    run_check(person, "¿puedo pedir el retorno voluntario?", SPAIN_LIKELY)
    assert person.tracker()["slots"]["eligibility_result"]["outcome"] == "likely_eligible"
    person.say("/request_return_help")  # the button offered after the result
    asked, _replies = answer_until(person, SPANISH)
    assert "intake_months_abroad" not in asked  # "hace 2 años y medio" was said in the check
    assert "intake_vulnerability" not in asked
    (ticket,) = tickets_of(cases, person.sender)
    stored = rows(cases, "SELECT eligibility FROM intakes WHERE id = :id", id=ticket["intake_id"])[0]["eligibility"]
    eligibility = json.loads(stored) if isinstance(stored, str) else stored
    assert eligibility["outcome"] == "likely_eligible"
    assert eligibility["country"] == "ES"


def test_erasure_asked_midway_pauses_the_intake_and_no_resumes_it(make_person, cases) -> None:
    person = make_person("es")
    person.say("quiero volver a Perú, ¿me ayudan?")
    answer_until(person, {"intake_consent": "sí", "intake_adult": "sí", "intake_name": "Rocío"},
                 stop_at="intake_return_city")
    replies = person.say("borra mis datos")
    assert buttons(replies) == ["/affirm", "/deny"]
    assert person.tracker()["slots"]["intake_name"] == "Rocío"  # not taken as an answer

    person.say("no")
    tracker = person.tracker()
    assert tracker["active_loop"].get("name") == "intake_form"
    assert tracker["slots"]["requested_slot"] == "intake_return_city"
    assert tracker["slots"]["intake_name"] == "Rocío"

    replies = person.say("sí")
    # "sí" now answers nothing it should not: the form still waits for the city, or reads it.
    assert "hemos borrado" not in text_of(replies)


def test_erasure_confirmed_midway_ends_the_intake_and_keeps_nothing(make_person, cases) -> None:
    person = make_person("en")
    person.say("I want to go back to Colombia, can you help me?")
    answer_until(person, {"intake_consent": "yes", "intake_adult": "yes", "intake_name": "Mateo"},
                 stop_at="intake_return_city")
    person.say("delete my data")
    reply = text_of(person.say("yes"))
    assert "we have erased your data" in reply
    slots = person.tracker()["slots"]
    assert slots["intake_name"] is None
    assert slots["requested_slot"] is None
    assert persons_named(cases, person.sender) == 0
    assert tickets_of(cases, person.sender) == []


def test_a_city_said_before_the_intake_is_not_asked_again_and_is_in_the_summary(make_person) -> None:
    person = make_person("es")
    person.text("hola, soy peruana y vivo en Alcobendas")
    person.say("quiero volver a Perú, ¿me ayudan?")
    asked, replies = answer_until(person, SPANISH, stop_at="intake_confirmed")
    assert "intake_residence_city" not in asked
    assert "intake_return_city" in asked  # where in Peru was never said
    summary = text_of(replies)
    assert "Alcobendas" in summary
    assert person.tracker()["slots"]["intake_residence_city"] == "Alcobendas"
