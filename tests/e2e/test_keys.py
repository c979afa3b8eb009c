"""Encryption keys from the command line: rotation round trip, a wrong key stops the start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

from tests.e2e.console_process import process_env
from tests.e2e.test_console import ANSWERS, ROOT


def cli(env: dict[str, str], cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


def test_rotation_round_trip_and_a_wrong_key(tmp_path: Path) -> None:
    old, new = (Fernet.generate_key().decode() for _ in range(2))
    env = process_env(tmp_path, PYTHONPATH=str(ROOT), ENCRYPTION_KEY=old)
    done = cli(env, tmp_path, "chat", "--programme", "reconnect", stdin="\n".join(ANSWERS) + "\n")
    assert done.returncode == 0, done.stderr

    refused = cli({**env, "ENCRYPTION_KEY": f"{new},{old}"}, tmp_path, "keys", "rotate")
    assert refused.returncode == 2 and "ENCRYPTION_HASH_KEY=" in refused.stderr  # the look-up key must be pinned
    derived = refused.stderr.split("ENCRYPTION_HASH_KEY=", 1)[1].split()[0]

    both = {**env, "ENCRYPTION_KEY": f"{new},{old}", "ENCRYPTION_HASH_KEY": derived}
    rotated = cli(both, tmp_path, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert "1 referrals" in rotated.stdout and "1 intakes" in rotated.stdout

    only_new = {**env, "ENCRYPTION_KEY": new, "ENCRYPTION_HASH_KEY": derived}
    checked = cli(only_new, tmp_path, "keys", "check")  # every row, counted per column
    assert checked.returncode == 0 and "1 intakes.state" in checked.stdout and "1 referrals.payload" in checked.stdout
    export = cli(only_new, tmp_path, "export")
    assert export.returncode == 0, export.stderr
    assert json.loads(export.stdout)["candidate"]["name"] == "Ana"
    again = cli(only_new, tmp_path, "chat", "--programme", "reconnect", stdin="/mydata\n")
    assert "Ana" in again.stdout  # the same person is found with the pinned hash key

    for wrong in ({**env, "ENCRYPTION_KEY": old}, {**env, "ENCRYPTION_KEY": Fernet.generate_key().decode()}):
        failed = cli(wrong, tmp_path, "export")
        assert failed.returncode == 2
        assert failed.stderr.strip().startswith("Cannot start: stored data cannot be decrypted")
        assert "Traceback" not in failed.stderr and len(failed.stderr.strip().splitlines()) == 1


def test_coordinator_access_and_erasure_by_referral(tmp_path: Path) -> None:
    env = process_env(tmp_path, PYTHONPATH=str(ROOT))
    assert cli(env, tmp_path, "chat", "--programme", "reconnect", stdin="\n".join(ANSWERS) + "\n").returncode == 0
    referral_id = json.loads(cli(env, tmp_path, "export").stdout)["id"]
    access = cli(env, tmp_path, "access", "--referral", str(referral_id))
    assert access.returncode == 0, access.stderr
    copy = json.loads(access.stdout)
    assert copy["intakes"][0]["answers"]["name"] == "Ana" and copy["intakes"][0]["referral"]["id"] == referral_id
    erased = cli(env, tmp_path, "erase", "--referral", str(referral_id))
    assert erased.returncode == 0, erased.stderr
    assert cli(env, tmp_path, "export").stdout == ""
    assert cli(env, tmp_path, "erase", "--referral", str(referral_id)).returncode == 1  # gone; twice is harmless


def test_csv_and_fhir_exports_filter_by_programme_and_date(tmp_path: Path) -> None:
    from fhir.resources.R4B.questionnaire import Questionnaire
    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

    from bot.exports.csv_export import COLUMNS

    env = process_env(tmp_path, PYTHONPATH=str(ROOT))
    assert cli(env, tmp_path, "chat", "--programme", "reconnect", stdin="\n".join(ANSWERS) + "\n").returncode == 0
    rows = cli(env, tmp_path, "export", "--format", "csv").stdout.splitlines()
    assert rows[0].split(",") == COLUMNS and len(rows) == 2 and ",Ana,19,Hjørring," in rows[1]
    assert len(cli(env, tmp_path, "export", "--format", "csv", "--programme", "vejle").stdout.splitlines()) == 1
    assert len(cli(env, tmp_path, "export", "--format", "csv", "--since", "2999-01-01").stdout.splitlines()) == 1
    lines = cli(env, tmp_path, "export", "--format", "fhir", "--programme", "reconnect").stdout.splitlines()
    kinds = [json.loads(line)["resourceType"] for line in lines]
    assert kinds == ["Questionnaire", "Questionnaire", "QuestionnaireResponse", "QuestionnaireResponse"]
    for line in lines:
        model = Questionnaire if json.loads(line)["resourceType"] == "Questionnaire" else QuestionnaireResponse
        model.model_validate_json(line)  # valid FHIR R4(B)
    assert "Ana" not in "".join(lines[2:])  # the responses carry no name
