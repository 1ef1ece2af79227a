"""Inbox: partial indexes over the unfinished messages, which every claim reads.

Finished messages stay for days (retention); without these, each claim walked the index
entries of all of them, and the check for an earlier unfinished message of the same
sender read that sender's whole history.

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

UNFINISHED = sa.text("status IN ('pending', 'processing')")


def upgrade() -> None:
    op.create_index("ix_inbox_messages_unfinished", "inbox_messages", ["received_at", "id"],
                    postgresql_where=UNFINISHED, sqlite_where=UNFINISHED)
    op.create_index("ix_inbox_messages_unfinished_sender", "inbox_messages", ["sender_id", "received_at"],
                    postgresql_where=UNFINISHED, sqlite_where=UNFINISHED)


def downgrade() -> None:
    op.drop_index("ix_inbox_messages_unfinished_sender", table_name="inbox_messages")
    op.drop_index("ix_inbox_messages_unfinished", table_name="inbox_messages")
