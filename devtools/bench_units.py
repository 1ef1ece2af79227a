"""CPU of the inbox's units of work, against the ways they were written before, in one process.

The serving bench (devtools/bench.py) moves by more than a tenth from run to run on this
machine, so a change worth a few percent of a message cannot be told from noise there. Here
the same process alternates both versions over the same database (6 rounds of `--messages`
each, order swapped every round) and reports the median CPU time (`time.process_time`), so
the machine's drift cancels out. Two comparisons:

- a session per unit of work: `sessionmaker(...)()` (before) against a plain `Session`
  (`casework.db.new_session`), over the four units of one message (store, claim, keep
  replies, done);
- the offered buttons: loading the person and flushing it (before) against the one UPDATE
  of `casework.handles.offer_buttons`.

`python -m devtools.bench_units [--messages 300]`; needs PostgreSQL at `--server`
(default 127.0.0.1:5432, trust auth), where it creates and then drops a throwaway database.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.orm import Session, sessionmaker

import casework.db as db
from casework.handles import _person, offer_buttons
from casework.inbox import claim_next, keep_replies, mark_done, store_inbound
from casework.models import Person
from casework.privacy import FieldCipher

BUTTONS = [{"title": "Sí", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
PEOPLE = 40


def _offer_by_loading(session: Session, *, sender_id: str, buttons: list[dict[str, str]], now: datetime) -> None:
    """`offer_buttons` as it was before the single UPDATE."""
    person = _person(session, sender_id)
    if person is None:
        return
    person.offered_buttons = [dict(button) for button in buttons]
    person.offered_at = now
    session.flush()


def _median_ms(variants: dict[str, Callable[[int], None]], repeats: int) -> dict[str, float]:
    """Median CPU ms per call of each variant, over 6 alternating rounds (the first is warm-up)."""
    rounds: dict[str, list[float]] = {name: [] for name in variants}
    for index in range(7):
        order = list(variants) if index % 2 == 0 else list(variants)[::-1]
        for name in order:
            started = time.process_time()
            for i in range(repeats):
                variants[name](i)
            if index:
                rounds[name].append((time.process_time() - started) / repeats * 1000)
    return {name: statistics.median(values) for name, values in rounds.items()}


def run(url: str, repeats: int) -> dict[str, dict[str, float]]:
    db.upgrade(url)
    engine = db.make_engine(url)
    cipher = FieldCipher([Fernet.generate_key()])
    now = datetime.now(timezone.utc)
    db.run_unit_of_work(engine, lambda s: s.add_all(
        [Person(sender_id=f"p{i}", channel="whatsapp", created_at=now) for i in range(PEOPLE)]))
    plain = db.new_session

    def one_message(i: int) -> None:
        at = datetime.now(timezone.utc)
        db.run_unit_of_work(engine, lambda s: store_inbound(
            s, provider="whatsapp", provider_message_id=uuid.uuid4().hex, sender_id=f"p{i % PEOPLE}",
            payload={"Body": "hola"}, cipher=cipher, now=at))
        claimed = db.run_unit_of_work(engine, lambda s: _id(claim_next(s, worker="w", now=at, lease_s=300)))
        db.run_unit_of_work(engine, lambda s: keep_replies(
            s, message_id=claimed, worker="w", replies=[{"text": "hola"}], cipher=cipher))
        db.run_unit_of_work(engine, lambda s: mark_done(s, message_id=claimed, worker="w", now=at))

    def with_sessions(factory: Callable[[Any], Session]) -> Callable[[int], None]:
        def message(i: int) -> None:
            db.new_session = factory  # type: ignore[assignment]
            try:
                one_message(i)
            finally:
                db.new_session = plain  # type: ignore[assignment]
        return message

    def offering(how: Callable[..., None]) -> Callable[[int], None]:
        return lambda i: db.run_unit_of_work(engine, lambda s: how(
            s, sender_id=f"p{i % PEOPLE}", buttons=BUTTONS, now=datetime.now(timezone.utc)))

    try:
        return {
            "four inbox units of work of one message": _median_ms({
                "sessionmaker(...)() per unit (before)": with_sessions(
                    lambda e: sessionmaker(bind=e, future=True, expire_on_commit=False)()),
                "plain Session per unit (now)": with_sessions(plain),
            }, repeats),
            "one offer of buttons (a unit of work)": _median_ms({
                "load the person and flush (before)": offering(_offer_by_loading),
                "one UPDATE (now)": offering(offer_buttons),
            }, repeats),
        }
    finally:
        engine.dispose()


def _id(row: Any) -> int:
    if row is None:
        raise RuntimeError("nothing to claim: the inbox was not empty when the run started?")
    return int(row.id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=300, help="calls per round and version")
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args(argv)
    name = f"bench_units_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.server, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        results = run(sa.engine.make_url(args.server).set(database=name).render_as_string(hide_password=False),
                      args.messages)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()
    for what, medians in results.items():
        print(f"{what}: " + "; ".join(f"{variant} {ms:.3f} ms" for variant, ms in medians.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
