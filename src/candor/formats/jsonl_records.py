"""JSON Lines record files, and API batches, which carry the same objects.

One JSON object per line: the CONTRACT fields as strings, optional ``refers_to`` and
``subject_kind``, and an ``attributes`` object of scalar values. Values are turned into the same
text columns the CSV reader produces, so both go through one validation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from candor.domain import disclosure
from candor.domain.disclosure import token
from candor.domain.records import ATTRIBUTE_PREFIX, ROW_COLUMN, TEXT_FIELDS, columns
from candor.domain.rejects import ROW_FIELD, Reject
from candor.formats.raw import RawBatch, check_encoding

_TEXT_FIELDS = frozenset(TEXT_FIELDS)
ATTRIBUTES_KEY = "attributes"


def _text(value: Any) -> str | None:
    """A JSON scalar as the text a CSV cell would hold; raises TypeError for anything else."""
    if value is None:
        return None
    if isinstance(value, bool):  # before int: bool is an int in Python
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    raise TypeError(type(value).__name__)


class ObjectBatcher:
    """Collects record objects into text columns, rejecting what cannot be a record."""

    def __init__(self, attribute_names: frozenset[str]) -> None:
        self._attribute_names = attribute_names
        self._columns: list[str] = [ROW_COLUMN, *columns(attribute_names)]
        self._rows: list[list[Any]] = []
        self.rejects: list[Reject] = []
        self._index = {name: i for i, name in enumerate(self._columns)}

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, row: int, obj: Any) -> None:
        if not isinstance(obj, Mapping):
            self.rejects.append(Reject(row, ROW_FIELD, "is not a JSON object"))
            return
        values: list[Any] = [None] * len(self._columns)
        values[0] = row
        srid = disclosure.source_record_id(obj.get("source_record_id"))
        problems: list[Reject] = []
        for key, value in obj.items():
            if key == ATTRIBUTES_KEY:
                self._attributes(row, value, values, problems, srid)
                continue
            if key not in _TEXT_FIELDS:
                problems.append(Reject(row, _key(key), "is not a record field", srid))
                continue
            # Integers are taken as text (an id sent as a number); floats and booleans are not.
            if value is None or (isinstance(value, str | int) and not isinstance(value, bool)):
                values[self._index[key]] = _text(value)
            else:
                problems.append(Reject(row, key, "must be a string", srid))
        if problems:
            self.rejects.extend(problems)
        else:
            self._rows.append(values)

    def _attributes(
        self, row: int, value: Any, values: list[Any], problems: list[Reject], srid: str | None
    ) -> None:
        if value is None:
            return
        if not isinstance(value, Mapping):
            problems.append(Reject(row, ATTRIBUTES_KEY, "must be a JSON object", srid))
            return
        for name, attr in value.items():
            field = f"{ATTRIBUTE_PREFIX}{_key(name)}"
            if name not in self._attribute_names:
                problems.append(
                    Reject(row, field, "no record type in the registry declares it", srid)
                )
                continue
            try:
                values[self._index[f"{ATTRIBUTE_PREFIX}{name}"]] = _text(attr)
            except TypeError:
                problems.append(
                    Reject(row, field, "must be a single value, not a list or object", srid)
                )

    def take(self, position: int = 0) -> RawBatch:
        """The rows collected so far as a batch; the batcher starts empty again."""
        schema: dict[str, pl.DataType] = {c: pl.String() for c in self._columns}
        schema[ROW_COLUMN] = pl.Int64()
        frame = pl.DataFrame(self._rows, schema=schema, orient="row")
        frame = frame.with_columns(
            [
                pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c)
                for c in self._columns[1:]
            ]
        )
        batch = RawBatch(frame, self.rejects, position)
        self._rows, self.rejects = [], []
        return batch


def _key(key: Any) -> str:
    """A key fit to name in a reject: a harmless token, not an identifier in disguise."""
    return token(key) or "(unnamed key)"


def _key_count(obj: Any) -> int:
    """Keys of a record object and of its attributes object."""
    if not isinstance(obj, Mapping):
        return 0
    attributes = obj.get(ATTRIBUTES_KEY)
    return len(obj) + (len(attributes) if isinstance(attributes, Mapping) else 0)


def _repeated_keys(line: bytes) -> list[str]:
    """The fields whose key a JSON line gives twice, in the object or in its attributes."""
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                known = key in _TEXT_FIELDS or key == ATTRIBUTES_KEY
                repeated.append(_key(key) if known else f"{ATTRIBUTE_PREFIX}{_key(key)}")
            seen.add(key)
        return dict(items)

    try:
        json.loads(line, object_pairs_hook=pairs)
    except ValueError:  # orjson read it; should the standard library not, let it stand
        return []
    return sorted(set(repeated))


def read_jsonl(
    path: Path, *, attribute_names: frozenset[str], batch_rows: int
) -> Iterator[RawBatch]:
    """Yield the file's records in batches of at most ``batch_rows`` lines; blank lines skipped."""
    check_encoding(path, origin=path.name)
    batcher = ObjectBatcher(attribute_names)
    position = 0
    with path.open("rb") as f:
        for number, raw_line in enumerate(f, start=1):
            position += len(raw_line)
            line = (
                raw_line[3:] if number == 1 and raw_line.startswith(b"\xef\xbb\xbf") else raw_line
            )
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                reason = (
                    "is not valid UTF-8 text"
                    if "utf-8" in str(e).lower()
                    else (f"is not valid JSON ({str(e).split(':', 1)[0]})")
                )
                batcher.rejects.append(Reject(number, ROW_FIELD, reason))
            else:
                # JSON leaves a key given twice open (orjson keeps the last value, other readers
                # the first): ``"status":"final",…,"status":"overturned"`` must not be read as
                # either. Each key is followed by ``":``, so a line with more of them than the
                # object has keys may repeat one; only such a line is parsed again to find out.
                # (A key written ``"name" :`` is not counted, and its repeat may go unseen.)
                repeated = _repeated_keys(line) if line.count(b'":') > _key_count(obj) else []
                if repeated:
                    srid = disclosure.source_record_id(obj.get("source_record_id"))
                    batcher.rejects += [
                        Reject(
                            number, field, "is given twice; which value is meant is unclear", srid
                        )
                        for field in repeated
                    ]
                else:
                    batcher.add(number, obj)
            if len(batcher) + len(batcher.rejects) >= batch_rows:
                yield batcher.take(position)
    if len(batcher) or batcher.rejects:
        yield batcher.take(position)


def objects_batch(objects: Iterable[Any], *, attribute_names: frozenset[str]) -> RawBatch:
    """One batch from already-parsed objects (an API request); rows number from 1."""
    batcher = ObjectBatcher(attribute_names)
    for number, obj in enumerate(objects, start=1):
        batcher.add(number, obj)
    return batcher.take()
