"""Who is on a page: resume tokens, CSRF tokens, Telegram Mini App init data, rate limits.

A resume token is ``w.<random>.<expiry>.<mac>``: whoever holds it can continue that intake (the page
says so). The database never sees it: the person's `external_id` is a keyed hash of its random part
(and the candidate row stores a keyed hash of that again). A Mini App session is
``t.<telegram user id>.<expiry>.<mac>``, issued only after the init data's signature was checked
with the bot token; the page's own claims about the user are never read. The MAC uses the
deployment's hash key, so a token cannot be forged or its expiry stretched.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiogram.utils.web_app import safe_parse_webapp_init_data

from storage.crypto import keyed_hash

WEB_SESSION = timedelta(days=30)  # a kept link works this long after the last visit
TELEGRAM_SESSION = timedelta(hours=24)  # over 20 hours: no time limit in WCAG 2.2.1's sense; renewed on every page
INIT_DATA_MAX_AGE = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Session:
    kind: str  # "w" (browser, resume token) or "t" (Telegram Mini App)
    ident: str  # the random part, or the Telegram user id
    expires: int

    @property
    def channel(self) -> str:
        return "telegram" if self.kind == "t" else "web"

    @property
    def external_id(self) -> str:
        # the raw resume token is never stored: only a keyed hash of it stands for the person
        return self.ident if self.kind == "t" else keyed_hash(f"web-token:{self.ident}")


def _mac(body: str) -> str:
    return keyed_hash(f"web-session:{body}")[:32]


def sign(kind: str, ident: str, expires: datetime) -> str:
    body = f"{kind}.{ident}.{int(expires.timestamp())}"
    return f"{body}.{_mac(body)}"


def new_web_token(now: datetime) -> str:
    return sign("w", secrets.token_urlsafe(24), now + WEB_SESSION)


def parse(token: str | None, now: datetime) -> Session | None:
    """The session a token stands for; None if it is malformed, forged or expired."""
    if not token or len(token) > 200:
        return None
    parts = token.split(".")
    if len(parts) != 4 or parts[0] not in ("w", "t") or not parts[2].isdigit():
        return None
    kind, ident, expires, mac = parts
    if not hmac.compare_digest(mac, _mac(f"{kind}.{ident}.{expires}")):
        return None
    if int(expires) < now.timestamp():
        return None
    return Session(kind, ident, int(expires))


def renewed(session: Session, now: datetime) -> str:
    """The same session with its expiry moved on from now (sliding; the identity stays)."""
    return sign(session.kind, session.ident, now + (TELEGRAM_SESSION if session.kind == "t" else WEB_SESSION))


def csrf_token(session: Session) -> str:
    """Bound to the session's identity, not its expiry, so a renewed cookie keeps open forms valid."""
    return keyed_hash(f"web-csrf:{session.kind}.{session.ident}")[:32]


def csrf_ok(session: Session, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), csrf_token(session).encode())


def telegram_user(bot_token: str, init_data: str, now: datetime) -> int | None:
    """The Telegram user id from signed init data; None if forged, stale or malformed."""
    if not init_data or len(init_data) > 4096:
        return None
    try:
        data = safe_parse_webapp_init_data(bot_token, init_data)
    except (ValueError, TypeError):
        return None
    auth = data.auth_date
    if auth.tzinfo is None:
        auth = auth.replace(tzinfo=now.tzinfo)
    if not now - INIT_DATA_MAX_AGE <= auth <= now + timedelta(minutes=5) or data.user is None:
        return None
    return int(data.user.id)


class RateLimit:
    """At most `limit` requests per `window` seconds per key (an address, a token), in this process."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._now = clock
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        if self.limit <= 0:
            return True
        now = self._now()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        if len(self._hits) > 100_000:  # bounded memory under a flood of new addresses
            self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - self.window}
        return True
