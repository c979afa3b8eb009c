"""Load benchmark (prints figures; not a test): many candidates at once through `ipsbot run`.

    python -m tests.benchmarks.load [--candidates 200] [--database sqlite|postgres] [--mode polling|webhook]
                                    [--workers N] [--redis] [--per-chat-interval S] [--no-echo] [--stored 10000]
                                    [--fill-seconds 90] [--serial-webhook] [--framework aiogram|ptb] [--flood N]

1. The fake Bot API server (tests/fake_telegram) and `python -m bot.cli run` as a real process with
   a fresh database. N simulated candidates go through a full RECONNECT intake in Danish
   (`/start reconnect`, the answers of `RECONNECT_DA` and `TYPICAL`) all at once; each waits for
   the bot's replies to one answer before giving the next, like a person (no sleeps). Printed:
   updates, wall time, updates/s, latency from an update being offered to the bot's first reply to
   it, the bot's peak RSS, Bot API calls per update and the fake server's rate violations.
2. The same on a minimal echo bot of the same framework (`--framework aiogram`, the default:
   `tests/benchmarks/echo_bot.py`; `--framework ptb`: python-telegram-bot's, `tests/benchmarks/echo_ptb.py`):
   the same number of candidates, each sending the same sequence of texts and taps; our throughput
   as a share of it.
3. `--stored N` finished intakes written in-process into a fresh SQLite file, then the database
   size and RSS and wall time of a fresh `ipsbot export --format json` and `--format csv`. The
   fill stops after `--fill-seconds`; what was not filled by then is extrapolated, and says so.

`--flood N` (issue 14): while the candidates of phase 1 are under way, one more person sends N texts
at once, and right after them another person sends `/start reconnect`. Printed: how long that
person waited for their first reply, how many messages the flooder got back, and the candidates'
latency as usual (the flooder and the probe are not in it): compare it with a run without --flood.

Each person's replies are found through a per-chat index kept by `LoadServer` (the fake server's
own `history(chat_id)` scans every chat, which is fine for tests and quadratic under load). With
`--mode webhook`, `LoadServer` posts updates like Telegram does: up to `max_connections` (40) at
once, one at a time per chat; `--serial-webhook` keeps the fake server's one-at-a-time delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.e2e.console_process import process_env
from tests.e2e.telegram_bot import ROOT, TOKEN, bot_env, step_of
from tests.e2e.test_telegram import RECONNECT_DA
from tests.fake_telegram import FakeTelegram, FakeUser, HistoryEvent, WebhookDelivery
from tests.support.flow import Walker
from tests.support.net import free_port

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
FIRST_USER = 7_000_000
STEP_TIMEOUT = 60.0  # seconds one person waits for the replies to one answer
PHASE_TIMEOUT = 900.0  # seconds for all candidates of one bot
TIME = shutil.which("time", path="/usr/bin:/bin")


# --------------------------------------------------------------------------------------------------
# The fake server, indexed per chat
# --------------------------------------------------------------------------------------------------


class Pulse:
    """Wake every waiter on `fire`."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, limit: float) -> bool:
        if limit <= 0:
            return False
        try:
            await asyncio.wait_for(self._event.wait(), limit)
        except TimeoutError:
            return False
        return True


def _chat_of(update: dict[str, Any]) -> int | None:
    for key, value in update.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        message = value.get("message", value) if key == "callback_query" else value
        chat = message.get("chat") if isinstance(message, dict) else None
        return int(chat["id"]) if chat else None
    return None


class LoadServer(FakeTelegram):
    """`FakeTelegram` plus: when each update was offered, each chat's events in order, parallel webhook."""

    def __init__(self, *args: Any, parallel_webhook: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parallel_webhook = parallel_webhook
        self.offered: dict[int, float] = {}
        self.chat_events: dict[int, list[HistoryEvent]] = defaultdict(list)
        self._pulses: dict[int, Pulse] = defaultdict(Pulse)

    def _enqueue(self, update: dict[str, Any]) -> dict[str, Any]:
        now = time.monotonic()
        update = super()._enqueue(update)
        self.offered[int(update["update_id"])] = now
        return update

    def _record_event(self, kind: Any, method: str, message: Any) -> None:
        super()._record_event(kind, method, message)
        event = self._history[-1]
        self.chat_events[event.chat_id].append(event)
        self._pulses[event.chat_id].fire()

    def history(self, chat_id: int | None = None) -> list[HistoryEvent]:
        if chat_id is None:
            return list(self._history)
        return list(self.chat_events.get(chat_id, ()))

    def question(self, chat_id: int) -> HistoryEvent | None:
        """The latest message with buttons the bot sent to this chat."""
        for event in reversed(self.chat_events.get(chat_id, ())):
            if event.kind == "send" and event.message.buttons:
                return event
        return None

    async def replies(self, chat_id: int, mark: int, sends: int, timeout: float) -> list[HistoryEvent]:
        """Events in the chat after `mark`, once at least `sends` of them are new messages."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            events = self.chat_events[chat_id][mark:]
            if sum(e.kind == "send" for e in events) >= sends:
                return events
            if not await self._pulses[chat_id].wait(deadline - loop.time()):
                raise TimeoutError(f"chat {chat_id}: {sends} replies expected, got {[e.method for e in events]}")

    async def _webhook_worker(self) -> None:
        if not self.parallel_webhook:
            await super()._webhook_worker()
            return
        flying: dict[int, int | None] = {}  # update id -> chat
        tasks: set[asyncio.Task[None]] = set()
        try:
            while not self._closing:
                if self.webhook_url:
                    blocked = set(flying.values())  # one update per chat at a time, in order
                    for pending in list(self._pending):
                        if not self._is_allowed(pending.update, self.webhook_allowed_updates):
                            self._pending.remove(pending)
                            continue
                        chat = _chat_of(pending.update)
                        if chat in blocked:
                            continue
                        blocked.add(chat)
                        if len(flying) >= self.webhook_max_connections:
                            break
                        flying[pending.update_id] = chat
                        task = asyncio.create_task(self._deliver(pending, flying))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                await self._updates_changed.wait(None)
        finally:
            for task in list(tasks):
                task.cancel()

    async def _deliver(self, pending: Any, flying: dict[int, int | None]) -> None:
        try:
            pending.attempts += 1
            assert self.webhook_url is not None
            status, body, error = await self._post_update(self.webhook_url, pending.update, self.webhook_secret)
            self.webhook_responses.append(WebhookDelivery(update_id=pending.update_id, status=status,
                                                          attempt=pending.attempts, time=time.monotonic(),
                                                          error=error, body=body))
            if status == 200:
                self.delivered_update_ids.append(pending.update_id)
            else:
                self.webhook_last_error = (int(time.time()), error or f"Wrong response from the webhook: {status}")
            done = status == 200 or pending.attempts >= self.webhook_max_tries
            if done:
                with contextlib.suppress(ValueError):
                    self._pending.remove(pending)
            self._changed.fire()
            if not done:
                await asyncio.sleep(min(self.webhook_retry_delay * 2 ** (pending.attempts - 1),
                                        self.webhook_max_retry_delay))
        finally:
            flying.pop(pending.update_id, None)
            self._updates_changed.fire()


# --------------------------------------------------------------------------------------------------
# Simulated people
# --------------------------------------------------------------------------------------------------


class Script(Walker):
    """The flow in-process beside the bot: what to answer next, and how many messages come back."""

    last: Any = None

    def send(self, answer: Any) -> Any:
        self.last = answer
        return super().send(answer)


@dataclass
class Tally:
    updates: int = 0
    latencies: list[float] = field(default_factory=list)
    finished: int = 0
    errors: list[str] = field(default_factory=list)


THINK = {"seconds": 0.0}  # --think: a person's pause before each answer, on average
FLOOD_AFTER = 5.0  # seconds into the run when the flood comes: the intakes are under way
FLOODER, PROBE = FIRST_USER - 1, FIRST_USER - 2  # outside the candidates' ids


@dataclass
class Flood:
    """What a flood of texts from one person did to another person's `/start` (`--flood N`)."""

    texts: int
    probe_first_reply: float = float("nan")  # seconds from the probe's /start being offered
    flood_through: float = float("nan")  # seconds until the flood's updates were all confirmed
    flooder_replies: int = 0  # messages the bot sent the flooder
    flooder_last_reply: float = float("nan")  # seconds from the flood's first text to the flooder's last reply
    started: float = 0.0  # when the flood's first text was offered
    error: str = ""


async def flood_and_probe(server: LoadServer, flood: Flood) -> None:
    """One person sends `flood.texts` texts at once; then another sends /start; their first reply timed."""
    await asyncio.sleep(FLOOD_AFTER)
    flooder = server.user(FLOODER, "Flod", "da")
    probe = server.user(PROBE, "Probe", "da")
    try:
        last = {}
        for n in range(flood.texts):
            last = await flooder.send_text(f"hej {n}")
            if n == 0:
                flood.started = server.offered[int(last["update_id"])]
        mark = len(server.chat_events[probe.chat_id])
        update = await probe.send_command("/start reconnect")
        offered = server.offered[int(update["update_id"])]
        events = await server.replies(probe.chat_id, mark, 1, STEP_TIMEOUT)
        flood.probe_first_reply = events[0].time - offered
        with contextlib.suppress(TimeoutError):  # a webhook takes one chat's updates one at a time
            async with asyncio.timeout(60):
                while any(p.update_id <= int(last["update_id"]) for p in server._pending):
                    await asyncio.sleep(0.1)
            flood.flood_through = time.monotonic() - offered
    except Exception as exc:
        flood.error = f"{type(exc).__name__}: {exc}"


async def step(server: LoadServer, user: FakeUser, action: Awaitable[dict[str, Any]], sends: int,
               tally: Tally) -> list[HistoryEvent]:
    """One update from a person; wait for `sends` new messages; note the latency to the first reply."""
    if THINK["seconds"] > 0:  # reading and thinking: between half and one and a half times the average
        await asyncio.sleep(THINK["seconds"] * random.Random(user.chat_id * 1000 + tally.updates).uniform(0.5, 1.5))
    mark = len(server.chat_events[user.chat_id])
    update = await action
    tally.updates += 1
    offered = server.offered[int(update["update_id"])]
    events = await server.replies(user.chat_id, mark, sends, STEP_TIMEOUT)
    first = next(e for e in events if e.kind in ("send", "edit"))
    tally.latencies.append(first.time - offered)
    return events


@dataclass(frozen=True)
class Move:
    """One answer of the intake: the question it answers, the tap or text, the messages that come back."""

    asked: str | None  # None for /start
    button: str | None
    text: str
    replies: int


def intake_plan() -> list[Move]:
    """The whole intake, worked out once with the flow: every candidate gives the same answers, and
    walking the flow beside each of them was a tenth of the driver's CPU."""
    script = Script(None, "da")
    moves = [Move(None, None, "/start reconnect", len(script.command("start", "reconnect").screens))]
    while script.state["status"] == "active":
        asked = script.screen.step
        script.answer_current(RECONNECT_DA)
        answer = script.last
        button = answer.button if hasattr(answer, "button") else None
        moves.append(Move(asked, button, "" if button else answer.text, len(script.reply.screens)))
    return moves


async def intake_person(server: LoadServer, index: int, tally: Tally, plan: list[Move]) -> None:
    user = server.user(FIRST_USER + index, f"Kandidat {index}", "da")
    for move in plan:
        if move.asked is None:
            await step(server, user, user.send_command(move.text), move.replies, tally)
            continue
        question = server.question(user.chat_id)
        if question is None or step_of(question.message) != move.asked:
            shown = step_of(question.message) if question else None
            raise AssertionError(f"expected question {move.asked}, the bot shows {shown}")
        if move.button is not None:
            data = next(str(b["callback_data"]) for b in question.message.buttons
                        if str(b["callback_data"]).rsplit("|", 1)[-1] == move.button)
            action = user.tap(question.message_id, data)
        else:
            action = user.send_text(move.text)
        await step(server, user, action, move.replies, tally)
    tally.finished += 1


def answer_kinds() -> list[tuple[str, str]]:
    """The intake's updates as (kind, text): the echo candidates send the same sequence."""
    return [("tap", "") if move.button is not None else ("text", move.text) for move in intake_plan()]


async def echo_person(server: LoadServer, index: int, tally: Tally, kinds: list[tuple[str, str]]) -> None:
    user = server.user(FIRST_USER + index, f"Kandidat {index}", "da")
    for kind, text in kinds:
        if kind == "tap":
            last = server.question(user.chat_id)
            assert last is not None
            action = user.tap(last.message_id, "again")
        elif text.startswith("/"):
            action = user.send_command(text)
        else:
            action = user.send_text(text)
        await step(server, user, action, 1, tally)
    tally.finished += 1


# --------------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------------


async def start_process(server: FakeTelegram, argv: list[str], env: dict[str, str], cwd: Path, log: Path,
                        ready: str) -> asyncio.subprocess.Process:
    since = len(server.calls)
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(*argv, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=out, stderr=out)
    try:
        await server.wait_for_call(ready, since=since, completed=False, timeout=90)
    except TimeoutError:
        await stop_process(proc)
        raise SystemExit(f"{argv[2:]} did not start:\n{log.read_text(errors='replace')[-3000:]}") from None
    return proc


async def stop_process(proc: asyncio.subprocess.Process, timeout: float = 30) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            out += [int(c) for c in text.split()]
    return out


def _tree(pid: int) -> list[int]:
    return [pid, *(p for child in _children(pid) for p in _tree(child))]


def peak_rss_kb(pid: int) -> int:
    """VmHWM of a process plus that of every process below it (`--workers` starts some), in kB."""
    total = 0
    for one in _tree(pid):
        with contextlib.suppress(OSError):
            match = re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{one}/status").read_text(), re.M)
            total += int(match.group(1)) if match else 0
    return total


async def wait_listening(pid: int, workers: int, port: int, timeout: float = 60) -> None:
    """Until the webhook port accepts connections and a multi-worker bot has its workers (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if workers <= 1 or len(_children(pid)) >= workers:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                pass
            else:
                writer.close()
                return
        await asyncio.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and the processes below it, so far."""
    total = 0
    for one in _tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def workers_available() -> bool:
    shown = subprocess.run([sys.executable, "-m", "bot.cli", "run", "--help"], cwd=ROOT, capture_output=True,
                           text=True, timeout=120, check=False)
    return "--workers" in shown.stdout


# --------------------------------------------------------------------------------------------------
# Databases
# --------------------------------------------------------------------------------------------------


def _admin_dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_postgres() -> tuple[str, Callable[[], Awaitable[None]]]:
    import asyncpg
    from sqlalchemy.engine import make_url

    server = os.environ.get("TEST_POSTGRES_URL") or DEFAULT_POSTGRES
    name = f"ipsbot_bench_{secrets.token_hex(4)}"
    connection = await asyncpg.connect(_admin_dsn(server), timeout=10)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()

    async def drop() -> None:
        conn = await asyncpg.connect(_admin_dsn(server), timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    return make_url(server).set(database=name).render_as_string(hide_password=False), drop


# --------------------------------------------------------------------------------------------------
# Phases 1 and 2: our bot and the echo bot under load

ECHO_BOTS = {"aiogram": "tests.benchmarks.echo_bot", "ptb": "tests.benchmarks.echo_ptb"}
# --------------------------------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    candidates: int
    tally: Tally
    wall: float
    rss_kb: int
    calls: Counter[str]
    violations: int
    violating_chats: int
    exit_code: int
    cpu: float = 0.0  # the bot's CPU seconds during the run
    driver_cpu: float = 0.0  # this process's (fake Telegram and the people) CPU seconds during the run
    machine_busy: float = 0.0  # share of all CPUs busy during the run (/proc/stat), anything running

    @property
    def rate(self) -> float:
        return self.tally.updates / self.wall if self.wall else 0.0

    @property
    def api_calls(self) -> int:
        return sum(n for method, n in self.calls.items() if method.lower() != "getupdates")

    def percentile(self, q: float) -> float:
        values = sorted(self.tally.latencies)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, max(0, round(q * len(values)) - 1))] * 1000


async def drive(server: LoadServer, n: int, person: Callable[[int, Tally], Awaitable[None]]) -> tuple[Tally, float]:
    tally = Tally()

    async def guarded(i: int) -> None:
        try:
            await person(i, tally)
        except Exception as exc:
            tally.errors.append(f"candidate {i}: {type(exc).__name__}: {exc}")

    start = time.monotonic()
    async with asyncio.timeout(PHASE_TIMEOUT):
        await asyncio.gather(*(guarded(i) for i in range(n)))
        with contextlib.suppress(TimeoutError):
            await server.drain(60)  # every update confirmed (or answered 200)
    return tally, time.monotonic() - start


def pacing_of(args: argparse.Namespace) -> float:
    """The bot's PER_CHAT_INTERVAL in this run (the bot's own default is 1 s)."""
    return 1.0 if args.per_chat_interval is None else args.per_chat_interval


def pacing_bound(run: Run, interval: float) -> float | None:
    """The most updates/s any bot could handle on this load while sending each chat at most one new message
    per `interval`: every candidate's messages take at least (messages - 1) * interval."""
    sends = run.calls.get("sendMessage", 0) + run.calls.get("sendDocument", 0)
    if interval <= 0 or not run.candidates or not sends:
        return None
    per_chat = sends / run.candidates
    return run.tally.updates / (max(per_chat - 1, 1) * interval)


async def bench_bot(args: argparse.Namespace, tmp: Path, *, interval: float | None = None,
                    flood: Flood | None = None) -> Run:
    """Our bot under the load; `interval` overrides its pacing (PER_CHAT_INTERVAL); `flood`: one person
    floods it meanwhile (and the figures of that go there)."""
    drop: Callable[[], Awaitable[None]] | None = None
    if args.database == "postgres":
        database_url, drop = await create_postgres()
    else:
        database_url = f"sqlite+aiosqlite:///{tmp / 'bot.db'}"
    try:
        async with LoadServer(token=TOKEN, parallel_webhook=not args.serial_webhook) as server:
            server.rate_limit_per_chat(1)  # recorded, not enforced
            extra = {"DATABASE_URL": database_url}
            # bot_env switches the pacing off for the tests; a benchmark measures the bot as deployed
            extra["PER_CHAT_INTERVAL"] = str(pacing_of(args) if interval is None else interval)
            ready = "getUpdates"
            if args.mode == "webhook":
                port = free_port()
                extra.update(WEBHOOK_URL=f"http://127.0.0.1:{port}/tg", WEBHOOK_SECRET=secrets.token_urlsafe(24),
                             WEBHOOK_HOST="127.0.0.1", WEBHOOK_PORT=str(port))
                ready = "setWebhook"
            env = bot_env(server, tmp, args.framework, **extra)
            # migrated beforehand, as a deployment's database is after its first start (on SQLite the
            # bot would migrate at start, and the memory of that one-off would count in its peak RSS)
            subprocess.run([sys.executable, "-m", "bot.cli", "db", "upgrade"], cwd=tmp, env=env, check=True,
                           capture_output=True, timeout=180)
            argv = [sys.executable, "-m", "bot.cli", "run"]
            if args.workers > 1:
                argv += ["--workers", str(args.workers)]
            if args.workers > 1 or args.redis:  # several workers need it; one may use it (--redis)
                env["REDIS_URL"] = args.redis_url
            proc = await start_process(server, argv, env, tmp, tmp / "bot.log", ready)
            if args.mode == "webhook":
                await wait_listening(proc.pid, args.workers, int(extra["WEBHOOK_PORT"]))
            try:
                since, cpu, usage = len(server.calls), cpu_seconds(proc.pid), Usage()
                plan = intake_plan()
                flooding = asyncio.create_task(flood_and_probe(server, flood)) if flood is not None else None
                tally, wall = await drive(server, args.candidates, lambda i, t: intake_person(server, i, t, plan))
                if flooding is not None and flood is not None:
                    await flooding
                    sent = [e for e in server.chat_events[FLOODER] if e.kind == "send"]
                    flood.flooder_replies = len(sent)
                    if sent:
                        flood.flooder_last_reply = sent[-1].time - flood.started
                calls = Counter(c.method for c in server.calls[since:])
                rss, cpu = peak_rss_kb(proc.pid), cpu_seconds(proc.pid) - cpu
                usage.stop()
                processes = len(_tree(proc.pid))
            finally:
                code = await stop_process(proc)
            if processes > 1:
                print(f"  (peak RSS is the sum over {processes} processes: the supervisor and its workers)")
            chats = {v.chat_id for v in server.rate_violations}
            return Run(f"ipsbot ({args.framework}, {args.database}, {args.mode})", args.candidates, tally, wall,
                       rss, calls, len(server.rate_violations), len(chats), code, cpu, usage.driver, usage.machine)
    finally:
        if drop is not None:
            await drop()


async def bench_echo(args: argparse.Namespace, tmp: Path) -> Run:
    kinds = answer_kinds()
    async with LoadServer(token=TOKEN) as server:
        server.rate_limit_per_chat(1)
        env = process_env(tmp, BOT_TOKEN=server.token, TELEGRAM_API_URL=server.url, PYTHONPATH=str(ROOT))
        argv = [sys.executable, "-m", ECHO_BOTS[args.framework]]
        proc = await start_process(server, argv, env, tmp, tmp / "echo.log", "getUpdates")
        try:
            since, cpu, usage = len(server.calls), cpu_seconds(proc.pid), Usage()
            tally, wall = await drive(server, args.candidates, lambda i, t: echo_person(server, i, t, kinds))
            calls = Counter(c.method for c in server.calls[since:])
            rss, cpu = peak_rss_kb(proc.pid), cpu_seconds(proc.pid) - cpu
            usage.stop()
        finally:
            code = await stop_process(proc)
        chats = {v.chat_id for v in server.rate_violations}
        return Run(f"{args.framework} echo bot", args.candidates, tally, wall, rss, calls,
                   len(server.rate_violations), len(chats), code, cpu, usage.driver, usage.machine)


class Usage:
    """CPU used during a run: by this process (the driver), and by the whole machine (/proc/stat)."""

    def __init__(self) -> None:
        self._driver = time.process_time()
        self._ticks = self.ticks()
        self.driver = self.machine = 0.0

    @staticmethod
    def ticks() -> tuple[int, int]:
        with contextlib.suppress(OSError):
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
            return sum(fields) - idle, sum(fields)
        return 0, 0

    def stop(self) -> None:
        self.driver = time.process_time() - self._driver
        busy, total = self.ticks()
        if total > self._ticks[1]:
            self.machine = (busy - self._ticks[0]) / (total - self._ticks[1])


def report_run(run: Run) -> None:
    t = run.tally
    print(f"  {run.label}: {run.candidates} candidates, {t.finished} finished, {t.updates} updates in "
          f"{run.wall:.1f} s = {run.rate:.0f} updates/s")
    print(f"    latency offered -> first reply: p50 {run.percentile(0.5):.0f} ms, p95 {run.percentile(0.95):.0f} ms, "
          f"p99 {run.percentile(0.99):.0f} ms")
    methods = ", ".join(f"{m} {n}" for m, n in run.calls.most_common() if m.lower() != "getupdates")
    per = run.api_calls / t.updates if t.updates else float("nan")
    print(f"    Bot API calls per update {per:.2f} ({methods}; getUpdates {run.calls.get('getUpdates', 0)})")
    print(f"    peak RSS {run.rss_kb / 1024:.0f} MB; rate violations (>1 message/s to one chat): {run.violations} "
          f"in {run.violating_chats} chats; exit code {run.exit_code}")
    if t.updates:
        print(f"    bot CPU {run.cpu:.1f} s = {run.cpu / t.updates * 1000:.1f} ms per update, "
              f"{run.cpu / run.wall:.0%} of one core over the wall time")
        print(f"    driver (fake Telegram and the people, this process) CPU {run.driver_cpu:.1f} s = "
              f"{run.driver_cpu / run.wall:.0%} of one core; the machine's {os.cpu_count()} CPUs "
              f"{run.machine_busy:.0%} busy (everything running, the database too)")
    for error in t.errors[:5]:
        print(f"    ERROR {error}")
    if len(t.errors) > 5:
        print(f"    ... and {len(t.errors) - 5} more errors")


# --------------------------------------------------------------------------------------------------
# Phase 3: stored intakes and exports
# --------------------------------------------------------------------------------------------------


async def fill(url: str, key: str, tmp: Path, first: int, count: int, budget: float) -> tuple[int, int, float]:
    """Up to `count` finished intakes (persons first, first+1, ...) within `budget` seconds, 20 at once."""
    from bot.app import open_app
    from bot.services.intake import Person
    from bot.settings import Settings
    from tests.service.test_intake_service import answer_once, asking

    settings = Settings(database_url=url, encryption_key=key, key_file=tmp / "unused.key")
    done = answers = 0
    next_index = first
    start = time.monotonic()
    async with open_app(settings, migrate=True) as app:

        async def worker() -> None:
            nonlocal done, answers, next_index
            while next_index < first + count and time.monotonic() - start < budget:
                person = Person("telegram", f"{next_index}", language="da")
                next_index += 1
                outcome = await app.intake.start(person, "reconnect")
                for _ in range(200):
                    if outcome.finished:
                        break
                    outcome = await answer_once(app.intake, person, asking(outcome))
                    answers += 1
                done += 1

        await asyncio.gather(*(worker() for _ in range(20)))
    return done, answers, time.monotonic() - start


@dataclass
class ExportRun:
    rss_kb: int
    seconds: float
    out_bytes: int
    code: int


def measure_export(fmt: str, env: dict[str, str], tmp: Path) -> ExportRun:
    if fmt == "report":  # the coordinator's dashboard with its charts, over the same data
        page = tmp / "dashboard.html"
        return measure_command(["report", "--html", str(page)], page, env, tmp)
    out = tmp / f"export.{fmt}"
    return measure_command(["export", "--format", fmt, "-o", str(out)], out, env, tmp)


def measure_command(command: list[str], out: Path | None, env: dict[str, str], tmp: Path) -> ExportRun:
    argv = [sys.executable, "-m", "bot.cli", *command]
    start = time.perf_counter()
    if TIME:
        done = subprocess.run([TIME, "-v", *argv], cwd=tmp, env=env, capture_output=True, text=True, timeout=900,
                              check=False)
        seconds = time.perf_counter() - start
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
        rss, code = (int(match.group(1)) if match else 0), done.returncode
    else:  # poll VmHWM until the process ends
        proc = subprocess.Popen(argv, cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rss = 0
        deadline = time.monotonic() + 900
        while proc.poll() is None and time.monotonic() < deadline:
            rss = max(rss, peak_rss_kb(proc.pid))
            time.sleep(0.02)
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
        seconds = time.perf_counter() - start
    size = out.stat().st_size if out is not None and out.exists() else 0
    return ExportRun(rss, seconds, size, code)


def db_size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


@dataclass
class Point:
    intakes: int
    size: int
    exports: dict[str, ExportRun]


def extrapolate(p1: Point, p2: Point, n: int, value: Callable[[Point], float]) -> float | None:
    """Linear through the two points; None when they show no growth (the difference is noise)."""
    if p2.intakes <= p1.intakes or value(p2) <= value(p1):
        return None
    slope = (value(p2) - value(p1)) / (p2.intakes - p1.intakes)
    return value(p2) + slope * (n - p2.intakes)


async def bench_stored(args: argparse.Namespace, tmp: Path) -> list[str]:
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    path = tmp / "stored.db"
    url = f"sqlite+aiosqlite:///{path}"
    env = process_env(tmp, DATABASE_URL=url, ENCRYPTION_KEY=key, PYTHONPATH=str(ROOT))
    target, budget = args.stored, args.fill_seconds
    points: list[Point] = []
    filled = answers = 0
    spent = 0.0
    for share in (0.5, 1.0):  # export at half way and at the end: two points to see the trend
        count, more, seconds = await fill(url, key, tmp, filled, round(target * share) - filled,
                                          budget * share - spent)
        filled, answers, spent = filled + count, answers + more, spent + seconds
        point = Point(filled, db_size(path), {fmt: measure_export(fmt, env, tmp) for fmt in ("json", "csv", "report")})
        points.append(point)
        print(f"  {filled} finished intakes ({answers} answers) after {spent:.0f} s of filling: database "
              f"{point.size / 1e6:.1f} MB; " + "; ".join(
                  f"export {fmt}: {e.seconds:.2f} s, RSS {e.rss_kb / 1024:.0f} MB, {e.out_bytes / 1e6:.1f} MB out"
                  + ("" if e.code == 0 else f", EXIT {e.code}") for fmt, e in point.exports.items()))
    rate = filled / spent if spent else 0.0
    print(f"  filling rate: {rate:.1f} intakes/s ({answers / spent if spent else 0:.0f} answers/s, 20 at once)")
    p1, p2 = points
    rows = []
    if filled >= target:
        rows.append(f"stored {filled} intakes: database {p2.size / 1e6:.1f} MB (measured)")
        for fmt, e in p2.exports.items():
            rows.append(f"export {fmt} of {filled}: {e.seconds:.2f} s, RSS {e.rss_kb / 1024:.0f} MB (measured)")
    else:
        print(f"  NOTE: filling {target} intakes would take about {target / rate / 60:.0f} min here "
              f"(more than --fill-seconds {budget:.0f}); figures for {target} are EXTRAPOLATED linearly "
              f"from the measurements at {p1.intakes} and {p2.intakes} intakes")
        size = extrapolate(p1, p2, target, lambda p: p.size) or p2.size * target / max(p2.intakes, 1)
        rows.append(f"stored {target} intakes: database ~{size / 1e6:.0f} MB (extrapolated from {p2.intakes}: "
                    f"{p2.size / 1e6:.1f} MB)")
        for fmt in ("json", "csv", "report"):
            sec = extrapolate(p1, p2, target, lambda p, f=fmt: p.exports[f].seconds)
            rss = extrapolate(p1, p2, target, lambda p, f=fmt: p.exports[f].rss_kb)
            e = p2.exports[fmt]
            rows.append(f"export {fmt} of {target}: "
                        + (f"~{sec:.1f} s" if sec else "time: no growth measurable")
                        + (f", RSS ~{rss / 1024:.0f} MB" if rss else ", RSS: no growth measurable")
                        + f" (extrapolated; measured at {p2.intakes}: {e.seconds:.2f} s, {e.rss_kb / 1024:.0f} MB)")
    rows.append(f"filling rate in-process: {rate:.1f} intakes/s")
    return rows


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.benchmarks.load", description=__doc__.split("\n")[0])
    p.add_argument("--candidates", type=int, default=200,
                   help="simulated people at once (default 200; 0 skips the load and measures only --stored)")
    p.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--mode", choices=["polling", "webhook"], default="polling")
    p.add_argument("--workers", type=int, default=1, help="bot worker processes, if `ipsbot run` offers them")
    p.add_argument("--per-chat-interval", type=float, metavar="SECONDS",
                   help="PER_CHAT_INTERVAL for the bot (its pacing of messages to one chat; 0: off; "
                        "default: the bot's own setting)")
    p.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL")
                   or "redis://127.0.0.1:6379/0", help="REDIS_URL for --workers N (default: TEST_REDIS_URL, "
                   "REDIS_URL or redis://127.0.0.1:6379/0)")
    p.add_argument("--redis", action="store_true",
                   help="REDIS_URL for one worker too (Redis isolation, as a deployment with REDIS_URL runs; "
                        "--workers N always has it)")
    p.add_argument("--framework", choices=sorted(ECHO_BOTS), default="aiogram",
                   help="the bot's Telegram runtime (BOT_FRAMEWORK), and the echo bot it is compared with")
    p.add_argument("--no-echo", action="store_true", help="skip the echo bot comparison")
    p.add_argument("--think", type=float, default=0.0, metavar="SECONDS",
                   help="each person pauses about this long before each answer (default 0: answer at once, "
                        "which measures capacity; with a pause, the latency at a given load)")
    p.add_argument("--serial-webhook", action="store_true",
                   help="deliver webhook updates one at a time (the fake server's own way)")
    p.add_argument("--flood", type=int, default=0, metavar="N",
                   help="one person sends N texts at once while the candidates are under way; another "
                        "person's first reply is timed (default 0: no flood)")
    p.add_argument("--stored", type=int, default=10_000, help="finished intakes for the export figures (0: skip)")
    p.add_argument("--fill-seconds", type=float, default=90.0,
                   help="at most this long filling the stored intakes; the rest is extrapolated (default 90)")
    return p.parse_args(argv)


async def main_async(args: argparse.Namespace) -> None:
    started = time.monotonic()
    print(f"load benchmark {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, Python "
          f"{sys.version.split()[0]}; command: python -m tests.benchmarks.load {' '.join(sys.argv[1:])}")
    if args.workers > 1 and not workers_available():
        print(f"  --workers {args.workers}: multi-worker runs are not available yet (`ipsbot run --help` shows no "
              "--workers); running 1 worker")
        args.workers = 1
    elif args.workers > 1 and args.mode != "webhook":
        print(f"  --workers {args.workers}: `ipsbot run --workers` serves webhooks only; use --mode webhook. "
              "Running 1 worker")
        args.workers = 1
    THINK["seconds"] = args.think
    table: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="ipsbot-load-") as name:
        tmp = Path(name)
        if args.candidates > 0:  # 0: only the stored intakes and the exports
            pause = f", each pausing about {args.think:g} s before each answer" if args.think > 0 else ""
            print(f"1. {args.candidates} candidates through full RECONNECT intakes, all at once{pause}")
            flood = Flood(args.flood) if args.flood else None
            ours = await bench_bot(args, tmp, flood=flood)
            report_run(ours)
            if flood is not None:
                line = (f"{flood.texts} texts from one person at once, {FLOOD_AFTER:g} s in: another person's first "
                        f"reply after {flood.probe_first_reply * 1000:.0f} ms; the flood confirmed after "
                        f"{flood.flood_through:.1f} s; the flooder got {flood.flooder_replies} messages back, "
                        f"the last {flood.flooder_last_reply:.1f} s after the first text")
                print(f"  flood: {line}" + (f"; ERROR {flood.error}" if flood.error else ""))
                table.append(("flood", line + (f" (ERROR {flood.error})" if flood.error else "")))
            per = ours.api_calls / ours.tally.updates if ours.tally.updates else float("nan")
            table += [
                ("bot", f"ipsbot run, {args.framework}, {args.database}, {args.mode}, {args.workers} worker(s), "
                        + ("Redis isolation, " if args.workers > 1 or args.redis else "")
                        + "pacing "
                        + ("default" if args.per_chat_interval is None else f"{args.per_chat_interval:g} s")),
                ("candidates finished", f"{ours.tally.finished}/{ours.candidates} ({len(ours.tally.errors)} errors)"),
                ("updates sent", f"{ours.tally.updates}"),
                ("wall time", f"{ours.wall:.1f} s"),
                ("updates/s", f"{ours.rate:.0f}"),
                ("latency p50/p95/p99", f"{ours.percentile(0.5):.0f} / {ours.percentile(0.95):.0f} / "
                                        f"{ours.percentile(0.99):.0f} ms"),
                ("bot peak RSS", f"{ours.rss_kb / 1024:.0f} MB"),
                ("bot CPU per update", f"{ours.cpu / max(ours.tally.updates, 1) * 1000:.1f} ms "
                                       f"({ours.cpu / ours.wall:.0%} of one core)"),
                ("Bot API calls per update", f"{per:.2f}"),
                ("rate violations", f"{ours.violations} in {ours.violating_chats} chats"),
            ]
            bound = pacing_bound(ours, pacing_of(args))
            if bound is not None:
                pace = f"one new message per {pacing_of(args):g} s per chat"
                print(f"  pacing: {pace} caps any bot at {bound:.0f} updates/s on this load")
                table.append(("pacing bound", f"{bound:.0f} updates/s ({pace})"))
            if not args.no_echo:
                unpaced = ours
                if pacing_of(args) > 0:  # the echo bot does not pace itself: compare like with like
                    print("1b. the same, our bot without pacing (PER_CHAT_INTERVAL=0), as the echo bot runs")
                    (tmp / "unpaced").mkdir()
                    unpaced = await bench_bot(args, tmp / "unpaced", interval=0.0)
                    report_run(unpaced)
                    cpu_ms = unpaced.cpu / max(unpaced.tally.updates, 1) * 1000
                    table.append(("updates/s without pacing", f"{unpaced.rate:.0f} (p99 {unpaced.percentile(0.99):.0f} "
                                                              f"ms, {cpu_ms:.1f} ms CPU per update)"))
                print(f"2. the same load on a minimal {args.framework} echo bot ({len(answer_kinds())} updates per "
                      "candidate)")
                (tmp / "echo").mkdir()
                echo = await bench_echo(args, tmp / "echo")
                report_run(echo)
                share = unpaced.rate / echo.rate if echo.rate else float("nan")
                print(f"  our throughput without pacing is {share:.0%} of the echo bot's (which does not pace)")
                table += [
                    ("echo bot updates/s", f"{echo.rate:.0f} (p50 {echo.percentile(0.5):.0f} ms, "
                                           f"p99 {echo.percentile(0.99):.0f} ms, RSS {echo.rss_kb / 1024:.0f} MB)"),
                    ("ours / echo", f"{share:.2f} (both without pacing)"),
                ]
        if args.stored > 0:
            print(f"3. {args.stored} stored intakes (fresh SQLite) and the exports")
            stored_dir = tmp / "stored"
            stored_dir.mkdir()
            for row in await bench_stored(args, stored_dir):
                label, _, value = row.partition(": ")
                table.append((label, value))
    print(f"\nsummary (total {time.monotonic() - started:.0f} s)")
    width = max(len(label) for label, _ in table)
    for label, value in table:
        print(f"  {label.ljust(width)}  {value}")


def main() -> None:
    asyncio.run(main_async(parse_args()))


if __name__ == "__main__":
    main()
