"""The console channel end to end: a real `ipsbot chat` process on SQLite, killed and resumed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from locales import Translator
from tests.e2e.console_process import ConsoleProcess, process_env

ROOT = Path(__file__).resolve().parents[2]
DA = Translator("da")
SCHEMA = json.loads((ROOT / "flows" / "referral.schema.json").read_text(encoding="utf-8"))

# RECONNECT in Danish: every line a person types, in order (choices by number)
ANSWERS = [
    "1",  # language: Dansk (suggested first)
    "1", "1", "1",  # three information screens
    "1",  # consent: yes
    "Ana", "19", "Hjørring",
    "3",  # unemployed
    "2",  # uddannelseshjælp
    "1",  # in treatment
    "1",  # contact here in the chat
    *["2"] * 7,  # GAD-7: "several days" = 1 each, total 7 (mild)
    # MDI: "slightly less than half of the time" = 2 each, but item 6 "at no time" (any other answer is a
    # risk answer), total 18 (none)
    *["4"] * 5, "6", *["4"] * 6,
    "1", "Cykelmekaniker", "/skip", "Jeg kan reparere ting", "2", "/skip", "2", "<b>Følgeskab</b> & ro",
    "1",  # summary: that's right
]


def run_cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return process_env(tmp_path, PYTHONPATH=str(ROOT))


async def test_killed_chat_resumes_at_the_same_question_and_exports_one_valid_referral(
    tmp_path: Path, env: dict[str, str]
) -> None:
    kill_after = {3, 12, 25}  # an info screen, inside GAD-7, inside the MDI
    console = await ConsoleProcess.start(env, tmp_path, "--programme", "reconnect")
    for index, line in enumerate(ANSWERS[:-1]):
        shown = await console.say(line)
        if index in kill_after:
            question = shown.rsplit("-" * 60, 1)[-1]  # the question now waiting
            await console.kill()
            console = await ConsoleProcess.start(env, tmp_path, "--programme", "reconnect")
            resumed = console.transcript
            assert DA("start.welcome_back") in resumed
            assert question.strip() in resumed, "resumed at a different question"
    shown = await console.say(ANSWERS[-1])
    assert DA("result.eligible") in shown, console.transcript[-3000:]
    # no consultant in the programme at all: not told that "all consultants are full"
    assert DA("waiting.place", place=1) not in shown
    assert await console.close() == 0

    # the database file itself (and its write-ahead log) holds none of it in plain text
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("ipsbot.db*"))
    # (long or non-ASCII strings only: a short one could turn up by chance inside base64 ciphertext)
    for typed in ("Hjørring", "Cykelmekaniker", "Jeg kan reparere ting", "Følgeskab"):
        assert typed.encode() not in stored, typed

    export = run_cli(env, tmp_path, "export", "--format", "json")
    assert export.returncode == 0, export.stderr
    lines = export.stdout.splitlines()
    assert len(lines) == 1, "exactly one referral"
    record = json.loads(lines[0])
    jsonschema.validate(record, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert record["programme"] == "reconnect" and record["language"] == "da"
    assert record["candidate"]["name"] == "Ana" and record["candidate"]["age"] == 19
    assert record["instruments"]["gad7"] == {"items": [1] * 7, "total": 7, "band": "mild"}
    assert record["instruments"]["mdi"]["total"] == 18 and record["instruments"]["mdi"]["band"] == "none"
    assert record["instruments"]["mdi"]["icd10"] == "none" and record["instruments"]["mdi"]["dsm4"] == "none"
    assert record["motivation"]["support_wanted"] == "<b>Følgeskab</b> & ro"  # stored as typed
    assert record["motivation"]["background"] is None
    assert record["triage"] == {"outcome": "eligible", "reason": "reason.mild_moderate", "urgent": False,
                                "priority": False}
    assert record["status"] == "waiting"  # no consultant has joined the programme yet


async def test_piped_input_runs_a_whole_intake_and_reset_starts_over(tmp_path: Path, env: dict[str, str]) -> None:
    script = "\n".join(["1", "1", "1", "1", "2"]) + "\n"  # decline consent
    done = subprocess.run([sys.executable, "-m", "bot.cli", "chat", "--programme", "vejle"], input=script,
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert DA("declined.text").splitlines()[0] in done.stdout
    again = subprocess.run([sys.executable, "-m", "bot.cli", "chat", "--programme", "vejle", "--reset"],
                           input="\n", cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                           check=False)
    assert DA("language.ask") in again.stdout


def test_unknown_programme_is_one_clear_line(tmp_path: Path, env: dict[str, str]) -> None:
    done = run_cli(env, tmp_path, "chat", "--programme", "atlantis")
    assert done.returncode == 2
    assert "Unknown programme 'atlantis'" in done.stderr and "Traceback" not in done.stderr


def test_programmes_check_passes_for_shipped_files_and_points_at_bad_lines(
    tmp_path: Path, env: dict[str, str]
) -> None:
    assert run_cli(env, tmp_path, "programmes", "check").returncode == 0
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "bad.yaml").write_text("id: bad\ncountry: NO\n", encoding="utf-8")
    done = run_cli({**env, "PROGRAMMES_DIR": str(extra)}, tmp_path, "programmes", "check")
    assert done.returncode == 1
    assert f"{extra / 'bad.yaml'}:2: country" in done.stdout


async def test_the_console_toggles_diagnosis_areas_by_number(tmp_path: Path, env: dict[str, str]) -> None:
    # language, three info screens, consent, name, age, municipality, situation, support, treatment
    answers = ["1", "1", "1", "1", "1", "Ida", "40", "Vejle", "3", "1", "1"]
    done_number = 15  # 12 areas, none, don't know, then "done"
    script = "\n".join([*answers, "1", "4", str(done_number)]) + "\n"  # anxiety on, trauma on, done
    done = subprocess.run([sys.executable, "-m", "bot.cli", "chat", "--programme", "vejle"], input=script,
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"{done_number}) {DA('button.done')}" in out
    after = out.rsplit(DA("q.diagnoses"), 1)[1]  # the last time the question was shown
    assert DA("option.chosen", label=DA("q.diagnoses.anxiety")) in after
    assert DA("option.chosen", label=DA("q.diagnoses.trauma")) in after
    assert DA("q.contact") in after  # "done" moved on
