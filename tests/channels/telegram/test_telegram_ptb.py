"""The python-telegram-bot runtime's own parts that the end-to-end suite cannot reach on purpose:
its per-person lock, and its errors as the shared code's."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest as PtbBadRequest
from telegram.error import Forbidden as PtbForbidden
from telegram.error import NetworkError as PtbNetworkError
from telegram.error import RetryAfter, TelegramError, TimedOut

from bot.channels.telegram.api import ApiError, BadRequest, Forbidden, NetworkError
from bot.channels.telegram.ptb.request import AiohttpRequest
from bot.channels.telegram.ptb.runtime import Isolation, _mapped, _wait_of
from bot.channels.telegram.updates import sender_of
from bot.settings import Settings
from tests.fake_telegram import FakeTelegram

TOKEN = "123456:SECRET-PART"


async def test_one_person_at_a_time_also_when_an_update_arrives_as_the_one_before_ends() -> None:
    """A released lock looks free before its next waiter wakes: a third update arriving just then
    must still wait its turn, not take a fresh lock of its own."""
    isolation = Isolation(Settings(redis_url=None), bot_id=1)
    inside: list[str] = []
    overlaps: list[list[str]] = []
    later: list[asyncio.Task[None]] = []

    async def update(name: str) -> None:
        async with isolation.lock(7):
            inside.append(name)
            if len(inside) > 1:
                overlaps.append(list(inside))
            for _ in range(3):
                await asyncio.sleep(0)
            inside.remove(name)
        if name == "first":  # the next update of the same person arrives right after the first ends
            later.append(asyncio.create_task(update("third")))

    await asyncio.gather(update("first"), update("second"))
    await asyncio.gather(*later)
    assert overlaps == [] and len(later) == 1
    assert isolation._locks == {}  # forgotten once nobody holds or waits for it


def test_python_telegram_bot_errors_become_the_shared_ones() -> None:
    assert type(_mapped(PtbForbidden("Forbidden: bot was blocked by the user"))) is Forbidden
    assert type(_mapped(PtbBadRequest("Bad Request: message is not modified"))) is BadRequest  # a NetworkError there
    assert type(_mapped(TimedOut())) is NetworkError
    assert type(_mapped(TelegramError("Internal Server Error"))) is ApiError


def test_the_person_of_an_update_is_its_sender() -> None:
    assert sender_of({"update_id": 1, "message": {"from": {"id": 42}, "chat": {"id": -5}}}) == 42
    assert sender_of({"update_id": 2, "callback_query": {"id": "q", "from": {"id": 43}}}) == 43
    assert sender_of({"update_id": 3, "channel_post": {"chat": {"id": -7}}}) is None


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        yield fake


def ptb_bot(url: str) -> Bot:
    return Bot(TOKEN, base_url=f"{url}/bot", request=AiohttpRequest(4), get_updates_request=AiohttpRequest(1))


async def test_the_aiohttp_backend_sends_json_and_uploads_files_as_forms(server: FakeTelegram) -> None:
    """python-telegram-bot's `Bot` on our backend: a plain call as a JSON body (the keyboard nested, not
    a JSON string in a form), a file as multipart, and Telegram's answers read back into its models."""
    async with ptb_bot(server.url) as bot:  # initialize: getMe
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("ja", callback_data="q1:yes")]])
        sent = await bot.send_message(77, "<b>hej</b>", parse_mode="HTML", reply_markup=keyboard)
        uploaded = await bot.send_document(77, b"a,b\n1,2\n", filename="export.csv", caption="CSV")
    assert sent.text == "hej" and sent.chat.id == 77 and uploaded.document is not None
    send, document = server.calls_to("sendMessage")[0], server.calls_to("sendDocument")[0]
    assert send.content_type == "application/json" and "python-telegram-bot" in send.user_agent
    assert send.params["reply_markup"] == {"inline_keyboard": [[{"text": "ja", "callback_data": "q1:yes"}]]}
    assert document.content_type == "multipart/form-data" and document.params["caption"] == "CSV"
    assert [(f.filename, f.content) for f in document.files.values()] == [("export.csv", b"a,b\n1,2\n")]


@pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")  # python-telegram-bot's own, reading it
async def test_the_aiohttp_backend_keeps_python_telegram_bots_errors(server: FakeTelegram) -> None:
    """The status and Telegram's answer are still mapped by python-telegram-bot (`RetryAfter` with its
    wait, `Forbidden`, `BadRequest`), so pacing and the shared code see what they saw with httpx."""
    server.fail_next("sendMessage", 429, retry_after=3)
    server.fail_next("editMessageText", 403)
    server.fail_next("deleteMessage", 400, description="Bad Request: message to delete not found")
    async with ptb_bot(server.url) as bot:
        with pytest.raises(RetryAfter) as waited:
            await bot.send_message(77, "hej")
        with pytest.raises(PtbForbidden):
            await bot.edit_message_text("hej", chat_id=77, message_id=1)
        with pytest.raises(PtbBadRequest, match=r"(?i)message to delete not found"):
            await bot.delete_message(77, 1)
    assert _wait_of(waited.value) == 3.0


async def test_an_unreachable_bot_api_is_a_network_error_without_the_token() -> None:
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        request = AiohttpRequest(1)
        await request.initialize()
        try:
            with pytest.raises(PtbNetworkError) as failed:
                await request.post(f"{url}/bot{TOKEN}/getMe")
        finally:
            await request.shutdown()
    assert not isinstance(failed.value, TimedOut) and "SECRET-PART" not in str(failed.value)
    assert type(_mapped(failed.value)) is NetworkError
