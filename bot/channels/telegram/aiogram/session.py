"""aiogram's aiohttp session, sending each call as a JSON body, and lean calls for our own replies.

Telegram's Bot API takes JSON bodies as well as forms. aiogram always builds a form (aiohttp's
`FormData`), which is the largest part of what a call costs us besides the network; JSON from
orjson is a fraction of that. Calls that upload a file go as aiogram's form, unchanged.

Our replies (`SendRendered`, `EditRendered`, `AnswerTap`) are already JSON values when they leave
the outbox: text that `bot.channels.telegram.render` escaped, a keyboard as a dict. Validating them into
aiogram's models and dumping them again, and validating Telegram's whole answer (a `Message` with
its keyboard) of which we read only the message id, was a third of the bot's CPU per update in
`tests.benchmarks.load`. These calls skip both; they still go through the session's middlewares
(pacing, 429) and aiogram's error mapping, so a caller sees the same exceptions.
"""

from __future__ import annotations

import contextlib
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar, cast

import orjson
from aiogram import methods
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiohttp import ClientError, ClientTimeout
from pydantic import BaseModel, ConfigDict
from yarl import URL

from bot.channels.telegram.api import PARSE_MODE, Markup

if TYPE_CHECKING:
    from aiogram import Bot

__all__ = ["PARSE_MODE", "AnswerTap", "EditRendered", "GetRawUpdates", "JsonSession", "Markup", "SendRendered", "call"]
JSON_HEADERS = {"Content-Type": "application/json"}


def json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class SentMessage(BaseModel):
    """What we read of Telegram's answer to a send or an edit: the message's id."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    message_id: int


class Lean:
    """A call whose successful answer is read straight from the JSON (`result_of`), not through pydantic.

    A failed call still goes through aiogram's `check_response`, so callers see aiogram's exceptions.
    """

    __slots__ = ()

    @classmethod
    def result_of(cls, result: Any) -> Any:
        return result


class Rendered(Lean):
    """A call given as Telegram's JSON fields, for our own rendered replies; not a pydantic model.

    It goes through `Bot.__call__`, the session's middlewares (pacing, 429) and aiogram's error
    mapping like an aiogram method (they read only `chat_id`, the type's name and `__returning__`),
    but neither its fields nor Telegram's answer are validated: `render` made the one, and of the
    other we read only the message id. Use `call` to send one.
    """

    __slots__ = ("chat_id", "fields")
    __api_method__: ClassVar[str]
    __returning__: ClassVar[Any]
    paced: ClassVar[bool] = False  # a new message in the chat: at most one a second (`PerChatPace`)

    def __init__(self, **fields: Any) -> None:
        self.fields = {name: value for name, value in fields.items() if value is not None}
        self.chat_id = fields.get("chat_id")

    def json_body(self) -> bytes:
        return orjson.dumps(self.fields)

    @classmethod
    def result_of(cls, result: Any) -> SentMessage | bool:
        # a message for sends and edits; `true` for an edit of an inline message and for answers to taps
        if isinstance(result, dict):
            return SentMessage.model_construct(message_id=result["message_id"])
        return bool(result)


class SendRendered(Rendered):
    """sendMessage with our rendered HTML text and keyboard; answered with the message id only."""

    __slots__ = ()
    __api_method__ = "sendMessage"
    __returning__ = SentMessage
    paced = True

    def __init__(self, chat_id: int, text: str, markup: Markup | None = None) -> None:
        super().__init__(chat_id=chat_id, text=text, parse_mode=PARSE_MODE, reply_markup=markup)


class EditRendered(Rendered):
    """editMessageText with our rendered HTML text (and keyboard, or none: the buttons go)."""

    __slots__ = ()
    __api_method__ = "editMessageText"
    __returning__ = SentMessage | bool

    def __init__(self, chat_id: int, message_id: int, text: str, markup: Markup | None = None) -> None:
        super().__init__(chat_id=chat_id, message_id=message_id, text=text, parse_mode=PARSE_MODE,
                         reply_markup=markup)


class AnswerTap(Rendered):
    """answerCallbackQuery with no text: stops the spinner on the pressed button."""

    __slots__ = ()
    __api_method__ = "answerCallbackQuery"
    __returning__ = bool

    def __init__(self, callback_query_id: str) -> None:
        super().__init__(callback_query_id=callback_query_id)


async def call(bot: Bot, request: Rendered) -> Any:
    """Send a `Rendered` call through the bot (and so through its session's middlewares)."""
    return await bot(cast("TelegramMethod[Any]", request))


class GetRawUpdates(Lean, methods.GetUpdates):
    """getUpdates answered as plain dicts: the poller stores them in the inbox as they came, skips a
    repeat of one it has in hand, and turns each of the others into aiogram's `Update` once."""

    __returning__ = list[dict[str, Any]]


# aiogram builds `Response[<return type>]` for every call; pydantic caches such generic models only
# weakly, so without a strong reference each call may build the model again (milliseconds each).
RESPONSE_MODELS = [
    Response[returning]  # type: ignore[valid-type]  # a runtime type argument
    for returning in (SentMessage, SentMessage | bool, list[dict[str, Any]])
]


class JsonSession(AiohttpSession):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(json_loads=orjson.loads, json_dumps=json_dumps, **kwargs)
        self._urls: dict[tuple[str, str], URL] = {}  # parsed once: aiohttp parses a string URL on every call

    def url_of(self, bot: Bot, api_method: str) -> URL:
        key = (bot.token, api_method)
        url = self._urls.get(key)
        if url is None:
            url = self._urls[key] = URL(self.api.api_url(token=bot.token, method=api_method))
        return url

    def build_json(self, bot: Bot, method: TelegramMethod[TelegramType]) -> bytes | None:
        """The call as a JSON body; None if it carries a file (sent as a form then)."""
        if isinstance(method, Rendered):
            return method.json_body()
        files: dict[str, Any] = {}
        body = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is not None:
                body[key] = prepared
        return None if files else orjson.dumps(body)

    async def make_request(self, bot: Bot, method: TelegramMethod[TelegramType],
                           timeout: int | None = None) -> TelegramType:  # noqa: ASYNC109  # aiogram's signature
        body = self.build_json(bot, method)
        if body is None:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.url_of(bot, method.__api_method__)
        try:  # as aiogram's own make_request, but with a JSON body
            async with session.post(url, data=body, headers=JSON_HEADERS,
                                    timeout=ClientTimeout(total=self.timeout if timeout is None else timeout)) as resp:
                raw_result = await resp.read()
        except TimeoutError as e:
            raise TelegramNetworkError(method=method, message="Request timeout error") from e
        except ClientError as e:
            # aiohttp's text can quote the address, and with it the token (`bot.redact` filters logs too)
            text = str(e).replace(bot.token, "[redacted]")
            raise TelegramNetworkError(method=method, message=f"{type(e).__name__}: {text}") from e
        if isinstance(method, Lean) and resp.status == HTTPStatus.OK:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                answer = orjson.loads(raw_result)
                if answer["ok"] is True:
                    return cast(TelegramType, method.result_of(answer["result"]))
        text = raw_result.decode("utf-8", errors="replace")
        response = self.check_response(bot=bot, method=method, status_code=resp.status, content=text)
        return cast(TelegramType, response.result)
