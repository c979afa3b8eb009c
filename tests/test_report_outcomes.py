"""Outcomes in the report follow each programme's own goal, defined in its file."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest

from bot.exports.report import Tally, write_text
from flows.programmes import Registry, check, programme_files
from flows.summary import CASE_OUTCOMES

REGISTRY = Registry.load()
ALL_ONCE = Counter(dict.fromkeys(CASE_OUTCOMES, 1))


def tally(programme: str) -> Tally:
    t = Tally.of(REGISTRY[programme])
    t.claimed = len(CASE_OUTCOMES)
    t.outcomes = Counter(ALL_ONCE)
    return t


@pytest.mark.parametrize("programme", ["hjorring", "sjaelland"])
def test_subsidised_jobs_do_not_count_in_hjorring_and_sjaelland(programme: str) -> None:
    t = tally(programme)
    assert "subsidised" not in t.counted
    assert t.in_work_or_education == len(REGISTRY[programme].outcome_counts)


def test_sjaelland_goal_is_half_in_ordinary_job_or_education_flex_jobs_included() -> None:
    sjaelland = REGISTRY["sjaelland"]
    assert sjaelland.outcome_goal == 0.5
    # its description: "herunder også fleksjobs" (issue 20 point 9); løntilskud still not
    assert set(sjaelland.outcome_counts) == {
        "ordinary_full", "ordinary_part", "ordinary_under_25", "flex", "education", "education_under_25"}
    assert tally("sjaelland").in_work_or_education == 6


def test_reconnect_goal_is_up_to_sixty_per_cent() -> None:
    assert REGISTRY["reconnect"].outcome_goal == 0.6  # its description: "op mod 60 pct."


@pytest.mark.parametrize("programme", sorted(p.id for p in REGISTRY.all()))
def test_every_shipped_programme_names_its_source(programme: str) -> None:
    source = REGISTRY[programme].source
    assert "description" in source and len(source) > 60
    generated = (Path(__file__).resolve().parents[1] / "docs" / "programmes" / f"{programme}.md").read_text()
    assert f"Source: {source}" in generated  # shown in the decision table that is signed off


def test_jonkoping_counts_work_or_studies_of_at_least_a_quarter_of_full_time() -> None:
    jonkoping = REGISTRY["jonkoping"]
    assert jonkoping.outcome_goal == 0.3
    t = tally("jonkoping")
    assert "ordinary_under_25" not in t.counted and "education_under_25" not in t.counted
    assert t.in_work_or_education == 3  # ordinary full time, part time (25 % or more), education
    # the consultant can tell the two apart
    assert {"ordinary_part", "ordinary_under_25", "education", "education_under_25"} <= set(CASE_OUTCOMES)


def test_the_report_shows_each_programme_against_its_own_goal() -> None:
    out = io.StringIO()
    write_text({"jonkoping": tally("jonkoping"), "sjaelland": tally("sjaelland")},
               {"jonkoping": 0.3, "sjaelland": 0.5}, out)
    text = out.getvalue()
    assert f"in job or education: 3 of {len(CASE_OUTCOMES)} = 38% (goal 30%) ✓" in text
    assert f"in job or education: 6 of {len(CASE_OUTCOMES)} = 75% (goal 50%) ✓" in text  # flex jobs count
    assert "counted towards the goal: ordinary_full, ordinary_part, education\n" in text


def test_unknown_outcomes_in_a_programme_file_are_refused(tmp_path: Path) -> None:
    source = next(p for p in programme_files() if p.stem == "sjaelland")
    path = tmp_path / "sjaelland.yaml"
    path.write_text(source.read_text(encoding="utf-8").replace("education_under_25]", "lottery_win]"), "utf-8")
    assert any("outcome_counts" in str(p) for p in check([path]))


def test_follow_up_groups_under_five_show_less_than_five() -> None:
    from bot.exports.report import FollowUpTally

    t = tally("vejle")
    t.followups["6m"] = FollowUpTally("½ year", asked=9, answered=4, lapsed=5, missed=2, in_work_or_education=2,
                                      mansa_pairs=[(3.0, 4.0)] * 3)
    out = io.StringIO()
    write_text({"vejle": t}, {"vejle": 0.5}, out)
    text = out.getvalue()
    assert ("follow-up 6m (½ year): asked 9, answered <5 (44%), no answer 5, stopped 0, missed (never asked) <5; "
            "in job or education <5 of <5 = <5 (goal 50%)") in text
    assert "paired: n <5, <5\n" in text
    assert "follow-up 12m (1 year): asked 0, answered 0 (–)" in text  # the programme's other points, none yet
