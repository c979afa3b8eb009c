"""The typed button actions (`flows.actions`): every kind round-trips through its button data, the
data of buttons already in people's chats decodes as before, and random data is refused, never raised."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.actions import (
    MAX_BYTES,
    Booking,
    CasePress,
    EscalationPress,
    FollowUpAnswer,
    OfferPress,
    Question,
    Retired,
    SlotPress,
    decode,
    encode,
)
from flows.answers import Tap

EVERY_KIND = [
    Question("consent", 3, "yes"),
    Question("gad7.q1", 12, "2"),
    Booking("17", "42"),
    Booking("17", "more-1"),
    FollowUpAnswer("9", "stop", 2),
    OfferPress("5", "claim"),
    CasePress("5", "outcome:ordinary_full"),
    SlotPress("repeat", "202612071030-45-cafe-4"),
    EscalationPress("3", "seen"),
    Retired("1", "ok", kind="chk"),
    Retired("2", "ok", kind="alert"),
]


@pytest.mark.parametrize("action", EVERY_KIND, ids=lambda a: type(a).__name__)
def test_every_kind_round_trips_within_64_bytes(action: object) -> None:
    data = encode(action)  # type: ignore[arg-type]
    assert len(data.encode()) <= MAX_BYTES
    assert decode(data) == action
    assert decode(data.encode()) == action  # as bytes too


@pytest.mark.parametrize(("data", "expected"), [
    # the strings the bot has always put on its buttons (`step|version|button`), as they sit in chats
    ("book.17|0|42", Booking("17", "42")),
    ("fu.9|2|3", FollowUpAnswer("9", "3", 2)),
    ("ref.5|0|claim", OfferPress("5", "claim")),
    ("case.5|0|meetcancel", CasePress("5", "meetcancel")),
    ("slot.list|0|new", SlotPress("list", "new")),
    ("esc.3|0|seen", EscalationPress("3", "seen")),
    ("chk.4|0|yes", Retired("4", "yes", kind="chk")),
    ("alert.4|0|seen", Retired("4", "seen", kind="alert")),
    ("language|0|da", Question("language", 0, "da")),
    ("consent|7|yes|no", Question("consent", 7, "yes|no")),  # the button keeps what follows
])
def test_old_buttons_decode_to_their_kind_and_encode_to_the_same_string(data: str, expected: object) -> None:
    assert decode(data) == expected
    assert encode(expected) == data  # type: ignore[arg-type]


def test_the_step_of_a_targeted_action_is_the_one_the_services_read() -> None:
    assert Booking("17", "x").step == "book.17" and Retired("4", "y", kind="chk").step == "chk.4"
    assert Question("consent", 3, "yes").tap() == Tap("consent", 3, "yes")


@pytest.mark.parametrize("data", [
    None, "", "garbage", "a|x|b", "case.1|²|export", "case.1|" + "9" * 5000 + "|x", "x|1234567890|y",
    "x" * 62 + "|0|" + "y", b"\xff\xfe|0|x", "a|1",
])
def test_malformed_data_is_refused(data: str | bytes | None) -> None:
    assert decode(data) is None


def test_over_64_bytes_is_refused_on_both_sides() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        encode(CasePress("1" * 60, "export"))
    assert decode("case.1|0|" + "x" * 60) is None


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=100), st.binary(max_size=100), st.none()))
def test_random_data_is_refused_or_decoded_never_raised(data: str | bytes | None) -> None:
    action = decode(data)
    if action is not None:  # what decodes encodes back to the same data
        text = data.decode() if isinstance(data, bytes) else data
        assert encode(action) == text


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["book", "fu", "ref", "case", "slot", "esc", "chk", "alert", "consent"]),
       st.text(alphabet=st.characters(blacklist_characters="|"), max_size=12),
       st.integers(min_value=0, max_value=10**9 - 1), st.text(max_size=20))
def test_random_actions_round_trip(prefix: str, target: str, version: int, button: str) -> None:
    data = f"{prefix}.{target}|{version}|{button}"
    if len(data.encode(errors="surrogatepass")) > MAX_BYTES or any(0xD800 <= ord(c) <= 0xDFFF for c in data):
        assert decode(data) is None
        return
    action = decode(data)
    assert action is not None and encode(action) == data and decode(encode(action)) == action
