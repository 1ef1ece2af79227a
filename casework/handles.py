"""The raw handle (phone number, chat id) a channel replies to, stored once and encrypted.

Channels pseudonymise the handle into a `sender_id` before anything reaches Rasa; this is
the one place the raw handle is kept, as a Fernet token on the person, together with the
time of the person's last inbound message (WhatsApp's 24-hour window). None of these
functions commits: the caller's unit of work does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from casework import audit
from casework.models import Person, UtcDateTime
from casework.privacy import FieldCipher


@dataclass(frozen=True)
class Handle:
    """Where to reply to a person, decrypted for the moment of sending."""

    handle: str
    last_inbound_at: datetime | None
    language: str | None


def remember_handle(
    session: Session, *, sender_id: str, channel: str, handle: str, cipher: FieldCipher, now: datetime,
) -> None:
    """Create or update the person behind `sender_id`: encrypted handle, last inbound time.

    `sender_id` is a keyed hash of `handle` (`pseudonymous_sender_id`), so a person who
    already has a stored handle has this one: then only the time of their last message
    moves, in one UPDATE (every inbound message comes through here).
    """
    later = or_(Person.last_inbound_at.is_(None), Person.last_inbound_at < now)
    touched = session.execute(
        update(Person)
        .where(Person.sender_id == sender_id, Person.handle_encrypted.is_not(None))
        .values(last_inbound_at=case((later, literal(now, UtcDateTime())), else_=Person.last_inbound_at))
        .execution_options(synchronize_session=False)
    ).rowcount
    if touched:
        return
    person = _person(session, sender_id)
    if person is None:
        person = Person(sender_id=sender_id, channel=channel, created_at=now)
        try:
            with session.begin_nested():  # two first messages at once: the second one updates
                person.handle_encrypted = cipher.encrypt_text(handle)
                person.last_inbound_at = now
                session.add(person)
            return
        except IntegrityError:
            person = _person(session, sender_id)
            if person is None:
                raise
    person.handle_encrypted = cipher.encrypt_text(handle)
    if person.last_inbound_at is None or person.last_inbound_at < now:
        person.last_inbound_at = now
    session.flush()


@dataclass(frozen=True)
class SenderState:
    """What a channel needs of the person for one turn, read in one go with the claim of
    their message: where to reply (None: unknown or erased) and the buttons last offered."""

    handle: Handle | None
    offered: list[dict[str, str]]
    offered_at: datetime | None

    def offered_since(self, since: datetime) -> list[dict[str, str]]:
        """The buttons last offered, if offered at or after `since` (as `offered_buttons`)."""
        if self.offered_at is None or self.offered_at < since:
            return []
        return [dict(button) for button in self.offered]


def handle_for(session: Session, *, sender_id: str, cipher: FieldCipher) -> Handle | None:
    """The decrypted handle of `sender_id`; None when unknown or erased."""
    return _handle(_person(session, sender_id), cipher)


def sender_state(session: Session, *, sender_id: str, cipher: FieldCipher) -> SenderState:
    """The handle and the offered buttons of `sender_id`, from one read of the person."""
    person = _person(session, sender_id)
    if person is None:
        return SenderState(handle=None, offered=[], offered_at=None)
    return SenderState(
        handle=_handle(person, cipher), offered=[dict(button) for button in person.offered_buttons or []],
        offered_at=person.offered_at,
    )


def _handle(person: Person | None, cipher: FieldCipher) -> Handle | None:
    if person is None or person.handle_encrypted is None or person.erased_at is not None:
        return None
    return Handle(
        handle=cipher.decrypt_text(person.handle_encrypted),
        last_inbound_at=person.last_inbound_at, language=person.language,
    )


def record_refused_send(session: Session, *, sender_id: str, channel: str, reason: str, now: datetime) -> None:
    """A reply the channel did not attempt (e.g. outside WhatsApp's 24-hour window), and why."""
    audit.record(session, actor=channel, action="send_refused", now=now,
                 details={"sender_id": sender_id, "reason": reason})


def offer_buttons(session: Session, *, sender_id: str, buttons: list[dict[str, str]], now: datetime) -> None:
    """Remember the buttons just offered to `sender_id` (replacing the earlier ones).

    One UPDATE (nothing for an unknown person): this runs for most replies, and loading the
    person and flushing it cost a round trip more and several times the CPU (`make profile`).
    """
    session.execute(
        update(Person)
        .where(Person.sender_id == sender_id)
        .values(offered_buttons=[dict(button) for button in buttons], offered_at=now)
        .execution_options(synchronize_session=False)
    )


def offered_buttons(session: Session, *, sender_id: str, since: datetime) -> list[dict[str, str]]:
    """The buttons last offered to `sender_id`, if offered at or after `since`."""
    person = _person(session, sender_id)
    if person is None or person.offered_at is None or person.offered_at < since:
        return []
    return [dict(button) for button in person.offered_buttons or []]


def record_delivery_status(
    session: Session, *, channel: str, message_id: str, status: str, error_code: str | None, now: datetime,
) -> None:
    """What the provider reported about a message we sent (queued, sent, delivered, read, failed)."""
    audit.record(session, actor=channel, action="delivery_status", now=now,
                 details={"message_id": message_id, "status": status, "error_code": error_code or None})


def _person(session: Session, sender_id: str) -> Person | None:
    return session.execute(select(Person).where(Person.sender_id == sender_id)).scalar_one_or_none()
