"""Consent to the privacy notice: recorded before any personal question, checked before intake.

A person has consent while at least one consent record of theirs is not withdrawn.
Withdrawing closes every open record; the intake and ticket services then refuse to store
anything new. None of these functions commits: the caller's unit of work does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from casework import audit
from casework.models import CHANNELS, ConsentRecord, Person

LANGUAGES = ("es", "pt", "en")
# The version of the privacy notice the assistant shows before the intake (its text is the
# response utter_ask_intake_consent in domain/responses/intake.yml, which prints this
# label). Change both together: a new text is a new version, and consents name theirs.
PRIVACY_NOTICE_VERSION = "2026-11"


class ConsentRequired(PermissionError):
    """Personal data was about to be stored for someone without a valid consent."""


def find_person(session: Session, *, sender_id: str) -> Person | None:
    return session.execute(select(Person).where(Person.sender_id == sender_id)).scalar_one_or_none()


def record_consent(
    session: Session, *, sender_id: str, channel: str, notice_version: str, language: str, now: datetime,
) -> ConsentRecord:
    """Record that the person accepted `notice_version` of the notice, in `language`, at `now`."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}")
    if not notice_version or len(notice_version) > 32:
        raise ValueError("notice_version must be a short version label, like 2026-11")
    person = find_person(session, sender_id=sender_id)
    if person is None:
        person = Person(sender_id=sender_id, channel=channel, language=language, created_at=now, last_inbound_at=now)
        session.add(person)
        session.flush()
    elif person.language is None:
        person.language = language
    consent = ConsentRecord(person_id=person.id, given_at=now, notice_version=notice_version, language=language)
    session.add(consent)
    session.flush()
    audit.record(session, actor="person", action="consent_given", now=now, details={
        "person_id": person.id, "notice_version": notice_version, "language": language,
    })
    return consent


def has_consent(session: Session, *, sender_id: str) -> bool:
    """True when the person has a consent record that was not withdrawn."""
    statement = (
        select(ConsentRecord.id)
        .join(Person, Person.id == ConsentRecord.person_id)
        .where(Person.sender_id == sender_id, Person.erased_at.is_(None), ConsentRecord.withdrawn_at.is_(None))
        .limit(1)
    )
    return session.execute(statement).first() is not None


def withdraw_consent(session: Session, *, sender_id: str, now: datetime) -> int:
    """Withdraw every open consent of the person; returns how many records were closed."""
    person = find_person(session, sender_id=sender_id)
    if person is None:
        return 0
    closed = session.execute(
        update(ConsentRecord)
        .where(ConsentRecord.person_id == person.id, ConsentRecord.withdrawn_at.is_(None))
        .values(withdrawn_at=now)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if closed:
        audit.record(session, actor="person", action="consent_withdrawn", now=now, details={
            "person_id": person.id, "records": closed,
        })
    return int(closed)
