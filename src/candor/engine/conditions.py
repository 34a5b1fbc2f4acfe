"""Rulebook conditions: SQL boolean expressions over a record type's declared attributes.

A condition is parsed by SQLGlot into a syntax tree and checked node by node against an allowlist
before it goes anywhere near a database: only the record type's declared attributes (plus
``occurred_on``), literals, comparisons, boolean logic, arithmetic and a few pure functions. No
subquery, no table, no statement, no unknown function. The compiler then writes the *checked
tree* into the plan, with every attribute replaced by its typed value — the condition's text is
never pasted into SQL.

A condition means the same on every engine, so the compiler also writes:

- every number it writes as a DOUBLE, so that arithmetic with it is binary floating point
  everywhere (SQLite has no exact decimals, and turns a whole number that outgrows 64 bits into
  a double where the others raise): ``severity * 0.1 > 0.3`` is true for 3, as 3 × 0.1 is
  0.30000000000000004. The numbers stay between 1e-15 and 1e15, which every engine holds;
- division by zero as unknown (DuckDB gives infinity, PostgreSQL raises, SQLite gives NULL);
- text ordering (``<``, ``BETWEEN``, ``greatest``) by code point.

Values of different types never meet (``value_type``): the engines would each convert them
their own way, or not at all.

``upper`` and ``lower`` are not allowed: SQLite folds ASCII letters only.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from enum import Enum

from sqlglot import exp, parse
from sqlglot.errors import ParseError

from candor.domain.registry import AttributeSpec, AttributeType, RecordTypeSpec
from candor.engine.dialects import SOURCE_DIALECT

# Syntax a condition may use. Anything else — Select, Subquery, Table, Star, Dot, Anonymous
# functions, placeholders, commands — is refused by name.
_ALLOWED_NODES: tuple[type[exp.Expr], ...] = (
    exp.And,
    exp.Or,
    exp.Not,
    exp.Paren,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.Between,
    exp.In,
    exp.Is,
    exp.Null,
    exp.Boolean,
    exp.Literal,
    exp.Neg,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Column,
    exp.Identifier,
    exp.Tuple,
)
# Pure functions with the same meaning on DuckDB, SQLite and PostgreSQL.
ALLOWED_FUNCTIONS: dict[type[exp.Expr], str] = {
    exp.Abs: "abs",
    exp.Coalesce: "coalesce",
    exp.Length: "length",
    exp.Greatest: "greatest",
    exp.Least: "least",
}
# Record columns a condition may name besides the attributes.
RECORD_COLUMNS: dict[str, AttributeType] = {"occurred_on": AttributeType.DATE}


class ConditionError(ValueError):
    """A condition that is not allowed; the message says which part and why."""


def parse_condition(text: str, record_type: str, spec: RecordTypeSpec) -> exp.Expr:
    """Parse and check a condition on records of ``record_type``.

    Raises:
        ConditionError: not one SQL expression, or it uses something not allowed.
    """
    try:
        statements = [s for s in parse(text, read=SOURCE_DIALECT) if s is not None]
    except ParseError as e:
        first = e.errors[0]["description"] if e.errors else str(e)
        raise ConditionError(f"is not a SQL expression: {first}") from None
    if len(statements) != 1:
        raise ConditionError("must be one expression, not several statements")
    tree = statements[0]
    for node in tree.walk():
        if node.comments:
            # SQLGlot keeps comments, defused, in the SQL it writes; but a published rule shows
            # all it does in its text, and a comment is text that does nothing.
            raise ConditionError("contains a comment (-- or /* */); put notes in `description`")
        _check_node(node, record_type, spec)
    if value_type(tree, spec) is not ValueType.BOOLEAN:
        raise ConditionError("must be true or false (a comparison, or a boolean attribute)")
    return tree


def _check_node(node: exp.Expr, record_type: str, spec: RecordTypeSpec) -> None:
    if isinstance(node, exp.Column):
        if node.table:
            raise ConditionError(f"names {node.sql()}: use attribute names without a table")
        name = node.name
        if name not in spec.attributes and name not in RECORD_COLUMNS:
            declared = ", ".join(sorted(spec.attributes)) or "none"
            raise ConditionError(
                f"names {name!r}, which is not an attribute of {record_type} (declared: {declared})"
            )
        attr = spec.attributes.get(name)
        if attr is not None and attr.personal:
            raise ConditionError(personal_refusal(name, record_type))
        return
    if type(node) in ALLOWED_FUNCTIONS:
        return
    if isinstance(node, _ALLOWED_NODES):
        if isinstance(node, exp.EQ | exp.NEQ | exp.In):
            _check_enum_values(node, spec)
        return
    if isinstance(node, exp.Func):
        allowed = ", ".join(sorted(ALLOWED_FUNCTIONS.values()))
        # SQLGlot parses a function it does not know as Anonymous: name it as written.
        name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
        raise ConditionError(f"calls {name}, which is not allowed ({allowed})")
    what = "a subquery" if isinstance(node, exp.Select | exp.Subquery) else node.key
    raise ConditionError(f"uses {what}, which a condition may not")


def personal_refusal(name: str, record_type: str) -> str:
    """Why a rule may not read a personal attribute."""
    return (
        f"reads {name!r}, a personal attribute of {record_type}: personal data is sealed, erased "
        "at the end of retention, and never rated on"
    )


def _check_enum_values(node: exp.Expr, spec: RecordTypeSpec) -> None:
    """``kind = 'pyramd'`` can never be true: a misspelt value is an error, not a dead rule."""
    column = node.this
    if not isinstance(column, exp.Column):
        return
    attr: AttributeSpec | None = spec.attributes.get(column.name)
    if attr is None or attr.values is None:
        return
    values = node.expressions if isinstance(node, exp.In) else [node.expression]
    for value in values:
        if isinstance(value, exp.Literal) and value.is_string and value.name not in attr.values:
            raise ConditionError(
                f"compares {column.name} with {value.name!r}, which is not one of its values "
                f"({', '.join(attr.values)})"
            )


def referenced_attributes(tree: exp.Expr) -> set[str]:
    """The attribute and record columns a checked condition reads."""
    return {c.name for c in tree.find_all(exp.Column)}


class ValueType(Enum):
    """The type of a condition's value: what it may be compared with."""

    NUMBER = "a number"
    TEXT = "text"
    BOOLEAN = "true or false"
    DATE = "a date"
    QUOTED = "quoted text"  # a quoted literal alone: text, or a date where it meets a date
    NULL = "NULL"


_ATTRIBUTE_TYPES = {
    AttributeType.INTEGER: ValueType.NUMBER,
    AttributeType.DECIMAL: ValueType.NUMBER,
    AttributeType.BOOLEAN: ValueType.BOOLEAN,
    AttributeType.STRING: ValueType.TEXT,
    AttributeType.ENUM: ValueType.TEXT,
    AttributeType.DATE: ValueType.DATE,
}
# Comparisons and functions whose answer depends on how text is ordered.
ORDERING: tuple[type[exp.Expr], ...] = (
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.Between,
    exp.Greatest,
    exp.Least,
)
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.In)
_ARITHMETIC = (exp.Neg, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Abs)
_PICKS = (exp.Coalesce, exp.Greatest, exp.Least)
# What operators and functions take, what else is wrong with an operand, and what they give.
_SIGNATURES: tuple[
    tuple[tuple[type[exp.Expr], ...], tuple[ValueType, ...], str, ValueType], ...
] = (
    (_ARITHMETIC, (ValueType.NUMBER,), "is not a number", ValueType.NUMBER),
    ((exp.Length,), (ValueType.TEXT, ValueType.QUOTED), "is not text", ValueType.NUMBER),
    ((exp.And, exp.Or, exp.Not), (ValueType.BOOLEAN,), "is not true or false", ValueType.BOOLEAN),
)


def operands(node: exp.Expr) -> list[exp.Expr]:
    """The values a comparison, function or operator reads."""
    if isinstance(node, exp.Between):
        return [node.this, node.args["low"], node.args["high"]]
    if isinstance(node, exp.In | exp.Coalesce | exp.Greatest | exp.Least):
        return [node.this, *node.expressions]
    if isinstance(node, exp.Binary):
        return [node.this, node.expression]
    return [node.this]


def value_type(node: exp.Expr, spec: RecordTypeSpec) -> ValueType:
    """The type of a checked condition's value.

    The engines disagree on values of two types side by side (``ground = '1'`` is true on
    DuckDB, false on SQLite and an error on PostgreSQL), so they are refused.

    Raises:
        ConditionError: values of different types meet.
    """
    if (leaf := _leaf_type(node, spec)) is not None:
        return leaf
    for kinds, takes, problem, gives in _SIGNATURES:
        if isinstance(node, kinds):
            _expect(node, operands(node), spec, takes, problem)
            return gives
    if isinstance(node, _PICKS):
        return common_type(node, spec)
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Boolean):
        _expect(node, [node.this], spec, (ValueType.BOOLEAN,), "is not true or false")
        return ValueType.BOOLEAN
    if isinstance(node, exp.Is):
        value_type(node.this, spec)
        return ValueType.BOOLEAN
    if isinstance(node, _COMPARISONS):
        common_type(node, spec)
        return ValueType.BOOLEAN
    raise ConditionError(f"uses {_quote(node)} where a single value belongs")


def _leaf_type(node: exp.Expr, spec: RecordTypeSpec) -> ValueType | None:
    if isinstance(node, exp.Paren | exp.Collate):
        return value_type(node.this, spec)
    if isinstance(node, exp.Column):
        attr = spec.attributes.get(node.name)
        return _ATTRIBUTE_TYPES[attr.type if attr is not None else RECORD_COLUMNS[node.name]]
    if isinstance(node, exp.Literal):
        return _literal_type(node)
    if isinstance(node, exp.Boolean):
        return ValueType.BOOLEAN
    if isinstance(node, exp.Null):
        return ValueType.NULL
    return None


def common_type(node: exp.Expr, spec: RecordTypeSpec) -> ValueType:
    """The one type of the values a comparison or function compares or picks from.

    Raises:
        ConditionError: they have different types, or quoted text meets a date without being
            one (``YYYY-MM-DD``).
    """
    typed = [(o, value_type(o, spec)) for o in operands(node)]
    known = [(o, t) for o, t in typed if t not in (ValueType.NULL, ValueType.QUOTED)]
    for other, other_type in known[1:]:
        first, first_type = known[0]
        if other_type is not first_type:
            raise ConditionError(
                f"compares {_quote(first)} ({first_type.value}) "
                f"with {_quote(other)} ({other_type.value})"
            )
    quoted = [o for o, t in typed if t is ValueType.QUOTED]
    if not known:
        return ValueType.QUOTED if quoted else ValueType.NULL
    first, found = known[0]
    for operand in quoted:
        if found is ValueType.DATE:
            for literal in operand.find_all(exp.Literal):
                if literal.is_string and not _is_iso_date(literal.name):
                    raise ConditionError(
                        f"compares {_quote(first)} (a date) with {_quote(literal)}, "
                        "which is not a date (YYYY-MM-DD)"
                    )
        elif found is not ValueType.TEXT:
            raise ConditionError(
                f"compares {_quote(first)} ({found.value}) with {_quote(operand)} (text)"
            )
    return found


def _expect(
    node: exp.Expr,
    parts: list[exp.Expr],
    spec: RecordTypeSpec,
    allowed: tuple[ValueType, ...],
    problem: str,
) -> None:
    for part in parts:
        found = value_type(part, spec)
        if found not in (*allowed, ValueType.NULL):
            raise ConditionError(
                f"uses {_quote(part)} in {_quote(node)}, but {_quote(part)} {problem}"
            )


# Numbers a condition may write: PostgreSQL refuses a double beyond about 1e308 or short of
# about 1e-307 where the others give infinity or zero; these bounds leave room for arithmetic.
_LARGEST = Decimal("1e15")
_SMALLEST = Decimal("1e-15")


def _literal_type(literal: exp.Literal) -> ValueType:
    if literal.is_string:
        return ValueType.QUOTED
    try:
        value = abs(Decimal(literal.this))
    except InvalidOperation:
        value = Decimal("Infinity")
    if not (value == 0 or _SMALLEST <= value <= _LARGEST):
        raise ConditionError(
            f"uses the number {literal.this}, outside what every engine holds alike "
            f"({_SMALLEST} to {_LARGEST}, or 0)"
        )
    return ValueType.NUMBER


def _quote(node: exp.Expr) -> str:
    return node.sql(dialect=SOURCE_DIALECT)


def _is_iso_date(text: str) -> bool:
    try:
        return len(text) == 10 and date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False
