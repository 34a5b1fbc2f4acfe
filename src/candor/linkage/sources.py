"""The records of one linkage run: one source to deduplicate, or several to link."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import pyarrow as pa

from candor.errors import InvalidInput
from candor.linkage.comparisons import LinkType
from candor.linkage.records import Kind, Row, prepare


@dataclass(frozen=True)
class Prepared:
    """Sources already prepared for comparison: train and predict on the same records without
    normalising them twice."""

    kind: Kind
    tables: tuple[pa.Table, ...]


# One source (a table, or rows as mappings), or a list of tables (the sources to link), or
# sources prepared once for several steps.
Records: TypeAlias = pa.Table | Iterable[Row] | Sequence[pa.Table] | Prepared


def prepare_sources(records: Records, kind: Kind) -> Prepared:
    """Each source prepared for comparison; record ids must be unique across all of them, so
    that a pair and a cluster name records by their id alone."""
    if isinstance(records, Prepared):
        if records.kind is not kind:
            raise InvalidInput(f"{records.kind.value} records given to a {kind.value} model")
        return records
    if isinstance(records, pa.Table):
        sources: list[pa.Table | Iterable[Row]] = [records]
    else:
        listed = list(records)
        if listed and all(isinstance(r, pa.Table) for r in listed):
            sources = list(listed)
        else:
            sources = [listed]  # rows of one source
    tables = tuple(prepare(source, kind) for source in sources)
    ids = pa.concat_arrays([t.column("record_id").combine_chunks() for t in tables])
    if len(ids) != len(ids.unique()):
        raise InvalidInput("record ids must be unique across the sources linked")
    return Prepared(kind, tables)


def checked(prepared: Prepared, link_type: LinkType) -> tuple[pa.Table, ...]:
    """The tables, if their number suits ``link_type``."""
    count = len(prepared.tables)
    if link_type == "dedupe_only" and count != 1:
        raise InvalidInput(f"dedupe_only takes one source, not {count}")
    if link_type != "dedupe_only" and count < 2:
        raise InvalidInput(f"{link_type} takes two or more sources to link")
    return prepared.tables
