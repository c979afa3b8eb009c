"""python-telegram-bot's `BaseRequest` on aiohttp, sending calls as JSON bodies.

python-telegram-bot's own backend, `HTTPXRequest`, cost about 60 % of the bot's CPU in
`tests.benchmarks.load --framework ptb`: httpcore's connection pool looks at every one of its
connections (and asks each socket whether it is readable) for every request, so the cost of one call
grows with the pool (256, for sends to many people at once). aiohttp's connector keeps idle
connections in a list and takes one; it is the client aiogram uses, and already a dependency (the
webhook server).

python-telegram-bot still builds each call's parameters (`RequestData`), maps the HTTP status and
Telegram's answer to its errors (`BaseRequest._request_wrapper`: `RetryAfter`, `Forbidden`,
`BadRequest`, ...) and reads the result; only the transport is ours. A call without files goes as a
JSON body (orjson), as aiogram's `JsonSession` sends it: Telegram takes JSON as well as forms, and a
form needs each nested value (a keyboard) as a JSON string of its own. A call with files goes as a
multipart form, as python-telegram-bot sends it.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData
from yarl import URL

JSON_HEADERS = {"Content-Type": "application/json"}


def _seconds(value: Any, default: float | None) -> float | None:
    """A timeout python-telegram-bot passes: a number, None (no limit) or `DEFAULT_NONE` (ours)."""
    return default if isinstance(value, type(BaseRequest.DEFAULT_NONE)) else value


class AiohttpRequest(BaseRequest):
    """One aiohttp session with up to `pool_size` connections; timeouts as `HTTPXRequest` takes them."""

    __slots__ = ("_connect_timeout", "_pool_size", "_pool_timeout", "_read_timeout", "_session", "_urls",
                 "_write_timeout")

    def __init__(self, pool_size: int, read_timeout: float | None = 5.0, write_timeout: float | None = 5.0,
                 connect_timeout: float | None = 5.0, pool_timeout: float | None = 1.0) -> None:
        self._pool_size = pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, URL] = {}  # parsed once: aiohttp parses a string URL on every call

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=self._pool_size),
                headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    @staticmethod
    def parse_json_payload(payload: bytes) -> Any:
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError as exc:  # as python-telegram-bot's own, without the payload
            raise TelegramError("Invalid server response") from exc

    def _url(self, url: str) -> URL:
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) > 1_000:  # URLs are per method; a bound in case one carries a query
                self._urls.clear()
            parsed = self._urls[url] = URL(url)
        return parsed

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = BaseRequest.DEFAULT_NONE, write_timeout: Any = BaseRequest.DEFAULT_NONE,
                         connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                         pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        body: Any = None
        headers: dict[str, str] | None = None
        if request_data is not None and request_data.contains_files:
            body = aiohttp.FormData()
            for name, value in request_data.json_parameters.items():
                body.add_field(name, value)
            for name, (filename, content, mimetype) in request_data.multipart_data.items():
                body.add_field(name, content, filename=filename, content_type=mimetype)
        elif request_data is not None:
            body, headers = orjson.dumps(request_data.parameters), JSON_HEADERS
        connect = _seconds(connect_timeout, self._connect_timeout)
        read, write = _seconds(read_timeout, self._read_timeout), _seconds(write_timeout, self._write_timeout)
        pool = _seconds(pool_timeout, self._pool_timeout)
        parts = (connect, read, write, pool)
        # aiohttp has no write timeout: the whole call is bounded by the sum of the four instead
        timeout = aiohttp.ClientTimeout(
            total=None if None in parts else sum(p for p in parts if p is not None), sock_connect=connect,
            sock_read=read)
        try:
            async with session.request(method, self._url(url), data=body, headers=headers,
                                       timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            # aiohttp's text can quote the address, and with it the token
            token = url.rsplit("/bot", 1)[-1].split("/", 1)[0] if "/bot" in url else ""
            text = str(exc).replace(token, "[redacted]") if token else str(exc)
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {text}") from exc

