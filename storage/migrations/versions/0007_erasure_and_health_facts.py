"""Erasure leaves nothing behind; triage facts and the consultants' chat ids encrypted.

- `outbox.subject_id`: the person a message is about, whoever receives it (erased with the person);
- `shown_messages`: which staff messages showed a person, so erasing them can delete or edit those;
- `intakes.actor_ref`: a random audit reference per intake, instead of a hash of the person;
- `referrals.outcome`, `reason`, `priority` and `offers.chat_id` become encrypted (Fernet tokens).

The data migration encrypts existing values with the configured cipher (`storage.crypto.configure`,
which `open_app` and `ipsbot db upgrade` call before migrating); without one it refuses when there is
something to encrypt. Existing `referral.created` audit rows lose their triage outcome and their
person hash (actor "candidate"); the downgrade cannot bring those back, and it decrypts the columns
again (so it needs the cipher too).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

import secrets
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

from storage import crypto

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _cipher() -> crypto.Cipher:
    try:
        return crypto.current()
    except RuntimeError:
        raise RuntimeError("migration 0007 encrypts stored values and needs the encryption key: run it with "
                           "`ipsbot db upgrade` (which loads ENCRYPTION_KEY or the key file)") from None


def _encrypt_json(value: Any) -> bytes:
    return _cipher().encrypt(orjson.dumps(value))


def _encrypt_text(value: Any) -> bytes:
    return _cipher().encrypt(str(value).encode("utf-8"))


def _decrypt_json(token: Any) -> Any:
    return orjson.loads(_cipher().decrypt(bytes(token)))


def _decrypt_text(token: Any) -> str:
    return _cipher().decrypt(bytes(token)).decode("utf-8")


def _convert(table: str, columns: dict[str, tuple[Callable[[Any], Any], Any, bool]]) -> None:
    """Replace each column by one of a new type, converting every stored value.

    `columns`: name -> (conversion of a non-null value, the new SQL type, nullable).
    """
    with op.batch_alter_table(table) as batch:
        for name, (_, new_type, _) in columns.items():
            batch.add_column(sa.Column(f"{name}_new", new_type, nullable=True))
    bind = op.get_bind()
    names = list(columns)
    rows = bind.execute(sa.text(f"SELECT id, {', '.join(names)} FROM {table}")).all()
    for row in rows:
        values = {f"{name}_new": None if row[i + 1] is None else columns[name][0](row[i + 1])
                  for i, name in enumerate(names)}
        assignments = ", ".join(f"{key} = :{key}" for key in values)
        statement = sa.text(f"UPDATE {table} SET {assignments} WHERE id = :row_id")
        for name, (_, new_type, _) in columns.items():
            statement = statement.bindparams(sa.bindparam(f"{name}_new", type_=new_type))
        bind.execute(statement, {**values, "row_id": row[0]})
    with op.batch_alter_table(table) as batch:
        for name in names:
            batch.drop_column(name)
    with op.batch_alter_table(table) as batch:
        for name, (_, new_type, nullable) in columns.items():
            batch.alter_column(f"{name}_new", new_column_name=name, existing_type=new_type, nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("subject_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_outbox_subject_id"), ["subject_id"], unique=False)
        batch.create_foreign_key(batch.f("fk_outbox_subject_id_candidates"), "candidates", ["subject_id"], ["id"],
                                 ondelete="CASCADE")
    op.create_table(
        "shown_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.LargeBinary(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["candidates.id"], name=op.f("fk_shown_messages_subject_id_candidates"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shown_messages")),
    )
    op.create_index(op.f("ix_shown_messages_subject_id"), "shown_messages", ["subject_id"], unique=False)

    with op.batch_alter_table("intakes") as batch:
        batch.add_column(sa.Column("actor_ref", sa.String(length=32), nullable=True))
    bind = op.get_bind()
    for (intake_id,) in bind.execute(sa.text("SELECT id FROM intakes")).all():
        bind.execute(sa.text("UPDATE intakes SET actor_ref = :ref WHERE id = :id"),
                     {"ref": secrets.token_hex(8), "id": intake_id})
    # audit rows hold no triage outcome and no hash of the person any more
    bind.execute(sa.text("UPDATE audit_events SET actor = 'candidate', detail = '' "
                         "WHERE actor LIKE 'candidate:%' AND actor <> 'candidate:erased'"))

    _convert("referrals", {"outcome": (_encrypt_text, sa.LargeBinary(), False),
                           "reason": (_encrypt_text, sa.LargeBinary(), False),
                           "priority": (lambda v: _encrypt_json(bool(v)), sa.LargeBinary(), False)})
    _convert("offers", {"chat_id": (lambda v: _encrypt_json(int(v)), sa.LargeBinary(), True)})


def downgrade() -> None:
    _convert("offers", {"chat_id": (_decrypt_json, sa.BigInteger(), True)})
    _convert("referrals", {"outcome": (_decrypt_text, sa.String(length=32), False),
                           "reason": (_decrypt_text, sa.String(length=64), False),
                           "priority": (lambda v: bool(_decrypt_json(v)), sa.Boolean(), False)})
    with op.batch_alter_table("intakes") as batch:
        batch.drop_column("actor_ref")
    op.drop_index(op.f("ix_shown_messages_subject_id"), table_name="shown_messages")
    op.drop_table("shown_messages")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint(batch.f("fk_outbox_subject_id_candidates"), type_="foreignkey")
        batch.drop_index(batch.f("ix_outbox_subject_id"))
        batch.drop_column("subject_id")
