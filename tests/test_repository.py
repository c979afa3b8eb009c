"""What the repository itself holds: no secrets by accident, nothing that points outside it."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def test_env_files_are_ignored() -> None:
    # `.env` holds BOT_TOKEN and the encryption keys (README, Settings): never committed by `git add -A`
    for name in (".env", ".env.production", "bot/.env"):
        assert git("check-ignore", "-q", name).returncode == 0, name
    assert git("check-ignore", "-q", "docs/security.md").returncode == 1  # the check can fail
