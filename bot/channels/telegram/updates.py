"""Telegram updates, read once: the raw JSON as Telegram sent it becomes an `Incoming` or a `Press`.

The poller, the webhook and both runtimes read an update only through `parse` (who sent it, what
it is); no framework model is built for it. The inbox (`storage.inbox`) knows a source, an event
id, a sender's address and an opaque payload: one bot is one source, "telegram:<bot id>"; an
update's id is its event id.

`parse` is strict and never raises: an update whose fields we use have the wrong types is
`Unreadable` (closed unhandled, as a framework would refuse it); an update of another kind
(e.g. a channel post) has no event and nothing to answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.channels.telegram.entities import html_of
from flows.address import Address
from storage.repositories import Received

__all__ = ["Incoming", "Press", "Sender", "Update", "address_of", "as_update", "inbox_source", "parse", "received",
           "sender_address", "sender_of"]

CHANNEL = "telegram"


@dataclass(frozen=True, slots=True)
class Sender:
    id: int
    language_code: str | None = None


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message (or, `edited`, an edit of one) as the routing needs it."""

    update_id: int
    chat_id: int
    private: bool
    user: Sender | None
    text: str | None = None
    edited: bool = False


@dataclass(frozen=True, slots=True)
class Press:
    """A button press. `chat_id` is None when the pressed message is no longer accessible."""

    update_id: int
    query_id: str
    user: Sender
    data: str | None
    chat_id: int | None = None
    private: bool = False
    message_id: int = 0
    message_html: str = ""  # the pressed message's text as HTML
    keyboard: list[list[dict[str, Any]]] = field(default_factory=list)  # its buttons, Telegram's JSON


class Update(dict[str, Any]):
    """One update: the raw JSON as Telegram sent it (a dict, as the inbox stores it and as any
    `Runtime.handle` takes it), with what it says read once: `event` None for a kind we do not
    handle; `readable` False for one whose fields are malformed; `sender`, read also from an update
    that is otherwise malformed."""

    __slots__ = ("event", "readable", "sender")

    def __init__(self, raw: dict[str, Any], event: Incoming | Press | None, sender: int | None,
                 readable: bool = True) -> None:
        super().__init__(raw)
        self.event = event
        self.sender = sender
        self.readable = readable

    @property
    def raw(self) -> dict[str, Any]:
        return self

    @property
    def update_id(self) -> int:
        return int(self["update_id"])


class _Malformed(Exception):
    pass


def _get(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], *, required: bool = True) -> Any:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Malformed(key)
    return value


def _sender(obj: dict[str, Any]) -> Sender:
    return Sender(_get(obj, "id", int), _get(obj, "language_code", str, required=False))


def _chat(message: dict[str, Any]) -> tuple[int, bool]:
    chat = _get(message, "chat", dict)
    return _get(chat, "id", int), _get(chat, "type", str) == "private"


def _incoming(update_id: int, message: dict[str, Any], edited: bool) -> Incoming:
    chat_id, private = _chat(message)
    sender = _get(message, "from", dict, required=False)
    return Incoming(update_id, chat_id, private, None if sender is None else _sender(sender),
                    _get(message, "text", str, required=False), edited)


def _keyboard(message: dict[str, Any]) -> list[list[dict[str, Any]]]:
    markup = _get(message, "reply_markup", dict, required=False) or {}
    rows = _get(markup, "inline_keyboard", list, required=False) or []
    return [[{"text": b.get("text"), "callback_data": b.get("callback_data")} for b in row if isinstance(b, dict)]
            for row in rows if isinstance(row, list)]


def _press(update_id: int, query: dict[str, Any]) -> Press:
    user = _sender(_get(query, "from", dict))
    query_id, data = _get(query, "id", str), _get(query, "data", str, required=False)
    shown = _get(query, "message", dict, required=False)
    if shown is None or shown.get("date") == 0:  # date 0: no longer accessible (Bot API 7.0)
        return Press(update_id, query_id, user, data)
    chat_id, private = _chat(shown)
    text = _get(shown, "text", str, required=False) or ""
    entities = _get(shown, "entities", list, required=False) or []
    return Press(update_id, query_id, user, data, chat_id, private, _get(shown, "message_id", int),
                 html_of(text, entities), _keyboard(shown))


def parse(raw: Any) -> Update | None:
    """Read a raw update once; None if it is not even an update (no integer `update_id`)."""
    if not isinstance(raw, dict) or type(raw.get("update_id")) is not int:  # True is an int to Python
        return None
    update_id, sender = raw["update_id"], _sender_id(raw)
    try:
        if raw.get("message") is not None:
            return Update(raw, _incoming(update_id, _get(raw, "message", dict), False), sender)
        if raw.get("edited_message") is not None:
            return Update(raw, _incoming(update_id, _get(raw, "edited_message", dict), True), sender)
        if raw.get("callback_query") is not None:
            return Update(raw, _press(update_id, _get(raw, "callback_query", dict)), sender)
    except _Malformed:
        return Update(raw, None, sender, readable=False)
    return Update(raw, None, sender)


def _sender_id(raw: dict[str, Any]) -> int | None:
    for kind in ("message", "edited_message", "callback_query"):
        event = raw.get(kind)
        if isinstance(event, dict):
            sender = event.get("from")
            if isinstance(sender, dict) and isinstance(sender.get("id"), int):
                return int(sender["id"])
    return None


def as_update(raw: Update | dict[str, Any]) -> Update | None:
    """`raw` parsed, unless it was already."""
    return raw if isinstance(raw, Update) else parse(raw)


def inbox_source(bot_id: int) -> str:
    """The inbox's source for this bot's updates."""
    return f"{CHANNEL}:{bot_id}"


def sender_of(raw: Any) -> int | None:
    """Who sent a raw Telegram update (a message, an edit, a button press): their user id, or None."""
    update = parse(raw)
    return update.sender if update is not None else None


def sender_address(user_id: int) -> Address:
    """A sender's address: their user id, which is also their private chat's id (`handlers.person_of`'s
    identity, so its hash is the person's `subject_hash`)."""
    return Address(CHANNEL, str(user_id))


def address_of(update: Any) -> Address | None:
    """The sender's address of a raw update, or None (`UpdateRepository.stamp_senders` reads it so)."""
    user = sender_of(update)
    return None if user is None else sender_address(user)


def received(updates: list[Update] | list[dict[str, Any]]) -> list[Received]:
    """Updates (parsed, or raw with an `update_id`) as the inbox stores them."""
    out = []
    for item in updates:
        update = as_update(item)
        sender = update.sender if update is not None else None
        out.append(Received(int(item["update_id"]), None if sender is None else sender_address(sender), dict(item)))
    return out
