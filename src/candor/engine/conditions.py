"""Rulebook conditions: SQL boolean expressions over a record type's declared attributes.

A condition is parsed by SQLGlot into a syntax tree and checked node by node against an allowlist
before it goes anywhere near a database: only the record type's declared attributes (plus
``occurred_on``), literals, comparisons, boolean logic, arithmetic and a few pure functions. No
subquery, no table, no statement, no unknown function. The compiler then writes the *checked
tree* into the plan, with every attribute replaced by its typed value — the condition's text is
never pasted into SQL.
"""

from __future__ import annotations

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
    exp.Lower: "lower",
    exp.Upper: "upper",
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
        _check_node(node, record_type, spec)
    if isinstance(tree, exp.Column | exp.Literal) and not _is_boolean(tree, spec):
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
        return
    if type(node) in ALLOWED_FUNCTIONS:
        return
    if isinstance(node, _ALLOWED_NODES):
        if isinstance(node, exp.EQ | exp.NEQ | exp.In):
            _check_enum_values(node, spec)
        return
    if isinstance(node, exp.Func):
        allowed = ", ".join(sorted(ALLOWED_FUNCTIONS.values()))
        raise ConditionError(f"calls {node.sql_name()}, which is not allowed ({allowed})")
    what = "a subquery" if isinstance(node, exp.Select | exp.Subquery) else node.key
    raise ConditionError(f"uses {what}, which a condition may not")


def _is_boolean(node: exp.Expr, spec: RecordTypeSpec) -> bool:
    if isinstance(node, exp.Column):
        attr = spec.attributes.get(node.name)
        return attr is not None and attr.type is AttributeType.BOOLEAN
    return isinstance(node, exp.Boolean)


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
