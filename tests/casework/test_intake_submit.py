"""A confirmed chat intake: consent recorded once (with the time of the yes), one ticket however
often it is submitted, personal fields encrypted, the outbox written, status for the owner only."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from casework.consent import PRIVACY_NOTICE_VERSION
from casework.intake import IntakeAnswers, is_warm_lead
from casework.settings import Settings
from casework.tickets import ConsentGiven, InvalidIntake, cases_of, idempotency_key_for, submit_intake
from knowledge.loader import knowledge_base
from tests.casework.conftest import Database
from tests.casework.factories import NOW, new_key

NAME, PHONE = "Lucía Condori Huamán", "+34611222333"
ANSWERS = IntakeAnswers(
    origin_country="PE", residence_country="ES", region="madrid", language="es", preferred_name=NAME,
    return_city="Cusco", residence_city="Alcobendas", months_abroad=60, household_adults=1, children_ages=(6,),
    planned_return_months=4, needs=("employment", "housing"), highest_qualification="vocational",
    qualification_field="electricidad", vulnerabilities=frozenset(), contact_channel="phone", contact_detail=PHONE,
    contact_time="morning",
)
YES = ConsentGiven(at=NOW - timedelta(minutes=5), notice_version=PRIVACY_NOTICE_VERSION, language="es")


@pytest.fixture
def settings(database: Database) -> Settings:
    return Settings(database_url=database.url, field_encryption_keys=(new_key(),))


def submit(database: Database, settings: Settings, *, sender_id: str = "rest-lucia", channel: str = "rest",
           answers: IntakeAnswers = ANSWERS, run: str = "2026-11-23T11:55:00+00:00"):
    return submit_intake(
        database.engine, settings=settings, kb=knowledge_base(), sender_id=sender_id, channel=channel, consent=YES,
        intake=answers, eligibility={"outcome": "likely_eligible", "country": "ES", "reasons": ["r1"]}, now=NOW,
        idempotency_key=idempotency_key_for(sender_id=sender_id, intake=answers, form_run=run),
    )


def test_a_confirmed_intake_opens_one_routed_encrypted_case(database: Database, settings: Settings) -> None:
    opened = submit(database, settings)
    assert opened.created
    assert opened.warm_lead
    assert opened.reference.startswith("OSS-")
    assert opened.office_ids == ("oss-pe", "eu-es-madrid")
    consent = database.rows("SELECT notice_version, language, given_at FROM consent_records")
    assert [(c["notice_version"], c["language"]) for c in consent] == [(PRIVACY_NOTICE_VERSION, "es")]
    ticket = database.rows("SELECT * FROM tickets")[0]
    assert (ticket["office_id"], ticket["status"], ticket["priority"]) == ("oss-pe", "new", "normal")
    intake = database.rows("SELECT * FROM intakes")[0]
    assert NAME not in str(intake)
    assert PHONE not in str(intake)
    assert "Alcobendas" not in str(intake)
    assert intake["eligibility"] is not None
    outbox = database.rows("SELECT office_id, status FROM outbox_messages ORDER BY id")
    assert outbox == [{"office_id": "oss-pe", "status": "pending"}, {"office_id": "eu-es-madrid", "status": "pending"}]


def test_the_case_carries_the_owner_office_s_committed_first_contact_delay(
    database: Database, settings: Settings, tmp_path: Path,
) -> None:
    assert submit(database, settings).first_contact_days is None  # the shipped file commits to nothing
    doc = yaml.safe_load(settings.offices_config_path.read_text(encoding="utf-8"))
    doc["offices"]["oss-pe"]["first_contact_days"] = 3
    doc["offices"]["eu-es-madrid"]["first_contact_days"] = 10  # informed, not the owner
    (tmp_path / "offices.yml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    committed = replace(settings, offices_config_path=tmp_path / "offices.yml")
    assert submit(database, committed, sender_id="rest-other").first_contact_days == 3


def test_submitting_again_gives_the_same_ticket_and_one_consent(database: Database, settings: Settings) -> None:
    first = submit(database, settings)
    again = submit(database, settings)
    assert again.reference == first.reference
    assert not again.created
    assert database.rows("SELECT COUNT(*) AS n FROM tickets")[0]["n"] == 1
    assert database.rows("SELECT COUNT(*) AS n FROM consent_records")[0]["n"] == 1
    assert database.rows("SELECT COUNT(*) AS n FROM outbox_messages")[0]["n"] == 2


def test_nothing_is_written_when_the_intake_cannot_open_a_case(database: Database, settings: Settings) -> None:
    with pytest.raises(InvalidIntake):
        submit(database, settings, answers=replace(ANSWERS, origin_country=None))
    for table in ("persons", "consent_records", "tickets", "intakes", "outbox_messages"):
        assert database.rows(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"] == 0, table  # noqa: S608


def test_status_is_only_for_the_person_who_asks(database: Database, settings: Settings) -> None:
    mine = submit(database, settings)
    submit(database, settings, sender_id="rest-other")
    statuses = cases_of(database.engine, sender_id="rest-lucia")
    assert [(s.reference, s.status) for s in statuses] == [(mine.reference, "new")]
    assert cases_of(database.engine, sender_id="rest-nobody") == []


def test_the_chat_counts_as_a_way_to_contact_only_where_it_can_be_written_to(
    database: Database, settings: Settings,
) -> None:
    in_chat = replace(ANSWERS, contact_channel="chat", contact_detail=None)
    assert is_warm_lead(in_chat, has_consent=True, chat_reachable=True)
    assert not is_warm_lead(in_chat, has_consent=True, chat_reachable=False)
    on_rest = submit(database, settings, answers=in_chat)
    on_whatsapp = submit(database, settings, sender_id="wa-lucia", channel="whatsapp", answers=in_chat)
    assert not on_rest.warm_lead
    assert on_whatsapp.warm_lead
    assert on_rest.created  # not warm still opens a case: the person asked for help and gets a reference


def test_a_lead_returning_later_is_not_warm_but_a_vulnerability_is(database: Database, settings: Settings) -> None:
    later = submit(database, settings, answers=replace(ANSWERS, planned_return_months=20))
    vulnerable = submit(database, settings, sender_id="rest-vul",
                        answers=replace(ANSWERS, planned_return_months=None, vulnerabilities=frozenset({"violence"})))
    assert not later.warm_lead
    assert vulnerable.warm_lead
    assert vulnerable.priority == "urgent"
