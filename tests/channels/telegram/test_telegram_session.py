"""`JsonSession`: calls go as JSON bodies, with aiogram's defaults applied; files still go as forms; our
rendered replies go as the JSON we made and come back as message ids, with aiogram's errors."""

from __future__ import annotations

import time

import pytest
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import SendDocument, SendMessage
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup
from pydantic import SecretStr

from bot.channels.telegram.aiogram.runtime import create_bot
from bot.channels.telegram.aiogram.session import (
    AnswerTap,
    EditRendered,
    GetRawUpdates,
    JsonSession,
    SendRendered,
    SentMessage,
    call,
)
from bot.settings import Settings
from tests.e2e.telegram_bot import TOKEN
from tests.fake_telegram import FakeTelegram

MARKUP = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Ja", callback_data="consent|3|yes")]])


async def test_a_message_is_sent_as_json_with_the_default_parse_mode_and_its_buttons() -> None:
    async with FakeTelegram(token=TOKEN) as server:
        bot = create_bot(Settings(bot_token=SecretStr(TOKEN), telegram_api_url=server.url))
        try:
            assert isinstance(bot.session, JsonSession)
            sent = await bot.send_message(42, "<b>Hej</b> &amp; velkommen", reply_markup=MARKUP)
            await bot.send_document(42, BufferedInputFile(b"{}", "mydata.json"), caption="Dine data")
        finally:
            await bot.session.close()
        message = server.sent_messages(42)[0]
        assert message.message_id == sent.message_id
        assert message.text == "Hej & velkommen"  # parsed as HTML: the bot's default parse mode arrived
        assert message.inline_keyboard[0][0]["callback_data"] == "consent|3|yes"
        assert server.sent_messages(42)[1].document is not None
        assert [(c.method, c.content_type) for c in server.calls] == [
            ("sendMessage", "application/json"), ("sendDocument", "multipart/form-data")]


def test_a_call_with_a_file_has_no_json_body() -> None:
    bot = create_bot(Settings(bot_token=SecretStr(TOKEN), telegram_api_url="http://127.0.0.1:9"))
    session = bot.session
    assert isinstance(session, JsonSession)
    body = session.build_json(bot, SendMessage(chat_id=1, text="x", reply_markup=MARKUP))
    assert body is not None and b'"parse_mode":"HTML"' in body and b'"inline_keyboard"' in body
    assert session.build_json(bot, SendDocument(chat_id=1, document=BufferedInputFile(b"{}", "a.json"))) is None


async def test_rendered_calls_send_our_json_and_read_back_only_the_message_id() -> None:
    keyboard = {"inline_keyboard": [[{"text": "Ja", "callback_data": "consent|3|yes"}]]}
    async with FakeTelegram(token=TOKEN) as server:
        bot = create_bot(Settings(bot_token=SecretStr(TOKEN), telegram_api_url=server.url))
        try:
            sent = await call(bot, SendRendered(42, "<i>1/7</i>\n\nHej &amp; velkommen", keyboard))
            edited = await call(bot, EditRendered(42, sent.message_id, "Hej\n\n✔ Ja"))
        finally:
            await bot.session.close()
        assert isinstance(sent, SentMessage) and isinstance(edited, SentMessage)
        message = server.sent_messages(42)[0]
        assert sent.message_id == edited.message_id == message.message_id
        assert message.text == "Hej\n\n✔ Ja" and not message.inline_keyboard  # edited: the buttons are gone
        send, edit = server.calls
        assert (send.method, send.content_type, edit.method) == ("sendMessage", "application/json", "editMessageText")
        assert send.params == {"chat_id": 42, "text": "<i>1/7</i>\n\nHej &amp; velkommen", "parse_mode": "HTML",
                               "reply_markup": keyboard}
        assert "reply_markup" not in edit.params  # no keyboard given: none sent, not null


async def test_rendered_calls_fail_with_aiogram_errors_and_are_paced_and_retried() -> None:
    async with FakeTelegram(token=TOKEN) as server:
        settings = Settings(bot_token=SecretStr(TOKEN), telegram_api_url=server.url, per_chat_interval=0.3)
        bot = create_bot(settings)
        try:
            server.block_user(7)
            with pytest.raises(TelegramForbiddenError):
                await call(bot, SendRendered(7, "x"))
            server.fail_next("editMessageText", 400, description="Bad Request: message to edit not found")
            with pytest.raises(TelegramBadRequest, match="message to edit not found"):
                await call(bot, EditRendered(8, 999, "x"))
            server.fail_next("sendMessage", 429, retry_after=1)
            started = time.monotonic()
            await call(bot, SendRendered(8, "after a 429"))  # waited as told, then sent
            await call(bot, SendRendered(8, "paced"))
            took = time.monotonic() - started
            with pytest.raises(TelegramBadRequest, match="query is too old"):  # what `tap` shrugs off
                await call(bot, AnswerTap("no-such-query"))
        finally:
            await bot.session.close()
        sends = [c for c in server.calls_to("sendMessage") if c.ok]
        assert [c.params["text"] for c in sends] == ["after a 429", "paced"]
        assert sends[1].time - sends[0].time >= 0.3  # one chat: the pace holds between the two
        assert took >= 1.0 + 0.3


async def test_polls_come_back_as_plain_dicts() -> None:
    async with FakeTelegram(token=TOKEN) as server:
        bot = create_bot(Settings(bot_token=SecretStr(TOKEN), telegram_api_url=server.url))
        try:
            await server.user(5, "Ana", "da").send_text("hej")
            updates = await bot(GetRawUpdates(timeout=0))
        finally:
            await bot.session.close()
        assert isinstance(updates, list) and isinstance(updates[0], dict)
        assert updates[0]["message"]["text"] == "hej" and updates[0]["message"]["from"]["id"] == 5
