"""Tests for the fake Telegram Bot API server, driven by a real aiogram ``Bot``."""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from aiohttp import web

from tests.fake_telegram import FakeTelegram, HtmlParseError, parse_html

TOKEN = "123456:TEST"


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        yield fake


class PlainHttpSession(AiohttpSession):
    """aiogram's session sleeps 250 ms on close to let SSL connections settle; not needed for plain HTTP."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


@pytest.fixture
async def bot(server: FakeTelegram) -> AsyncIterator[Bot]:
    session = PlainHttpSession(api=TelegramAPIServer.from_base(server.url))
    bot = Bot(TOKEN, session=session)
    yield bot
    await bot.session.close()


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=text, callback_data=data)] for text, data in buttons]
    )


class WebhookReceiver:
    """A tiny aiohttp app standing in for the bot's webhook endpoint."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], str | None]] = []
        self.statuses: list[int] = []  # statuses to answer with, in order; then 200
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.json_response({}, status=status)

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


# ------------------------------------------------------------------------------------------------------------
# Basics
# ------------------------------------------------------------------------------------------------------------


async def test_get_me(server: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456
    assert me.is_bot
    assert me.username == "ips_test_bot"
    assert server.calls[-1].method == "getMe"
    assert server.calls[-1].ok


async def test_unknown_token_and_method(server: FakeTelegram) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/bot999:WRONG/getMe") as resp:
            assert resp.status == 401
            assert await resp.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        async with http.post(f"{server.url}/bot{TOKEN}/noSuchMethod") as resp:
            assert resp.status == 404
            assert (await resp.json())["description"] == "Not Found"
        # JSON bodies are accepted as well as form data.
        async with http.post(
            f"{server.url}/bot{TOKEN}/sendMessage", json={"chat_id": 5, "text": "hi"}
        ) as resp:
            body = await resp.json()
            assert body["ok"] and body["result"]["text"] == "hi"


async def test_send_message_with_inline_keyboard_recorded(server: FakeTelegram, bot: Bot) -> None:
    ana = server.user(42, "Ana")
    first = await bot.send_message(42, "Hej Ana", reply_markup=keyboard(("Ja", "yes"), ("Nej", "no")))
    second = await bot.send_message(42, "Next")
    assert (first.message_id, second.message_id) == (1, 2)
    assert first.reply_markup is not None
    assert first.reply_markup.inline_keyboard[0][0].callback_data == "yes"
    call = server.calls_to("sendMessage")[0]
    assert call.params["chat_id"] == 42
    assert call.params["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Ja", "callback_data": "yes"}],
            [{"text": "Nej", "callback_data": "no"}],
        ]
    }
    messages = server.sent_messages(42)
    assert [m.text for m in messages] == ["Hej Ana", "Next"]
    assert messages[0].button_texts == ["Ja", "Nej"]
    assert ana.last_message is not None and ana.last_message.text == "Next"
    # Message ids are per chat.
    other = await bot.send_message(43, "other chat")
    assert other.message_id == 1


async def test_edit_updates_current_message_and_history(server: FakeTelegram, bot: Bot) -> None:
    msg = await bot.send_message(7, "Question?", reply_markup=keyboard(("A", "a")))
    await bot.edit_message_text("Answered", chat_id=7, message_id=msg.message_id)
    [current] = server.sent_messages(7)
    assert current.text == "Answered"
    assert current.reply_markup is None  # editMessageText without reply_markup removes the keyboard
    assert [(e.kind, e.message.text) for e in server.history(7)] == [
        ("send", "Question?"),
        ("edit", "Answered"),
    ]
    assert await bot.delete_message(7, msg.message_id)
    assert server.sent_messages(7) == []
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(7, msg.message_id)


async def test_edit_not_modified(server: FakeTelegram, bot: Bot) -> None:
    msg = await bot.send_message(7, "Same", reply_markup=keyboard(("A", "a")))
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "Same", chat_id=7, message_id=msg.message_id, reply_markup=keyboard(("A", "a"))
        )
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=7, message_id=msg.message_id, reply_markup=keyboard(("A", "a"))
        )
    edited = await bot.edit_message_reply_markup(chat_id=7, message_id=msg.message_id, reply_markup=None)
    assert isinstance(edited, Message)
    assert server.sent_messages(7)[0].reply_markup is None


# ------------------------------------------------------------------------------------------------------------
# Updates: polling
# ------------------------------------------------------------------------------------------------------------


async def test_unconfirmed_updates_are_redelivered_until_offset(server: FakeTelegram, bot: Bot) -> None:
    ana = server.user(42)
    u1 = await ana.send_text("one")
    u2 = await ana.send_text("two")
    first = await bot.get_updates()
    assert [u.update_id for u in first] == [u1["update_id"], u2["update_id"]]
    again = await bot.get_updates()  # not confirmed -> redelivered
    assert [u.update_id for u in again] == [u1["update_id"], u2["update_id"]]
    assert again[0].message is not None and again[0].message.text == "one"
    confirmed_first = await bot.get_updates(offset=u1["update_id"] + 1)
    assert [u.update_id for u in confirmed_first] == [u2["update_id"]]
    assert await bot.get_updates(offset=u2["update_id"] + 1) == []
    assert server.pending_updates == []


async def test_long_poll_returns_when_update_arrives(server: FakeTelegram, bot: Bot) -> None:
    ana = server.user(42)
    loop = asyncio.get_running_loop()
    started = loop.time()
    task = asyncio.create_task(bot.get_updates(timeout=5))
    await server.wait_for_call("getUpdates", completed=False, timeout=2)
    assert not task.done()
    await ana.send_text("wake up")
    updates = await asyncio.wait_for(task, 2)
    assert loop.time() - started < 2
    assert [u.message.text for u in updates if u.message] == ["wake up"]


async def test_settled_only_when_confirmed_and_back_in_a_long_poll(server: FakeTelegram, bot: Bot) -> None:
    ana = server.user(42)
    u1 = await ana.send_text("one")
    with pytest.raises(TimeoutError, match="1 updates pending"):
        await server.settle(timeout=0.05)
    await bot.get_updates(timeout=0)  # fetched, not confirmed
    with pytest.raises(TimeoutError, match="1 updates pending"):
        await server.settle(timeout=0.05)
    await bot.get_updates(offset=u1["update_id"] + 1, timeout=0)  # confirmed, but the bot is still busy
    assert server.pending_updates == [] and not server.waiting_in_long_poll
    with pytest.raises(TimeoutError, match="no long poll waiting"):
        await server.settle(timeout=0.05)
    poll = asyncio.create_task(bot.get_updates(offset=u1["update_id"] + 1, timeout=5))  # done: waits for news
    await server.settle(timeout=2)
    assert server.waiting_in_long_poll
    await ana.send_text("two")  # the waiting poll takes it: busy again
    assert [u.message.text for u in await asyncio.wait_for(poll, 2) if u.message] == ["two"]
    assert not server.waiting_in_long_poll


async def test_long_poll_times_out_empty(server: FakeTelegram) -> None:
    async with aiohttp.ClientSession() as http:
        started = asyncio.get_running_loop().time()
        async with http.post(f"{server.url}/bot{TOKEN}/getUpdates", data={"timeout": "0.2"}) as resp:
            assert await resp.json() == {"ok": True, "result": []}
        assert 0.15 < asyncio.get_running_loop().time() - started < 2


async def test_dispatcher_polling_end_to_end(server: FakeTelegram, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message(F.text == "/start reconnect")
    async def start(message: Message) -> None:
        await message.answer("Welcome back", reply_markup=keyboard(("Continue", "go")))

    @dp.callback_query(F.data == "go")
    async def go(query: CallbackQuery) -> None:
        await query.answer("ok")
        assert isinstance(query.message, Message)
        await query.message.edit_text("Continuing…")

    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, close_bot_session=False))
    try:
        ana = server.user(42)
        await ana.send_command("/start reconnect")
        reply = await ana.wait_for_reply(timeout=5)
        assert reply.text == "Welcome back"
        tap = await ana.tap_button("Continue")
        edited = await ana.wait_for_reply(lambda m: m.text.startswith("Continuing"), timeout=5)
        assert edited.message_id == reply.message_id
        answer = await server.wait_for_call("answerCallbackQuery", timeout=5)
        assert answer.params["callback_query_id"] == tap["callback_query"]["id"]
        assert server.callback_answer(tap["callback_query"]["id"]) is not None
    finally:
        await dp.stop_polling()
        await polling


async def test_getupdates_conflicts_with_webhook(server: FakeTelegram, bot: Bot) -> None:
    assert await bot.set_webhook("http://127.0.0.1:1/hook")
    with pytest.raises(TelegramConflictError):
        await bot.get_updates()
    assert await bot.delete_webhook()


# ------------------------------------------------------------------------------------------------------------
# Error handling and fault injection
# ------------------------------------------------------------------------------------------------------------


async def test_retry_after_injection(server: FakeTelegram, bot: Bot) -> None:
    server.fail_next("sendMessage", error_code=429, retry_after=3, times=2)
    for _ in range(2):
        with pytest.raises(TelegramRetryAfter) as info:
            await bot.send_message(1, "hi")
        assert info.value.retry_after == 3
    assert (await bot.send_message(1, "hi")).text == "hi"
    assert [c.status for c in server.calls_to("sendMessage")] == [429, 429, 200]
    assert server.calls_to("sendMessage")[0].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }


async def test_blocked_user_forbidden(server: FakeTelegram, bot: Bot) -> None:
    ana = server.user(42)
    update = await ana.block_bot()
    assert update["my_chat_member"]["new_chat_member"]["status"] == "kicked"
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(42, "hello?")
    server.unblock_user(42)
    assert (await bot.send_message(42, "hello")).message_id == 1


async def test_message_too_long(server: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(1, "x" * 4096)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(1, "x" * 4097)
    msg = await bot.send_message(1, "short")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.edit_message_text("y" * 5000, chat_id=1, message_id=msg.message_id)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(1, "   ")


@pytest.mark.parametrize(
    "text",
    [
        "Score < 5",
        "Tom & Jerry",
        "<b>bold</i>",
        "<b>unclosed",
        "<script>x</script>",
        "</b>",
        '<span class="x">a</span>',
        "<b",
    ],
)
async def test_bad_html_rejected(server: FakeTelegram, bot: Bot, text: str) -> None:
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(1, text, parse_mode="HTML")


async def test_escaped_html_accepted(server: FakeTelegram, bot: Bot) -> None:
    user_text = 'Tom & Jerry <3 "quotes"'
    msg = await bot.send_message(1, f"<b>Name:</b> {html.escape(user_text)}", parse_mode="HTML")
    assert msg.text == f"Name: {user_text}"
    assert msg.entities is not None and msg.entities[0].type == "bold"
    stored = server.sent_messages(1)[0]
    assert stored.raw_text == f"<b>Name:</b> {html.escape(user_text)}"
    # Same text without parse_mode is sent verbatim.
    plain = await bot.send_message(1, "a < b & c")
    assert plain.text == "a < b & c"


def test_parse_html_entities() -> None:
    text, entities = parse_html(
        '😀 <b>bold <i>both</i></b> <a href="https://x.dk/?a=1&amp;b=2">link</a> '
        '<pre><code class="language-python">x</code></pre> <tg-spoiler>s</tg-spoiler> &#65;&#x42;'
    )
    assert text == "😀 bold both link x s AB"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 9},  # the emoji is 2 UTF-16 code units
        {"type": "italic", "offset": 8, "length": 4},
        {"type": "text_link", "offset": 13, "length": 4, "url": "https://x.dk/?a=1&b=2"},
        {"type": "pre", "offset": 18, "length": 1, "language": "python"},
        {"type": "spoiler", "offset": 20, "length": 1},
    ]
    with pytest.raises(HtmlParseError, match="Unsupported start tag"):
        parse_html("<div>x</div>")


async def test_answer_callback_twice_is_rejected(server: FakeTelegram, bot: Bot) -> None:
    ana = server.user(42)
    msg = await bot.send_message(42, "Pick", reply_markup=keyboard(("One", "1"), ("Two", "2")))
    update = await ana.tap_button(lambda b: b["callback_data"] == "2")
    query = update["callback_query"]
    assert query["data"] == "2"
    assert query["message"]["message_id"] == msg.message_id
    assert await bot.answer_callback_query(query["id"], text="Thanks")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query["id"])
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query("unknown")


async def test_rate_limit_violations_recorded(server: FakeTelegram, bot: Bot) -> None:
    server.rate_limit_per_chat(per_second=1)
    await bot.send_message(1, "a")
    await bot.send_message(2, "b")
    assert server.rate_violations == []
    await bot.send_message(1, "c")
    assert [(v.chat_id, v.method) for v in server.rate_violations] == [(1, "sendMessage")]


# ------------------------------------------------------------------------------------------------------------
# Files, commands, chat actions
# ------------------------------------------------------------------------------------------------------------


async def test_send_document_upload_recorded(server: FakeTelegram, bot: Bot) -> None:
    data = b"%PDF-1.4 fake consent form"
    msg = await bot.send_document(
        42, BufferedInputFile(data, filename="consent.pdf"), caption="<b>Consent</b>", parse_mode="HTML"
    )
    assert msg.document is not None
    assert msg.document.file_name == "consent.pdf"
    assert msg.document.file_size == len(data)
    assert msg.caption == "Consent"
    [stored] = server.sent_messages(42)
    assert stored.document is not None
    assert stored.document.filename == "consent.pdf"
    assert stored.document.content == data
    assert server.uploaded_files[0].content == data
    # Re-sending by file_id works without a new upload.
    again = await bot.send_document(42, msg.document.file_id)
    assert again.document is not None and again.document.file_name == "consent.pdf"
    # getFile + download (the file URL is {url}/file/bot{token}/{file_path}).
    file = await bot.get_file(msg.document.file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == data


async def test_user_voice_can_be_downloaded(server: FakeTelegram, bot: Bot) -> None:
    update = await server.user(42).send_voice(duration=2)
    file = await bot.get_file(update["message"]["voice"]["file_id"])
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read().startswith(b"fake voice.ogg")
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


async def test_commands_per_scope_and_language(server: FakeTelegram, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    await bot.set_my_commands(
        [BotCommand(command="start", description="Begynd")],
        scope=BotCommandScopeAllPrivateChats(),
        language_code="da",
    )
    assert [c.description for c in await bot.get_my_commands()] == ["Start"]
    da = await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats(), language_code="da")
    assert [c.description for c in da] == ["Begynd"]
    assert server.commands({"type": "all_private_chats"}, "da") == [
        {"command": "start", "description": "Begynd"}
    ]
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == []
    with pytest.raises(TelegramBadRequest):
        await bot.set_my_commands([BotCommand(command="Bad Command", description="x")])


async def test_chat_action_and_close(server: FakeTelegram, bot: Bot) -> None:
    assert await bot.send_chat_action(1, "typing")
    with pytest.raises(TelegramBadRequest):
        await bot.send_chat_action(1, "dancing")
    assert await bot.log_out()
    assert await bot.close()


# ------------------------------------------------------------------------------------------------------------
# Webhook
# ------------------------------------------------------------------------------------------------------------


async def test_webhook_delivery_with_secret_and_retry(server: FakeTelegram, bot: Bot) -> None:
    async with WebhookReceiver() as receiver:
        receiver.statuses = [500, 502]
        assert await bot.set_webhook(receiver.url, secret_token="s3cret", allowed_updates=["message"])
        info = await bot.get_webhook_info()
        assert info.url == receiver.url
        assert info.allowed_updates == ["message"]
        ana = server.user(42)
        update = await ana.send_text("via webhook")
        delivery = await server.wait_for_webhook_delivery(update["update_id"], timeout=5)
        assert delivery.attempt == 3
        assert server.webhook_statuses == [500, 502, 200]
        assert server.last_webhook_status == 200
        assert [body["update_id"] for body, _ in receiver.received] == [update["update_id"]] * 3
        assert {secret for _, secret in receiver.received} == {"s3cret"}
        assert receiver.received[0][0]["message"]["text"] == "via webhook"
        assert (await bot.get_webhook_info()).pending_update_count == 0

        # Direct posts with a wrong or missing secret return the app's status.
        assert await server.post_to_webhook({"message": update["message"]}, secret="wrong") == 200
        assert receiver.received[-1][1] == "wrong"
        assert await server.post_to_webhook({"message": update["message"]}, secret=None) == 200
        assert receiver.received[-1][1] is None

        assert await bot.delete_webhook(drop_pending_updates=True)
        assert (await bot.get_webhook_info()).url == ""


async def test_webhook_with_aiogram_handler_rejects_bad_secret(server: FakeTelegram, bot: Bot) -> None:
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler

    dp = Dispatcher()
    seen: list[str] = []

    @dp.message()
    async def echo(message: Message) -> None:
        seen.append(message.text or "")
        await message.answer(f"echo: {message.text}")

    app = web.Application()
    SimpleRequestHandler(dp, bot, secret_token="good", handle_in_background=False).register(app, path="/wh")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        await bot.set_webhook(f"http://{host}:{port}/wh", secret_token="good")
        ana = server.user(42)
        update = await ana.send_text("x")  # queued: delivered by the server with the right secret
        # A forged delivery with a wrong secret is rejected by aiogram's handler.
        assert await server.post_to_webhook({"message": update["message"]}, secret="bad") == 401
        await server.drain(timeout=5)
        reply = await ana.wait_for_reply(timeout=5)
        assert reply.text == "echo: x"
        assert seen == ["x"]
    finally:
        await bot.delete_webhook()
        await runner.cleanup()


async def test_duplicate_delivery_polling(server: FakeTelegram, bot: Bot) -> None:
    ana = server.user(42)
    update = await ana.send_text("once")
    [got] = await bot.get_updates()
    assert await bot.get_updates(offset=got.update_id + 1) == []
    server.duplicate(update["update_id"])
    [dup] = await bot.get_updates(offset=got.update_id + 1)
    assert dup.update_id == update["update_id"]
    assert dup.message is not None and dup.message.text == "once"
    assert await bot.get_updates(offset=dup.update_id + 1) == []


async def test_duplicate_delivery_webhook(server: FakeTelegram, bot: Bot) -> None:
    async with WebhookReceiver() as receiver:
        await bot.set_webhook(receiver.url)
        ana = server.user(42)
        update = await ana.send_text("once")
        await server.wait_for_webhook_delivery(update["update_id"], timeout=5)
        server.duplicate(update["update_id"])
        await server.drain(timeout=5)
        assert [body["update_id"] for body, _ in receiver.received] == [update["update_id"]] * 2
        assert receiver.received[0][1] is None  # no secret configured -> no header


# ------------------------------------------------------------------------------------------------------------
# Simulated users
# ------------------------------------------------------------------------------------------------------------


async def test_user_updates_are_valid_aiogram_updates(server: FakeTelegram, bot: Bot) -> None:
    ana = server.user(42, "Ana", language_code="sv")
    await bot.send_message(42, "Pick", reply_markup=keyboard(("One", "1")))
    sent = await ana.send_text("hello")
    updates = [
        sent,
        await ana.send_command("/start reconnect"),
        await ana.send_sticker(),
        await ana.send_photo(caption="cv"),
        await ana.send_voice(),
        await ana.send_location(),
        await ana.send_contact(),
        await ana.edit_message(sent["message"]["message_id"], "hello again"),
        await ana.tap_button("One"),
        await ana.in_group(-100555, "Team").send_text("in group"),
        await ana.block_bot(),
        server.enqueue_raw({"message": {**sent["message"], "text": "raw"}}),
    ]
    ids = [u["update_id"] for u in updates]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    parsed = [Update.model_validate(u, context={"bot": bot}) for u in updates]
    command = parsed[1].message
    assert command is not None and command.entities is not None
    assert command.entities[0].type == "bot_command" and command.entities[0].length == len("/start")
    assert parsed[2].message is not None and parsed[2].message.sticker is not None
    assert parsed[6].message is not None and parsed[6].message.contact is not None
    assert parsed[6].message.contact.user_id == 42
    assert parsed[7].edited_message is not None and parsed[7].edited_message.text == "hello again"
    assert parsed[8].callback_query is not None and parsed[8].callback_query.data == "1"
    group = parsed[9].message
    assert group is not None and group.chat.type == "group" and group.from_user is not None
    assert parsed[10].my_chat_member is not None
    # Private message ids are shared between user and bot in a chat.
    assert sent["message"]["message_id"] == 2
    # Updates round-trip through getUpdates too (my_chat_member is a default update type).
    server.unblock_user(42)
    received = await bot.get_updates()
    assert [u.update_id for u in received] == ids


async def test_wait_for_reply_times_out_with_context(server: FakeTelegram, bot: Bot) -> None:
    ana = server.user(42)
    await ana.send_text("hi")
    await bot.send_message(42, "not this one")
    with pytest.raises(TimeoutError, match="not this one"):
        await ana.wait_for_reply(lambda m: "other" in m.text, timeout=0.2)
    reply = await ana.wait_for_reply()
    assert reply.text == "not this one"


async def test_form_fields_with_json_are_decoded(server: FakeTelegram) -> None:
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    async with aiohttp.ClientSession() as http:
        form = {
            "chat_id": "9",
            "text": "123",
            "reply_markup": json.dumps(markup),
            "disable_notification": "true",
        }
        async with http.post(f"{server.url}/bot{TOKEN}/sendMessage", data=form) as resp:
            assert resp.status == 200
    params = server.calls[-1].params
    assert params == {"chat_id": 9, "text": "123", "reply_markup": markup, "disable_notification": True}


async def test_webhook_reply_method_is_executed(server: FakeTelegram, bot: Bot) -> None:
    from aiogram.methods import SendMessage
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler

    dp = Dispatcher()

    @dp.message()
    async def reply_in_response(message: Message) -> SendMessage:
        return SendMessage(
            chat_id=message.chat.id, text="<b>answered in the webhook response</b>", parse_mode="HTML"
        )

    app = web.Application()
    SimpleRequestHandler(dp, bot, handle_in_background=False).register(app, path="/wh")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        await bot.set_webhook(f"http://{host}:{port}/wh")
        ana = server.user(42)
        await ana.send_text("hi")
        reply = await ana.wait_for_reply(timeout=5)
        assert reply.text == "answered in the webhook response"
        assert reply.entities == [{"type": "bold", "offset": 0, "length": len(reply.text)}]
        assert server.calls[-1].method == "sendMessage"
    finally:
        await bot.delete_webhook()
        await runner.cleanup()
