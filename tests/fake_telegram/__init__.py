"""Fake Telegram Bot API server for end-to-end tests (see :mod:`tests.fake_telegram.server`)."""

from tests.fake_telegram.server import (
    ApiError,
    BotMessage,
    Call,
    FakeTelegram,
    FakeUser,
    HistoryEvent,
    HtmlParseError,
    RateViolation,
    UploadedFile,
    WebhookDelivery,
    parse_html,
)

__all__ = [
    "ApiError",
    "BotMessage",
    "Call",
    "FakeTelegram",
    "FakeUser",
    "HistoryEvent",
    "HtmlParseError",
    "RateViolation",
    "UploadedFile",
    "WebhookDelivery",
    "parse_html",
]
