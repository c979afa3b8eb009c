"""Benchmark (prints figures; not a test): the flow alone, and whole intakes through storage.

    python -m tests.benchmarks.intake [--intakes 200] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

from bot.app import open_app
from bot.services.intake import Person
from bot.settings import Settings
from tests.service.test_intake_service import answer_once, asking
from tests.support.flow import Walker


def flow_only(n: int) -> tuple[int, float]:
    steps = 0
    start = time.perf_counter()
    for _ in range(n):
        walker = Walker("reconnect", "da")
        walker.run(default_score=1)
        steps += len(walker.log)
    return steps, time.perf_counter() - start


async def through_storage(url: str, n: int, concurrency: int) -> tuple[int, float, list[float]]:
    settings = Settings(database_url=url, encryption_key=Fernet.generate_key().decode())
    latencies: list[float] = []
    async with open_app(settings, migrate=True) as app:
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> int:
            async with gate:
                person = Person("bench", f"p{i}", language="da")
                outcome = await app.intake.start(person, "reconnect")
                answers = 1
                while not outcome.finished:
                    t0 = time.perf_counter()
                    outcome = await answer_once(app.intake, person, asking(outcome))
                    latencies.append(time.perf_counter() - t0)
                    answers += 1
                return answers

        start = time.perf_counter()
        counts = await asyncio.gather(*(one(i) for i in range(n)))
        return sum(counts), time.perf_counter() - start, latencies


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--intakes", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=20)
    p.add_argument("--database-url")
    args = p.parse_args()

    steps, seconds = flow_only(args.intakes)
    print(f"flow only: {steps} answers in {seconds:.2f} s = {steps / seconds:,.0f} answers/s "
          f"({seconds / steps * 1e6:.0f} µs per answer)")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        answers, seconds, lat = asyncio.run(through_storage(url, args.intakes, args.concurrency))
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    print(f"through storage ({url.split(':')[0]}): {args.intakes} intakes, {answers} answers in {seconds:.2f} s "
          f"= {answers / seconds:,.0f} answers/s; per answer p50 {pick(0.5):.1f} ms, p95 {pick(0.95):.1f} ms, "
          f"p99 {pick(0.99):.1f} ms (with {args.concurrency} at once)")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
