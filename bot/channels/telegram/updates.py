"""Telegram updates as the channel-neutral update inbox (`storage.inbox`) takes them.

The inbox knows a source, an event id, a sender's address and an opaque payload; what a Telegram
update means (who sent it) is read here, by the poller, the webhook and both runtimes alike. One
bot is one source, "telegram:<bot id>"; an update's id is its event id.
"""

from __future__ import annotations

from typing import Any

from flows.address import Address
from storage.repositories import Received

__all__ = ["address_of", "inbox_source", "received", "sender_address", "sender_of"]

CHANNEL = "telegram"


def inbox_source(bot_id: int) -> str:
    """The inbox's source for this bot's updates."""
    return f"{CHANNEL}:{bot_id}"


def sender_of(update: Any) -> int | None:
    """Who sent a raw Telegram update (a message, an edit, a button press): their user id, or None."""
    if not isinstance(update, dict):
        return None
    for kind in ("message", "edited_message", "callback_query"):
        event = update.get(kind)
        if isinstance(event, dict):
            sender = event.get("from")
            if isinstance(sender, dict) and isinstance(sender.get("id"), int):
                return int(sender["id"])
    return None


def sender_address(user_id: int) -> Address:
    """A sender's address: their user id, which is also their private chat's id (`handlers.person_of`'s
    identity, so its hash is the person's `subject_hash`)."""
    return Address(CHANNEL, str(user_id))


def address_of(update: Any) -> Address | None:
    """The sender's address of a raw update, or None (`UpdateRepository.stamp_senders` reads it so)."""
    user = sender_of(update)
    return None if user is None else sender_address(user)


def received(updates: list[dict[str, Any]]) -> list[Received]:
    """Raw updates as the inbox stores them."""
    return [Received(int(u["update_id"]), address_of(u), u) for u in updates]
