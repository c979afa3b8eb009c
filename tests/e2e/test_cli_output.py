"""What the command line prints and writes: no control character reaches the terminal, and files
with health data are created readable by their owner only. Real `ipsbot` processes on SQLite."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.output import terminal_safe
from storage.db import make_engine, make_session_factory
from storage.repositories import AuditRepository
from tests.e2e.console_process import process_env
from tests.e2e.test_console import ANSWERS, ROOT
from tests.e2e.test_consultants import World, referral_id, summaries, world  # noqa: F401  # `world`: a fixture

# a forged button payload as it lands in the audit `detail`: up a line, erase it, retitle the window,
# and a C1 CSI and a right-to-left override for good measure
FORGED = "claim|9\x1b[1A\x1b[2K\x1b]0;all is well\x07\x9b2J\u202egnihton"


@pytest.fixture(scope="module")
def framework() -> str:
    """What the command line prints does not depend on the Telegram runtime: one bot (`world`) is enough."""
    return "aiogram"


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, so that a file made without an explicit mode would come out 0644."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def cli(env: dict[str, str], cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


def finished_intake(tmp_path: Path) -> tuple[dict[str, str], int]:
    env = process_env(tmp_path, PYTHONPATH=str(ROOT))
    done = cli(env, tmp_path, "chat", "--programme", "reconnect", "--user", "ana", stdin="\n".join(ANSWERS) + "\n")
    assert done.returncode == 0, done.stderr
    return env, json.loads(cli(env, tmp_path, "export").stdout)["id"]


def test_terminal_safe_escapes_every_control_character() -> None:
    assert terminal_safe(FORGED) == ("claim|9\\u001b[1A\\u001b[2K\\u001b]0;all is well\\u0007\\u009b2J"
                                     "\\u202egnihton")
    assert terminal_safe("line\nnext\r") == "line\\u000anext\\u000d"
    assert terminal_safe("line\nnext\r", keep_newlines=True) == "line\nnext\\u000d"
    assert terminal_safe("Søren Ærø – 😀 <b>") == "Søren Ærø – 😀 <b>"  # printable text is left alone
    assert json.loads(terminal_safe(json.dumps({"v": FORGED}, ensure_ascii=False))) == {"v": FORGED}


async def add_audit_event(url: str, referral_id: int) -> None:
    engine = make_engine(url)
    try:
        async with make_session_factory(engine)() as session:
            await AuditRepository(session).record(actor="staff:7\x1b[8m", action="claim.refused",
                                                  at=datetime.now(UTC), referral_id=referral_id, detail=FORGED)
            await session.commit()
    finally:
        await engine.dispose()


async def test_audit_prints_a_forged_payload_without_its_control_characters(tmp_path: Path) -> None:
    env, referral_id = finished_intake(tmp_path)
    await add_audit_event(env["DATABASE_URL"], referral_id)
    done = cli(env, tmp_path, "audit", "--referral", str(referral_id))
    assert done.returncode == 0, done.stderr
    assert not [c for c in done.stdout if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) <= 0x9F or c == "\u202e"]
    forged = [line for line in done.stdout.splitlines() if "claim.refused" in line]
    assert len(forged) == 1 and "claim|9\\u001b[1A\\u001b[2K" in forged[0] and "staff:7\\u001b[8m" in forged[0]
    assert "\\u009b2J\\u202egnihton" in forged[0]


@pytest.mark.asyncio(loop_scope="module")  # the `world` bot process serves the module
async def test_a_forged_press_with_escape_sequences_is_audited_and_shown_escaped(world: World) -> None:  # noqa: F811
    """Through the real bot: a consultant of another programme presses a forged button whose payload
    carries ESC sequences; the refusal is audited with the payload, and `ipsbot audit` shows it inert."""
    owner = await world.consultant("Hanne")
    await world.candidate("Ingrid")
    rid = referral_id(summaries(owner, "Ingrid")[0])
    other = await world.consultant("Jens\x1b[8m", programme="reconnect")  # a name given to `ipsbot invite`
    forged = f"ref.{rid}|0|claim\x1b[1A\x1b[2K\x9b2J"
    await other.act(lambda: other.user.tap(other.user.messages[-1].message_id, forged))
    shown = world.audit(rid)
    denied = [line for line in shown.splitlines() if "denied" in line]
    assert denied, shown
    assert not [c for c in shown if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) <= 0x9F]
    assert any("\\u001b[1A\\u001b[2K\\u009b2J" in line for line in denied), denied
    listed = world.cli("staff", "list").stdout
    assert "Jens\\u001b[8m" in listed and "\x1b" not in listed


def test_export_file_and_mydata_copy_are_readable_by_their_owner_only(tmp_path: Path, umask_022: None) -> None:
    env, _ = finished_intake(tmp_path)
    for fmt in ("json", "csv"):
        out = tmp_path / f"export.{fmt}"
        done = cli(env, tmp_path, "export", "--format", fmt, "-o", str(out))
        assert done.returncode == 0, done.stderr
        assert stat.S_IMODE(out.stat().st_mode) == 0o600, fmt
        assert "Ana" in out.read_text(encoding="utf-8")
    loose = tmp_path / "old-export.json"  # a file that was there already, readable by all: narrowed first
    loose.write_text("old", encoding="utf-8")
    loose.chmod(0o644)
    assert cli(env, tmp_path, "export", "-o", str(loose)).returncode == 0
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600 and "Ana" in loose.read_text(encoding="utf-8")

    # someone halfway through (a finished intake shows its result and ends the chat)
    halfway = "\n".join([*ANSWERS[:6], "/mydata"]) + "\n"
    shown = cli(env, tmp_path, "chat", "--programme", "reconnect", "--user", "bo", stdin=halfway)
    assert shown.returncode == 0, shown.stderr
    copy = tmp_path / "ipsbot-mydata-bo.json"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert "Ana" in copy.read_text(encoding="utf-8")


def test_staff_list_names_every_programme_where_an_urgent_case_would_reach_nobody(tmp_path: Path) -> None:
    """Issue 20: a new installation has no staff until its invites are used; `ipsbot staff list` says
    loudly where an urgent case would reach nobody, and where it would reach no consultant."""
    env = process_env(tmp_path, PYTHONPATH=str(ROOT))
    shown = cli(env, tmp_path, "staff", "list")
    assert shown.returncode == 0, shown.stderr
    for programme in ("reconnect", "vejle", "hjorring", "sjaelland", "jonkoping"):
        assert f"WARNING: programme {programme}: an urgent case would reach nobody" in shown.stdout
    invited = cli(env, tmp_path, "invite", "--role", "operator", "--name", "Ops")
    assert invited.returncode == 0, invited.stderr and "invite code: " in invited.stdout
    invited = cli(env, tmp_path, "invite", "--role", "coordinator", "--programme", "vejle")
    assert invited.returncode == 0 and "invite code: " in invited.stdout  # unused invites reach nobody yet
    assert "WARNING: programme vejle: an urgent case would reach nobody" in cli(env, tmp_path, "staff", "list").stdout
