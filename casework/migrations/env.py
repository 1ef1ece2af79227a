"""Alembic's entry point, configured in code by `casework.db` (there is no alembic.ini).

`casework.db.upgrade()` passes an open connection in `config.attributes["connection"]`, so
the migration runs with the same engine settings (SQLite pragmas) as the application.
A bare `url` attribute works too, and offline mode (`--sql`) renders the SQL instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from casework.models import Base

config = context.config
target_metadata = Base.metadata


def run_offline(url: str) -> None:
    context.configure(
        url=url, target_metadata=target_metadata, literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.attributes["url"], future=True)
        with engine.begin() as connection:
            run_with(connection)
        engine.dispose()
    else:
        run_with(connection)


def run_with(connection: Connection) -> None:
    # SQLite cannot ALTER most things in place: batch mode rebuilds the table instead.
    context.configure(
        connection=connection, target_metadata=target_metadata, compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline(str(config.attributes.get("url") or config.get_main_option("sqlalchemy.url")))
else:
    run_online()
