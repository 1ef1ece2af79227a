"""The hand-written migrations build exactly the schema the models declare."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, MetaData, String, inspect

from casework.db import downgrade, make_engine, upgrade
from casework.models import Base

TABLES = {
    "persons", "consent_records", "intakes", "tickets", "ticket_notes",
    "audit_events", "outbox_messages", "inbox_messages", "erasure_requests",
    "staff_accounts", "staff_login_failures", "funnel_events",
}


def differences(url: str, metadata: MetaData) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_the_migrated_schema_matches_the_models(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    assert differences(empty_database_url, Base.metadata) == []


def test_the_comparison_would_notice_a_drift(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    drifted = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["tickets"].append_column(Column("nickname", String(32)))
    assert [diff[0] for diff in differences(empty_database_url, drifted)] == ["add_column"]


def test_downgrade_removes_everything_and_upgrade_rebuilds_it(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    assert tables(empty_database_url) == TABLES
    downgrade(empty_database_url, "base")
    assert tables(empty_database_url) == set()
    upgrade(empty_database_url)
    assert differences(empty_database_url, Base.metadata) == []
