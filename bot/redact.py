"""Secrets kept out of logs and error output: the bot token above all.

The Bot API's address holds the token (`…/bot<token>/sendMessage`), and aiohttp puts the request's
address into the text of a `ClientResponseError` (a malformed answer, a proxy speaking nonsense);
aiogram wraps that text into its `TelegramNetworkError`. Such a text must never reach a log file or
the terminal: whoever reads it could act as the bot, and read every message people send it.

`install` puts a `RedactingFilter` on the root logger's handlers, so every record any logger
passes to them (ours, aiogram's, aiohttp's, asyncio's "exception never retrieved") has the secrets
replaced in its message and its traceback. `redact` does the same for text printed directly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import quote

MASK = "[redacted]"
_MIN_LENGTH = 8  # shorter values (a test's "x") would blank out ordinary words

_secrets: tuple[str, ...] = ()


def _variants(secret: str) -> set[str]:
    """The secret as written, URL-quoted, and a token's part after the bot id (`123:<this>`)."""
    found = {secret, quote(secret, safe="")}
    bot_id, colon, rest = secret.partition(":")
    if colon and bot_id.isdigit():
        found.add(rest)
    return {value for value in found if len(value) >= _MIN_LENGTH}


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every installed secret (or the given ones) replaced by `[redacted]`."""
    for secret in _secrets if secrets is None else _ordered(secrets):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _ordered(secrets: Iterable[str]) -> tuple[str, ...]:
    variants = set().union(*(_variants(s) for s in secrets if s))
    return tuple(sorted(variants, key=len, reverse=True))  # the whole token before its part


class RedactingFilter(logging.Filter):
    """Replaces the secrets in a record's message, traceback and stack before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        message = record.getMessage()
        record.msg, record.args = redact(message), None  # formatted once, here
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install(secrets: Iterable[str | None]) -> None:
    """Redact these secrets from now on: in `redact`, and on every handler of the root logger."""
    global _secrets
    _secrets = _ordered(s for s in secrets if s)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
