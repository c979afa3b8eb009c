"""The staff area's cost: server time per staff page (p50/p99; the issue's target is at most 30 ms at
p99) and the coordinator's dashboard page for a programme with 10,000 referrals. A script that prints
figures; nothing asserts on them.

    python -m tests.benchmarks.staff                    # 10,000 referrals, 200 requests per page, SQLite
    python -m tests.benchmarks.staff --referrals 2000 --requests 50

The database is seeded as for `tests.benchmarks.dashboard` (`tests.dashboard_seed`); a consultant with
a caseload, a peer and a coordinator join through the services, and each gets a signed-in session
(made by the service, as a passkey sign-in makes it). Server time is measured by a middleware around
the whole application (the form's guard, the session check on the database, the page), in-process:
wall time and the CPU time of the event loop's thread (on a shared machine the wall time also counts
waiting for a CPU), with the number of full garbage collections meanwhile and the longest.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
NOW = START + timedelta(weeks=40)
PAGES = {"consultant": ["/staff/referrals", "/staff/cases"], "peer": ["/staff/slots"],
         "coordinator": ["/staff/urgent", "/staff/waiting", "/staff/team"]}


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def sessions_for(app: Any) -> dict[str, str]:
    from bot.services import staff_sessions
    from bot.services.notify import Who

    raw = {}
    async with app.uow() as uow:
        for role in PAGES:
            ident, address = staff_sessions.web_identity()
            code = await app.intake.casework.invite(uow, role=role, programme_id="dash", name=role, now=NOW)
            await app.intake.casework.join(uow, Who("web", ident, address, "da"), code, NOW)
            staff = await uow.staff.find("web", ident)
            await uow.staff_web.set_identity(staff.id, {"channel": "web", "id": ident}, NOW)
            raw[role] = await staff_sessions.open_session(uow, staff, NOW, verified=True)
        consultant = await uow.staff.find("web", (await uow.staff_web.identity(1) or {}).get("id", ""))
        for referral in (await uow.staff_web.waiting("dash"))[0][:10]:  # a caseload of ten
            if consultant is not None:
                referral.status, referral.consultant_id, referral.claimed_at = "claimed", consultant.id, NOW
    return raw


async def main(referrals: int, requests: int) -> None:
    from bot.app import open_app
    from bot.channels.web.server import WebChannel
    from bot.clock import ManualClock
    from bot.settings import Settings
    from storage import crypto
    from storage.db import make_engine, make_session_factory, upgrade
    from tests.support.dashboard_seed import DASH_YAML, seed, template_payload

    key, hash_key = Fernet.generate_key(), Fernet.generate_key()
    crypto.configure(crypto.Cipher([key], hash_key))  # the seed writes before the application opens
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'staff.db'}"
        await upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        started = time.perf_counter()
        await seed(factory, await template_payload(factory, START), referrals, start=START, weeks=38)
        await engine.dispose()
        print(f"seeded {referrals} referrals in {time.perf_counter() - started:.1f} s")
        (Path(tmp) / "programmes").mkdir()
        (Path(tmp) / "programmes" / "dash.yaml").write_text(DASH_YAML, encoding="utf-8")
        settings = Settings(database_url=url, encryption_key=key.decode(), encryption_hash_key=hash_key.decode(),
                            programmes_dir=Path(tmp) / "programmes", web_url="http://localhost",
                            web_rate_per_address=0, web_rate_per_session=0)
        async with open_app(settings, ManualClock(NOW)) as app:
            raw = await sessions_for(app)
            times: dict[str, list[float]] = {}
            cpu: dict[str, list[float]] = {}
            web_app = WebChannel(app, settings).application()

            @web.middleware
            async def timer(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                            ) -> web.StreamResponse:
                begun, used = time.perf_counter(), time.thread_time()
                try:
                    return await handler(request)
                finally:
                    times.setdefault(request.path, []).append((time.perf_counter() - begun) * 1000)
                    cpu.setdefault(request.path, []).append((time.thread_time() - used) * 1000)

            web_app.middlewares.insert(0, timer)
            async with TestClient(TestServer(web_app)) as client:
                await measure(client, raw, requests, times, cpu)


def collections() -> Callable[[], tuple[int, float]]:
    """Counts Python's full (generation 2) garbage collections from now, and the longest one in ms: a
    pause of the whole process that lands on whichever request is running."""
    seen: list[float] = []
    begun: list[float] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                begun[:] = [time.perf_counter()]
            elif begun:
                seen.append((time.perf_counter() - begun[0]) * 1000)

    gc.callbacks.append(note)
    return lambda: (len(seen), max(seen, default=0.0))


async def measure(client: TestClient[Any, Any], raw: dict[str, str], requests: int,
                  times: dict[str, list[float]], cpu: dict[str, list[float]]) -> None:
    sizes = {}
    full = collections()
    for role, paths in PAGES.items():
        for path in paths:
            for _ in range(requests):
                answer = await client.get(path, cookies={"ipsbot_staff": raw[role]}, allow_redirects=False)
                body = await answer.read()
                if answer.status != 200:
                    raise SystemExit(f"{path}: {answer.status}")
                sizes[path] = len(body)
    print(f"load average {', '.join(f'{n:.1f}' for n in os.getloadavg())} on {os.cpu_count()} CPUs (wall times wait "
          "for the CPU when others use it; the CPU time of the request's thread does not)")
    print(f"{'page':<20} {'p50 ms':>8} {'p99 ms':>8} {'CPU p50':>8} {'CPU p99':>8} {'KB':>6}")
    for path, values in times.items():
        print(f"{path:<20} {statistics.median(values):8.1f} {p(values, 0.99):8.1f} {statistics.median(cpu[path]):8.1f} "
              f"{p(cpu[path], 0.99):8.1f} {sizes[path] / 1024:6.1f}")
    count, longest = full()
    print(f"full garbage collections meanwhile: {count}, the longest {longest:.1f} ms")
    first, again = [], []
    for n in range(4):
        begun = time.perf_counter()
        answer = await client.get("/staff/dashboard", cookies={"ipsbot_staff": raw["coordinator"]})
        body = await answer.read()
        (first if n == 0 else again).append(time.perf_counter() - begun)
    print(f"/staff/dashboard: first {first[0]:.2f} s (matplotlib's import included), then median "
          f"{statistics.median(again):.2f} s; {len(body) / 1024:.0f} KB with its charts")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.referrals, args.requests))
