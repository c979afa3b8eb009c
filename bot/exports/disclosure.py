"""Small groups stay hidden: counts of 1 to 4 people show "<5", and no total gives them away.

A table is a set of parts that add up to a total (the weeks to the referrals, the outcomes to the
claimed cases). Hiding a small part alone is not enough when the total and the other parts are shown:
the total minus the shown parts is the hidden part. `protect` hides more parts ("secondary"
suppression, shown as "×"), the smallest first, until no small part follows from the others, and
says when even that cannot help, so that the total must be hidden too. A part of a hidden total is
hidden (a breakdown of a hidden number would add up to it).

What a reader knows is taken to be everything: a "<5" part is 1 to 4, a "×" part is 5 or more, and the
rule itself. `exposed` is that reader's reckoning, exact for sums of integer ranges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

SMALL = 5  # a group of 1 to 4 people is small


class Hidden(StrEnum):
    SHOWN = ""
    SMALL = "small"  # 1 to 4: "<5"
    SECONDARY = "secondary"  # 5 or more, hidden so that a small part cannot be worked out: "×"


@dataclass(frozen=True, slots=True)
class Count:
    """A count as published: its value, or None and why it is hidden."""

    value: int | None
    hidden: Hidden = Hidden.SHOWN


def single(n: int, *, parent_hidden: bool = False) -> Count:
    """A count that is no part of a shown total (or of a hidden one: then hidden unless 0)."""
    if n == 0:
        return Count(0)
    if n < SMALL:
        return Count(None, Hidden.SMALL)
    return Count(None, Hidden.SECONDARY) if parent_hidden else Count(n)


def protect(parts: Mapping[str, int], total: int | None) -> tuple[dict[str, Count], bool]:
    """The parts as published, and whether the total can be shown.

    `total` is the published total the parts add up to (None: it is hidden or not published, and
    then every non-zero part is hidden). The total can be shown when no small part follows from it.
    """
    if total is None:
        return {k: single(v, parent_hidden=True) for k, v in parts.items()}, False
    if sum(parts.values()) != total:
        raise ValueError(f"the parts add up to {sum(parts.values())}, not to the total {total}")
    hidden = {k: Hidden.SMALL for k, v in parts.items() if 0 < v < SMALL}
    while hidden and exposed(parts, hidden, total):
        shown = [k for k, v in parts.items() if v and k not in hidden]
        if not shown:
            return {k: single(v, parent_hidden=True) for k, v in parts.items()}, False
        hidden[min(shown, key=lambda k: parts[k])] = Hidden.SECONDARY
    return {k: Count(None, hidden[k]) if k in hidden else Count(v) for k, v in parts.items()}, True


def exposed(parts: Mapping[str, int], hidden: Mapping[str, Hidden], total: int) -> list[str]:
    """The small parts whose exact value a reader can work out from the total and the shown parts."""
    rest = total - sum(v for k, v in parts.items() if k not in hidden)
    ranges = {k: (1, SMALL - 1) if how is Hidden.SMALL else (SMALL, rest) for k, how in hidden.items()}
    found = []
    for key, how in hidden.items():
        if how is not Hidden.SMALL:
            continue
        others_low = sum(lo for k, (lo, _) in ranges.items() if k != key)
        others_high = sum(hi for k, (_, hi) in ranges.items() if k != key)
        low, high = max(1, rest - others_high), min(SMALL - 1, rest - others_low)
        if high <= low:
            found.append(key)
    return found


def share(part: Count, whole: Count) -> float | None:
    """part / whole, when both are shown and the whole is not small."""
    if part.value is None or whole.value is None or whole.value < SMALL:
        return None
    return part.value / whole.value


def breakdown(parts: Mapping[str, int], total: Count) -> tuple[dict[str, Count], Count]:
    """Parts of a published total, protected, and the total as it can be published with them."""
    cells, total_shown = protect(parts, total.value)
    if total_shown or total.value is None:
        return cells, total
    return cells, Count(None, Hidden.SECONDARY)


def part_of(n: int, whole: Count) -> Count:
    """One part of a whole whose other part is not published (those in work of those who answered).

    The other part is a group too: when it is small, the part is hidden, as the total minus the part
    would give it away."""
    if whole.value is None:
        return single(n, parent_hidden=True)
    if 0 < n < SMALL:
        return Count(None, Hidden.SMALL)
    if 0 < whole.value - n < SMALL:
        return Count(None, Hidden.SECONDARY)
    return Count(n)
