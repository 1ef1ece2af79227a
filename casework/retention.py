"""Retention periods and the privacy worker.

`python -m casework.retention --once` (or `make purge`) applies the retention periods now:
closed cases older than RETENTION_CLOSED_CASE_DAYS become anonymous shells, conversations
silent for RETENTION_CONVERSATION_DAYS leave the tracker store (with the people who have no
case), and processed channel payloads older than RETENTION_INBOX_DAYS are deleted. It also
finishes any pending erasure.

`python -m casework.retention --loop` is the privacy worker that `make run` starts: it
finishes erasure requests a few seconds after the turn that asked (see
`casework.privacy.complete_erasures`) and applies retention once a day. Requests are rows
in the cases database, so a restart loses none.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy.engine import Engine

from casework.conversations import purge_conversations
from casework.db import session_scope
from casework.privacy import PurgeSummary, complete_erasures, purge_expired
from casework.settings import Settings

log = logging.getLogger(__name__)

RETENTION_EVERY = timedelta(days=1)


@dataclass(frozen=True)
class RetentionReport:
    """What one retention run removed: counts only."""

    cases: PurgeSummary
    conversation_events_deleted: int


def run_retention(engine: Engine, *, tracker: Engine | None, settings: Settings, now: datetime) -> RetentionReport:
    """Apply every retention period once, as of `now`."""
    with session_scope(engine) as session:
        cases = purge_expired(session, settings=settings, now=now)
    events = 0
    if tracker is not None:
        before = now - timedelta(days=settings.retention_conversation_days)
        events = purge_conversations(tracker, before=before.timestamp())
    return RetentionReport(cases=cases, conversation_events_deleted=events)


def main(argv: list[str]) -> int:
    """`python -m casework.retention --once|--loop [--interval S]`."""
    from casework.conversations import shared_tracker_engine
    from casework.db import shared_engine
    from casework.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m casework.retention", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--once", action="store_true", help="apply the retention periods and pending erasures, then exit")
    mode.add_argument("--loop", action="store_true", help="the privacy worker: erasures continuously, retention daily")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between erasure passes (--loop)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    settings = load_settings()
    engine = shared_engine()
    tracker = shared_tracker_engine(settings.tracker_store_url) if settings.tracker_store_url else None
    if tracker is None:
        log.warning("no tracker store configured (TRACKER_STORE_URL or TRACKER_DB): conversations are "
                    "neither erased nor purged; erasure requests stay pending")
    next_retention = datetime.now(timezone.utc)
    while True:
        now = datetime.now(timezone.utc)
        progress = complete_erasures(engine, tracker=tracker, now=now)
        if progress.completed or progress.failed:
            log.info("erasures: %s", asdict(progress))
        if args.once or now >= next_retention:
            report = run_retention(engine, tracker=tracker, settings=settings, now=now)
            log.info("retention: %s, conversation events deleted: %s", asdict(report.cases),
                     report.conversation_events_deleted)
            next_retention = now + RETENTION_EVERY
        if args.once:
            return 1 if progress.failed else 0
        try:
            time.sleep(args.interval)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
