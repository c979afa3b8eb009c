"""Thousands of random requests to every route of the web form: none answered 500, the server alive after,
and an intake stored before them intact.

Random, huge, non-UTF-8, unicode and control-character requests, from a seeded generator (a failure can
be replayed), over loopback only, bounded in count (`REQUESTS`) and in time (`LIMIT`). About half carry a
real session with its CSRF token and the current question's step and version, so that they reach the
answer handling itself, not only the checks in front of it. docs/security.md, T38.
"""

from __future__ import annotations

import asyncio
import random
import string
import time
from collections import Counter
from urllib.parse import quote

import aiohttp
from sqlalchemy import select
from yarl import URL

from storage.models import Intake, RiskEvent
from tests.channels.web.client import WebUser
from tests.channels.web.conftest import Site
from tests.support.web_form import walk_to

REQUESTS = 3000
LIMIT = 150.0  # seconds for all of them, on a busy two-core machine
AT_ONCE = 16
DEBUG = False
ROUTES = ["/p/reconnect", "/p/jonkoping", "/new", "/continue", "/r/{token}", "/f", "/answer", "/lang", "/mydata",
          "/mydata.json", "/delete", "/help", "/tg", "/tg/auth", "/static/app.css", "/static/app.js"]
POSTED = {"/new", "/continue", "/r/{token}", "/answer", "/lang", "/mydata", "/mydata.json", "/delete", "/tg/auth"}
GOTTEN = {"/p/reconnect", "/p/jonkoping", "/r/{token}", "/f", "/mydata", "/delete", "/help", "/tg", "/static/app.css",
          "/static/app.js"}
FIELDS = ["step", "version", "text", "b", "lang", "csrf", "s", "p", "hl", "init_data", "mdi.6", "gad7.1", "phq9.9"]
METHODS = ["GET"] * 4 + ["POST"] * 10 + ["PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]
STRANGE = ["²", "٣", "\u0000", "\u202e", "\ud7ff", "\ufeff", "𝟗", "é", "\x1b[2J", "\r\n", "'\"<>&", "../../etc/passwd",
           "%00", "%ff", "9" * 5000, "-1", "0x10", "1e400", "NaN", " ", "\t"]


def _text(rng: random.Random, size: int) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return "".join(rng.choice(string.printable) for _ in range(size))
    if kind == 1:
        return "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(size))
    if kind == 2:
        return "".join(chr(rng.randrange(0, 32)) for _ in range(size))
    if kind == 3:
        return rng.choice(STRANGE) * max(1, size // 8)
    return str(rng.randrange(10 ** rng.randrange(1, 12)))


def _quote(value: str) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def _size(rng: random.Random) -> int:
    return rng.choice([0, 1, 3, 12, 80, 500, 5000, 20_000, 70_000])


def _body(rng: random.Random, real: dict[str, str]) -> tuple[bytes, str]:
    """A body and its content type: a form (real fields, strange values), raw bytes, broken multipart, JSON."""
    kind = rng.randrange(6)
    if kind <= 2:
        fields = dict(real) if real and rng.random() < 0.7 else {}
        for _ in range(rng.randrange(1, 6)):
            fields[rng.choice(FIELDS)] = _text(rng, _size(rng) // 4)
        encoded = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in fields.items())
        if rng.random() < 0.2:
            encoded += "&text=%ff%fe%fa"  # not UTF-8 once decoded
        return encoded.encode(), "application/x-www-form-urlencoded"
    if kind == 3:
        return bytes(rng.randrange(256) for _ in range(_size(rng))), rng.choice(
            ["application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=latin-1",
             "text/plain", "application/octet-stream"])
    if kind == 4:
        boundary = rng.choice(["", "x", "\"unclosed", "a" * 200, "é"])
        body = f"--{boundary}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n{_text(rng, 40)}"
        return body.encode("utf-8", "surrogatepass"), f"multipart/form-data; boundary={boundary}"
    return b'{"update_id": ' + _text(rng, 20).encode("utf-8", "surrogatepass") + b"}", "application/json"


def _request_line(rng: random.Random, token: str) -> tuple[str, str]:
    """A method and a path: mostly a route with a method it takes, sometimes anything at all."""
    route = rng.choice(ROUTES)
    method = rng.choice(METHODS)
    if rng.random() < 0.8:
        method = "POST" if route in POSTED and (route not in GOTTEN or rng.random() < 0.5) else "GET"
    if rng.random() < 0.8:
        path = route.replace("{token}", rng.choice([token, token[:-3] + "é", "w.x.1.y", "%ff%fe"]))
    else:
        path = "/" + "/".join(_quote(_text(rng, rng.randrange(1, 40)))
                              for _ in range(rng.randrange(1, 4)))
    if rng.random() < 0.4:
        path += "?" + rng.choice(["lang=", "p=", "hl=", "x="]) + _quote(_text(rng, 30))
    return method, path


async def _send(http: aiohttp.ClientSession, rng: random.Random, base: str, cookie: str, real: dict[str, str],
                statuses: Counter[int | str]) -> None:
    method, path = _request_line(rng, cookie)
    headers: dict[str, str] = {}
    if rng.random() < 0.5:
        headers["Cookie"] = "ipsbot=" + rng.choice([cookie, cookie, cookie[:-2] + "xx", "w.a.1.b", "n.é.2.3",
                                                    "".join(rng.choice(string.printable[:94]) for _ in range(30))])
    if rng.random() < 0.2:
        headers["Origin"] = rng.choice(["http://evil.example", "null", base])
    if rng.random() < 0.3:
        headers["Accept-Language"] = rng.choice(["da", "sv-SE,sv;q=0.9", "xx", ";;;,", "é"])
    body, kind = _body(rng, real if rng.random() < 0.5 else {})
    headers["Content-Type"] = kind
    url = URL(base + path, encoded=True)
    try:
        async with http.request(method, url, data=body if method not in ("GET", "HEAD") else None,
                                headers=headers) as response:
            await response.read()
            statuses[response.status] += 1
    except (aiohttp.ClientError, ValueError, UnicodeError) as exc:  # the client refused to send it
        statuses[type(exc).__name__] += 1
        if DEBUG:
            print(method, url, headers, repr(exc)[:300])


async def test_thousands_of_random_requests_never_get_a_500(site: Site) -> None:
    earlier = WebUser(site.client)  # an intake stored before the storm, with a risk answer
    await earlier.get("/p/reconnect")
    page = await walk_to(earlier, "mdi")
    await earlier.fill({**{name: "0" for name in page.answer.radios}, "mdi.6": "3"})
    async with site.app.sessions() as session:
        (before,) = (await session.scalars(select(Intake))).all()
        risks = len((await session.scalars(select(RiskEvent))).all())
    fuzzer = WebUser(site.client)  # a real session of its own, so that random answers reach the handlers
    site.client.session.cookie_jar.clear()
    await fuzzer.get("/p/reconnect")
    await fuzzer.press("da")
    real = dict(fuzzer.page.answer.hidden) if fuzzer.page else {}
    cookie = next(c.value for c in site.client.session.cookie_jar if c.key == "ipsbot")
    base = str(site.client.make_url("/")).rstrip("/")
    rng = random.Random(21)
    statuses: Counter[int | str] = Counter()
    started = time.monotonic()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        for _ in range(REQUESTS // AT_ONCE):
            seeds = [rng.random() for _ in range(AT_ONCE)]
            await asyncio.gather(*(_send(http, random.Random(seed), base, cookie, real, statuses) for seed in seeds))
            assert time.monotonic() - started < LIMIT, statuses
    sent = sum(n for status, n in statuses.items() if isinstance(status, int))
    assert statuses[500] == 0 and sent > REQUESTS * 0.9, statuses
    assert {s for s in statuses if isinstance(s, int)} >= {200, 400, 403, 404, 405, 410, 413}, statuses
    alive = await site.client.get("/p/reconnect")
    assert alive.status == 200
    async with site.app.sessions() as session:
        after = await session.get(Intake, before.id)
        assert after is not None and after.state == before.state and after.status == "active"
        assert len((await session.scalars(select(RiskEvent))).all()) >= risks
    print(f"{sent} requests in {time.monotonic() - started:.1f} s: {dict(sorted(statuses.items(), key=str))}")

