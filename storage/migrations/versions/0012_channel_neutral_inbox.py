"""A channel-neutral update inbox: rows keyed by a `source` string and the channel's `event_id`.

- `update_inbox.bot_id` (the polling bot's Telegram id) -> `update_inbox.source` = "telegram:<bot id>";
- `update_inbox.update_id` -> `update_inbox.event_id` (same values); the primary key is the pair, and
  the sender index is on (`source`, `sender_key`, `processed_at`);
- `sender_key` of waiting rows: was 60 bits of keyed_hash("inbox:telegram:<user id>"), now 60 bits of
  keyed_hash("inbox:" + keyed_hash("telegram:<user id>")), the hash of the sender's address (so erasure
  finds a person's rows from their known addresses' hashes, without reading any payload). The user id
  is read from the encrypted payload here, once, as the Telegram channel reads it.

Handled rows have no payload and no sender; only waiting rows are decrypted, so the upgrade and the
downgrade need the key only when updates are waiting (`ipsbot db upgrade` loads it). The downgrade
converts back, and refuses rows of a source other than "telegram:<bot id>" (the old shape has no
place for them).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27
"""

import re
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

from storage import crypto

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TELEGRAM_SOURCE = re.compile(r"telegram:-?\d+")


def _cipher() -> crypto.Cipher:
    try:
        return crypto.current()
    except RuntimeError:
        raise RuntimeError("migration 0012 reads waiting updates' senders and needs the encryption key: run it "
                           "with `ipsbot db upgrade` (which loads ENCRYPTION_KEY or the key file)") from None


def _user_id(token: Any) -> int | None:
    """The sender of a raw Telegram update, as the channel reads it (message, edit, button press)."""
    update = orjson.loads(_cipher().decrypt(bytes(token)))
    for kind in ("message", "edited_message", "callback_query"):
        event = update.get(kind) if isinstance(update, dict) else None
        if isinstance(event, dict) and isinstance(event.get("from"), dict) and isinstance(event["from"].get("id"), int):
            return int(event["from"]["id"])
    return None


def _new_key(user_id: int) -> int:
    cipher = _cipher()
    return int(cipher.keyed_hash("inbox:" + cipher.keyed_hash(f"telegram:{user_id}"))[:15], 16)


def _old_key(user_id: int) -> int:
    return int(_cipher().keyed_hash(f"inbox:telegram:{user_id}")[:15], 16)


def _stamp(key_columns: tuple[str, str], key_of: Callable[[int], int]) -> None:
    """Recompute the sender note of every waiting row from its payload."""
    bind = op.get_bind()
    first, second = key_columns
    rows = bind.execute(sa.text(f"SELECT {first}, {second}, payload FROM update_inbox "
                                "WHERE processed_at IS NULL AND payload IS NOT NULL")).all()
    statement = sa.text(f"UPDATE update_inbox SET sender_key = :key WHERE {first} = :a AND {second} = :b")
    for a, b, payload in rows:
        user = _user_id(payload)
        bind.execute(statement, {"key": None if user is None else key_of(user), "a": a, "b": b})


def _shape(old: str, old_type: Any, event: str, new: str, new_type: Any) -> sa.Table:
    """The table between the two steps: keyed by (`old`, `event`), with `new` added (nullable).

    Given to the second step's batch: SQLite copies the table there, and its reflection does not
    name the primary key that the step replaces. (The event column is renamed in the first step: a
    batch's new key may name only columns the table had when it began.)"""
    return sa.Table(
        "update_inbox", sa.MetaData(),
        sa.Column(old, old_type, nullable=False),
        sa.Column(event, sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("sender_key", sa.BigInteger(), nullable=True),
        sa.Column(new, new_type, nullable=True),
        sa.PrimaryKeyConstraint(old, event, name="pk_update_inbox"),
        sa.Index("ix_update_inbox_sender", old, "sender_key", "processed_at"),
    )


def upgrade() -> None:
    with op.batch_alter_table("update_inbox") as batch:
        batch.add_column(sa.Column("source", sa.String(64), nullable=True))
        batch.alter_column("update_id", new_column_name="event_id", existing_type=sa.BigInteger(),
                           existing_nullable=False)
    op.execute("UPDATE update_inbox SET source = 'telegram:' || CAST(bot_id AS VARCHAR(20))")
    _stamp(("source", "event_id"), _new_key)
    with op.batch_alter_table("update_inbox", copy_from=_shape("bot_id", sa.BigInteger(), "event_id", "source",
                                                               sa.String(64))) as batch:
        batch.drop_index("ix_update_inbox_sender")
        batch.drop_constraint("pk_update_inbox", type_="primary")
        batch.drop_column("bot_id")
        batch.alter_column("source", existing_type=sa.String(64), nullable=False)
        batch.create_primary_key("pk_update_inbox", ["source", "event_id"])
        batch.create_index("ix_update_inbox_sender", ["source", "sender_key", "processed_at"], unique=False)


def downgrade() -> None:
    bind = op.get_bind()
    sources = bind.execute(sa.text("SELECT DISTINCT source FROM update_inbox")).scalars().all()
    if others := sorted(s for s in sources if not _TELEGRAM_SOURCE.fullmatch(s)):
        raise RuntimeError(f"the inbox holds events of sources other than a Telegram bot ({', '.join(others)}): "
                           "the old inbox has no place for them; handle them and remove their rows first")
    with op.batch_alter_table("update_inbox") as batch:
        batch.add_column(sa.Column("bot_id", sa.BigInteger(), nullable=True))
        batch.alter_column("event_id", new_column_name="update_id", existing_type=sa.BigInteger(),
                           existing_nullable=False)
    op.execute("UPDATE update_inbox SET bot_id = CAST(SUBSTR(source, 10) AS BIGINT)")
    _stamp(("bot_id", "update_id"), _old_key)
    with op.batch_alter_table("update_inbox", copy_from=_shape("source", sa.String(64), "update_id", "bot_id",
                                                               sa.BigInteger())) as batch:
        batch.drop_index("ix_update_inbox_sender")
        batch.drop_constraint("pk_update_inbox", type_="primary")
        batch.drop_column("source")
        batch.alter_column("bot_id", existing_type=sa.BigInteger(), nullable=False)
        batch.create_primary_key("pk_update_inbox", ["bot_id", "update_id"])
        batch.create_index("ix_update_inbox_sender", ["bot_id", "sender_key", "processed_at"], unique=False)
