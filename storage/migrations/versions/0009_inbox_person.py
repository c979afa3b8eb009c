"""The update inbox knows whose each update is (`sender_key`, a keyed hash of the sender, cleared once
handled): one person's waiting updates are taken on their own.

A person who sends many messages at once has those beyond their share left waiting in the inbox
(`bot.channels.telegram.polling`); the poller takes them by person later, and answers a long backlog as one.
Rows waiting from before get theirs at the next start (`UpdateRepository.stamp_senders`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("update_inbox") as batch:
        batch.add_column(sa.Column("sender_key", sa.BigInteger(), nullable=True))
        batch.create_index("ix_update_inbox_sender", ["bot_id", "sender_key", "processed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("update_inbox") as batch:
        batch.drop_index("ix_update_inbox_sender")
        batch.drop_column("sender_key")
