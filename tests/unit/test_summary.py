"""The staff summary names the item that raised the risk flag, in the staff member's language."""

from __future__ import annotations

from flows.summary import summary_text
from flows.triage import Outcome
from locales import Translator
from tests.support.flow import REGISTRY, Walker

SV, DA = Translator("sv"), Translator("da")


def test_the_summary_names_phq9_item_9_in_the_readers_language_and_not_the_mdi_wording() -> None:
    walker = Walker("jonkoping", "sv")
    walker.run({"phq9.9": "1", "q.age": "30"}, default_score=1)
    (payload,) = walker.events("completed")
    payload["risks"] = [{"instrument": "phq9", "item": "9", "score": 1, "at": "2026-03-05T14:30:00+00:00"}]
    text = summary_text(7, payload, REGISTRY["jonkoping"], "sv", None)
    assert SV("staff.summary.urgent") in text
    assert SV("staff.summary.risk_item", item=SV("staff.summary.item", instrument="PHQ-9", item="9"),
              text=SV("phq9.item.9"), when="5 mars 2026 15:30") in text
    assert SV("mdi.item.6") not in text and "MDI" not in text
    danish = summary_text(7, payload, REGISTRY["jonkoping"], "da", None)  # a Danish reader of the same referral
    assert DA("staff.summary.item", instrument="PHQ-9", item="9") in danish and DA("phq9.item.9") in danish


def test_without_stored_times_the_summary_still_names_the_item_from_the_flow() -> None:
    walker = Walker("reconnect", "da")
    walker.run({"mdi.6": "1"}, default_score=1)
    (payload,) = walker.events("completed")
    text = summary_text(3, payload, REGISTRY["reconnect"], "da", None)
    assert DA("staff.summary.item", instrument="MDI", item="6") in text and DA("mdi.item.6") in text
    assert DA("staff.summary.partial", answered=0, last="–")[:10] not in text  # a finished intake is not partial


def test_every_triage_outcome_is_named_in_the_readers_language() -> None:
    """A referral outside the target group reaches staff too (urgent, or completed after a partial
    one): its outcome is a catalogue text, never the raw id ("refer-gp")."""
    walker = Walker("reconnect", "da")
    walker.run({}, default_score=1)
    (payload,) = walker.events("completed")
    for outcome in Outcome:
        for lang in ("da", "sv", "en"):
            t = Translator(lang)
            shown = {**payload, "triage": {**payload["triage"], "outcome": outcome.value}}
            text = summary_text(3, shown, REGISTRY["reconnect"], lang, None)
            assert t(f"staff.outcome.{outcome.value}") in text and outcome.value not in text, (lang, outcome)
