"""The chats, the bot's and the users' messages, files, callback queries and commands."""

from __future__ import annotations

import copy
import json
import time
from typing import Any, Literal

from tests.fake_telegram.records import (
    ApiError,
    BotMessage,
    HistoryEvent,
    JsonDict,
    UploadedFile,
)


class Chats:
    """The chats, the bot's and the users' messages, files, callback queries and commands.

    A part of `FakeTelegram`, whose `__init__` sets the state used here.
    """

    # -- chats and messages -------------------------------------------------------------------------------

    def _register_chat(self, chat: JsonDict) -> None:
        self._chats[int(chat["id"])] = dict(chat)

    def _next_message_id(self, chat_id: int) -> int:
        value = self._message_counters.get(chat_id, 0) + 1
        self._message_counters[chat_id] = value
        return value

    def _new_file_id(self, prefix: str = "BQACAgIAAxkBAAI") -> tuple[str, str]:
        number = next(self._file_ids)
        return f"{prefix}{number:08d}", f"AgAD{number:08d}"

    def _user_file(self, prefix: str, filename: str, content_type: str) -> tuple[str, str]:
        """Register a file "sent by a user" (with placeholder bytes) so getFile/download work."""
        file_id, unique = self._new_file_id(prefix)
        self._files_by_id[file_id] = UploadedFile(
            field="user",
            filename=filename,
            content=f"fake {filename} {file_id}".encode(),
            content_type=content_type,
            file_id=file_id,
            file_unique_id=unique,
        )
        return file_id, unique

    def _new_callback_id(self) -> str:
        query_id = str(next(self._callback_ids))
        self._callback_queries[query_id] = False
        return query_id

    def sent_messages(self, chat_id: int) -> list[BotMessage]:
        """The bot's current (edited, not deleted) messages in a chat, in order."""
        return [
            m
            for (cid, _), m in sorted(self._bot_messages.items(), key=lambda kv: kv[0][1])
            if cid == chat_id and not m.deleted
        ]

    def history(self, chat_id: int | None = None) -> list[HistoryEvent]:
        """All send/edit/delete events of bot messages (in one chat, or everywhere), in order."""
        return [e for e in self._history if chat_id is None or e.chat_id == chat_id]

    def last_message(self, chat_id: int) -> BotMessage | None:
        messages = self.sent_messages(chat_id)
        return messages[-1] if messages else None

    def _bot_message(self, chat_id: int, message_id: int) -> BotMessage:
        message = self._bot_messages.get((chat_id, message_id))
        if message is None:
            raise LookupError(f"bot message {message_id} not found in chat {chat_id}")
        return message

    def _message_for_callback(self, chat_id: int, message_id: int) -> JsonDict:
        message = self._bot_messages.get((chat_id, message_id))
        if message is None:
            raise LookupError(f"bot message {message_id} not found in chat {chat_id}")
        if message.deleted:
            return {"chat": dict(self._chat(chat_id)), "message_id": message_id, "date": 0}
        return self._message_json(message)

    def _chat(self, chat_id: int) -> JsonDict:
        chat = self._chats.get(chat_id)
        if chat is not None:
            return chat
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "User"}
        chat_type = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": chat_type, "title": "Chat"}

    def _resolve_chat(self, raw: Any) -> int:
        if raw is None or raw == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(raw, str):
            if raw.startswith("@"):
                for chat_id, chat in self._chats.items():
                    if chat.get("username", "").lower() == raw[1:].lower():
                        return chat_id
                raise ApiError(400, "Bad Request: chat not found")
            try:
                raw = int(raw)
            except ValueError:
                raise ApiError(400, "Bad Request: chat not found") from None
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ApiError(400, "Bad Request: chat not found")
        if raw not in self._chats:
            if self.strict_chats:
                raise ApiError(400, "Bad Request: chat not found")
            self._chats[raw] = self._chat(raw)
        return raw

    def _message_json(self, message: BotMessage) -> JsonDict:
        data: JsonDict = {
            "message_id": message.message_id,
            "from": dict(self.bot_user),
            "chat": dict(self._chat(message.chat_id)),
            "date": message.date,
        }
        if message.edit_date is not None:
            data["edit_date"] = message.edit_date
        if message.document is not None:
            doc = message.document
            data["document"] = {
                "file_id": doc.file_id,
                "file_unique_id": doc.file_unique_id,
                "file_name": doc.filename,
                "mime_type": doc.content_type,
                "file_size": doc.size,
            }
            if message.caption:
                data["caption"] = message.caption
                if message.caption_entities:
                    data["caption_entities"] = copy.deepcopy(message.caption_entities)
        else:
            data["text"] = message.text
            if message.entities:
                data["entities"] = copy.deepcopy(message.entities)
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            data["reply_markup"] = copy.deepcopy(message.reply_markup)
        return data

    def _record_event(
        self, kind: Literal["send", "edit", "delete"], method: str, message: BotMessage
    ) -> None:
        self._history.append(
            HistoryEvent(
                kind=kind,
                method=method,
                chat_id=message.chat_id,
                message_id=message.message_id,
                message=message.snapshot(),
                time=time.monotonic(),
            )
        )
        self._changed.fire()

    def commands(self, scope: JsonDict | None = None, language_code: str = "") -> list[JsonDict]:
        """The command list stored by setMyCommands for a scope/language (default scope, no language)."""
        return copy.deepcopy(self._commands.get(self._commands_key(scope, language_code), []))

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
        if not isinstance(scope, dict) or not scope:
            scope = {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(language_code or "")

    def callback_answer(self, query_id: str) -> JsonDict | None:
        """The parameters of answerCallbackQuery for a query id, if it was answered."""
        return self.callback_answers.get(query_id)
