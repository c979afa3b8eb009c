"""Run `ipsbot run` as a real process against the fake Bot API server, and drive candidates through it.

`BotProcess.start` waits until the bot has asked for updates (or set its webhook); `Candidate`
acts as a person in a private chat and collects the bot's replies to each action. With polling, an
action is complete once every update is confirmed and the bot waits in a long poll again
(`FakeTelegram.settle`): it long-polls only when it has nothing in hand, so by then every reply has
been sent.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.e2e.console_process import process_env
from tests.fake_telegram import BotMessage, FakeTelegram, FakeUser
from tests.support.walk import Plan, PlanAnswer, Press, Question, Type

ROOT = Path(__file__).resolve().parents[2]
NAV = ("back", "skip")
TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"  # shaped like a real token



def bot_env(server: FakeTelegram, tmp: Path, framework: str = "aiogram", **extra: str) -> dict[str, str]:
    return process_env(tmp, BOT_TOKEN=server.token, TELEGRAM_API_URL=server.url, PYTHONPATH=str(ROOT),
                       BOT_FRAMEWORK=framework,
                       # simulated people answer faster than anyone can; the pacing has a test of its own
                       **{"WEBHOOK_URL": "", "WEBHOOK_SECRET": "", "LOG_LEVEL": "INFO", "PER_CHAT_INTERVAL": "0",
                          **extra})


class Zygote:
    """A process that has imported the bot once and forks a fresh `ipsbot run` on request.

    Importing aiogram's types takes seconds on a small machine; a crash test restarts the bot
    twenty times, so each restart is a fork of this process running `bot.cli.main(["run"])`: a
    real, separate process that `kill -9` ends like any other.
    """

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, env: dict[str, str], cwd: Path, log: Path) -> Zygote:
        with log.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.e2e.telegram_bot", cwd=cwd, env=env,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=out)
        return cls(proc)

    async def ask(self, line: str) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((line + "\n").encode())
        await self.proc.stdin.drain()
        async with asyncio.timeout(60):
            return int(await self.proc.stdout.readline())

    async def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        await self.proc.wait()


def _zygote() -> None:
    import bot.app
    import bot.channels.telegram.aiogram.runtime  # the slow imports, once
    import bot.channels.telegram.ptb.runtime
    import bot.channels.telegram.runtime
    import bot.cli

    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "spawn":
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    code = bot.cli.main(["run"])
                finally:
                    os._exit(code)
            print(pid, flush=True)
        elif command == "wait":
            _, status = os.waitpid(int(arg), 0)
            print(os.waitstatus_to_exitcode(status), flush=True)


class BotProcess:
    def __init__(self, server: FakeTelegram, env: dict[str, str], cwd: Path) -> None:
        self.server = server
        self.env = env
        self.cwd = cwd
        self.log = cwd / "bot.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.zygote: Zygote | None = None
        self.pid: int | None = None
        self.starts = 0

    async def start(self, ready: str = "getUpdates", timeout: float = 30, *, fork: bool = False) -> BotProcess:
        """A new bot process; `fork` makes it by forking a pre-imported `Zygote` (fast restarts)."""
        since = len(self.server.calls)
        if fork:
            if self.zygote is None:
                self.zygote = await Zygote.start(self.env, self.cwd, self.log)
            self.pid = await self.zygote.ask("spawn")
        else:
            with self.log.open("ab") as log:
                self.proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot.cli", "run", cwd=self.cwd, env=self.env,
                    stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
                )
        self.starts += 1
        try:
            await self.server.wait_for_call(ready, since=since, completed=False, timeout=timeout)
        except TimeoutError:
            raise AssertionError(f"bot did not start:\n{self.log.read_text()[-3000:]}") from None
        return self

    async def kill(self) -> None:
        if self.pid is not None and self.zygote is not None:
            os.kill(self.pid, signal.SIGKILL)
            await self.zygote.ask(f"wait {self.pid}")
            self.pid = None
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self, timeout: float = 20) -> int:
        """SIGTERM and wait; the exit code."""
        if self.pid is not None and self.zygote is not None:
            os.kill(self.pid, signal.SIGTERM)
            async with asyncio.timeout(timeout):
                code = await self.zygote.ask(f"wait {self.pid}")
            self.pid = None
            await self.zygote.close()
            return code
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(timeout):
                await self.proc.wait()
        assert self.proc.returncode is not None
        return self.proc.returncode


def step_of(message: BotMessage) -> str:
    return str(message.buttons[0]["callback_data"]).split("|", 1)[0]


def button_ids(message: BotMessage) -> list[str]:
    return [str(b["callback_data"]).rsplit("|", 1)[-1] for b in message.buttons]


class Candidate:
    """A person in a private chat with the bot."""

    def __init__(self, server: FakeTelegram, user: FakeUser, timeout: float = 20) -> None:
        self.server = server
        self.user = user
        self.timeout = timeout  # how long one action may take (longer while a test takes a service away)

    @property
    def mark(self) -> int:
        return len(self.server.history(self.user.chat_id))

    def sent_since(self, mark: int) -> list[BotMessage]:
        return [e.message for e in self.server.history(self.user.chat_id)[mark:] if e.kind == "send"]

    async def act(self, action: Callable[[], Awaitable[Any]], timeout: float | None = None) -> list[BotMessage]:
        """Do something, wait until the bot has handled it, return the messages it sent."""
        mark = self.mark
        await action()
        await self.server.settle(timeout or self.timeout)
        return self.sent_since(mark)

    async def say(self, text: str) -> list[BotMessage]:
        if text.startswith("/"):
            return await self.act(lambda: self.user.send_command(text))
        return await self.act(lambda: self.user.send_text(text))

    def question(self) -> BotMessage:
        """The latest message with buttons (every question has some: answers, back or skip)."""
        asking = [m for m in self.user.messages if m.buttons]
        assert asking, "no question asked yet"
        return asking[-1]

    async def tap(self, button_id: str, message: BotMessage | None = None) -> list[BotMessage]:
        target = message or self.question()
        return await self.act(lambda: self.user.tap_button(
            lambda b: str(b.get("callback_data", "")).rsplit("|", 1)[-1] == button_id,
            message_id=target.message_id))

    def planned(self, plan: dict[str, Any], default: str = "1") -> tuple[str, bool]:
        """What to answer to the current question, and whether it is a tap: the walker's first answer."""
        first = Plan.typical(plan, default=default, unoffered="last").answer(self.asked())[0]
        return (first.button, True) if isinstance(first, Press) else (getattr(first, "text", ""), False)

    async def current(self) -> Question:
        return self.asked()

    def asked(self) -> Question:
        """The latest question as the walker sees it (tests/support/walk.py); options shown ✓ are on."""
        question = self.question()
        ids = button_ids(question)
        answers = tuple(i for i in ids if i not in NAV)
        on = frozenset(i for i, b in zip(ids, question.buttons, strict=False) if str(b.get("text", "")).startswith("✓"))
        return Question(step_of(question), answers, tuple(i for i in ids if i in NAV), typed=not answers, chosen=on)

    async def send(self, answer: PlanAnswer) -> None:
        await self._send(answer)

    async def _send(self, answer: PlanAnswer) -> list[BotMessage]:
        if isinstance(answer, Press):
            return await self.tap(answer.button)
        if isinstance(answer, Type):
            return await self.say(answer.text)
        raise TypeError(f"a chat asks one question at a time, not {answer!r}")

    async def answer(self, plan: dict[str, Any], default: str = "1") -> list[BotMessage]:
        """Answer the latest question as `plan` (over `TYPICAL`) says; the replies."""
        replies: list[BotMessage] = []
        for answer in Plan.typical(plan, default=default, unoffered="last").answer(self.asked()):
            replies += await self._send(answer)
        return replies

    async def run(self, plan: dict[str, Any], until: Callable[[list[BotMessage]], bool],
                  default: str = "1", limit: int = 80) -> list[BotMessage]:
        """Answer question after question until `until(replies)`; all replies."""
        seen: list[BotMessage] = []
        for _ in range(limit):
            replies = await self.answer(plan, default)
            seen += replies
            if until(replies):
                return seen
        raise AssertionError(f"no end after {limit} answers; last: {[m.text[:80] for m in seen[-3:]]}")


if __name__ == "__main__":
    _zygote()
