"""The catalogues are complete for da and sv, placeholders match, and every message id used exists."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from flows import instruments, questions
from flows.consent import CONSENT_TEXT_SHA256, CONSENT_VERSION
from flows.programmes import Registry
from locales import LANGUAGES, Translator, po_path

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def catalogue(lang: str) -> dict[str, str]:
    with po_path(lang).open("rb") as f:
        return {m.id: m.string for m in read_po(f) if m.id}


ENGLISH = catalogue("en")


def used_message_ids() -> set[str]:
    """Message ids named in code and data: _t("...")-style literals and the data files' keys."""
    ids: set[str] = set()
    for path in [*ROOT.glob("flows/**/*.py"), *ROOT.glob("bot/**/*.py")]:
        text = path.read_text(encoding="utf-8")
        ids |= set(re.findall(r"""\b(?:t|_notice\(state,|Translator\([^)]*\))\(\s*"([a-z0-9_.-]+)\"""", text))
        ids |= set(re.findall(r"""notice\(\w+, "([a-z0-9_.-]+)\"""", text))
        ids |= set(re.findall(r"""Invalid\("([a-z0-9_.-]+)\"""", text))
    for iid in instruments.available():
        ins = instruments.load(iid)
        ids |= {ins.name, ins.intro} | {o.label for o in ins.options} | {i.text for i in ins.items}
        ids |= {o.label for i in ins.items for o in ins.options_of(i)}
        # the summary names each band and algorithm result, and the algorithm
        ids |= {f"band.{b.band}" for name in ins.band_set_names for b in ins.bands_of(name)}
        ids |= {f"algorithm.{a.kind}" for a in ins.algorithms.values()}
        ids |= {f"band.{level}" for a in ins.algorithms.values() for level in a.levels_named}
    for programme in Registry.load().all():
        ids |= {r.reason for r in programme.rules} | {c.label for c in programme.crisis}
        ids |= {f"result.{r.outcome.value}" for r in programme.rules}
    for q in questions.ALL.values():
        ids |= {q.msgid, f"{q.msgid}.short"}
        for country in ("DK", "SE"):
            ids |= {q.option_msgid(o) for o in q.options_for(country)} if q.per_country or q.options else set()
    ids |= {"result.eligible-urgent"}
    return ids


def test_every_used_message_id_has_english_text() -> None:
    missing = sorted(used_message_ids() - set(ENGLISH))
    assert not missing, missing
    assert all(ENGLISH[k].strip() for k in ENGLISH), "an empty English text"


@pytest.mark.parametrize("lang", ["da", "sv"])
def test_catalogue_is_complete(lang: str) -> None:
    messages = catalogue(lang)
    missing = [k for k in ENGLISH if not messages.get(k, "").strip()]
    assert not missing, f"{lang}: missing or empty translations: {missing}"
    extra = set(messages) - set(ENGLISH)
    assert not extra, f"{lang}: translations for ids that no longer exist: {sorted(extra)}"


@pytest.mark.parametrize("lang", ["da", "sv"])
def test_placeholders_match_english(lang: str) -> None:
    messages = catalogue(lang)
    wrong = [k for k in ENGLISH
             if sorted(PLACEHOLDER.findall(ENGLISH[k])) != sorted(PLACEHOLDER.findall(messages.get(k, "")))]
    assert not wrong, wrong


def test_clinical_texts_are_flagged_for_review_and_listed() -> None:
    """Each item text is either still waiting for review or checked against a published version; both are listed."""
    review = (ROOT / "locales" / "REVIEW.md").read_text(encoding="utf-8")
    for lang in ("da", "sv"):
        with po_path(lang).open("rb") as f:
            for message in read_po(f):
                if str(message.id).startswith(("gad7.", "phq9.", "mdi.", "mansa.", "crisis.", "q.diagnoses")):
                    marks = [c for c in message.user_comments if c.startswith(("REVIEW", "CHECKED"))]
                    assert len(marks) == 1, message.id
                    assert str(message.id) in review, f"{message.id} not listed in locales/REVIEW.md"
                    if marks[0].startswith("CHECKED"):  # its published wording is quoted there
                        assert str(message.string) in review, f"{lang} {message.id}: the checked text is not quoted"


# Published wordings found (issue 13; sources in locales/REVIEW.md): these must not drift.
PUBLISHED = {
    ("sv", "phq9.item.3"): "Problem att somna eller att du vaknat i förtid, eller sovit för mycket",
    ("sv", "phq9.item.4"): "Känt dig trött eller energilös",
    ("sv", "phq9.item.8"): "Att du rört dig eller talat så långsamt att andra noterat det? Eller motsatsen att du "
                           "varit så nervös eller rastlös att du rört dig mer än vanligt",
    ("da", "mdi.item.3"): "Har du følt at du manglede energi og kræfter?",
    ("da", "mdi.item.8a"): "Har du følt dig rastløs?",
    ("da", "mdi.item.8b"): "Har du følt dig mere stille?",
    ("da", "gad7.item.1"): "Følt dig nervøs, ængstelig eller anspændt",  # as issue 13 names it; REVIEW stays
}


@pytest.mark.parametrize(("lang", "msgid"), list(PUBLISHED))
def test_item_wordings_are_the_published_ones(lang: str, msgid: str) -> None:
    assert catalogue(lang)[msgid] == PUBLISHED[(lang, msgid)]


def test_translator_falls_back_to_english_and_fills_placeholders() -> None:
    assert Translator("de").lang == "en"
    assert Translator("sv-SE").lang == "sv"
    assert Translator("da")("progress", current=2, total=9) == "Spørgsmål 2/9"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_bullet_starts_its_own_line(lang: str) -> None:
    """A bullet run into the line before it (the consent text's follow-up bullet, issue 20 point 10:
    a string line in the .po file that lost its closing ``\\n"``) reads as one muddled sentence."""
    run_on = {msgid: text for msgid, text in catalogue(lang).items() if re.search(r"[^\n]•", text)}
    assert run_on == {}
    assert Translator(lang)("consent.text").count("\n•") == 5


def test_consent_text_cannot_change_without_a_new_version() -> None:
    digests = {lang: hashlib.sha256(catalogue(lang)["consent.text"].encode()).hexdigest() for lang in LANGUAGES}
    assert digests == CONSENT_TEXT_SHA256, (
        f"consent.text changed: bump CONSENT_VERSION (now {CONSENT_VERSION}) and record {digests}"
    )
