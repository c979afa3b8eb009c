"""Programme and instrument files are read strictly: a key given twice is an error with its file and
line (not the last one silently winning), and a file that is not UTF-8 is named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows import instruments, yamlfile
from flows.programmes import SHIPPED_DIR, check

SHIPPED = SHIPPED_DIR / "vejle.yaml"


def test_a_programme_file_with_a_key_given_twice_is_refused_with_its_line(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    for appended in ("age:\n  min: 0\n  max: 120\n", "instruments: []\n"):
        path = tmp_path / "vejle.yaml"
        path.write_text(text.rstrip("\n") + "\n" + appended, encoding="utf-8")
        (problem,) = check([path])
        assert problem.path == path and problem.line == text.rstrip("\n").count("\n") + 2
        assert "duplicate key" in problem.message and appended.split(":")[0] in problem.message
    nested = tmp_path / "vejle.yaml"  # inside a mapping too, not only at the top
    nested.write_text(text.replace("names:\n", "names:\n  da: Dobbelt\n", 1), encoding="utf-8")
    assert any("duplicate key 'da'" in p.message for p in check([nested]))


def test_a_programme_file_that_is_not_utf8_is_named_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "vejle.yaml"
    path.write_bytes(SHIPPED.read_text(encoding="utf-8").encode("latin-1", "replace"))  # æøå as single bytes
    (problem,) = check([path])
    assert problem.path == path and "not UTF-8" in problem.message and "\n" not in str(problem)
    assert problem.line > 1  # the line of the first byte that is not UTF-8


def test_an_instrument_file_with_a_key_given_twice_or_not_utf8_is_refused(tmp_path: Path) -> None:
    shipped = Path(instruments.INSTRUMENT_DIR) / "gad7.yaml"
    text = shipped.read_text(encoding="utf-8").replace("id: gad7", "id: twice", 1)
    (tmp_path / "twice.yaml").write_text(text.rstrip("\n") + "\nitems: []\n", encoding="utf-8")
    (tmp_path / "latin.yaml").write_bytes(text.replace("id: twice", "id: latin").encode("utf-8")
                                          + "# Søvn\n".encode("latin-1"))
    instruments.use_directory(tmp_path)  # as INSTRUMENTS_DIR
    try:
        with pytest.raises(ValueError, match=r"twice\.yaml:\d+: duplicate key 'items'") as refused:
            instruments.load("twice")
        assert "\n" not in str(refused.value)
        with pytest.raises(ValueError, match=r"latin\.yaml:\d+: not UTF-8 \(byte 0xf8\)") as refused:
            instruments.load("latin")
        assert "\n" not in str(refused.value)
    finally:
        instruments.use_directory(None)
    assert yamlfile.load(shipped) == __import__("yaml").safe_load(shipped.read_text(encoding="utf-8"))


def test_a_key_given_twice_on_one_line_is_refused_too(tmp_path: Path) -> None:
    """Found in review: a flow mapping repeats a key on one line ({min: 18, min: 0})."""
    text = SHIPPED.read_text(encoding="utf-8")
    path = tmp_path / "vejle.yaml"
    path.write_text(text.rstrip("\n") + "\nextra: {x: 1, x: 2}\n", encoding="utf-8")
    assert any("duplicate key 'x'" in p.message for p in check([path]))
