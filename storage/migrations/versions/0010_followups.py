"""Follow-ups after a claimed referral (followups); a person's /stop of them (candidates.followups_stopped_at).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "followups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=24), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidates.id"],
                                name=op.f("fk_followups_candidate_id_candidates"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["referral_id"], ["referrals.id"],
                                name=op.f("fk_followups_referral_id_referrals"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followups")),
        sa.UniqueConstraint("referral_id", "key", name="uq_followups_referral_id_key"),
    )
    op.create_index(op.f("ix_followups_candidate_id"), "followups", ["candidate_id"], unique=False)
    op.create_index(op.f("ix_followups_referral_id"), "followups", ["referral_id"], unique=False)
    op.create_index(op.f("ix_followups_programme_id"), "followups", ["programme_id"], unique=False)
    op.create_index(op.f("ix_followups_status"), "followups", ["status"], unique=False)
    with op.batch_alter_table("candidates") as batch:
        batch.add_column(sa.Column("followups_stopped_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("candidates") as batch:
        batch.drop_column("followups_stopped_at")
    op.drop_index(op.f("ix_followups_status"), table_name="followups")
    op.drop_index(op.f("ix_followups_programme_id"), table_name="followups")
    op.drop_index(op.f("ix_followups_referral_id"), table_name="followups")
    op.drop_index(op.f("ix_followups_candidate_id"), table_name="followups")
    op.drop_table("followups")
