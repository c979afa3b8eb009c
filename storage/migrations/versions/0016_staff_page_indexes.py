"""An index for the staff area's waiting list: a programme's waiting referrals in their order.

Without it the page read every referral of the programme and sorted them (about 25 ms of SQLite time
at 10,000 referrals); with it the first 50 and the count come straight from the index.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_referrals_waiting_list", "referrals", ["programme_id", "status", "waiting_since", "id"])


def downgrade() -> None:
    op.drop_index("ix_referrals_waiting_list", table_name="referrals")
