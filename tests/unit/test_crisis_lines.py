"""Crisis help is right for where the person is: regional numbers in their region only, youth lines by age,
112 first everywhere, and a number for the psychiatric emergency department."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.programmes import REGIONAL_NUMBERS, Registry, check
from flows.screens import Tone
from locales import Translator
from tests.support.flow import Walker

REGISTRY = Registry.load()
SHIPPED = Path(__file__).resolve().parents[2] / "flows" / "programmes"


@pytest.mark.parametrize("programme", [p.id for p in REGISTRY.all()])
def test_every_programme_lists_112_first(programme: str) -> None:
    assert REGISTRY[programme].crisis[0].phone == "112"


def phones(programme: str, age: int | None) -> list[str]:
    return [line.phone for line in REGISTRY[programme].crisis_for(age)]


@pytest.mark.parametrize(
    ("programme", "region", "regional"),
    [("reconnect", "hovedstaden", "1813"), ("sjaelland", "sjaelland", "1818"),
     ("hjorring", "nordjylland", "70 15 03 00"), ("vejle", "syddanmark", "70 11 07 07")],
)
def test_regional_numbers_only_in_their_region(programme: str, region: str, regional: str) -> None:
    assert REGISTRY[programme].region == region
    numbers = phones(programme, 30)
    assert regional in numbers
    others = set(REGIONAL_NUMBERS.values()) - {regional}
    assert not others & set(numbers), numbers
    psychiatry = next(line for line in REGISTRY[programme].crisis if line.label == "crisis.dk.psychiatry")
    assert psychiatry.phone == regional  # a number, not an invitation to walk in


@pytest.mark.parametrize(("programme", "youth"), [("reconnect", "116 111"), ("hjorring", "116 111"),
                                                  ("jonkoping", "116 111")])
def test_youth_lines_only_for_people_under_18(programme: str, youth: str) -> None:
    assert youth in phones(programme, 16) and youth in phones(programme, 17)
    assert youth not in phones(programme, 18) and youth not in phones(programme, 40)
    assert youth in phones(programme, None)  # age not asked yet: shown, so nobody misses it


def test_the_flow_shows_the_youth_line_once_it_knows_the_age() -> None:
    da = Translator("da")
    young = Walker("reconnect", "da")
    young.run_until("mdi.6", {"q.age": "16"})
    crisis = young.tap("3").screens[0]
    assert crisis.tone is Tone.CRISIS
    assert da("crisis.dk.bornetelefonen", phone="116 111") in crisis.text
    assert crisis.text.index("112") < crisis.text.index("116 111")
    adult = Walker("reconnect", "da")
    adult.run_until("mdi.6", {"q.age": "22"})
    crisis = adult.tap("3").screens[0]
    assert "116 111" not in crisis.text and "1813" in crisis.text


def test_swedish_youth_line_is_bris() -> None:
    sv = Translator("sv")
    walker = Walker("jonkoping", "sv")
    walker.run_until("phq9.9", {"q.age": "17", "language": "sv"})
    crisis = walker.tap("1").screens[0]
    assert sv("crisis.se.bris", phone="116 111") in crisis.text and "Bris" in crisis.text
    assert "BørneTelefonen" not in crisis.text and "1813" not in crisis.text


def write(tmp_path: Path, name: str, edit: tuple[str, str]) -> Path:
    text = (SHIPPED / f"{name}.yaml").read_text(encoding="utf-8")
    assert edit[0] in text
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.replace(*edit), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        ("vejle", ('{label: crisis.dk.psychiatry, phone: "70 11 07 07"}', '{label: crisis.dk.1813, phone: "1813"}'),
         "crisis.dk.1813"),
        ("vejle", ('phone: "70 11 07 07"', 'phone: "1813"'), "crisis.dk.psychiatry"),
        ("sjaelland", ("region: sjaelland", "region: hovedstaden"), "crisis.dk.1818"),
        ("vejle", ("region: syddanmark", "region: jonkoping"), "region"),
        ("jonkoping", ('  - {label: crisis.se.112, phone: "112"}\n', ""), "112"),
    ],
)
def test_a_wrong_region_or_a_missing_112_is_refused(tmp_path: Path, name: str, edit: tuple[str, str],
                                                    message: str) -> None:
    problems = [str(p) for p in check([write(tmp_path, name, edit)])]
    assert any(message in p for p in problems), problems
