"""The hazard log names real tests: every `file::function` it cites exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
    missing = [(f, n) for f, n in pairs
               if not f or not re.search(rf"^(async )?def {n}\(", (ROOT / f).read_text(encoding="utf-8"), re.M)]
    assert not missing, missing
    assert log.count("\n| H") >= 10  # at least ten hazards
