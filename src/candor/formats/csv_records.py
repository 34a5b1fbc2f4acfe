"""Streaming CSV reader for record files (RFC 4180, UTF-8, optional BOM, LF or CRLF).

Parsing is Arrow's C++ CSV reader, one block at a time, so a 10M-row file needs memory for a few
blocks only. It runs single-threaded because only then does Arrow number the rows it cannot
parse; candor must name those rows. A quote left open runs on to the next closing quote, as the
CSV standard says; the rows it swallows are reported together as one rejected row.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from candor.domain.records import ROW_COLUMN, columns
from candor.domain.rejects import ROW_FIELD, Reject
from candor.errors import InvalidInput
from candor.formats.raw import RawBatch, check_columns, empty_frame

# Arrow must hold the longest row within one block. 16 MiB allows a 10 MB field with room, and
# keeps what a block costs once parsed and decoded (a few times its size) to well under 100 MiB.
BLOCK_BYTES = 16 << 20
FIRST_DATA_ROW = 2  # the header is row 1


# Blocks Arrow may read ahead of the block being processed. Left to itself Arrow's streaming
# reader pulls the whole file into memory ahead of the parser; this keeps memory bounded by
# the block size whatever the size of the file.
READ_AHEAD_BLOCKS = 3


class _ThrottledReader(io.RawIOBase):
    """The file as Arrow sees it: counts what Arrow has pulled (for the progress bar) and makes
    Arrow's reading thread wait once it is ``READ_AHEAD_BLOCKS`` blocks ahead of the consumer."""

    def __init__(self, raw: IO[bytes], block_bytes: int) -> None:
        self._raw = raw
        self._block_bytes = block_bytes
        self._limit = READ_AHEAD_BLOCKS * block_bytes
        self._turn = threading.Condition()
        self.position = 0

    def readable(self) -> bool:
        return True

    def consumed_block(self, blocks: int) -> None:
        """The consumer has taken ``blocks`` blocks: Arrow may read that much further."""
        with self._turn:
            self._limit = (blocks + READ_AHEAD_BLOCKS) * self._block_bytes
            self._turn.notify_all()

    def readinto(self, buffer: Any) -> int:
        with self._turn:
            while self.position >= self._limit and not self.closed:
                # Arrow's own thread waits here; never past interpreter shutdown, where a
                # thread still waiting would be killed holding Python state.
                if sys.is_finalizing():
                    return 0
                self._turn.wait(timeout=0.2)
        if self.closed:
            return 0
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        self.position += n or 0
        return n or 0

    def close(self) -> None:
        with self._turn:
            self._limit = 1 << 62
            self._turn.notify_all()
        self._raw.close()
        super().close()


def read_csv(
    path: Path,
    *,
    attribute_names: frozenset[str],
    batch_rows: int,
    block_bytes: int = BLOCK_BYTES,
) -> Iterator[RawBatch]:
    """Yield the file's rows in batches of at most ``batch_rows``.

    ``block_bytes`` is how much Arrow parses at a time; no row may be longer.

    Raises:
        InvalidInput: when the file cannot be read as a record file at all (empty, no header,
            unknown or missing columns); rows already yielded stay valid.
    """
    origin = path.name
    counting = _ThrottledReader(path.open("rb"), block_bytes)
    buffered = io.BufferedReader(counting, buffer_size=min(1 << 20, block_bytes))
    source = pa.PythonFile(buffered, mode="r")
    known = columns(attribute_names)
    invalid: list[tuple[int, Reject]] = []

    def on_invalid_row(row: Any) -> str:
        invalid.append((row.number, _structural_reject(row)))
        return "skip"

    try:
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=block_bytes),
            # Quoted values may hold line breaks; without this Arrow cuts blocks inside them.
            parse_options=pacsv.ParseOptions(
                newlines_in_values=True, invalid_row_handler=on_invalid_row
            ),
            convert_options=pacsv.ConvertOptions(
                # Binary, not string: a row with bad UTF-8 must be rejected alone, not fail the
                # whole block in Arrow's converter.
                column_types={name: pa.binary() for name in known},
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as e:
        counting.close()
        raise InvalidInput(
            f"{origin}: cannot be read as CSV: {_arrow_message(e, block_bytes)}"
        ) from None

    try:
        names = reader.schema.names
    except UnicodeDecodeError:
        counting.close()
        raise InvalidInput(f"{origin}: the header is not valid UTF-8 text") from None
    try:
        check_columns(names, attribute_names, origin=origin)
        next_row = FIRST_DATA_ROW
        blocks = 0
        while True:
            try:
                block = reader.read_next_batch()
                blocks += 1
                counting.consumed_block(blocks)
            except StopIteration:
                break
            except pa.ArrowInvalid as e:
                why = _arrow_message(e, block_bytes)
                raise InvalidInput(
                    f"{origin}: reading stopped after row {next_row - 1}: {why}; "
                    "the rows before it were processed"
                ) from None
            numbers, next_row = _number_rows(block.num_rows, next_row, invalid)
            frame, rejects = _decode(block, numbers)
            # Arrow may already have reported bad rows of blocks it has not handed over yet: they
            # stay pending, so that the next block's rows are numbered around them.
            rejects.extend(r for n, r in invalid if n < next_row)
            invalid[:] = [(n, r) for n, r in invalid if n >= next_row]
            for start in range(0, max(frame.height, 1), batch_rows):
                part = frame.slice(start, batch_rows)
                # Structural rejects travel with the first slice of their block.
                yield RawBatch(part, rejects if start == 0 else [], counting.position)
        if invalid:  # rows Arrow refused after its last good block
            yield RawBatch(empty_frame(names), [r for _, r in invalid], counting.position)
    finally:
        counting.close()


def _number_rows(
    count: int, next_row: int, invalid: list[tuple[int, Reject]]
) -> tuple[np.ndarray, int]:
    """Row numbers of a block's parsed rows: the next ``count`` numbers not taken by bad rows."""
    skipped = {n for n, _ in invalid if n >= next_row}
    span = np.arange(next_row, next_row + count + len(skipped), dtype=np.int64)
    if skipped:
        span = span[~np.isin(span, np.fromiter(skipped, dtype=np.int64))]
    numbers = span[:count]
    return numbers, int(numbers[-1]) + 1 if count else next_row


def _decode(block: pa.RecordBatch, numbers: np.ndarray) -> tuple[pl.DataFrame, list[Reject]]:
    """Binary columns to UTF-8 text; a row with undecodable bytes becomes a reject."""
    rejects: list[Reject] = []
    bad_rows = np.zeros(block.num_rows, dtype=bool)
    columns: dict[str, pa.Array] = {}
    for name, column in zip(block.schema.names, block.columns, strict=True):
        try:
            text = column.cast(pa.string())
        except pa.ArrowInvalid:
            values = column.to_pylist()
            decoded: list[str | None] = []
            for i, value in enumerate(values):
                try:
                    decoded.append(value.decode("utf-8"))
                except UnicodeDecodeError:
                    decoded.append(None)
                    bad_rows[i] = True
                    rejects.append(Reject(int(numbers[i]), name, "is not valid UTF-8 text"))
            text = pa.array(decoded, type=pa.string())
        columns[name] = text
    frame = pl.from_arrow(pa.RecordBatch.from_pydict(columns))
    assert isinstance(frame, pl.DataFrame)
    frame = frame.with_columns([pl.col(c).replace("", None) for c in frame.columns]).insert_column(
        0, pl.Series(ROW_COLUMN, numbers)
    )
    if bad_rows.any():
        frame = frame.filter(pl.Series(~bad_rows))
    return frame, rejects


def _structural_reject(row: Any) -> Reject:
    lines = row.text.count("\n") + 1
    reason = f"expected {row.expected_columns} fields, found {row.actual_columns}"
    if lines > 1:
        reason += (
            f"; the row runs over {lines} lines, so a quote is probably left open and the "
            "lines it swallowed were not read as rows"
        )
    return Reject(int(row.number), ROW_FIELD, reason)


def _arrow_message(e: Exception, block_bytes: int = BLOCK_BYTES) -> str:
    # Arrow's messages can quote the offending bytes; keep only its first clause.
    text = str(e).split(":", 1)[0].strip()
    if "straddl" in str(e):
        size = f"{block_bytes >> 20} MiB" if block_bytes >= 1 << 20 else f"{block_bytes} bytes"
        return f"a row is longer than {size}, or a quote is left open"
    if "Empty CSV file" in str(e):
        return "the file is empty, or its header line does not end with a line break"
    return text or type(e).__name__
