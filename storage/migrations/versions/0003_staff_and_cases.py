"""Staff, invites, offers, and the case columns of referrals (consultant and the IPS clocks).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CASE_TIMES = ("waiting_since", "resent_at", "claimed_at", "first_contact_at", "first_meeting_at", "job_search_at",
              "outcome_at", "closed_at")


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_hash", sa.String(length=64), nullable=False),
        sa.Column("contact", sa.LargeBinary(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("programme_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
    )
    op.create_index(op.f("ix_staff_subject_hash"), "staff", ["subject_hash"], unique=True)
    op.create_index(op.f("ix_staff_programme_id"), "staff", ["programme_id"], unique=False)
    op.create_table(
        "invites",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("programme_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invites")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_invites_code_hash")),
    )
    op.create_table(
        "offers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["referral_id"], ["referrals.id"], name=op.f("fk_offers_referral_id_referrals"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_offers_staff_id_staff"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
    )
    op.create_index(op.f("ix_offers_referral_id"), "offers", ["referral_id"], unique=False)
    op.create_index(op.f("ix_offers_staff_id"), "offers", ["staff_id"], unique=False)
    with op.batch_alter_table("referrals") as batch:
        batch.add_column(sa.Column("consultant_id", sa.Integer(), nullable=True))
        for name in CASE_TIMES:
            batch.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("case_outcome", sa.String(length=32), nullable=True))
        batch.create_index(batch.f("ix_referrals_consultant_id"), ["consultant_id"], unique=False)
        batch.create_foreign_key(batch.f("fk_referrals_consultant_id_staff"), "staff", ["consultant_id"], ["id"],
                                 ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("referrals") as batch:
        batch.drop_constraint(batch.f("fk_referrals_consultant_id_staff"), type_="foreignkey")
        batch.drop_index(batch.f("ix_referrals_consultant_id"))
        batch.drop_column("case_outcome")
        for name in reversed(CASE_TIMES):
            batch.drop_column(name)
        batch.drop_column("consultant_id")
    op.drop_index(op.f("ix_offers_staff_id"), table_name="offers")
    op.drop_index(op.f("ix_offers_referral_id"), table_name="offers")
    op.drop_table("offers")
    op.drop_table("invites")
    op.drop_index(op.f("ix_staff_programme_id"), table_name="staff")
    op.drop_index(op.f("ix_staff_subject_hash"), table_name="staff")
    op.drop_table("staff")
