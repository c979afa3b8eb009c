"""`JsonSession`: calls go as JSON bodies, with aiogram's defaults applied; files still go as forms."""

from __future__ import annotations

from aiogram.methods import SendDocument, SendMessage
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup
from pydantic import SecretStr

from bot.settings import Settings
from bot.telegram.runtime import create_bot
from bot.telegram.session import JsonSession
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
