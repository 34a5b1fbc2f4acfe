"""A rating plan: named SQL steps, each reading the ones before it (Splink's pipeline shape).

Each step is a SELECT whose FROM names earlier steps or the store's ``records`` and ``subjects``.
Inside the store the steps become one ``WITH`` query per output; on DuckDB each step becomes a
temporary table, so that a large intermediate is computed once. Both come from the same parsed
steps, so both engines run the same logic. Parameters (``$as_of``, ``$subject_id``) are bound at
run time, never written into the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

import sqlglot
from sqlglot import exp

from candor.engine.dialects import SOURCE_DIALECT, Engine, render

# The plan's outputs: what a rating run reads back.
OUTPUTS = ("ratings", "contributions", "overrides", "listings")


@dataclass(frozen=True)
class Step:
    """One SELECT of the plan and the name later steps read it by."""

    name: str
    sql: str  # in SOURCE_DIALECT

    @property
    def tree(self) -> exp.Expr:
        return _parse(self.sql)


@cache
def _parse(sql: str) -> exp.Expr:
    tree = sqlglot.parse_one(sql, read=SOURCE_DIALECT)
    assert tree is not None
    return tree


@dataclass
class Plan:
    """The compiled steps of every active rulebook, in order."""

    steps: list[Step]
    _rendered: dict[tuple[Engine, str], str] = field(default_factory=dict)

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def query(self, engine: Engine, output: str) -> str:
        """One ``WITH`` query computing ``output`` (rendered once per engine and output)."""
        key = (engine, output)
        if key not in self._rendered:
            needed = self._needed(output)
            query = exp.select("*").from_(output)
            for step in self.steps:
                if step.name in needed and step.name != output:
                    query = query.with_(step.name, as_=step.tree)
            query = query.with_(output, as_=self.step(output).tree)
            self._rendered[key] = _bindable(render(query, engine), engine)
        return self._rendered[key]

    def statement(self, engine: Engine, name: str) -> str:
        """One step alone, reading earlier steps as tables (the batch engine's form)."""
        return _bindable(render(self.step(name).tree, engine), engine)

    def _needed(self, output: str) -> set[str]:
        """The steps ``output`` reads, directly or not."""
        names = {s.name for s in self.steps}
        needed: set[str] = set()
        todo = [output]
        while todo:
            name = todo.pop()
            if name in needed:
                continue
            needed.add(name)
            tables = {t.name for t in self.step(name).tree.find_all(exp.Table)}
            todo += [t for t in tables & names if t not in needed]
        return needed


_PG_PERCENT = re.compile(r"%(?!\((?:as_of|subject_id)\)s)")


def _bindable(sql: str, engine: Engine) -> str:
    """psycopg reads ``%`` as the start of a parameter: double every other one."""
    if engine is Engine.POSTGRESQL:
        return _PG_PERCENT.sub("%%", sql)
    return sql
