"""Channels: the buttons last offered to a person, and the rendered replies of an inbox
message with how many went out; both shared by every server process.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("persons", sa.Column("offered_buttons", sa.JSON(), nullable=True))
    op.add_column("persons", sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("inbox_messages", sa.Column("replies_encrypted", sa.Text(), nullable=True))
    op.add_column("inbox_messages", sa.Column("replies_sent", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbox_messages") as batch:
        batch.drop_column("replies_sent")
        batch.drop_column("replies_encrypted")
    with op.batch_alter_table("persons") as batch:
        batch.drop_column("offered_at")
        batch.drop_column("offered_buttons")
