"""One escalation for every urgent case: `escalations` (the ladder's state: who was told, the next
step, who saw it) and `escalation_copies` (each staff member's copy, to say who took it). A
follow-up's risk alert becomes an escalation: an unseen one is carried over (due at once), and the
follow-up's own alert columns and `alert_copies` go. What the code before had in hand (an urgent
referral not claimed or checked, a risk answer no referral carries) becomes an escalation due at once.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALERT_TIMES = ("alerted_at", "alert_seen_at", "alert_resent_at")


def upgrade() -> None:
    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.String(length=32), nullable=False),
        sa.Column("cause", sa.String(length=16), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=True),
        sa.Column("followup_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rung", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("told", sa.JSON(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seen_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidates.id"],
                                name=op.f("fk_escalations_candidate_id_candidates"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["referral_id"], ["referrals.id"],
                                name=op.f("fk_escalations_referral_id_referrals"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["followup_id"], ["followups.id"],
                                name=op.f("fk_escalations_followup_id_followups"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalations")),
    )
    for column in ("candidate_id", "programme_id", "referral_id", "followup_id"):
        op.create_index(op.f(f"ix_escalations_{column}"), "escalations", [column], unique=False)
    op.create_index("ix_escalations_status_next_at", "escalations", ["status", "next_at"], unique=False)
    op.create_table(
        "escalation_copies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("rung", sa.Integer(), nullable=False),
        sa.Column("address", sa.LargeBinary(), nullable=True),
        sa.Column("message_ref", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["escalation_id"], ["escalations.id"],
                                name=op.f("fk_escalation_copies_escalation_id_escalations"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"],
                                name=op.f("fk_escalation_copies_staff_id_staff"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_copies")),
    )
    op.create_index(op.f("ix_escalation_copies_escalation_id"), "escalation_copies", ["escalation_id"], unique=False)
    op.create_index(op.f("ix_escalation_copies_staff_id"), "escalation_copies", ["staff_id"], unique=False)
    _carry_over_alerts()
    _carry_over_urgent_cases()
    op.drop_index(op.f("ix_alert_copies_staff_id"), table_name="alert_copies")
    op.drop_index(op.f("ix_alert_copies_followup_id"), table_name="alert_copies")
    op.drop_table("alert_copies")
    with op.batch_alter_table("followups") as batch:
        batch.drop_column("alert_seen_by")
        for name in reversed(ALERT_TIMES):
            batch.drop_column(name)


def _carry_over_alerts() -> None:
    """Follow-up risk alerts become escalations: seen ones as seen, unseen ones due at once (the ladder
    starts again from the holder; nobody's earlier copy can say who took it, which is only cosmetic)."""
    bind = op.get_bind()
    followups = sa.table("followups", sa.column("id"), sa.column("candidate_id"), sa.column("referral_id"),
                         sa.column("programme_id"), sa.column("alerted_at", sa.DateTime(timezone=True)),
                         sa.column("alert_seen_at", sa.DateTime(timezone=True)), sa.column("alert_seen_by"))
    escalations = sa.table("escalations", sa.column("candidate_id"), sa.column("programme_id"), sa.column("cause"),
                           sa.column("referral_id"), sa.column("followup_id"), sa.column("status"),
                           sa.column("rung"), sa.column("next_at", sa.DateTime(timezone=True)),
                           sa.column("told", sa.JSON()), sa.column("opened_at", sa.DateTime(timezone=True)),
                           sa.column("sent_at", sa.DateTime(timezone=True)),
                           sa.column("seen_at", sa.DateTime(timezone=True)), sa.column("seen_by"))
    now = datetime.now(UTC)
    rows = bind.execute(sa.select(followups).where(followups.c.alerted_at.is_not(None))).all()
    for row in rows:
        seen = row.alert_seen_at is not None
        bind.execute(escalations.insert().values(
            candidate_id=row.candidate_id, programme_id=row.programme_id, cause="followup",
            referral_id=row.referral_id, followup_id=row.id, status="seen" if seen else "sent", rung=-1,
            next_at=None if seen else now, told=[], opened_at=row.alerted_at, sent_at=row.alerted_at,
            seen_at=row.alert_seen_at, seen_by=row.alert_seen_by))


def _carry_over_urgent_cases() -> None:
    """What the code before this revision still had in hand becomes an escalation due at once: an urgent
    referral not claimed (or, outside the target group, not checked), and a risk answer that no later
    referral of the person carries (its intake left, restarted or declined: pending, so that the first
    round makes the urgent partial referral)."""
    bind = op.get_bind()
    now = datetime.now(UTC)
    insert = sa.text("INSERT INTO escalations (candidate_id, programme_id, cause, referral_id, followup_id, status, "
                     "rung, next_at, told, opened_at, sent_at, seen_at, seen_by) VALUES (:c, :p, 'intake', :r, "
                     "NULL, :s, -1, :now, '[]', :opened, :sent, NULL, NULL)")
    urgent = bind.execute(sa.text(
        "SELECT r.id, i.candidate_id, r.programme_id, r.created_at FROM referrals r "
        "JOIN intakes i ON i.id = r.intake_id WHERE r.urgent = :yes AND (r.status IN ('new', 'waiting') "
        "OR (r.status = 'redirected' AND NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.referral_id = r.id "
        "AND a.action = 'referral.checked')))"),
        {"yes": True}).all()
    for referral_id, candidate_id, programme_id, created_at in urgent:
        bind.execute(insert, {"c": candidate_id, "p": programme_id, "r": referral_id, "s": "sent", "now": now,
                              "opened": created_at, "sent": created_at})
    risks = bind.execute(sa.text(
        "SELECT e.candidate_id, min(e.at) FROM risk_events e WHERE NOT EXISTS (SELECT 1 FROM referrals r JOIN "
        "intakes i ON i.id = r.intake_id WHERE i.candidate_id = e.candidate_id AND r.created_at >= e.at) "
        "GROUP BY e.candidate_id")).all()
    for candidate_id, first_at in risks:
        programme = bind.execute(sa.text("SELECT programme_id FROM intakes WHERE candidate_id = :c AND "
                                         "programme_id != '' ORDER BY id DESC LIMIT 1"), {"c": candidate_id}).scalar()
        if programme:
            bind.execute(insert, {"c": candidate_id, "p": programme, "r": None, "s": "pending", "now": now,
                                  "opened": first_at, "sent": None})


def downgrade() -> None:
    with op.batch_alter_table("followups") as batch:
        for name in ALERT_TIMES:
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
    # a follow-up escalation back onto its follow-up (its copies cannot be carried back)
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT followup_id, opened_at, seen_at, seen_by FROM escalations "
                                "WHERE followup_id IS NOT NULL ORDER BY id")).all()  # the newest last: it wins
    for followup_id, opened_at, seen_at, seen_by in rows:
        bind.execute(sa.text("UPDATE followups SET alerted_at = :a, alert_seen_at = :s, alert_seen_by = :b "
                             "WHERE id = :id"), {"a": opened_at, "s": seen_at, "b": seen_by, "id": followup_id})
    op.drop_index(op.f("ix_escalation_copies_staff_id"), table_name="escalation_copies")
    op.drop_index(op.f("ix_escalation_copies_escalation_id"), table_name="escalation_copies")
    op.drop_table("escalation_copies")
    op.drop_index("ix_escalations_status_next_at", table_name="escalations")
    for column in ("candidate_id", "programme_id", "referral_id", "followup_id"):
        op.drop_index(op.f(f"ix_escalations_{column}"), table_name="escalations")
    op.drop_table("escalations")
