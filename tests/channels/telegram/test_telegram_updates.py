"""An update is read once, by our own parser (`bot.channels.telegram.updates.parse`), for both
runtimes: it reads what aiogram's and python-telegram-bot's models read, never raises on malformed
JSON, and every button kind has one entry in the table of actions (`bot.services.actions`)."""

from __future__ import annotations

from typing import Any

from aiogram.types import Update as AiogramUpdate
from aiogram.utils.text_decorations import html_decoration
from hypothesis import given, settings
from hypothesis import strategies as st

import flows.actions
from bot.channels.telegram.entities import html_of
from bot.channels.telegram.render import render
from bot.channels.telegram.updates import Incoming, Press, Sender, parse
from bot.services import policy
from bot.services.actions import TABLE
from flows.screens import Button, InputKind, Screen
from tests.fake_telegram.server import parse_html

QUESTION = Screen("Hvordan har du det? <ikke HTML> & 😀", "gad7.q1", 4, InputKind.CHOICE,
                  (Button("0", "Slet ikke"), Button("1", "Nogle dage")), progress="Spørgsmål 3 af 12 — 🙂")


def press_update(text: str, entities: list[dict[str, Any]]) -> dict[str, Any]:
    return {"update_id": 5, "callback_query": {
        "id": "q1", "from": {"id": 7, "is_bot": False, "first_name": "A", "language_code": "da"},
        "chat_instance": "c", "data": "gad7.q1|4|1",
        "message": {"message_id": 9, "date": 1, "chat": {"id": 7, "type": "private"}, "text": text,
                    "entities": entities, "reply_markup": {"inline_keyboard": [
                        [{"text": "Slet ikke", "callback_data": "gad7.q1|4|0"}]]}}}}


def test_a_press_reads_as_aiogram_read_it() -> None:
    html, _ = render(QUESTION)
    text, entities = parse_html(html)  # as Telegram stores the message we sent
    raw = press_update(text, entities)
    press = parse(raw).event  # type: ignore[union-attr]
    theirs = AiogramUpdate.model_validate(raw).callback_query
    assert isinstance(press, Press) and theirs is not None and theirs.message is not None
    assert press.message_html == theirs.message.html_text == html  # type: ignore[union-attr]
    assert (press.chat_id, press.private, press.message_id, press.data, press.user.language_code) == (
        7, True, 9, "gad7.q1|4|1", "da")
    assert press.keyboard == [[{"text": "Slet ikke", "callback_data": "gad7.q1|4|0"}]]


def test_nested_entities_match_aiogram() -> None:
    text = "bold italic 😀 link code"
    entities = [{"type": "bold", "offset": 0, "length": 11}, {"type": "italic", "offset": 5, "length": 6},
                {"type": "text_link", "offset": 15, "length": 4, "url": "https://x.example"},
                {"type": "code", "offset": 20, "length": 4}]
    theirs = AiogramUpdate.model_validate(press_update(text, entities)).callback_query.message  # type: ignore[union-attr]
    assert html_of(text, entities) == html_decoration.unparse(text, theirs.entities)  # type: ignore[union-attr]


def test_messages_edits_and_other_kinds() -> None:
    message = {"message_id": 1, "date": 1, "chat": {"id": -5, "type": "group"}, "from": {"id": 3}, "text": "hej"}
    update = parse({"update_id": 1, "message": message})
    assert update is not None and update.event == Incoming(1, -5, False, Sender(3), "hej") and update.sender == 3
    edited = parse({"update_id": 2, "edited_message": message})
    assert edited is not None and isinstance(edited.event, Incoming) and edited.event.edited
    other = parse({"update_id": 3, "channel_post": message})
    assert other is not None and other.event is None and other.readable and other.sender is None
    garbled = parse({"update_id": 4, "message": {"text": ["not", "a", "message"], "from": {"id": 8}}})
    assert garbled is not None and not garbled.readable and garbled.sender == 8
    assert parse({"message": message}) is None and parse([1]) is None and parse({"update_id": True}) is None


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["id", "from", "chat", "type", "text", "message", "date", "data",
                                         "entities", "offset", "length", "reply_markup", "inline_keyboard",
                                         "language_code", "message_id"]), inner, max_size=5), max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["message", "edited_message", "callback_query", "poll"]), JSON)
def test_random_json_is_read_or_refused_never_raised(kind: str, body: Any) -> None:
    update = parse({"update_id": 1, kind: body})
    assert update is not None
    if update.event is not None:
        assert isinstance(update.event, Incoming | Press)


def test_every_button_kind_has_one_entry_with_its_rule() -> None:
    base = flows.actions._Targeted
    kinds = {cls for cls in vars(flows.actions).values() if isinstance(cls, type) and issubclass(cls, base)}
    kinds.discard(base)
    assert set(TABLE) == kinds
    for entry in TABLE.values():
        assert entry.why and (entry.rule is None or vars(policy).get(entry.rule.__name__) is entry.rule)
