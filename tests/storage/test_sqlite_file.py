"""The SQLite database file and its WAL and shared-memory files are readable by their owner only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import text

from storage.db import make_engine, upgrade


async def test_the_database_file_and_its_wal_and_shm_are_created_0600(tmp_path: Path) -> None:
    before = os.umask(0o022)  # a usual umask: files would be 0644
    try:
        path = tmp_path / "data" / "ipsbot.db"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade(url)
        engine = make_engine(url)
        try:
            async with engine.begin() as connection:  # WAL mode: the -wal and -shm files exist while open
                await connection.execute(text("CREATE TABLE probe (x INTEGER)"))
                await connection.execute(text("INSERT INTO probe VALUES (1)"))
            async with engine.connect() as connection:
                await connection.execute(text("SELECT x FROM probe"))
                files = sorted(p.name for p in path.parent.iterdir())
                assert files == ["ipsbot.db", "ipsbot.db-shm", "ipsbot.db-wal"]
                modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()}
        finally:
            await engine.dispose()
    finally:
        os.umask(before)
    assert modes == {"ipsbot.db": 0o600, "ipsbot.db-shm": 0o600, "ipsbot.db-wal": 0o600}


async def test_a_database_file_made_before_is_narrowed_to_0600(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
