"""docs/programmes/<id>.md are the decision tables `ipsbot programmes explain` makes, and current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flows.explain import DOCS_DIR, explain
from flows.programmes import Registry
from locales import Translator

REGISTRY = Registry.load()
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("programme", [p.id for p in REGISTRY.all()])
def test_each_generated_decision_table_is_current(programme: str) -> None:
    path = DOCS_DIR / f"{programme}.md"
    assert path.exists(), f"run: ipsbot programmes explain {programme} --write"
    assert path.read_text(encoding="utf-8") == explain(REGISTRY[programme], "en"), (
        f"{path} is out of date: run ipsbot programmes explain --write")


def test_no_table_for_a_programme_that_is_gone() -> None:
    assert {p.stem for p in DOCS_DIR.glob("*.md")} == {p.id for p in REGISTRY.all()}


@pytest.mark.parametrize("lang", ["da", "sv", "en"])
def test_every_rule_in_order_with_its_outcome_and_reason(lang: str) -> None:
    t = Translator(lang)
    for programme in REGISTRY.all():
        text = explain(programme, lang)
        numbered = [line for line in text.splitlines() if line[:1].isdigit() and ". " in line[:4]]
        assert len(numbered) == len(programme.rules)
        for n, (line, rule) in enumerate(zip(numbered, programme.rules, strict=True), start=1):
            assert line.startswith(f"{n}. ")
            assert t(f"explain.outcome.{rule.outcome.value}") in line and t(rule.reason) in line
        assert text.index(t(programme.crisis[0].label, phone="112").lstrip("• ")) < text.index(t("explain.goal_title"))


def test_hjorring_table_says_what_the_description_says() -> None:
    text = explain(REGISTRY["hjorring"])
    assert "No age limit" in text and "At most 15 open cases" in text
    assert "Diagnoses are only “Anxiety”" in text and "at least two of “Anxiety”, “Depression”" in text
    assert "Subsidised job" not in text.split("## Goal", 1)[1]


def test_the_command_prints_the_table_in_the_language_asked() -> None:
    done = subprocess.run([sys.executable, "-m", "bot.cli", "programmes", "explain", "reconnect", "--lang", "da"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == explain(REGISTRY["reconnect"], "da")
    unknown = subprocess.run([sys.executable, "-m", "bot.cli", "programmes", "explain", "atlantis"],
                             cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert unknown.returncode == 2 and "atlantis" in unknown.stderr
