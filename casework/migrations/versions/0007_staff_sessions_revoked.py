"""Staff accounts: the moment their console sessions were last revoked.

The console's session is a signed cookie; signing out used to forget it only in the
browser that signed out, so a copy of the cookie kept working until it expired. A session
issued before `sessions_revoked_at` is refused (sign-out, a new password).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("staff_accounts", sa.Column("sessions_revoked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_accounts") as batch:  # SQLite cannot drop a column in place
        batch.drop_column("sessions_revoked_at")
