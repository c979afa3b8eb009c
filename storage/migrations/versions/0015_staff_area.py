"""The staff web area: sign-in identities, passkeys, sessions and one-time tokens.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _staff_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f(f"fk_{table}_staff_id_staff"),
                                   ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "staff_logins",
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("identity", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _staff_fk("staff_logins"),
        sa.PrimaryKeyConstraint("staff_id", name=op.f("pk_staff_logins")),
    )
    op.create_table(
        "staff_credentials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.String(length=1400), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        _staff_fk("staff_credentials"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_credentials")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_staff_credentials_credential_id")),
    )
    op.create_index(op.f("ix_staff_credentials_staff_id"), "staff_credentials", ["staff_id"], unique=False)
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        _staff_fk("staff_sessions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_sessions_token_hash")),
    )
    op.create_index(op.f("ix_staff_sessions_staff_id"), "staff_sessions", ["staff_id"], unique=False)
    op.create_table(
        "staff_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        _staff_fk("staff_tokens"),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_staff_tokens")),
    )
    op.create_index(op.f("ix_staff_tokens_staff_id"), "staff_tokens", ["staff_id"], unique=False)
    op.create_index(op.f("ix_staff_tokens_expires_at"), "staff_tokens", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_staff_tokens_expires_at"), table_name="staff_tokens")
    op.drop_index(op.f("ix_staff_tokens_staff_id"), table_name="staff_tokens")
    op.drop_table("staff_tokens")
    op.drop_index(op.f("ix_staff_sessions_staff_id"), table_name="staff_sessions")
    op.drop_table("staff_sessions")
    op.drop_index(op.f("ix_staff_credentials_staff_id"), table_name="staff_credentials")
    op.drop_table("staff_credentials")
    op.drop_table("staff_logins")
