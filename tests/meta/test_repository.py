"""What the repository itself holds: no secrets by accident, nothing that points outside it."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def test_env_files_are_ignored() -> None:
    # `.env` holds BOT_TOKEN and the encryption keys (README, Settings): never committed by `git add -A`
    for name in (".env", ".env.production", "bot/.env"):
        assert git("check-ignore", "-q", name).returncode == 0, name
    assert git("check-ignore", "-q", "docs/security.md").returncode == 1  # the check can fail


def test_nothing_points_outside_the_repository() -> None:
    """What the code follows is written in `docs/design.md`, not in a file beside the repository."""
    outside = ("shared/" + "DESIGN", "../" + "shared", "/work/" + "shared")  # spelled apart: not a hit here
    tracked = git("ls-files", "-z").stdout.split("\0")
    assert len(tracked) > 50
    hits = []
    for name in filter(None, tracked):
        path = ROOT / name
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        hits += [f"{name}: {needle}" for needle in outside if needle.lower() in text.lower()]
    assert not hits, hits
    assert (ROOT / "docs" / "design.md").is_file()
