"""Staff and candidates as the Telegram channel presents them to the services, for tests."""

from __future__ import annotations

from bot.services.notify import Who
from flows.address import Address


class TelegramWho(Who):
    """A `Who` from Telegram, whose private chat id is their user id (as in the channel)."""

    __slots__ = ()

    @property
    def chat_id(self) -> int:
        return int(self.address.id)


def tg(user_id: int, language: str = "da") -> TelegramWho:
    return TelegramWho("telegram", str(user_id), Address("telegram", str(user_id)), language)


def tg_address(user_id: int) -> Address:
    return Address("telegram", str(user_id))
