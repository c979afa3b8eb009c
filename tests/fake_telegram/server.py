"""In-process fake of the Telegram Bot API for end-to-end tests.

``FakeTelegram`` is an aiohttp web server bound to ``127.0.0.1`` on a random free port that speaks the
Bot API HTTP protocol the way aiogram 3 (and other clients) use it::

    POST {server.url}/bot{token}/{method}

Request parameters may arrive as ``application/x-www-form-urlencoded``, ``multipart/form-data`` (file
uploads), JSON, or in the query string.  Nested objects that clients serialise as JSON strings inside form
fields (``reply_markup``, ``entities``, ``allowed_updates``, ``commands``, ``scope`` ...) are decoded.
Responses use the real envelope: ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": N, "description": "...", "parameters": {...}}``.

Besides answering API calls the server records every request (``server.calls``), keeps the state of every
chat (current messages after edits, full send/edit history), simulates users that send updates to the bot
(``server.user(...)``), delivers updates by long polling (``getUpdates``) or by webhook, and supports fault
injection (``fail_next``, ``block_user``, ``rate_limit_per_chat``).

Waiting is always event based: helpers such as ``FakeUser.wait_for_reply`` and ``FakeTelegram.wait_for_call``
wake up as soon as the server state changes instead of sleeping in fixed steps. ``drain`` waits until no
update is pending (confirmed, or answered 200); ``settle`` also waits until the bot is back in a long
poll, the sign that a bot which confirms updates before handling them has finished them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from types import TracebackType
from typing import Any, Self

import aiohttp
import orjson
from aiohttp import web
from multidict import MultiDictProxy

from tests.fake_telegram.api import (
    _STRING_PARAMS,
    MAX_UPLOAD_BYTES,
)
from tests.fake_telegram.calls import Calls
from tests.fake_telegram.chats import Chats
from tests.fake_telegram.html import HtmlParseError, parse_html
from tests.fake_telegram.messages import Messages
from tests.fake_telegram.records import (
    ApiError,
    BotMessage,
    Call,
    HistoryEvent,
    JsonDict,
    MethodHandler,
    RateViolation,
    UploadedFile,
    WebhookDelivery,
    _Described,
    _Fault,
    _Pending,
    _Pulse,
)
from tests.fake_telegram.updates import Updates
from tests.fake_telegram.users import FakeUser
from tests.fake_telegram.webhook import Webhook

__all__ = ["ApiError", "BotMessage", "Call", "FakeTelegram", "FakeUser", "HistoryEvent", "HtmlParseError",
           "RateViolation", "UploadedFile", "WebhookDelivery", "parse_html"]


class FakeTelegram(Chats, Messages, Updates, Webhook, Calls):
    """Fake Telegram Bot API server.  See the module docstring."""
    def __init__(
        self,
        token: str = "123456:TEST",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_first_name: str = "IPS Test Bot",
        bot_username: str = "ips_test_bot",
        strict_chats: bool = False,
        webhook_retry_delay: float = 0.05,
        webhook_max_retry_delay: float = 2.0,
        webhook_max_tries: int = 20,
        webhook_timeout: float = 10.0,
    ) -> None:
        self.token = token
        self.host = host
        self.port = port
        self.strict_chats = strict_chats
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_max_retry_delay = webhook_max_retry_delay
        self.webhook_max_tries = webhook_max_tries
        self.webhook_timeout = webhook_timeout
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456
        self.bot_user: JsonDict = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

        self.calls: list[Call] = []
        self.webhook_responses: list[WebhookDelivery] = []
        self.rate_violations: list[RateViolation] = []
        self.uploaded_files: list[UploadedFile] = []
        self.callback_answers: dict[str, JsonDict] = {}
        self.delivered_update_ids: list[int] = []

        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_allowed_updates: list[str] | None = None
        self.webhook_max_connections: int = 40
        self.webhook_last_error: tuple[int, str] | None = None

        self._chats: dict[int, JsonDict] = {}
        self._message_counters: dict[int, int] = {}
        self._bot_messages: dict[tuple[int, int], BotMessage] = {}
        self._user_messages: dict[tuple[int, int], JsonDict] = {}
        self._history: list[HistoryEvent] = []
        self._commands: dict[tuple[str, str], list[JsonDict]] = {}
        self._files_by_id: dict[str, UploadedFile] = {}
        self._callback_queries: dict[str, bool] = {}  # id -> answered
        self._blocked: set[int | str] = set()
        self._faults: list[_Fault] = []
        self._rate_limit: float | None = None
        self._rate_enforce = False
        self._rate_windows: dict[int, deque[float]] = {}

        self._pending: list[_Pending] = []
        self._update_log: dict[int, JsonDict] = {}
        self._next_update_id = 100_000_001
        self._callback_ids = itertools.count(4_000_000_000_000_000_001)
        self._file_ids = itertools.count(1)
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._waiting_poll: int | None = None  # generation of a long poll waiting with nothing to deliver
        self._closing = False

        self._changed = _Pulse()  # bot-visible state changes (messages, calls)
        self._updates_changed = _Pulse()  # pending updates / webhook config changes

        self._methods: dict[str, MethodHandler] = {}
        self._register_builtin_methods()

        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:PORT`` (use as ``TELEGRAM_API_URL``)."""
        if self._runner is None:
            raise RuntimeError("FakeTelegram is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def bot_id(self) -> int:
        return int(self.bot_user["id"])

    async def start(self) -> None:
        if self._runner is not None:
            return
        self._closing = False
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._handle_file)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        for address in runner.addresses:
            if isinstance(address, tuple):
                self.port = int(address[1])
                break
        self._client = aiohttp.ClientSession()
        self._webhook_task = asyncio.create_task(self._webhook_worker(), name="fake-telegram-webhook")

    async def stop(self) -> None:
        self._closing = True
        self._updates_changed.fire()
        self._changed.fire()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- users and updates --------------------------------------------------------------------------------

    def user(
        self,
        user_id: int = 111_111,
        first_name: str = "Ana",
        language_code: str | None = "da",
        *,
        last_name: str | None = None,
        username: str | None = None,
    ) -> FakeUser:
        """A simulated user in a private chat with the bot (chat id == user id)."""
        return FakeUser(
            self, user_id, first_name, last_name=last_name, username=username, language_code=language_code
        )

    def group_user(
        self,
        user_id: int = 111_111,
        first_name: str = "Ana",
        *,
        chat_id: int = -1001234567890,
        title: str = "IPS group",
        chat_type: str = "group",
        language_code: str | None = "da",
    ) -> FakeUser:
        """A simulated user writing in a group chat (``chat.type == "group"`` by default)."""
        return self.user(user_id, first_name, language_code).in_group(chat_id, title, chat_type=chat_type)

    # -- extension ----------------------------------------------------------------------------------------

    def register_method(self, name: str, handler: MethodHandler) -> None:
        """Add/override a method: ``async handler(params, files) -> result`` (raise ``ApiError`` to fail)."""
        self._methods[name.lower()] = handler

    # -- HTTP layer ---------------------------------------------------------------------------------------

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
        path = request.match_info["path"]
        uploaded = self._files_by_id.get(path.removeprefix("files/"))
        if uploaded is not None and path.startswith("files/"):
            return web.Response(body=uploaded.content, content_type=uploaded.content_type)
        return web.json_response(ApiError(404, "Not Found").payload(), status=404)

    async def _handle_api(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        try:
            params, files = await self._read_params(request)
        except ValueError as exc:
            call = Call(method=method, params={}, time=time.monotonic(), token=token)
            self.calls.append(call)
            return self._finish(call, ApiError(400, f"Bad Request: {exc}").payload(), 400)
        call = Call(method=method, params=params, time=time.monotonic(), files=files, token=token,
                    content_type=request.content_type if request.body_exists else "",
                    user_agent=request.headers.get("User-Agent", ""))
        self.calls.append(call)
        self._changed.fire()
        if token != self.token:
            return self._finish(call, ApiError(401, "Unauthorized").payload(), 401)
        handler = self._methods.get(method.lower())
        if handler is None:
            return self._finish(call, ApiError(404, "Not Found").payload(), 404)
        try:
            fault = self._take_fault(method.lower(), params)
            if fault is not None:
                raise ApiError(fault.error_code, fault.description, fault.parameters)
            if method.lower() == "getupdates":
                result = await self._get_updates(params, request)
            else:
                result = await handler(params, files)
        except ApiError as exc:
            return self._finish(call, exc.payload(), exc.error_code)
        except asyncio.CancelledError:
            call.status = 499
            self._changed.fire()
            raise
        body: JsonDict = {"ok": True, "result": result}
        if isinstance(result, _Described):
            body = {"ok": True, "result": result.result, "description": result.description}
        return self._finish(call, body, 200)

    def _finish(self, call: Call, body: JsonDict, status: int) -> web.Response:
        call.status = status
        call.response = body
        self._changed.fire()
        return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")

    async def _read_params(self, request: web.Request) -> tuple[JsonDict, dict[str, UploadedFile]]:
        raw: JsonDict = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.method == "POST" and request.can_read_body:
            content_type = request.content_type
            if content_type == "application/json":
                try:
                    data = await request.json(loads=orjson.loads)
                except json.JSONDecodeError as exc:
                    raise ValueError("can't parse JSON object") from exc
                if not isinstance(data, dict):
                    raise ValueError("JSON object expected")
                raw.update(data)
            elif content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
                form: MultiDictProxy[Any] = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = UploadedFile(
                            field=key,
                            filename=value.filename or key,
                            content=value.file.read(),
                            content_type=value.content_type or "application/octet-stream",
                        )
                    else:
                        raw[key] = value
        return self._decode_params(raw), files

    @staticmethod
    def _decode_params(raw: JsonDict) -> JsonDict:
        params: JsonDict = {}
        for key, value in raw.items():
            if isinstance(value, str) and key not in _STRING_PARAMS:
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            params[key] = value
        return params

    # -- Bot API methods ----------------------------------------------------------------------------------

    def _register_builtin_methods(self) -> None:
        builtin: dict[str, MethodHandler] = {
            "getMe": self._m_get_me,
            "getFile": self._m_get_file,
            "getUpdates": self._m_get_updates_placeholder,
            "setWebhook": self._m_set_webhook,
            "deleteWebhook": self._m_delete_webhook,
            "getWebhookInfo": self._m_get_webhook_info,
            "sendMessage": self._m_send_message,
            "editMessageText": self._m_edit_message_text,
            "editMessageReplyMarkup": self._m_edit_message_reply_markup,
            "answerCallbackQuery": self._m_answer_callback_query,
            "sendDocument": self._m_send_document,
            "setMyCommands": self._m_set_my_commands,
            "getMyCommands": self._m_get_my_commands,
            "deleteMyCommands": self._m_delete_my_commands,
            "sendChatAction": self._m_send_chat_action,
            "deleteMessage": self._m_delete_message,
            "editMessageMedia": self._m_edit_message_media,
            "close": self._m_true,
            "logOut": self._m_true,
            "setMyDescription": self._m_true,
            "setMyShortDescription": self._m_true,
            "setMyName": self._m_true,
            "setChatMenuButton": self._m_true,
        }
        for name, handler in builtin.items():
            self.register_method(name, handler)

    async def _m_true(self, params: JsonDict, files: dict[str, UploadedFile]) -> bool:
        return True

    async def _m_get_me(self, params: JsonDict, files: dict[str, UploadedFile]) -> JsonDict:
        return dict(self.bot_user)

    async def _m_get_file(self, params: JsonDict, files: dict[str, UploadedFile]) -> JsonDict:
        uploaded = self._files_by_id.get(str(params.get("file_id") or ""))
        if uploaded is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": uploaded.file_id,
            "file_unique_id": uploaded.file_unique_id,
            "file_size": uploaded.size,
            "file_path": f"files/{uploaded.file_id}",
        }

    async def _m_get_updates_placeholder(self, params: JsonDict, files: dict[str, UploadedFile]) -> Any:
        raise AssertionError("getUpdates is handled by _get_updates")  # pragma: no cover
