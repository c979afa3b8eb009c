"""Drive `ipsbot chat` as a real process, one answer at a time, as a person at a terminal would."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from cryptography.fernet import Fernet

PROMPT = "\n> "


def process_env(tmp: Path, **extra: str) -> dict[str, str]:
    """An environment for a bot process: its own SQLite file and a fixed key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_", "ENCRYPTION_"))}
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp / 'ipsbot.db'}",
        ENCRYPTION_KEY=Fernet.generate_key().decode(),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class ConsoleProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.transcript = ""

    @classmethod
    async def start(cls, env: dict[str, str], cwd: Path, *args: str) -> ConsoleProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "chat", *args, cwd=cwd, env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        console = cls(proc)
        await console.until_prompt()
        return console

    async def until_prompt(self, timeout: float = 30) -> str:
        """Everything printed up to the next prompt (the answer before it is saved by then)."""
        assert self.proc.stdout is not None
        start = len(self.transcript)
        async with asyncio.timeout(timeout):
            while len(self.transcript) == start or not self.transcript.endswith(PROMPT):
                chunk = await self.proc.stdout.read(4096)
                if not chunk:
                    break
                self.transcript += chunk.decode()
        return self.transcript[start:]

    async def say(self, line: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        await self.proc.stdin.drain()
        return await self.until_prompt()

    async def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.stdout is not None
        self.transcript += (await self.proc.stdout.read()).decode()
        return await self.proc.wait()
