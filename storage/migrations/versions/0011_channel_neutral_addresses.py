"""Addresses instead of Telegram chats: the stored data names no channel's ids.

- `offers.chat_id` -> `offers.address`, `shown_messages.chat_id` -> `shown_messages.address`: the
  encrypted chat id becomes an encrypted address ``{"channel": "telegram", "id": "<chat id>"}``;
- `offers.message_id` -> `offers.message_ref`, `shown_messages.message_id` -> `shown_messages.message_ref`
  (the channel's reference to a sent message; same values);
- `candidates.contact` and `staff.contact`: ``{"chat_id": N}`` -> ``{"channel": ..., "id": "N"}`` (a
  candidate's channel is their row's; staff joined on Telegram, the only channel with staff so far);
- unsent outbox payloads: ``chat_id``/``user_id`` -> ``to`` (the address; ``user_id`` is kept where it
  differs), ``edit.message_id`` -> ``edit.ref``, ``withdraw[].message_id`` -> ``withdraw[].ref``.

Encrypted values are decrypted and encrypted again with the configured cipher (as in 0007), so the
upgrade and the downgrade need the key (`ipsbot db upgrade` loads it). The downgrade converts back.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from collections.abc import Callable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

from storage import crypto

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAFF_CHANNEL = "telegram"  # every staff member joined on Telegram before this revision


def _cipher() -> crypto.Cipher:
    try:
        return crypto.current()
    except RuntimeError:
        raise RuntimeError("migration 0011 converts encrypted values and needs the encryption key: run it with "
                           "`ipsbot db upgrade` (which loads ENCRYPTION_KEY or the key file)") from None


def _load(token: Any) -> Any:
    return orjson.loads(_cipher().decrypt(bytes(token)))


def _dump(value: Any) -> bytes:
    return _cipher().encrypt(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))


def _rewrite(table: str, column: str, change: Callable[[Any, dict[str, Any]], Any], *extra: str) -> None:
    """Decrypt, change and encrypt again every non-null value of an encrypted JSON column.

    `change(value, row)` gets the decrypted value and the row's `extra` columns by name."""
    bind = op.get_bind()
    names = ", ".join(("id", column, *extra))
    rows = bind.execute(sa.text(f"SELECT {names} FROM {table} WHERE {column} IS NOT NULL")).all()
    statement = sa.text(f"UPDATE {table} SET {column} = :value WHERE id = :row_id").bindparams(
        sa.bindparam("value", type_=sa.LargeBinary()))
    for row in rows:
        new = change(_load(row[1]), dict(zip(extra, row[2:], strict=True)))
        bind.execute(statement, {"value": _dump(new), "row_id": row[0]})


def _rename(table: str, renames: dict[str, str], types: dict[str, Any]) -> None:
    with op.batch_alter_table(table) as batch:
        for old, new in renames.items():
            batch.alter_column(old, new_column_name=new, existing_type=types[old])


def _contact_up(channel: str | None) -> Callable[[Any, dict[str, Any]], Any]:
    def change(value: Any, row: dict[str, Any]) -> Any:
        if isinstance(value, dict) and "chat_id" in value:
            return {"channel": channel or row["channel"], "id": str(value["chat_id"])}
        return value
    return change


def _contact_down(value: Any, row: dict[str, Any]) -> Any:
    if isinstance(value, dict) and "id" in value and "channel" in value:
        return {"chat_id": int(value["id"])} if str(value["id"]).lstrip("-").isdigit() else None
    return value


def _address_up(value: Any, row: dict[str, Any]) -> Any:
    return {"channel": STAFF_CHANNEL, "id": str(value)}


def _address_down(value: Any, row: dict[str, Any]) -> Any:
    return int(value["id"]) if isinstance(value, dict) else value


def _payload_up(value: Any, row: dict[str, Any]) -> Any:
    if not isinstance(value, dict) or "chat_id" not in value:
        return value
    out = {key: item for key, item in value.items() if key not in ("chat_id", "user_id")}
    out["to"] = {"channel": row["channel"], "id": str(value["chat_id"])}
    if value.get("user_id") not in (None, value["chat_id"]):
        out["user_id"] = value["user_id"]
    if isinstance(value.get("edit"), dict) and "message_id" in value["edit"]:
        edit = dict(value["edit"])
        edit["ref"] = edit.pop("message_id")
        out["edit"] = edit
    if isinstance(value.get("withdraw"), list):
        out["withdraw"] = [{("ref" if key == "message_id" else key): item for key, item in shown.items()}
                           for shown in value["withdraw"]]
    return out


def _payload_down(value: Any, row: dict[str, Any]) -> Any:
    if not isinstance(value, dict) or not isinstance(value.get("to"), dict):
        return value
    out = {key: item for key, item in value.items() if key != "to"}
    chat = int(value["to"]["id"]) if str(value["to"]["id"]).lstrip("-").isdigit() else value["to"]["id"]
    out["chat_id"], out["user_id"] = chat, value.get("user_id", chat)
    if isinstance(value.get("edit"), dict) and "ref" in value["edit"]:
        edit = dict(value["edit"])
        edit["message_id"] = edit.pop("ref")
        out["edit"] = edit
    if isinstance(value.get("withdraw"), list):
        out["withdraw"] = [{("message_id" if key == "ref" else key): item for key, item in shown.items()}
                           for shown in value["withdraw"]]
    return out


def _unsent(change: Callable[[Any, dict[str, Any]], Any]) -> None:
    """Convert the payloads of unsent outbox rows (sent ones are never read again)."""
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, payload, channel FROM outbox WHERE sent_at IS NULL")).all()
    statement = sa.text("UPDATE outbox SET payload = :value WHERE id = :row_id").bindparams(
        sa.bindparam("value", type_=sa.LargeBinary()))
    for row in rows:
        bind.execute(statement, {"value": _dump(change(_load(row[1]), {"channel": row[2]})), "row_id": row[0]})


_TYPES = {"chat_id": sa.LargeBinary(), "address": sa.LargeBinary(), "message_id": sa.BigInteger(),
          "message_ref": sa.BigInteger()}


def upgrade() -> None:
    _rewrite("offers", "chat_id", _address_up)
    _rewrite("shown_messages", "chat_id", _address_up)
    _rename("offers", {"chat_id": "address", "message_id": "message_ref"}, _TYPES)
    _rename("shown_messages", {"chat_id": "address", "message_id": "message_ref"}, _TYPES)
    _rewrite("candidates", "contact", _contact_up(None), "channel")
    _rewrite("staff", "contact", _contact_up(STAFF_CHANNEL))
    _unsent(_payload_up)


def downgrade() -> None:
    _unsent(_payload_down)
    _rewrite("staff", "contact", _contact_down)
    _rewrite("candidates", "contact", _contact_down)
    _rename("shown_messages", {"address": "chat_id", "message_ref": "message_id"}, _TYPES)
    _rename("offers", {"address": "chat_id", "message_ref": "message_id"}, _TYPES)
    _rewrite("shown_messages", "chat_id", _address_down)
    _rewrite("offers", "chat_id", _address_down)
