"""The initial schema: persons, consent, intakes, tickets, notes, audit, outbox, inbox.

Written by hand to match `casework.models`; a test compares the two on SQLite and
PostgreSQL. Timestamps are `timestamptz` on PostgreSQL and UTC text on SQLite.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "persons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("handle_encrypted", sa.Text(), nullable=True),
        sa.Column("language", sa.String(8), nullable=True),
        when("created_at", nullable=False),
        when("last_inbound_at"),
        when("erased_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
        sa.CheckConstraint("channel IN ('rest', 'whatsapp', 'telegram')", name=op.f("ck_persons_channel")),
    )
    op.create_index(op.f("ix_persons_sender_id"), "persons", ["sender_id"], unique=True)

    op.create_table(
        "consent_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        when("given_at", nullable=False),
        sa.Column("notice_version", sa.String(32), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        when("withdrawn_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_consent_records_person_id_persons"), ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_consent_records_person_id"), "consent_records", ["person_id"])

    op.create_table(
        "intakes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("fields_encrypted", sa.Text(), nullable=True),
        sa.Column("origin_country", sa.String(2), nullable=True),
        sa.Column("residence_country", sa.String(2), nullable=True),
        sa.Column("region", sa.String(64), nullable=True),
        sa.Column("needs", sa.JSON(), nullable=False),
        sa.Column("eligibility", sa.JSON(), nullable=True),
        sa.Column("vulnerability_flag", sa.Boolean(), nullable=False),
        when("created_at", nullable=False),
        when("completed_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intakes")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_intakes_person_id_persons"), ondelete="SET NULL",
        ),
    )
    op.create_index(op.f("ix_intakes_person_id"), "intakes", ["person_id"])

    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("intake_id", sa.Integer(), nullable=True),
        sa.Column("office_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("origin_country", sa.String(2), nullable=True),
        sa.Column("residence_country", sa.String(2), nullable=True),
        sa.Column("needs", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(8), nullable=True),
        when("created_at", nullable=False),
        when("updated_at", nullable=False),
        when("closed_at"),
        sa.Column("close_reason", sa.String(64), nullable=True),
        when("anonymised_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("reference", name=op.f("uq_tickets_reference")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_tickets_idempotency_key")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_tickets_person_id_persons"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["intake_id"], ["intakes.id"], name=op.f("fk_tickets_intake_id_intakes"), ondelete="SET NULL",
        ),
        sa.CheckConstraint(
            "status IN ('new', 'contacted', 'in_progress', 'referred', 'closed')", name=op.f("ck_tickets_status"),
        ),
        sa.CheckConstraint("priority IN ('normal', 'high', 'urgent')", name=op.f("ck_tickets_priority")),
    )
    op.create_index(op.f("ix_tickets_person_id"), "tickets", ["person_id"])
    op.create_index(op.f("ix_tickets_office_id_status"), "tickets", ["office_id", "status"])
    op.create_index(op.f("ix_tickets_status_closed_at"), "tickets", ["status", "closed_at"])

    op.create_table(
        "ticket_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("body_encrypted", sa.Text(), nullable=True),
        when("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_notes")),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_notes_ticket_id_tickets"), ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_ticket_notes_ticket_id"), "ticket_notes", ["ticket_id"])

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        when("at", nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_ticket_id"), "audit_events", ["ticket_id"])

    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("office_id", sa.String(64), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        when("next_attempt_at"),
        sa.Column("last_error", sa.String(500), nullable=True),
        when("created_at", nullable=False),
        when("delivered_at"),
        sa.Column("dedupe_key", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_messages_dedupe_key")),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_outbox_messages_ticket_id_tickets"), ondelete="SET NULL",
        ),
        sa.CheckConstraint(
            "target_kind IN ('email', 'telegram', 'webhook')", name=op.f("ck_outbox_messages_target_kind"),
        ),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'dead')", name=op.f("ck_outbox_messages_status")),
    )
    op.create_index(op.f("ix_outbox_messages_ticket_id"), "outbox_messages", ["ticket_id"])
    op.create_index(
        op.f("ix_outbox_messages_status_next_attempt_at"), "outbox_messages", ["status", "next_attempt_at"],
    )

    op.create_table(
        "inbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("provider_message_id", sa.String(128), nullable=False),
        sa.Column("sender_id", sa.String(64), nullable=False),
        sa.Column("payload_encrypted", sa.Text(), nullable=False),
        when("received_at", nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        when("claimed_until"),
        when("processed_at"),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_messages")),
        sa.UniqueConstraint(
            "provider", "provider_message_id", name=op.f("uq_inbox_messages_provider_provider_message_id"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'done', 'failed')", name=op.f("ck_inbox_messages_status"),
        ),
    )
    op.create_index(op.f("ix_inbox_messages_sender_id"), "inbox_messages", ["sender_id"])
    op.create_index(op.f("ix_inbox_messages_status_received_at"), "inbox_messages", ["status", "received_at"])


def downgrade() -> None:
    for table in (
        "inbox_messages", "outbox_messages", "audit_events", "ticket_notes",
        "tickets", "intakes", "consent_records", "persons",
    ):
        op.drop_table(table)
