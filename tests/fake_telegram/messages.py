"""The Bot API methods that send, edit and delete messages and answer callbacks."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from tests.fake_telegram.api import (
    _CHAT_ACTIONS,
    _COMMAND_RE,
    BLOCKED,
    MAX_CALLBACK_DATA_BYTES,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    MAX_UPLOAD_BYTES,
    NOT_MODIFIED,
    QUERY_TOO_OLD,
)
from tests.fake_telegram.html import HtmlParseError, parse_html
from tests.fake_telegram.records import (
    ApiError,
    BotMessage,
    JsonDict,
    UploadedFile,
    _as_int,
    _normalise_markup,
)


class Messages:
    """The Bot API methods that send, edit and delete messages and answer callbacks.

    A part of `FakeTelegram`, whose `__init__` sets the state used here.
    """

    def _format_text(self, params: JsonDict, key: str = "text") -> tuple[str, list[JsonDict]]:
        raw = params.get(key)
        text = "" if raw is None else str(raw)
        parse_mode_key = "parse_mode"
        entities_key = "entities" if key == "text" else "caption_entities"
        parse_mode = str(params.get(parse_mode_key) or "")
        if parse_mode.lower() == "html":
            try:
                return parse_html(text)
            except HtmlParseError as exc:
                raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        entities = params.get(entities_key)
        return text, list(entities) if isinstance(entities, list) else []

    @staticmethod
    def _check_markup(markup: Any) -> JsonDict | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: InlineKeyboardButton must be an Object",
                )
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or not button.get("text"):
                        raise ApiError(
                            400,
                            "Bad Request: can't parse inline keyboard button: Text buttons "
                            "are unallowed in the inline keyboard",
                        )
                    if len(button) == 1:
                        raise ApiError(
                            400,
                            "Bad Request: can't parse inline keyboard button: Text buttons "
                            "are unallowed in the inline keyboard",
                        )
                    if "callback_data" in button:
                        data = str(button["callback_data"])
                        if not data or len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES:
                            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                    if "url" in button and not str(button["url"]).startswith(
                        ("http://", "https://", "tg://")
                    ):
                        raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
        return _normalise_markup(markup)

    async def _m_send_message(self, params: JsonDict, files: dict[str, UploadedFile]) -> JsonDict:
        chat_id = self._resolve_chat(params.get("chat_id"))
        text, entities = self._format_text(params)
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        markup = self._check_markup(params.get("reply_markup"))
        self._check_send(chat_id, "sendMessage")
        message = BotMessage(
            chat_id=chat_id,
            message_id=self._next_message_id(chat_id),
            text=text,
            raw_text=str(params.get("text")),
            parse_mode=params.get("parse_mode"),
            entities=entities,
            reply_markup=markup,
            date=int(time.time()),
            method="sendMessage",
            params=dict(params),
        )
        self._bot_messages[(chat_id, message.message_id)] = message
        self._record_event("send", "sendMessage", message)
        return self._message_json(message)

    def _editable(self, params: JsonDict) -> BotMessage:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        chat_id = self._resolve_chat(params.get("chat_id"))
        message_id = _as_int(params.get("message_id"), 0)
        if (chat_id, message_id) in self._user_messages:
            raise ApiError(400, "Bad Request: message can't be edited")
        message = self._bot_messages.get((chat_id, message_id))
        if message is None or message.deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        return message

    async def _m_edit_message_text(self, params: JsonDict, files: dict[str, UploadedFile]) -> JsonDict:
        message = self._editable(params)
        text, entities = self._format_text(params)
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        if message.document is not None:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        markup = self._check_markup(params.get("reply_markup"))
        if text == message.text and entities == message.entities and markup == message.reply_markup:
            raise ApiError(400, NOT_MODIFIED)
        message.text = text
        message.raw_text = str(params.get("text"))
        message.parse_mode = params.get("parse_mode")
        message.entities = entities
        message.reply_markup = markup
        message.edit_date = int(time.time())
        message.params = dict(params)
        self._record_event("edit", "editMessageText", message)
        return self._message_json(message)

    async def _m_edit_message_reply_markup(
        self, params: JsonDict, files: dict[str, UploadedFile]
    ) -> JsonDict:
        message = self._editable(params)
        markup = self._check_markup(params.get("reply_markup"))
        if markup == message.reply_markup:
            raise ApiError(400, NOT_MODIFIED)
        message.reply_markup = markup
        message.edit_date = int(time.time())
        self._record_event("edit", "editMessageReplyMarkup", message)
        return self._message_json(message)

    async def _m_answer_callback_query(self, params: JsonDict, files: dict[str, UploadedFile]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if self._callback_queries.get(query_id, True):
            raise ApiError(400, QUERY_TOO_OLD)
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._callback_queries[query_id] = True
        self.callback_answers[query_id] = dict(params)
        self._changed.fire()
        return True

    async def _m_send_document(self, params: JsonDict, files: dict[str, UploadedFile]) -> JsonDict:
        chat_id = self._resolve_chat(params.get("chat_id"))
        document = self._resolve_input_file(params.get("document"), files, "document")
        caption: str | None = None
        caption_entities: list[JsonDict] = []
        if params.get("caption") is not None:
            caption, caption_entities = self._format_text(params, "caption")
            if len(caption) > MAX_CAPTION_LENGTH:
                raise ApiError(400, "Bad Request: message caption is too long")
        markup = self._check_markup(params.get("reply_markup"))
        self._check_send(chat_id, "sendDocument")
        message = BotMessage(
            chat_id=chat_id,
            message_id=self._next_message_id(chat_id),
            caption=caption or None,
            caption_entities=caption_entities,
            parse_mode=params.get("parse_mode"),
            document=document,
            reply_markup=markup,
            date=int(time.time()),
            method="sendDocument",
            params=dict(params),
        )
        self._bot_messages[(chat_id, message.message_id)] = message
        self._record_event("send", "sendDocument", message)
        return self._message_json(message)

    async def _m_edit_message_media(self, params: JsonDict, files: dict[str, UploadedFile]) -> JsonDict:
        """Only a document replacing a document (what the bot does to withdraw a file)."""
        message = self._editable(params)
        media = params.get("media")
        if isinstance(media, str):
            media = json.loads(media)
        if not isinstance(media, dict) or media.get("type") != "document" or message.document is None:
            raise ApiError(400, "Bad Request: can't edit this message's media")
        message.document = self._resolve_input_file(media.get("media"), files, "media")
        caption = media.get("caption")
        message.caption = None if caption is None else str(caption)
        message.edit_date = int(time.time())
        self._record_event("edit", "editMessageMedia", message)
        return self._message_json(message)

    def _resolve_input_file(
        self, value: Any, files: dict[str, UploadedFile], field_name: str
    ) -> UploadedFile:
        uploaded: UploadedFile | None = None
        if isinstance(value, str) and value.startswith("attach://"):
            uploaded = files.get(value.removeprefix("attach://"))
            if uploaded is None:
                raise ApiError(400, f"Bad Request: wrong file identifier/HTTP URL specified for {field_name}")
        elif field_name in files:
            uploaded = files[field_name]
        elif isinstance(value, str) and value in self._files_by_id:
            return self._files_by_id[value]
        elif isinstance(value, str) and value.startswith(("http://", "https://")):
            name = value.rsplit("/", 1)[-1] or "file"
            uploaded = UploadedFile(field=field_name, filename=name, content=b"")
        else:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if not uploaded.content and uploaded in files.values():
            raise ApiError(400, "Bad Request: file must be non-empty")
        if uploaded.size > MAX_UPLOAD_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        file_id, unique = self._new_file_id()
        uploaded = copy.copy(uploaded)
        uploaded.file_id, uploaded.file_unique_id = file_id, unique
        self._files_by_id[file_id] = uploaded
        self.uploaded_files.append(uploaded)
        return uploaded

    async def _m_set_my_commands(self, params: JsonDict, files: dict[str, UploadedFile]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_RE.match(str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: command description is empty or too long")
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        if commands:
            self._commands[key] = [dict(c) for c in commands]
        else:
            self._commands.pop(key, None)
        return True

    async def _m_get_my_commands(self, params: JsonDict, files: dict[str, UploadedFile]) -> list[JsonDict]:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        return copy.deepcopy(self._commands.get(key, []))

    async def _m_delete_my_commands(self, params: JsonDict, files: dict[str, UploadedFile]) -> bool:
        self._commands.pop(self._commands_key(params.get("scope"), params.get("language_code")), None)
        return True

    async def _m_send_chat_action(self, params: JsonDict, files: dict[str, UploadedFile]) -> bool:
        chat_id = self._resolve_chat(params.get("chat_id"))
        if params.get("action") not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        if chat_id in self._blocked:
            raise ApiError(403, BLOCKED)
        return True

    async def _m_delete_message(self, params: JsonDict, files: dict[str, UploadedFile]) -> bool:
        chat_id = self._resolve_chat(params.get("chat_id"))
        message_id = _as_int(params.get("message_id"), 0)
        user_message = self._user_messages.pop((chat_id, message_id), None)
        if user_message is not None:
            return True
        message = self._bot_messages.get((chat_id, message_id))
        if message is None or message.deleted:
            raise ApiError(400, "Bad Request: message to delete not found")
        message.deleted = True
        self._record_event("delete", "deleteMessage", message)
        return True
