"""Benchmark (prints figures; not a test): many people filling in the web form at once.

    python -m tests.benchmarks.web [--users 200] [--think S] [--database-url URL]

Starts `ipsbot web` as a real process on a free loopback port with a fresh SQLite database (or the
given URL), then lets `--users` people, each with their own cookie jar, fill in a whole intake
(reconnect, Danish) at the same moment: as fast as the server answers (capacity), or with `--think S`
pausing 0.5 to 1.5 times S seconds before each page (latency at a given load). Prints the time per page
(request sent to response read, over loopback: the server's time plus a little of the client's),
p50 and p99, pages per second, and the page weight (HTML of each page, plus the CSS and the script).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.fernet import Fernet

from tests.channels.web.client import Page, WebUser, parse
from tests.support.net import free_port
from tests.support.web_form import finish


class TimedUser(WebUser):
    def __init__(self, client: Any, times: list[float], sizes: list[int], think: float) -> None:
        super().__init__(client)
        self.times, self.sizes, self.think = times, sizes, think

    async def _timed(self, call: Any) -> Page:
        if self.think:
            await asyncio.sleep(random.uniform(0.5, 1.5) * self.think)
        start = time.perf_counter()
        response = await call
        body = await response.read()
        self.times.append(time.perf_counter() - start)
        self.sizes.append(len(body))
        self.page = parse(response.status, body.decode())
        return self.page

    async def get(self, path: str) -> Page:
        return await self._timed(self.client.get(path))

    async def post(self, action: str, data: dict[str, str], form: Any = None) -> Page:
        form = form or (self.page.form(action) if self.page else None)
        hidden = form.hidden if form is not None else {}
        return await self._timed(self.client.post(action, data={**hidden, **data}))


async def wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(1200):  # up to a minute: the first start migrates the database
        if process.poll() is not None:
            raise RuntimeError("ipsbot web stopped")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError("ipsbot web did not start")


async def main(users: int, database_url: str | None, think: float = 0.0) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {**os.environ, "DATABASE_URL": database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'web.db'}",
               "ENCRYPTION_KEY": Fernet.generate_key().decode(), "WEB_PORT": str(port), "WEB_HOST": "127.0.0.1",
               "WEB_RATE_PER_ADDRESS": "0", "WEB_RATE_PER_SESSION": "0", "LOG_LEVEL": "WARNING"}
        process = subprocess.Popen(  # noqa: ASYNC220 (started once, before the measurement)
            [sys.executable, "-m", "bot.cli", "web", "--programme", "reconnect"], env=env,
            stdout=subprocess.DEVNULL, cwd=tmp)
        try:
            await wait_for(port, process)
            base = f"http://127.0.0.1:{port}"
            times: list[float] = []
            sizes: list[int] = []
            async with aiohttp.ClientSession(base) as probe:
                extra = sum([len(await (await probe.get(f"/static/{n}")).read()) for n in ("app.css", "app.js")])

            async def one() -> None:
                jar = aiohttp.CookieJar(unsafe=True)
                connector = aiohttp.TCPConnector(limit=1)
                async with aiohttp.ClientSession(base, cookie_jar=jar, connector=connector) as client:
                    user = TimedUser(client, times, sizes, think)
                    await user.get("/p/reconnect")
                    page = await finish(user)
                    if "/answer" in page.html:
                        raise RuntimeError("an intake did not finish")

            start = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(users)))
            wall = time.perf_counter() - start
        finally:
            process.terminate()
            process.wait(timeout=30)
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"{users} people at once (think {think} s), {len(times)} pages in {wall:.1f} s: "
          f"{len(times) / wall:.0f} pages/s")
    print(f"time per page: p50 {statistics.median(ordered) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    print(f"page weight: HTML p50 {statistics.median(sizes) / 1024:.1f} KB, largest {max(sizes) / 1024:.1f} KB; "
          f"CSS and script {extra / 1024:.1f} KB; largest page in all {(max(sizes) + extra) / 1024:.1f} KB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--think", type=float, default=0.0)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    asyncio.run(main(args.users, args.database_url, args.think))
