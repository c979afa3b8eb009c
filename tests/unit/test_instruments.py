"""Scoring of GAD-7, MDI and PHQ-9 against hand-worked cases, at every band edge."""

from __future__ import annotations

import pytest

from flows import instruments

GAD7 = instruments.load("gad7")
MDI = instruments.load("mdi")
PHQ9 = instruments.load("phq9")


def gad7(*scores: int) -> dict[str, int]:
    return {str(i + 1): s for i, s in enumerate(scores)}


def mdi(**scores: int) -> dict[str, int]:
    """MDI answers; items not named are 0. Keyword names: i1..i7, i8a, i8b, i9, i10a, i10b."""
    answers = {item.id: 0 for item in MDI.items}
    for key, value in scores.items():
        answers[key.removeprefix("i")] = value
    return answers


def test_definitions_match_the_published_instruments() -> None:
    assert [i.id for i in GAD7.items] == ["1", "2", "3", "4", "5", "6", "7"]
    assert GAD7.scores == (0, 1, 2, 3) and GAD7.max_total == 21
    assert GAD7.loinc is not None and (GAD7.loinc.panel, GAD7.loinc.total) == ("69737-5", "70274-6")
    assert len(PHQ9.items) == 9 and PHQ9.max_total == 27
    assert PHQ9.loinc is not None and (PHQ9.loinc.panel, PHQ9.loinc.total) == ("44249-1", "44261-6")
    assert len(MDI.items) == 12 and MDI.scored_item_ids == tuple(str(i) for i in range(1, 11))
    assert MDI.scores == (5, 4, 3, 2, 1, 0) and MDI.max_total == 50
    assert MDI.loinc is None  # the MDI has no LOINC panel


@pytest.mark.parametrize(
    ("scores", "total", "band"),
    [
        ((0, 0, 0, 0, 0, 0, 0), 0, "minimal"),
        ((1, 1, 1, 1, 0, 0, 0), 4, "minimal"),
        ((1, 1, 1, 1, 1, 0, 0), 5, "mild"),
        ((3, 3, 3, 0, 0, 0, 0), 9, "mild"),
        ((3, 3, 3, 1, 0, 0, 0), 10, "moderate"),
        ((2, 2, 2, 2, 2, 2, 2), 14, "moderate"),
        ((3, 2, 2, 2, 2, 2, 2), 15, "severe"),
        ((3, 3, 3, 3, 3, 3, 3), 21, "severe"),
    ],
)
def test_gad7_totals_and_bands(scores: tuple[int, ...], total: int, band: str) -> None:
    result = instruments.score(GAD7, gad7(*scores))
    assert (result.total, result.band) == (total, band)
    assert list(result.items.values()) == list(scores)
    assert result.flags == ()  # GAD-7 has no risk item


@pytest.mark.parametrize(
    ("total", "band"),
    [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
     (15, "moderately_severe"), (19, "moderately_severe"), (20, "severe"), (27, "severe")],
)
def test_phq9_bands(total: int, band: str) -> None:
    # fill items 1..8 first, keeping item 9 at 0 so no risk flag
    answers, left = {}, total
    for i in range(1, 10):
        answers[str(i)] = min(3, left) if i < 9 else left
        left -= answers[str(i)]
    result = instruments.score(PHQ9, answers)
    assert (result.total, result.band) == (total, band)


def test_phq9_item9_any_answer_is_risk() -> None:
    base = {str(i): 0 for i in range(1, 10)}
    assert instruments.score(PHQ9, base).flags == ()
    assert instruments.score(PHQ9, {**base, "9": 1}).flags == ("risk",)
    assert instruments.risk_flags(PHQ9, "9", 1) == ("risk",)
    assert instruments.risk_flags(PHQ9, "9", 0) == ()
    assert instruments.risk_flags(PHQ9, "8", 3) == ()


@pytest.mark.parametrize(
    ("answers", "total", "band"),
    [
        (mdi(), 0, "none"),
        (mdi(i1=5, i2=5, i3=5, i4=5), 20, "none"),
        (mdi(i1=5, i2=5, i3=5, i4=5, i5=1), 21, "mild"),
        (mdi(i1=5, i2=5, i3=5, i4=5, i5=5), 25, "mild"),
        (mdi(i1=5, i2=5, i3=5, i4=5, i5=5, i7=1), 26, "moderate"),
        (mdi(i1=5, i2=5, i3=5, i4=5, i5=5, i7=5), 30, "moderate"),
        (mdi(i1=5, i2=5, i3=5, i4=5, i5=5, i7=5, i9=1), 31, "severe"),
        ({item.id: 5 for item in MDI.items}, 50, "severe"),
    ],
)
def test_mdi_totals_and_bands(answers: dict[str, int], total: int, band: str) -> None:
    result = instruments.score(MDI, answers)
    assert (result.total, result.band) == (total, band)


def test_mdi_items_8_and_10_count_the_higher_part() -> None:
    result = instruments.score(MDI, mdi(i8a=1, i8b=4, i10a=3, i10b=2))
    assert result.items["8"] == 4 and result.items["10"] == 3
    assert result.total == 7  # not 1+4+3+2
    assert len(result.items) == 10


@pytest.mark.parametrize(
    ("answers", "icd10"),
    [
        (mdi(), "none"),
        # 2 core at >=4 and 2 others at >=3: mild
        (mdi(i1=4, i2=4, i4=3, i5=3), "mild"),
        # a core item at 3 does not count
        (mdi(i1=4, i2=3, i4=3, i5=3, i6=3, i7=3), "none"),
        # 2 core + 1 other: not enough
        (mdi(i1=5, i2=5, i4=5), "none"),
        # 2 core + 4 others: moderate
        (mdi(i1=4, i2=4, i3=3, i4=3, i5=3, i7=3, i9=3), "moderate"),
        # 3 core + 4 others: still moderate
        (mdi(i1=4, i2=4, i3=4, i4=3, i5=3, i7=3, i9=3), "moderate"),
        # 3 core + 5 others: severe
        (mdi(i1=4, i2=4, i3=4, i4=3, i5=3, i7=3, i9=3, i10a=3), "severe"),
        # 2 core + 7 others: moderate (severe needs all three core symptoms)
        (mdi(i1=5, i3=5, i4=5, i5=5, i6=5, i7=5, i8a=5, i9=5, i10b=5), "moderate"),
        # other symptoms at 2 do not count
        (mdi(i1=5, i2=5, i3=5, i4=2, i5=2, i6=2, i7=2, i9=2), "none"),
    ],
)
def test_mdi_icd10_algorithm(answers: dict[str, int], icd10: str) -> None:
    assert instruments.score(MDI, answers).algorithms["icd10"] == icd10


@pytest.mark.parametrize(
    ("answers", "dsm4"),
    [
        (mdi(), "none"),
        # 1, 3, (4/5 merged), 6 = 4 symptoms: not enough
        (mdi(i1=4, i3=4, i4=3, i5=3, i6=3), "none"),
        # ... plus sleep = 5 symptoms with item 1: major
        (mdi(i1=4, i3=4, i4=3, i5=3, i6=3, i9=3), "major"),
        # same via item 2
        (mdi(i2=5, i3=4, i4=3, i6=3, i7=3), "major"),
        # seven symptoms but neither item 1 nor item 2 at >=4: none
        (mdi(i1=3, i2=3, i3=5, i4=5, i6=5, i7=5, i8a=5, i9=5, i10a=5), "none"),
        # psychomotor via 8b, appetite via 10b
        (mdi(i1=4, i3=4, i8b=3, i9=3, i10b=3), "major"),
    ],
)
def test_mdi_dsm4_algorithm(answers: dict[str, int], dsm4: str) -> None:
    assert instruments.score(MDI, answers).algorithms["dsm4"] == dsm4


def test_mdi_risk_item6_at_any_answer_but_at_no_time() -> None:
    assert instruments.risk_flags(MDI, "6", 0) == ()
    assert instruments.risk_flags(MDI, "6", 1) == ("risk",)  # "some of the time" already counts
    assert instruments.risk_flags(MDI, "6", 3) == ("risk",)
    assert instruments.score(MDI, mdi(i6=1)).flags == ("risk",)
    assert instruments.score(MDI, mdi(i6=0)).flags == ()


def test_incomplete_or_impossible_answers_are_refused() -> None:
    with pytest.raises(ValueError, match="not answered"):
        instruments.score(GAD7, {"1": 0})
    with pytest.raises(ValueError, match="not a score"):
        instruments.score(GAD7, gad7(4, 0, 0, 0, 0, 0, 0))


def test_bands_with_a_gap_are_rejected() -> None:
    data = GAD7.model_dump(by_alias=True)
    data["bands"][1]["min"] = 6
    with pytest.raises(ValueError, match="gap"):
        instruments.Instrument.model_validate(data)


# --- MANSA (issue 17): yes/no items unscored, the mean of the 12 ratings, no bands ----------------

MANSA_OBJECTIVE = {"friend": 1, "met_friend": 0, "accused": 0, "victim": 1}


def mansa_answers(ratings: list[int], objective: dict[str, int] | None = None) -> dict[str, int]:
    return {**(objective or MANSA_OBJECTIVE), **{str(n): r for n, r in enumerate(ratings, start=1)}}


@pytest.mark.parametrize(("ratings", "mean", "total"), [
    ([1] * 12, 1.0, 12),  # all "couldn't be worse"
    ([7] * 12, 7.0, 84),  # all "couldn't be better"
    ([4, 5, 3, 6, 2, 7, 1, 4, 4, 5, 3, 6], 4.17, 50),  # 50 / 12 = 4.1666… → 4.17
    ([2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3], 2.5, 30),
    ([6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 5], 5.92, 71),  # 71 / 12 = 5.9166… → 5.92
])
def test_mansa_score_is_the_mean_of_the_twelve_ratings(ratings: list[int], mean: float, total: int) -> None:
    mansa = instruments.load("mansa")
    result = instruments.score(mansa, mansa_answers(ratings))
    assert result.mean == mean and result.total == total and result.score == mean
    assert result.band == "" and result.as_dict()["mean"] == mean
    assert len(result.items) == 12  # the yes/no questions are answers, not part of the score
    # the objective answers do not move the mean
    assert instruments.score(mansa, mansa_answers(ratings, dict.fromkeys(MANSA_OBJECTIVE, 0))).mean == mean


def test_mansa_yes_no_items_take_only_yes_or_no_and_ratings_only_1_to_7() -> None:
    mansa = instruments.load("mansa")
    with pytest.raises(ValueError, match="friend"):
        instruments.score(mansa, mansa_answers([4] * 12, {**MANSA_OBJECTIVE, "friend": 2}))
    with pytest.raises(ValueError, match="item 3"):
        instruments.score(mansa, mansa_answers([4, 4, 0] + [4] * 9))
    with pytest.raises(ValueError, match="not answered"):
        instruments.score(mansa, {k: v for k, v in mansa_answers([4] * 12).items() if k != "victim"})
    assert [o.score for o in mansa.options_of(mansa.item("friend"))] == [1, 0]
    assert [o.score for o in mansa.options_of(mansa.item("1"))] == [1, 2, 3, 4, 5, 6, 7]


def test_sum_instruments_keep_their_totals_and_no_mean() -> None:
    result = instruments.score(instruments.load("gad7"), {str(i): 2 for i in range(1, 8)})
    assert result.total == 14 and result.mean is None and "mean" not in result.as_dict() and result.score == 14.0


def test_reliable_change_thresholds_name_their_source_or_say_none_is_published() -> None:
    assert instruments.load("gad7").reliable_change == 4 and instruments.load("phq9").reliable_change == 6
    for iid in ("mdi", "mansa"):
        ins = instruments.load(iid)
        assert ins.reliable_change is None and "none published" in ins.reliable_change_source
    for iid in instruments.available():
        assert instruments.load(iid).reliable_change_source.strip()


def test_one_function_turns_an_answer_into_a_risk_signal_and_refuses_what_is_not_an_answer() -> None:
    """`risk_signal`: what the chat, the web form and the follow-ups all call (issue 20)."""
    assert instruments.risk_signal("mdi.6", "1") == instruments.RiskSignal("mdi", "6", 1)
    assert instruments.risk_signal("phq9.9", 3) == instruments.RiskSignal("phq9", "9", 3)
    for step, value in (("mdi.6", "0"), ("phq9.9", "0"), ("phq9.8", "3"), ("mdi.6", "9"), ("mdi.6", "²"),
                        ("mdi.6", "1" * 5000), ("mdi.6", "-1"), ("mdi.x", "3"), ("nope.6", "3"), ("mdi", "3"),
                        ("gad7.7", "3")):
        assert instruments.risk_signal(step, value) is None, (step, value)
