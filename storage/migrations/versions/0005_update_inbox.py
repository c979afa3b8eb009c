"""The update inbox: polled updates are stored before they are confirmed; replaces processed_updates.

The rows of processed_updates come over as handled updates. Downgrading refuses while updates are
still waiting in the inbox (they were confirmed to Telegram already, so dropping them would lose
them): let the bot finish them first.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "update_inbox",
        sa.Column("bot_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("bot_id", "update_id", name=op.f("pk_update_inbox")),
    )
    op.execute(
        "INSERT INTO update_inbox (bot_id, update_id, received_at, processed_at) "
        "SELECT bot_id, update_id, processed_at, processed_at FROM processed_updates"
    )
    op.drop_table("processed_updates")


def downgrade() -> None:
    waiting = op.get_bind().execute(sa.text("SELECT count(*) FROM update_inbox WHERE processed_at IS NULL"))
    if waiting.scalar_one():
        raise RuntimeError("updates are still waiting in the inbox: run the bot until it is idle, then downgrade")
    op.create_table(
        "processed_updates",
        sa.Column("bot_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bot_id", "update_id", name=op.f("pk_processed_updates")),
    )
    op.execute(
        "INSERT INTO processed_updates (bot_id, update_id, processed_at) "
        "SELECT bot_id, update_id, processed_at FROM update_inbox"
    )
    op.drop_table("update_inbox")
