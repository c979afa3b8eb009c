"""`ipsbot run --workers N`: several webhook processes behind one port, supervised.

The supervisor registers the webhook and the command menu once and sends what a crashed
deployment left in the outbox; then it keeps N workers running (SO_REUSEPORT shares the port). A
worker that dies is replaced; Telegram re-delivers the updates it had not answered with 200, and
the update's mark in the inbox table (committed with its effect) makes a repeat harmless. One
person's updates go to one worker at a time through the Redis isolation lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys

from bot.app import open_app
from bot.channels.telegram.runtime import prepare_workers, webhook_secret
from bot.settings import Settings

log = logging.getLogger(__name__)


async def supervise(settings: Settings, workers: int) -> int:
    """`ipsbot run --workers N`: register the webhook once, then keep N worker processes running."""
    if not settings.webhook_url or not settings.redis_url:
        print("--workers needs WEBHOOK_URL (one getUpdates reader at a time) and REDIS_URL (one person's "
              "updates one at a time across workers)", file=sys.stderr)
        return 2
    secret = webhook_secret(settings)
    async with open_app(settings) as app:
        await prepare_workers(app, settings, secret)
    env = {**os.environ, "WEBHOOK_SECRET": secret, "BOT_FRAMEWORK": settings.bot_framework}

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--as-worker"], env=env)

    procs = [spawn() for _ in range(workers)]
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    log.info("%s webhook workers started", workers)
    while not stopping.is_set():
        for index, proc in enumerate(procs):
            if proc.poll() is not None:  # a worker died: Telegram re-delivers its updates; start another
                log.warning("worker %s exited with %s; starting a new one", proc.pid, proc.returncode)
                procs[index] = spawn()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=0.5)
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        await asyncio.to_thread(proc.wait, 60)
    return 0
