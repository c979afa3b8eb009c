"""Slots for first meetings; outbox messages that wait for their time (reminders).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.String(length=32), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("place", sa.String(length=16), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=True),
        sa.Column("booked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("bookings", sa.Integer(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_slots_staff_id_staff"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["referral_id"], ["referrals.id"], name=op.f("fk_slots_referral_id_referrals"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slots")),
    )
    op.create_index(op.f("ix_slots_staff_id"), "slots", ["staff_id"], unique=False)
    op.create_index(op.f("ix_slots_programme_id"), "slots", ["programme_id"], unique=False)
    op.create_index(op.f("ix_slots_starts_at"), "slots", ["starts_at"], unique=False)
    op.create_index(op.f("ix_slots_referral_id"), "slots", ["referral_id"], unique=False)
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("topic", sa.String(length=64), nullable=False, server_default=""))
        batch.create_index(batch.f("ix_outbox_due_at"), ["due_at"], unique=False)
        batch.create_index(batch.f("ix_outbox_topic"), ["topic"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index(batch.f("ix_outbox_topic"))
        batch.drop_index(batch.f("ix_outbox_due_at"))
        batch.drop_column("topic")
        batch.drop_column("due_at")
    for name in ("referral_id", "starts_at", "programme_id", "staff_id"):
        op.drop_index(op.f(f"ix_slots_{name}"), table_name="slots")
    op.drop_table("slots")
