"""A follow-up's risk alert is seen by a person: when it was sent, seen (by whom) and sent again
(followups.alert_*), and each staff member's copy of it (alert_copies) so that it can say who took it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("alerted_at", "alert_seen_at", "alert_resent_at")


def upgrade() -> None:
    with op.batch_alter_table("followups") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("alert_seen_by", sa.Integer(), nullable=True))
    op.create_table(
        "alert_copies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("followup_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.LargeBinary(), nullable=True),
        sa.Column("message_ref", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["followup_id"], ["followups.id"],
                                name=op.f("fk_alert_copies_followup_id_followups"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"],
                                name=op.f("fk_alert_copies_staff_id_staff"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_copies")),
    )
    op.create_index(op.f("ix_alert_copies_followup_id"), "alert_copies", ["followup_id"], unique=False)
    op.create_index(op.f("ix_alert_copies_staff_id"), "alert_copies", ["staff_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_copies_staff_id"), table_name="alert_copies")
    op.drop_index(op.f("ix_alert_copies_followup_id"), table_name="alert_copies")
    op.drop_table("alert_copies")
    with op.batch_alter_table("followups") as batch:
        batch.drop_column("alert_seen_by")
        for name in reversed(COLUMNS):
            batch.drop_column(name)
