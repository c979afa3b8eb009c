"""The coordinator dashboard over a programme with 10,000 referrals: how long it takes, and what the bot
process pays for it when nobody opens it. A script that prints figures; nothing asserts on them.

    python -m tests.benchmarks.dashboard                      # 10,000 referrals over two years, SQLite
    python -m tests.benchmarks.dashboard --referrals 2000 --database postgres

1. Seeds a fresh database (`tests.support.dashboard_seed`: one real intake, then the rest written straight into
   the tables, with follow-ups and risk answers).
2. In this process: reading and counting (`build`) the first time (every ciphertext decrypted) and
   again (the median of 5: what the dashboard derives from unchanged ciphertexts is kept), then the HTML
   with its four charts the first time (matplotlib's import included) and again (the median of 5: the
   charts of unchanged tables are kept), the text and the CSV.
3. `ipsbot report --html FILE` as a real process on the same database: wall time, start-up included.
4. A fresh process that imports what `ipsbot run` and `ipsbot web` import: is matplotlib loaded, and its
   RSS; then it draws the dashboard once: matplotlib loaded, and its RSS.
5. A fresh bot process that nobody opens the dashboard in (`--intakes N`, 300): the application opened
   in-process, 50 whole intakes, its RSS, N more intakes, its RSS again, and whether matplotlib was
   imported (it must not be: the RSS a dashboard costs is paid only by a process that draws one).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
NOW = START + timedelta(weeks=110)

PROBE = """
import resource, sys, time
def rss():
    return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) // 1024
import bot.cli, bot.app, bot.channels.telegram.runtime, bot.channels.web.server, bot.exports.dashboard
print(f"bot modules loaded: matplotlib imported {'matplotlib' in sys.modules}, RSS {rss()} MB")
from bot.exports.dashboard_render import html_fragment
from tests.unit.test_dashboard import dashboard
started = time.perf_counter()
html_fragment(dashboard())
print(f"after drawing one dashboard: matplotlib imported {'matplotlib' in sys.modules}, RSS {rss()} MB, "
      f"{time.perf_counter() - started:.2f} s")
"""

# A bot process that nobody opens the dashboard in: the application opened in-process (`open_app`, as
# `ipsbot run` opens it) on a fresh database, whole intakes through its intake service; RSS after a
# warm-up and after N more intakes, and whether matplotlib was ever imported.
IDLE_PROBE = """
import asyncio, gc, sys, tempfile
from pathlib import Path
from cryptography.fernet import Fernet
from bot.app import open_app
from bot.services.intake import Person
from bot.settings import Settings
from tests.service.test_intake_service import answer_once, asking
def rss():
    return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) / 1024
async def intakes(app, first, n):
    for i in range(first, first + n):
        person = Person("bench", f"p{i}", language="da")
        outcome = await app.intake.start(person, "reconnect")
        while not outcome.finished:
            outcome = await answer_once(app.intake, person, asking(outcome))
async def main(n):
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'idle.db'}",
                            encryption_key=Fernet.generate_key().decode())
        async with open_app(settings, migrate=True) as app:
            await intakes(app, 0, 50)
            gc.collect()
            before = rss()
            await intakes(app, 50, n)
            gc.collect()
            print(f"bot process, dashboard never opened: RSS {before:.1f} MB after 50 intakes, {rss():.1f} MB after "
                  f"{n} more; matplotlib imported {'matplotlib' in sys.modules}")
asyncio.run(main(int(sys.argv[1])))
"""


async def fill(url: str, n: int, weeks: int) -> float:
    from storage.db import make_engine, make_session_factory, upgrade
    from tests.support.dashboard_seed import seed, template_payload

    await upgrade(url)
    engine = make_engine(url)
    try:
        factory = make_session_factory(engine)
        started = time.perf_counter()
        await seed(factory, await template_payload(factory, START), n, start=START, weeks=weeks)
        return time.perf_counter() - started
    finally:
        await engine.dispose()


async def measure(url: str) -> list[str]:
    from bot.exports.dashboard import build
    from bot.exports.dashboard_render import html_page, write_csv, write_text
    from storage.db import make_engine, make_session_factory
    from storage.repositories import UnitOfWork
    from tests.support.dashboard_seed import REGISTRY

    engine = make_engine(url)
    factory = make_session_factory(engine)
    lines = []
    try:
        builds, cpu = [], []
        for _ in range(6):
            started, used = time.perf_counter(), time.process_time()
            dashboard = await build(lambda: UnitOfWork(factory), REGISTRY, "dash", NOW)
            builds.append(time.perf_counter() - started)
            cpu.append(time.process_time() - used)
        lines.append(f"read and count (build), the first look (every ciphertext decrypted): {builds[0]:.3f} s "
                     f"(CPU {cpu[0]:.3f} s)")
        builds, cpu = builds[1:], cpu[1:]
        lines.append(f"read and count (build), again (ciphertexts unchanged), median of 5: "
                     f"{statistics.median(builds):.3f} s (CPU of this process {statistics.median(cpu):.3f} s)")
        started = time.perf_counter()
        page = html_page(dashboard, "da")
        first = time.perf_counter() - started
        lines.append(f"HTML with 4 charts, first time (matplotlib import included): {first:.3f} s")
        draws, draw_cpu = [], []
        for _ in range(5):
            started, used = time.perf_counter(), time.process_time()
            page = html_page(dashboard, "da")
            draws.append(time.perf_counter() - started)
            draw_cpu.append(time.process_time() - used)
        lines.append(f"HTML with 4 charts, again, median of 5: {statistics.median(draws):.3f} s; "
                     f"{len(page.encode()) / 1024:.0f} KB")
        lines.append(f"dashboard (build + HTML), warm: {statistics.median(builds) + statistics.median(draws):.3f} s "
                     f"(CPU {statistics.median(cpu) + statistics.median(draw_cpu):.3f} s)")
        import io

        started = time.perf_counter()
        write_text(dashboard, io.StringIO())
        write_csv(dashboard, io.StringIO())
        lines.append(f"text and CSV: {time.perf_counter() - started:.3f} s")
        section = dashboard.sections[0]
        referred = section.table("funnel").rows[0].cells[0].value
        lines.append(f"(referred shown: {referred:.0f}; weeks: {len(section.table('weekly').rows)})")
    finally:
        await engine.dispose()
    return lines


def environment(url: str, key: str, hash_key: str, programmes: Path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url, "ENCRYPTION_KEY": key, "ENCRYPTION_HASH_KEY": hash_key,
            "PROGRAMMES_DIR": str(programmes), "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=10_000)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--intakes", type=int, default=300, help="intakes of the idle bot process (step 5)")
    args = parser.parse_args()

    from storage import crypto
    from tests.support.dashboard_seed import DASH_YAML

    key, hash_key = Fernet.generate_key(), Fernet.generate_key()
    crypto.configure(crypto.Cipher([key], hash_key))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "programmes").mkdir()
        (tmp / "programmes" / "dash.yaml").write_text(DASH_YAML, encoding="utf-8")
        drop = None
        if args.database == "postgres":
            from tests.benchmarks.load import create_postgres

            url, drop = asyncio.run(create_postgres())
        else:
            url = f"sqlite+aiosqlite:///{tmp / 'dashboard.db'}"
        try:
            load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
            print(f"{args.referrals} referrals over {args.weeks} weeks, {args.database}; {os.cpu_count()} CPUs, "
                  f"load average {load} (other work on the machine slows the wall times)")
            print(f"seeded in {asyncio.run(fill(url, args.referrals, args.weeks)):.1f} s")
            for line in asyncio.run(measure(url)):
                print(line)
            env = environment(url, key.decode(), hash_key.decode(), tmp / "programmes")
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "bot.cli", "report", "--programme", "dash", "--html",
                                   str(tmp / "dashboard.html")], env=env, capture_output=True, text=True, check=False)
            print(f"`ipsbot report --html` as a process (start-up included): {time.perf_counter() - started:.2f} s, "
                  f"exit {done.returncode}{'' if done.returncode == 0 else ': ' + done.stderr[-300:]}")
            probe = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=False,
                                   cwd=ROOT)
            print(probe.stdout.strip() or probe.stderr[-500:])
            idle = subprocess.run([sys.executable, "-c", IDLE_PROBE, str(args.intakes)], env=env, capture_output=True,
                                  text=True, check=False, cwd=ROOT)
            print(idle.stdout.strip() or idle.stderr[-500:])
        finally:
            if drop is not None:
                asyncio.run(drop())


if __name__ == "__main__":
    main()
