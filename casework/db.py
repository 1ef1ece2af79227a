"""The database: one engine per process, one session per unit of work, and migrations.

SQLite is the embedded default for `make run`; PostgreSQL is the production profile. Both
get the same schema, from the Alembic migrations in `casework/migrations/`.

Run the migrations with `python -m casework.db upgrade` (or `make db-upgrade`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from casework.settings import load_settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
T = TypeVar("T")


def make_engine(url: str, *, pre_ping: bool = True, **options: Any) -> Engine:
    """An engine tuned for the backend `url` names. Create one per process and share it.

    `pre_ping` tests each pooled connection with a round trip before handing it out, so a
    database restart costs no request. The channels' hot path turns it off and runs its
    units of work with `run_unit_of_work`, which retries once on a fresh connection instead
    (a ping per checkout was an eighth of a Rasa replica's CPU under load).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, **options)
    if parsed.get_backend_name() == "postgresql":
        connect_args = {"connect_timeout": 10} if parsed.get_driver_name() == "psycopg2" else {}
        # Several Rasa/action/console processes share one server: keep each pool small.
        return create_engine(
            url, future=True, pool_size=5, max_overflow=5, pool_pre_ping=pre_ping,
            connect_args=connect_args, **options,
        )
    return create_engine(url, future=True, **options)


def _sqlite_engine(url: str, **options: Any) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, future=True, connect_args={"check_same_thread": False, "timeout": 30}, **options,
    )

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the pysqlite driver, decide where transactions begin; the
        # driver's own handling breaks SAVEPOINTs (which record_inbound relies on).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front. A deferred transaction that read first
        # fails at once ("database is locked") when it later writes after another writer;
        # this way concurrent writers wait for each other (busy timeout) instead.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@lru_cache(maxsize=1)
def shared_engine() -> Engine:
    """The process's engine for the configured DATABASE_URL, created on first use."""
    return make_engine(load_settings().database_url)


def new_session(engine: Engine) -> Session:
    """A session for one unit of work; objects stay readable after commit (services return them).

    A plain `Session`, not `sessionmaker(...)()`: each `sessionmaker` call defines a new
    Session subclass and registers SQLAlchemy's event dispatch for it, about 80 us against
    7 us here. In the serving profile (`make profile`) that class building was one of the
    largest single costs of the inbox's units of work, several of which run per message.
    """
    return Session(bind=engine, future=True, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commits when the block succeeds, rolls back when it raises."""
    session = new_session(engine)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


UnitOfWork = session_scope


def run_unit_of_work(engine: Engine, work: Callable[[Session], T]) -> T:
    """`work(session)` in one unit of work, tried once more when the pooled connection was dead.

    A database restart leaves dead connections in the pool; the first statement on one
    fails with a disconnect, and SQLAlchemy then discards the whole pool. Nothing of the
    unit was committed, so running it again on a fresh connection is safe. A failure at
    commit is never retried (it may have committed), nor is anything else: a database that
    is really down fails the second try at once.
    """
    for attempt in (1, 2):
        session = new_session(engine)
        try:
            try:
                result = work(session)
                session.flush()
            except DBAPIError as error:
                if attempt == 1 and error.connection_invalidated:
                    session.rollback()
                    continue
                raise
            session.commit()
            return result
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def alembic_config(connection: Connection) -> Config:
    """Alembic configured in code (no alembic.ini): env.py reads the connection from here."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(url: str, revision: str = "head") -> str | None:
    """Migrate the database at `url` to `revision`; returns the revision it is now at."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), revision)
        return current_revision(url, engine=engine)
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` back to `revision` ("base" removes every table)."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), revision)
    finally:
        engine.dispose()


def current_revision(url: str, *, engine: Engine | None = None) -> str | None:
    """The migration revision the database is at, or None when it was never migrated."""
    own = engine is None
    engine = engine or make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        if own:
            engine.dispose()


def is_migrated(engine: Engine) -> bool:
    """True when the database answers and is at the newest revision: a process that needs
    the schema is ready (readiness probes); False, never an exception, otherwise."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except Exception:  # unreachable, refused, timed out: not ready, whatever the driver says
        return False
    return current == set(ScriptDirectory.from_config(config).get_heads())


def main(argv: list[str]) -> int:
    """`python -m casework.db upgrade|current`: for `make db-upgrade` and deploy scripts."""
    url = load_settings().database_url
    shown = make_url(url).render_as_string(hide_password=True)
    if argv == ["upgrade"]:
        revision = upgrade(url)
        sys.stdout.write(f"{shown}: at revision {revision}\n")
        return 0
    if argv == ["current"]:
        sys.stdout.write(f"{shown}: at revision {current_revision(url)}\n")
        return 0
    sys.stderr.write("usage: python -m casework.db upgrade|current\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
