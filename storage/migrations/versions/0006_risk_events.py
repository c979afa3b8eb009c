"""Risk answers stored as they are given (risk_events); urgent claims over the caseload cap.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "risk_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("intake_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidates.id"],
                                name=op.f("fk_risk_events_candidate_id_candidates"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["intake_id"], ["intakes.id"], name=op.f("fk_risk_events_intake_id_intakes"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_events")),
    )
    op.create_index(op.f("ix_risk_events_candidate_id"), "risk_events", ["candidate_id"], unique=False)
    op.create_index(op.f("ix_risk_events_intake_id"), "risk_events", ["intake_id"], unique=False)
    with op.batch_alter_table("referrals") as batch:
        batch.add_column(sa.Column("over_cap", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("referrals") as batch:
        batch.drop_column("over_cap")
    op.drop_index(op.f("ix_risk_events_intake_id"), table_name="risk_events")
    op.drop_index(op.f("ix_risk_events_candidate_id"), table_name="risk_events")
    op.drop_table("risk_events")
