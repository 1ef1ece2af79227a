"""Staff console: staff accounts, login failures (throttling), anonymous funnel events.

Revision ID: 0004
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0005"
branch_labels = None
depends_on = None


def when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "staff_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("office_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("totp_secret_encrypted", sa.Text(), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(8), nullable=True),
        when("created_at", nullable=False),
        when("last_login_at"),
        when("tickets_seen_at"),
        when("locked_at"),
        when("deleted_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_accounts")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_accounts_username")),
        sa.CheckConstraint(
            "role IN ('caseworker', 'office_lead', 'coordinator')", name=op.f("ck_staff_accounts_role"),
        ),
    )
    op.create_table(
        "staff_login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        when("at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_login_failures")),
    )
    op.create_index(op.f("ix_staff_login_failures_key_at"), "staff_login_failures", ["key", "at"])
    op.create_table(
        "funnel_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("week", sa.String(8), nullable=False),
        sa.Column("office_id", sa.String(64), nullable=True),
        sa.Column("origin_country", sa.String(2), nullable=True),
        sa.Column("residence_country", sa.String(2), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funnel_events")),
        sa.CheckConstraint(
            "step IN ('conversation', 'question_answered', 'eligibility_checked', 'intake_started')",
            name=op.f("ck_funnel_events_step"),
        ),
    )
    op.create_index(op.f("ix_funnel_events_week_office_id"), "funnel_events", ["week", "office_id"])


def downgrade() -> None:
    for table in ("funnel_events", "staff_login_failures", "staff_accounts"):
        op.drop_table(table)
