"""Programme triage: an ordered list of conditions over named facts; the first match wins.

Conditions are data (from the programme YAML), evaluated by a small interpreter; there is no
``eval``. A condition is one of::

    {fact: gad7.band, in: [mild, moderate]}      # eq, ne, in, not_in, lt, le, gt, ge, present
    {fact: diagnoses, contains: [anxiety]}       # a multiple-choice fact holds any of these
    {fact: diagnoses, only: [anxiety]}           # ... holds something, and nothing but these
    {fact: diagnoses, several_of: [a, b, c]}     # ... holds at least two of these
    {all: [cond, ...]}  {any: [cond, ...]}  {not: cond}

A rule without ``when`` always matches (every programme ends with one).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    ELIGIBLE = "eligible"
    ELIGIBLE_URGENT = "eligible-urgent"
    REFER_GP = "refer-gp"
    REFER_COPING_COURSE = "refer-coping-course"
    REFER_TFA = "refer-tfa"
    NOT_IN_TARGET = "not-in-target"

    @property
    def goes_to_consultant(self) -> bool:
        """The eligibility rule, written once: these outcomes are for the programme's job consultants."""
        return self in (Outcome.ELIGIBLE, Outcome.ELIGIBLE_URGENT)


def goes_to_consultant(outcome: str) -> bool:
    """`Outcome.goes_to_consultant` for a stored outcome (a string; an unknown one does not)."""
    try:
        return Outcome(outcome).goes_to_consultant
    except ValueError:
        return False


# A rule's reason: a message id (programme files, the export's `triage.reason`).
REASON_PATTERN = r"^reason\.[a-z0-9_]+$"

COMPARISONS = ("eq", "ne", "in", "not_in", "lt", "le", "gt", "ge", "present", "contains", "only", "several_of")
# comparisons over a multiple-choice fact (a list of option ids)
SET_COMPARISONS = ("contains", "only", "several_of")
COMBINATORS = ("all", "any", "not")

Facts = Mapping[str, Any]


class ConditionError(ValueError):
    """A condition that is not of the documented form."""


def matches(condition: Mapping[str, Any] | None, facts: Facts) -> bool:
    """Does the condition hold for these facts? A fact that is missing never satisfies a comparison."""
    if condition is None:
        return True
    if "all" in condition:
        return all(matches(c, facts) for c in condition["all"])
    if "any" in condition:
        return any(matches(c, facts) for c in condition["any"])
    if "not" in condition:
        return not matches(condition["not"], facts)
    name = condition.get("fact")
    ops = [k for k in condition if k != "fact"]
    if not isinstance(name, str) or len(ops) != 1 or ops[0] not in COMPARISONS:
        raise ConditionError(f"not a condition: {dict(condition)!r}")
    op, expected = ops[0], condition[ops[0]]
    present = name in facts and facts[name] is not None
    if op == "present":
        return present is bool(expected)
    if not present:
        return False
    value = facts[name]
    if op in SET_COMPARISONS:
        return _set_comparison(name, op, value, expected)
    try:
        return bool(_ORDERS[op](value, expected))
    except TypeError as exc:  # e.g. comparing a band name with a number
        raise ConditionError(f"{name} {op} {expected!r}: {exc}") from exc


# the comparisons of one value with the expected one ("present" and the set comparisons are apart)
_ORDERS: dict[str, Callable[[Any, Any], object]] = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
    "in": lambda value, expected: value in expected, "not_in": lambda value, expected: value not in expected,
}


def _set_comparison(name: str, op: str, value: Any, expected: Any) -> bool:
    if not isinstance(value, list | tuple):
        raise ConditionError(f"{name} {op}: {name} is not a multiple-choice fact")
    wanted = {expected} if isinstance(expected, str) else set(expected)
    held = set(value)
    if op == "contains":
        return bool(held & wanted)
    if op == "only":
        return bool(held) and held <= wanted
    return len(held & wanted) >= 2  # several_of


def fact_names(condition: Mapping[str, Any] | None) -> set[str]:
    """Every fact a condition refers to (for validating programme files)."""
    if condition is None:
        return set()
    for key in ("all", "any"):
        if key in condition:
            return set().union(*(fact_names(c) for c in condition[key])) if condition[key] else set()
    if "not" in condition:
        return fact_names(condition["not"])
    name = condition.get("fact")
    return {name} if isinstance(name, str) else set()


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reason: str  # a message id explaining the outcome to the candidate
    rule: int  # index of the rule that matched, for the audit trail
    urgent: bool
    priority: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "reason": self.reason,
            "rule": self.rule,
            "urgent": self.urgent,
            "priority": self.priority,
        }


@dataclass(frozen=True, slots=True)
class Rule:
    outcome: Outcome
    reason: str
    when: Mapping[str, Any] | None = None
    priority: bool = False


def decide(rules: tuple[Rule, ...], facts: Facts) -> Decision:
    """Apply the first matching rule.

    A risk flag always makes the result urgent, whatever the rules say: safety does not depend on
    a programme file being written right. An eligible result with risk becomes eligible-urgent.
    """
    urgent = bool(facts.get("flags.risk"))
    for index, rule in enumerate(rules):
        if matches(rule.when, facts):
            outcome = rule.outcome
            if urgent and outcome is Outcome.ELIGIBLE:
                outcome = Outcome.ELIGIBLE_URGENT
            return Decision(outcome, rule.reason, index, urgent, rule.priority)
    raise ConditionError("no triage rule matched; a programme must end with a rule without 'when'")
