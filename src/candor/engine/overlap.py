"""Whether two rule conditions plainly exclude each other (lint's ``overlapping-rules``).

Two rules on one record type count a record twice when both conditions hold for it. Deciding
that in general is satisfiability; lint only needs the plain cases an author writes to split a
record type between rules — ``kind = 'other'`` against ``kind IN ('pyramid', 'fraud')``,
``severity BETWEEN 1 AND 4`` against ``severity >= 5``, ``aggravated`` against ``NOT
aggravated``. Each condition's top-level ``AND`` terms that bound one attribute by literals are
read as a set of values or an interval; two conditions are disjoint when some attribute's bounds
do not meet. Anything else may overlap, and lint warns (a warning, never an error: a false alarm
costs a look, a missed overlap double-counts a record). No solver library: the checked condition
trees are small, and the cases above are all lint needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlglot import exp

# A value a bound compares: a number, text, or a truth value.
Value = Decimal | str | bool


@dataclass(frozen=True)
class _Bound:
    """The values an attribute may take: a finite set, or an interval (None: that end open)."""

    values: frozenset[Value] | None = None
    low: Value | None = None
    low_closed: bool = True
    high: Value | None = None
    high_closed: bool = True

    def admits(self, value: Value) -> bool:
        if self.values is not None:
            return value in self.values
        if not _comparable(value, self.low) or not _comparable(value, self.high):
            return True  # of another type: not plainly excluded
        return not (
            _beyond(self.low, value, self.low_closed) or _beyond(value, self.high, self.high_closed)
        )


def _beyond(low: Any, high: Any, closed: bool) -> bool:
    """Whether ``low`` is past ``high`` (or at it, when the bound there is open); never when
    either is None."""
    if low is None or high is None:
        return False
    return bool(low > high or (low == high and not closed))


def _comparable(a: Value, b: Value | None) -> bool:
    if b is None:
        return True
    return isinstance(a, str) == isinstance(b, str) and isinstance(a, bool) == isinstance(b, bool)


def disjoint(a: exp.Expr | None, b: exp.Expr | None) -> bool:
    """True only when no record can meet both conditions (None: no condition, always met)."""
    if a is None or b is None:
        return False
    bounds_a, bounds_b = _bounds(a), _bounds(b)
    return any(
        name in bounds_b and _apart(bound, bounds_b[name]) for name, bound in bounds_a.items()
    )


def _apart(a: _Bound, b: _Bound) -> bool:
    if a.values is not None:
        return not any(b.admits(v) for v in a.values)
    if b.values is not None:
        return not any(a.admits(v) for v in b.values)
    return _intervals_apart(a, b) or _intervals_apart(b, a)


def _intervals_apart(a: _Bound, b: _Bound) -> bool:
    """Whether ``a`` ends before ``b`` begins."""
    if a.high is None or b.low is None or not _comparable(a.high, b.low):
        return False
    if a.high < b.low:  # type: ignore[operator]
        return True
    return bool(a.high == b.low and not (a.high_closed and b.low_closed))


def _bounds(tree: exp.Expr) -> dict[str, _Bound]:
    """Each attribute's bound from the condition's top-level AND terms (the tightest one when a
    term bounds it twice is not needed: any one that is apart suffices)."""
    found: dict[str, list[_Bound]] = {}
    for term in _conjuncts(tree):
        read = _term(term)
        if read is not None:
            found.setdefault(read[0], []).append(read[1])
    # Several terms on one attribute: all of them hold, so each is a bound of its own. Keep the
    # one that excludes most simply — a set if any.
    return {
        name: next((b for b in bounds if b.values is not None), _meet(bounds))
        for name, bounds in found.items()
    }


def _meet(bounds: list[_Bound]) -> _Bound:
    """The interval every one of ``bounds`` (intervals of one type) admits."""
    low, low_closed, high, high_closed = None, True, None, True
    for b in bounds:
        if b.low is not None and (low is None or (_comparable(b.low, low) and b.low > low)):  # type: ignore[operator]
            low, low_closed = b.low, b.low_closed
        if b.high is not None and (high is None or (_comparable(b.high, high) and b.high < high)):  # type: ignore[operator]
            high, high_closed = b.high, b.high_closed
    return _Bound(low=low, low_closed=low_closed, high=high, high_closed=high_closed)


def _conjuncts(node: exp.Expr) -> list[exp.Expr]:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


_FLIPPED: dict[type[exp.Expr], type[exp.Expr]] = {
    exp.GT: exp.LT,
    exp.GTE: exp.LTE,
    exp.LT: exp.GT,
    exp.LTE: exp.GTE,
    exp.EQ: exp.EQ,
}


def _term(node: exp.Expr) -> tuple[str, _Bound] | None:
    """The attribute a term bounds by literals, and how; None for any other term."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Column):
        return node.name, _Bound(values=frozenset({True}))
    if isinstance(node, exp.Not) and isinstance(node.this, exp.Column):
        return node.this.name, _Bound(values=frozenset({False}))
    if isinstance(node, exp.In | exp.Between) and isinstance(node.this, exp.Column):
        return _membership(node)
    return _comparison(node)


def _membership(node: exp.In | exp.Between) -> tuple[str, _Bound] | None:
    """``attribute IN (literals)`` or ``attribute BETWEEN literal AND literal``."""
    name = node.this.name
    if isinstance(node, exp.In):
        values = [_literal(e) for e in node.expressions]
        if node.args.get("query") is not None or any(v is None for v in values):
            return None
        return name, _Bound(values=frozenset(v for v in values if v is not None))
    low, high = _literal(node.args.get("low")), _literal(node.args.get("high"))
    if low is None or high is None:
        return None
    return name, _Bound(low=low, high=high)


def _comparison(node: exp.Expr) -> tuple[str, _Bound] | None:
    """``attribute <op> literal`` (either way round)."""
    kind = type(node)
    if kind not in _FLIPPED:
        return None
    left, right = node.left, node.right  # type: ignore[attr-defined]
    if isinstance(right, exp.Column) and not isinstance(left, exp.Column):
        left, right, kind = right, left, _FLIPPED[kind]
    value = _literal(right)
    if not isinstance(left, exp.Column) or value is None:
        return None
    bounds: dict[type[exp.Expr], _Bound] = {
        exp.EQ: _Bound(values=frozenset({value})),
        exp.GT: _Bound(low=value, low_closed=False),
        exp.GTE: _Bound(low=value),
        exp.LT: _Bound(high=value, high_closed=False),
        exp.LTE: _Bound(high=value),
    }
    return left.name, bounds[kind]


def _literal(node: Any) -> Value | None:
    """A literal's value: a number as a Decimal (so 2 and 2.0 are one value), text, a truth
    value; None for anything else."""
    negative = False
    while isinstance(node, exp.Neg):
        negative, node = not negative, node.this
    if isinstance(node, exp.Boolean):
        return None if negative else bool(node.this)
    if not isinstance(node, exp.Literal):
        return None
    if node.is_string:
        return None if negative else str(node.this)
    number = Decimal(str(node.this))
    return -number if negative else number
