"""The hazard log and the threat model name real tests: every `file::function` they cite exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cited(text: str) -> list[tuple[str, str]]:
    """(file, function) pairs; `::name` alone refers to the last file named in the same cell."""
    pairs = []
    for cell in text.split("|"):
        current = ""
        for path, name in re.findall(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`", cell):
            current = path or current
            if name:
                pairs.append((current, name))
    return pairs


def test_every_test_the_hazard_log_cites_exists() -> None:
    log = (ROOT / "docs" / "hazard-log.md").read_text(encoding="utf-8")
    pairs = cited(log)
    assert len(pairs) > 40
    # a test function, or a Hypothesis state machine's TestCase
    missing = [(f, n) for f, n in pairs if not f or not re.search(
        rf"^((async )?def {n}\(|{n} = \w+\.TestCase$)", (ROOT / f).read_text(encoding="utf-8"), re.M)]
    assert not missing, missing
    assert log.count("\n| H") >= 10  # at least ten hazards


def defines(path: str, name: str) -> bool:
    file = ROOT / path
    return file.is_file() and bool(re.search(rf"^(async )?def {name}\(", file.read_text(encoding="utf-8"), re.M))


def threats() -> dict[str, str]:
    """The threat model's rows by id (`T1`, …)."""
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| (T\d+) \|.*$", text, re.M)}


def test_every_test_the_threat_model_names_exists() -> None:
    rows = threats()
    assert len(rows) >= 20
    cited = [(row, path, name) for row, text in rows.items()
             for path, name in re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text)]
    assert len(cited) >= 30
    missing = [c for c in cited if not defines(c[1], c[2])]
    assert not missing, missing
    for row, text in rows.items():  # each threat has a test
        assert "tests/" in text, row
    assert defines("tests/meta/test_docs.py", "test_no_threat_is_left_without_a_test")  # the check can fail


def test_no_threat_is_left_without_a_test() -> None:
    waiting = {row for row, text in threats().items() if "TODO" in text}
    assert not waiting, f"fill in the tests of {sorted(waiting)} in docs/security.md"


def test_privacy_notes_list_every_plain_column_and_no_encrypted_one() -> None:
    """docs/privacy.md, "Plain columns": each table's plain columns, taken from the models."""
    from storage.keys import encrypted_columns
    from storage.models import Base

    text = (ROOT / "docs" / "privacy.md").read_text(encoding="utf-8")
    section = text.split("## Plain columns", 1)[1].split("\n## ", 1)[0]
    listed: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) > 3 and cells[1].strip().startswith("`"):
            listed[cells[1].strip().strip("`")] = set(re.findall(r"`(\w+)`", cells[2]))
    encrypted = {(table.name, column.name) for table, column in encrypted_columns()}
    for table in Base.metadata.sorted_tables:
        plain = {c.name for c in table.columns if (table.name, c.name) not in encrypted}
        assert listed.get(table.name, set()) == plain, (table.name, plain ^ listed.get(table.name, set()))
