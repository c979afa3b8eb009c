"""Property tests: whatever a person sends, the flow answers, never crashes, and can still finish."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.answers import COMMANDS, Command, Tap, Text
from flows.screens import InputKind
from tests.support.flow import REGISTRY, Walker

PROGRAMMES = [p.id for p in REGISTRY.all()]

noise = st.one_of(
    st.text(max_size=60).map(Text),
    st.sampled_from(["1", "2", "3", "4", "5", "6", "9", "0", "/back", "/skip", "", "-"]).map(Text),
    st.tuples(st.sampled_from((*COMMANDS[1:3], "language", "help", "mydata", "bogus")), st.text(max_size=5))
    .map(lambda t: Command(*t)),
    st.tuples(st.text(max_size=8), st.integers(-1, 300), st.text(max_size=8)).map(lambda t: Tap(*t)),
)

# a step in a random walk: either noise, or a tap on one of the current screen's buttons (index)
move = st.one_of(noise, st.integers(min_value=0, max_value=20))


def _step(walker: Walker, action: object) -> None:
    if isinstance(action, int):
        screen = walker.reply.asking
        if screen is None:
            walker.type("x")
            return
        choices = list(screen.buttons) + list(screen.nav)
        if screen.kind is InputKind.CHOICE and choices:
            walker.tap(choices[action % len(choices)].id)
        elif screen.kind is InputKind.NUMBER:
            walker.type(str(15 + action))
        else:
            walker.type(f"answer {action}")
    else:
        walker.send(action)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programme=st.sampled_from([*PROGRAMMES, None]), lang=st.sampled_from(["da", "sv", "en", None]),
       moves=st.lists(move, max_size=120))
def test_any_sequence_of_inputs_is_answered_and_the_state_stays_serialisable(
    programme: str | None, lang: str | None, moves: list[object]
) -> None:
    walker = Walker(programme, lang)
    for action in moves:
        _step(walker, action)
        assert walker.reply.screens, "every input gets an answer"
        json.dumps(walker.state)  # the state is always storable as JSON
        if walker.state["status"] == "active" and not walker.state.get("overlay"):
            assert walker.reply.asking is not None, "an active intake always asks something"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programme=st.sampled_from(PROGRAMMES), moves=st.lists(move, max_size=60),
       score=st.integers(0, 3))
def test_after_any_detour_a_cooperative_candidate_still_reaches_a_result(
    programme: str, moves: list[object], score: int
) -> None:
    walker = Walker(programme, "da")
    for action in moves:
        _step(walker, action)
    if walker.state["status"] == "declined" or any(e.kind == "delete" for r in walker.log for e in r.events):
        return  # they said no, or erased themselves: a legitimate end
    if walker.state.get("overlay"):
        walker.command("back")
    final = walker.run(default_score=score)
    assert final.state["status"] in ("completed", "declined")
    if final.state["status"] == "completed":
        outcomes = [e.data["triage"]["outcome"] for r in walker.log for e in r.events if e.kind == "completed"]
        assert len(outcomes) == 1
        assert outcomes[0] in {"eligible", "eligible-urgent", "refer-gp", "refer-coping-course",
                               "refer-tfa", "not-in-target"}
