"""The MDI's two published band sets: Bech 2015 (the default) and the Danish calculators; a programme chooses."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows import instruments
from flows.programmes import Registry, check, parse_file, programme_files
from flows.referral import score_all
from flows.state import State

MDI = instruments.load("mdi")


def answers_totalling(total: int) -> dict[str, int]:
    """MDI answers (8b and 10b at 0) whose total is `total`."""
    scores, left = {}, total
    for item in MDI.items:
        value = 0 if item.id in ("8b", "10b") else min(5, left)
        scores[item.id] = value
        left -= value
    assert left == 0
    return scores


@pytest.mark.parametrize(
    ("total", "bech2015", "dk_calculators"),
    [(19, "none", "none"), (20, "none", "mild"), (21, "mild", "mild"), (24, "mild", "mild"),
     (25, "mild", "moderate"), (26, "moderate", "moderate"), (29, "moderate", "moderate"),
     (30, "moderate", "severe"), (31, "severe", "severe")],
)
def test_both_band_sets_at_their_edges(total: int, bech2015: str, dk_calculators: str) -> None:
    answers = answers_totalling(total)
    assert instruments.score(MDI, answers).band == bech2015  # the default stays Bech 2015
    assert instruments.score(MDI, answers, "bech2015").band == bech2015
    assert instruments.score(MDI, answers, "dk-calculators").band == dk_calculators
    assert MDI.band_set == "bech2015" and MDI.band_set_names == ("bech2015", "dk-calculators")


def test_a_programme_that_chooses_the_danish_calculator_bands_gets_them(tmp_path: Path) -> None:
    source = next(p for p in programme_files() if p.stem == "vejle").read_text(encoding="utf-8")
    path = tmp_path / "vejle.yaml"
    path.write_text(source.replace("diagnoses: true\n", "diagnoses: true\nband_sets: {mdi: dk-calculators}\n"),
                    encoding="utf-8")
    programme, problems = parse_file(path)
    assert problems == [] and programme is not None
    state = State(programme="vejle")
    state.answers = {f"gad7.{i}": 0 for i in range(1, 8)} | {f"mdi.{k}": v for k, v in answers_totalling(20).items()}
    assert score_all(state, programme)["mdi"].band == "mild"
    assert score_all(state, Registry.load()["vejle"])["mdi"].band == "none"  # shipped: the default


def test_an_unknown_band_set_is_refused(tmp_path: Path) -> None:
    source = next(p for p in programme_files() if p.stem == "vejle").read_text(encoding="utf-8")
    path = tmp_path / "vejle.yaml"
    path.write_text(source.replace("diagnoses: true\n", "diagnoses: true\nband_sets: {mdi: 22/27/32}\n"), "utf-8")
    assert any("band set" in str(p) for p in check([path]))
