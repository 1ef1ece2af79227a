"""The audit trail is append-only and carries codes, ids and counts, never free text."""

from __future__ import annotations

from typing import Any

import pytest

from casework import audit
from tests.casework.conftest import Database
from tests.casework.factories import NOW, later


def test_events_are_appended_and_read_in_order(database: Database) -> None:
    with database.session() as session:
        audit.record(session, actor="staff-pe-1", action="status_changed", now=later(2), ticket_id=7,
                     details={"from": "new", "to": "contacted"})
        audit.record(session, actor="bot", action="ticket_created", now=NOW, ticket_id=7, details={"office": "oss-pe"})
        audit.record(session, actor="bot", action="ticket_created", now=later(1), ticket_id=8)
    with database.session() as session:
        assert [event.action for event in audit.events_for_ticket(session, ticket_id=7)] == ["ticket_created", "status_changed"]
        assert [event.ticket_id for event in audit.recent_events(session, limit=2)] == [7, 8]


def test_the_repository_offers_no_way_to_change_the_past() -> None:
    public = {name for name in vars(audit) if not name.startswith("_") and callable(getattr(audit, name))}
    assert not {name for name in public if any(word in name for word in ("update", "delete", "remove", "edit"))}


@pytest.mark.parametrize(
    "details",
    [
        {"message": "Hola, me llamo María y vivo en la calle Mayor 12 de Alcobendas"},
        {"fields": {"name": "María"}},
        {"phones": ["+34600111222"]},
    ],
)
def test_free_text_and_nested_data_are_refused(database: Database, details: Any) -> None:
    with pytest.raises((TypeError, ValueError)), database.session() as session:
        audit.record(session, actor="bot", action="note", now=NOW, details=details)
    assert database.rows("SELECT id FROM audit_events") == []
