"""Who is on a page: resume tokens, CSRF tokens, Telegram Mini App init data, rate limits.

A resume token is ``w.<random>.<expiry>.<mac>``: whoever holds it can continue that intake (the page
says so). The database never sees it: the person's `external_id` is a keyed hash of its random part
(and the candidate row stores a keyed hash of that again). It is rotated (a new random part, the
candidate re-keyed) when the person consents and whenever a resume link is used, so a link someone
else planted or saw stops working. A browser that has stored nothing yet holds a
``n.<random>.<expiry>.<mac>`` token: it stands for no one, and it is never shown as a link. A Mini App
session is ``t.<telegram user id>.<expiry>.<mac>``, issued only after the init data's signature was
checked with the bot token, and it ends 24 hours after that init data was signed, however often it
is used; the page's own claims about the user are never read. The MAC uses the deployment's hash key,
so a token cannot be forged or its expiry stretched.
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
TELEGRAM_SESSION = timedelta(hours=24)  # from the init data's signing, not renewed (over 20 hours: WCAG 2.2.1)
NEW_SESSION = timedelta(days=1)  # a browser on a programme's first page, nothing stored yet
FINISHED_VISIT = timedelta(minutes=15)  # a finished intake opened again with its link: the device forgets it soon
KINDS = ("w", "t", "n")
HERE = timedelta(minutes=30)  # a device's "it is me" lasts this long after the last page it was shown
INIT_DATA_MAX_AGE = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Session:
    kind: str  # "w" (browser, resume token), "n" (browser, nothing stored yet) or "t" (Telegram Mini App)
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


def new_session(kind: str, now: datetime) -> Session:
    """A session with a new random identity: "w" (stored from now on) or "n" (nothing stored)."""
    lifetime = WEB_SESSION if kind == "w" else NEW_SESSION
    return Session(kind, secrets.token_urlsafe(24), int((now + lifetime).timestamp()))


def token(session: Session) -> str:
    """The session as a token, with its own expiry."""
    body = f"{session.kind}.{session.ident}.{session.expires}"
    return f"{body}.{_mac(body)}"


def parse(token: str | None, now: datetime) -> Session | None:
    """The session a token stands for; None if it is malformed, forged or expired."""
    if not token or len(token) > 200 or not token.isascii():  # compare_digest raises on non-ASCII str
        return None
    parts = token.split(".")
    if len(parts) != 4 or parts[0] not in KINDS or not parts[2].isdigit() or len(parts[2]) > 12:
        return None
    kind, ident, expires, mac = parts
    if not hmac.compare_digest(mac.encode(), _mac(f"{kind}.{ident}.{expires}").encode()):
        return None
    if int(expires) < now.timestamp():
        return None
    return Session(kind, ident, int(expires))


def renewed(session: Session, now: datetime) -> str:
    """A resume token with its expiry moved on from now (sliding; the identity stays). A Mini App
    session keeps its absolute end, and a new browser's its own: neither slides."""
    if session.kind != "w":
        return token(session)
    return sign(session.kind, session.ident, now + WEB_SESSION)


def short(session: Session, now: datetime) -> str:
    """The token for a short visit to a finished intake: the cookie ends soon, the link stays as it was."""
    return sign(session.kind, session.ident, min(now + FINISHED_VISIT, datetime.fromtimestamp(session.expires,
                                                                                               now.tzinfo)))


def here_mark(session: Session, now: datetime, lifetime: timedelta = HERE) -> str:
    """"The person on this device said the intake is theirs", until `now + lifetime`: ``<expiry>.<mac>``."""
    expires = int((now + lifetime).timestamp())
    return f"{expires}.{keyed_hash(f'web-here:{session.kind}.{session.ident}.{expires}')[:32]}"


def here_ok(session: Session, mark: str | None, now: datetime) -> bool:
    """True if `mark` is this session's, and not past its expiry."""
    expires, _, mac = (mark or "").partition(".")
    if not (expires.isascii() and expires.isdigit() and len(expires) <= 12 and mac.isascii()):
        return False
    wanted = keyed_hash(f"web-here:{session.kind}.{session.ident}.{expires}")[:32]
    return hmac.compare_digest(mac.encode(), wanted.encode()) and int(expires) >= now.timestamp()


def csrf_token(session: Session) -> str:
    """Bound to the session's identity, not its expiry, so a renewed cookie keeps open forms valid."""
    return keyed_hash(f"web-csrf:{session.kind}.{session.ident}")[:32]


def csrf_ok(session: Session, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8", "replace"), csrf_token(session).encode())


def telegram_session(bot_token: str, init_data: str, now: datetime) -> Session | None:
    """A Mini App session for the user of signed init data, ending `TELEGRAM_SESSION` after it was signed."""
    signed = telegram_user(bot_token, init_data, now)
    if signed is None:
        return None
    user, auth = signed
    return Session("t", str(user), int((auth + TELEGRAM_SESSION).timestamp()))


def telegram_user(bot_token: str, init_data: str, now: datetime) -> tuple[int, datetime] | None:
    """The Telegram user id and the signing time of signed init data; None if forged, stale or malformed."""
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
    return int(data.user.id), auth


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
