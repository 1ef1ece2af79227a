"""The strict PostgreSQL tracker store: no in-memory fallback, bounded pool, safe saves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from rasa.core.agent import Agent
from rasa.core.tracker_store import FailSafeTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from rasa.utils.endpoints import EndpointConfig

from bot.stores.tracker import StaleTrackerError, StrictSQLTrackerStore, TrackerStoreUnavailable
from devtools.services import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = Domain.from_yaml("version: '3.1'\nintents: [greet]\nresponses:\n  utter_hi:\n  - text: hi\n")


def store_for(url: str, **kwargs: object) -> TrackerStore:
    """Created the way `rasa run` creates it: from an endpoint config, by module path."""
    config = EndpointConfig.from_dict({"type": "bot.stores.tracker.StrictSQLTrackerStore", "url": url, **kwargs})
    return TrackerStore.create(config, domain=DOMAIN)


def turn(text: str) -> list:
    return [UserUttered(text, {"name": "greet", "confidence": 1.0}), ActionExecuted("utter_hi"),
            BotUttered("hi"), ActionExecuted("action_listen")]


def stored_rows(url: str, sender: str) -> list[tuple[str, str | None]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(
                sa.text("SELECT type_name, action_name FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender})]
    finally:
        engine.dispose()


async def test_created_from_endpoints_is_the_strict_store_and_the_agent_keeps_it(tracker_db: str) -> None:
    store = store_for(tracker_db)
    assert isinstance(store, StrictSQLTrackerStore)
    agent = Agent(domain=DOMAIN, tracker_store=store)
    assert agent.tracker_store is store
    assert not isinstance(agent.tracker_store, FailSafeTrackerStore)
    # Other stores keep Rasa's wrapper.
    assert isinstance(Agent(domain=DOMAIN).tracker_store, FailSafeTrackerStore)


async def test_the_pool_is_bounded_well_below_postgres_limit(tracker_db: str) -> None:
    store = store_for(tracker_db, pool_size=3, max_overflow=2)
    assert store.engine.pool.size() == 3
    assert store.engine.pool._max_overflow == 2  # noqa: SLF001 - what SQLAlchemy will open at most
    default = store_for(tracker_db)
    assert default.engine.pool.size() + default.engine.pool._max_overflow <= 10


async def test_round_trip_keeps_every_event_once(tracker_db: str) -> None:
    store = store_for(tracker_db)
    tracker = await store.get_or_create_tracker("ana")
    tracker.update_with_events([SessionStarted(), ActionExecuted("action_listen"), *turn("hola")], DOMAIN)
    await store.save(tracker)
    again = await store.retrieve("ana")
    again.update_with_events(turn("otra vez"), DOMAIN)
    await store.save(again)
    await store.save(again)  # saving the same tracker twice adds nothing
    rows = stored_rows(tracker_db, "ana")
    assert [r[0] for r in rows].count("user") == 2
    assert len(rows) == 3 + 2 * 4  # action_listen added on creation, session_started, action_listen, 2 turns
    assert len((await store.retrieve_full_tracker("ana")).events) == len(rows)


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
async def test_a_turn_s_events_are_stored_in_their_order(database: str, request: pytest.FixtureRequest,
                                                         tmp_path: Path) -> None:
    """A turn is appended in one statement on PostgreSQL: order, and the next turn's check, still hold."""
    url = request.getfixturevalue("tracker_db") if database == "postgresql" else f"sqlite:///{tmp_path / 't.db'}"
    store = store_for(url)
    tracker = await store.get_or_create_tracker("eva")
    tracker.update_with_events([SessionStarted(), ActionExecuted("action_listen"), *turn("hola"), *turn("dos")], DOMAIN)
    await store.save(tracker)
    again = await store.retrieve("eva")
    again.update_with_events(turn("tres"), DOMAIN)
    await store.save(again)  # the stored last id is what this tracker read: accepted
    expected = [(e.type_name, getattr(e, "action_name", None)) for e in [*tracker.events, *turn("tres")]]
    assert stored_rows(url, "eva") == expected
    assert [e.text for e in (await store.retrieve("eva")).events if isinstance(e, UserUttered)] == ["hola", "dos", "tres"]


async def test_a_concurrent_turn_is_refused_not_interleaved(tracker_db: str) -> None:
    store = store_for(tracker_db)
    first = await store.get_or_create_tracker("bea")
    first.update_with_events([ActionExecuted("action_listen"), *turn("hola")], DOMAIN)
    await store.save(first)
    one, two = await store.retrieve("bea"), await store.retrieve("bea")
    one.update_with_events(turn("uno"), DOMAIN)
    two.update_with_events(turn("dos"), DOMAIN)
    await store.save(one)
    with pytest.raises(StaleTrackerError):
        await store.save(two)
    texts = [e.text for e in (await store.retrieve("bea")).events if isinstance(e, UserUttered)]
    assert texts == ["hola", "uno"]


async def test_database_down_fails_the_turn_and_recovers(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = PostgresServer()
    server.start()
    try:
        url = server.create_database("trackers")
        store = store_for(url)
        tracker = await store.get_or_create_tracker("carla")
        tracker.update_with_events([ActionExecuted("action_listen"), *turn("hola")], DOMAIN)
        await store.save(tracker)
        server.stop("immediate")
        with pytest.raises(TrackerStoreUnavailable):
            await store.retrieve("carla")  # Rasa's store would answer None: a blank restart
        tracker.update_with_events(turn("sigo aquí"), DOMAIN)
        with pytest.raises(TrackerStoreUnavailable):
            await store.save(tracker)  # Rasa's store would save to memory and forget it
        server.start()
        recovered = await store.retrieve("carla")
        assert [e.text for e in recovered.events if isinstance(e, UserUttered)] == ["hola"]
        recovered.update_with_events(turn("sigo aquí"), DOMAIN)
        await store.save(recovered)
        assert [r[0] for r in stored_rows(url, "carla")].count("user") == 2
    finally:
        server.remove()


def drop_connections_as_a_restart_does(url: str) -> None:
    """The server closes every connection to the database at `url` (pooled ones go stale)."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            dropped = connection.execute(sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
        assert dropped >= 1
    finally:
        engine.dispose()


async def test_a_database_restart_between_turns_costs_no_turn(tracker_db: str) -> None:
    """Connections are not pinged before use; a dead pooled one is replaced and the read or
    save runs once more, so the person does not get "we are having trouble" for nothing."""
    store = store_for(tracker_db)
    assert store.engine.pool._pre_ping is False  # noqa: SLF001 - the round trip saved per checkout
    tracker = await store.get_or_create_tracker("dora")
    tracker.update_with_events([ActionExecuted("action_listen"), *turn("hola")], DOMAIN)
    await store.save(tracker)
    drop_connections_as_a_restart_does(tracker_db)
    again = await store.retrieve("dora")
    again.update_with_events(turn("sigo"), DOMAIN)
    drop_connections_as_a_restart_does(tracker_db)
    await store.save(again)
    assert [r[0] for r in stored_rows(tracker_db, "dora")].count("user") == 2


def test_refuses_to_start_without_its_database(postgres_server: PostgresServer) -> None:
    server = PostgresServer()  # initialised port, never started: nothing listens there
    try:
        with pytest.raises(TrackerStoreUnavailable):
            store_for(server.url("trackers"), startup_timeout=2, connect_timeout=1)
    finally:
        server.remove()


def test_refuses_a_missing_url() -> None:
    with pytest.raises(TrackerStoreUnavailable):
        StrictSQLTrackerStore(domain=DOMAIN, host=None)


def test_rasa_run_refuses_to_start_without_its_database(tmp_path: Path) -> None:
    """The whole server, not just the class: no in-memory fallback, the process exits."""
    from devtools.stack import free_port
    from devtools.train import ensure_model

    dead = PostgresServer()  # never started: nothing listens on its port
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        "tracker_store:\n  type: bot.stores.tracker.StrictSQLTrackerStore\n"
        f"  url: {dead.url('trackers')}\n  startup_timeout: 2\n  connect_timeout: 1\n"
    )
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false"}
    try:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "rasa"), "run", "--model", str(ensure_model(quiet=True)),
             "--port", str(port), "--interface", "127.0.0.1", "--endpoints", str(endpoints)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )
    finally:
        dead.remove()
    assert result.returncode != 0
    assert "tracker database unreachable" in result.stdout + result.stderr
