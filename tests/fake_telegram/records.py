"""What the fake Bot API records and answers: calls, bot messages, history, errors, pending updates."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import email.policy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from typing import Any, Literal

JsonDict = dict[str, Any]
MethodHandler = Callable[[JsonDict, dict[str, "UploadedFile"]], Awaitable[Any]]
ButtonMatcher = str | Callable[[JsonDict], bool]


class _Default:
    """Sentinel type for "use the configured value"."""


_DEFAULT = _Default()


class ApiError(Exception):
    """Raise from a method handler to answer with ``{"ok": false, ...}``."""

    def __init__(self, error_code: int, description: str, parameters: JsonDict | None = None) -> None:
        super().__init__(f"{error_code}: {description}")
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def payload(self) -> JsonDict:
        body: JsonDict = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass
class UploadedFile:
    """A file received in a multipart request (or a reference to one by ``file_id``)."""

    field: str
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"
    file_id: str = ""
    file_unique_id: str = ""

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass
class Call:
    """One HTTP request to the Bot API (``status`` is ``None`` while a long poll is still pending)."""

    method: str
    params: JsonDict
    time: float
    files: dict[str, UploadedFile] = field(default_factory=dict)
    token: str = ""
    status: int | None = None
    response: JsonDict | None = None
    content_type: str = ""  # of the request body ("" without one)
    user_agent: str = ""  # the client's User-Agent header

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        return (self.response or {}).get("result")

    @property
    def description(self) -> str | None:
        return (self.response or {}).get("description")


@dataclass
class BotMessage:
    """A message sent by the bot as currently stored by the fake server (or a snapshot of it).

    ``text`` is what the user sees (HTML already parsed); ``raw_text`` is the ``text`` parameter as sent.
    For documents ``text`` is ``""`` and ``caption``/``document`` are set.
    """

    chat_id: int
    message_id: int
    text: str = ""
    raw_text: str | None = None
    parse_mode: str | None = None
    entities: list[JsonDict] = field(default_factory=list)
    reply_markup: JsonDict | None = None
    caption: str | None = None
    caption_entities: list[JsonDict] = field(default_factory=list)
    document: UploadedFile | None = None
    date: int = 0
    edit_date: int | None = None
    deleted: bool = False
    method: str = "sendMessage"
    params: JsonDict = field(default_factory=dict)

    @property
    def content(self) -> str:
        """Text of a text message, caption of a media message."""
        return self.text or (self.caption or "")

    @property
    def inline_keyboard(self) -> list[list[JsonDict]]:
        if not self.reply_markup:
            return []
        return list(self.reply_markup.get("inline_keyboard") or [])

    @property
    def buttons(self) -> list[JsonDict]:
        """Inline keyboard buttons, row by row (reply keyboard buttons are not included)."""
        return [button for row in self.inline_keyboard for button in row]

    @property
    def button_texts(self) -> list[str]:
        return [str(button.get("text", "")) for button in self.buttons]

    @property
    def reply_keyboard(self) -> list[list[str]]:
        """Texts of a ``ReplyKeyboardMarkup`` attached to the message, if any."""
        if not self.reply_markup or "keyboard" not in self.reply_markup:
            return []
        return [
            [b if isinstance(b, str) else str(b.get("text", "")) for b in row]
            for row in self.reply_markup["keyboard"]
        ]

    def find_button(self, matcher: ButtonMatcher) -> JsonDict:
        """Find an inline button by exact text, unique substring, or predicate; raise ``LookupError``."""
        buttons = self.buttons
        if callable(matcher):
            found = [b for b in buttons if matcher(b)]
        else:
            found = [b for b in buttons if b.get("text") == matcher]
            if not found:
                found = [b for b in buttons if matcher in str(b.get("text", ""))]
                if len(found) > 1:
                    raise LookupError(f"button text {matcher!r} is ambiguous in {self.button_texts}")
        if not found:
            raise LookupError(
                f"no button matching {matcher!r} on message {self.message_id}; buttons: {self.button_texts}"
            )
        return found[0]

    def snapshot(self) -> BotMessage:
        # edits replace these fields rather than change them in place, so copies of the containers
        # suffice (a deep copy was a twentieth of the load benchmark's driver)
        return dataclasses.replace(self, entities=list(self.entities), caption_entities=list(self.caption_entities),
                                   reply_markup=copy.deepcopy(self.reply_markup), params=dict(self.params))


@dataclass
class HistoryEvent:
    """A send/edit/delete of a bot message, with a snapshot of the message right after the event."""

    kind: Literal["send", "edit", "delete"]
    method: str
    chat_id: int
    message_id: int
    message: BotMessage
    time: float


@dataclass
class WebhookDelivery:
    """The outcome of one webhook POST (``status`` is ``None`` on connection errors/timeouts)."""

    update_id: int | None
    status: int | None
    attempt: int
    time: float
    error: str | None = None
    body: str = ""


@dataclass
class RateViolation:
    chat_id: int
    method: str
    time: float
    count: int


@dataclass
class _Pending:
    update: JsonDict
    forced: bool = False
    attempts: int = 0

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])


@dataclass
class _Fault:
    method: str
    error_code: int
    description: str
    parameters: JsonDict | None
    remaining: int
    chat_id: int | str | None = None


class _Pulse:
    """Wake every waiter whenever something changes (sync ``fire``, async ``wait``)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, limit: float | None) -> bool:
        """Wait for the next fire (at most ``limit`` seconds); return ``False`` on timeout."""
        event = self._event
        if limit is not None and limit <= 0:
            return False
        try:
            await asyncio.wait_for(event.wait(), limit)
        except TimeoutError:
            return False
        return True


def _update_type(update: JsonDict) -> str | None:
    for key in update:
        if key != "update_id":
            return key
    return None


def _normalise_markup(markup: Any) -> JsonDict | None:
    if not isinstance(markup, dict) or not markup:
        return None
    if "inline_keyboard" in markup and not markup["inline_keyboard"]:
        return None
    return markup


@dataclass
class _Described:
    """A successful result with a top-level ``description`` (e.g. "Webhook was set")."""

    result: Any
    description: str


def _parse_multipart(content_type: str, body: bytes) -> tuple[JsonDict, dict[str, UploadedFile]]:
    """Parse an in-memory ``multipart/form-data`` body into ``(fields, files)``."""
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: JsonDict = {}
    files: dict[str, UploadedFile] = {}
    if not message.is_multipart():
        return fields, files
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename:
            files[name] = UploadedFile(
                field=name, filename=filename, content=data, content_type=part.get_content_type()
            )
        else:
            fields[name] = data.decode("utf-8")
    return fields, files


def _as_int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid integer value {value!r}") from None


def _as_float(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid number value {value!r}") from None
