"""Streaming CSV reader for record files (RFC 4180, UTF-8, optional BOM, LF or CRLF).

Parsing is Arrow's C++ CSV reader, one block at a time, so a 10M-row file needs memory for a few
blocks only. It runs single-threaded because only then does Arrow number the rows it cannot
parse; candor must name those rows. A quote left open runs on to the next closing quote, as the
CSV standard says; the rows it swallows are reported together as one rejected row.

Bytes that are not UTF-8 reach Arrow as ``INVALID_UTF8`` (see ``_ThrottledReader``), so that a
row with them is rejected alone whatever else is wrong with it.
"""

from __future__ import annotations

import codecs
import io
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from candor.domain.records import ROW_COLUMN, columns
from candor.domain.rejects import ROW_FIELD, Reject
from candor.errors import InvalidInput
from candor.formats.raw import RawBatch, check_columns, check_encoding, empty_frame

# Arrow must hold the longest row within one block. 16 MiB allows a 10 MB field with room, and
# keeps what a block costs once parsed and decoded (a few times its size) to well under 100 MiB.
BLOCK_BYTES = 16 << 20
FIRST_DATA_ROW = 2  # the header is row 1


# Blocks Arrow may read ahead of the block being processed. Left to itself Arrow's streaming
# reader pulls the whole file into memory ahead of the parser; this keeps memory bounded by
# the block size whatever the size of the file.
READ_AHEAD_BLOCKS = 3
# How long Arrow's reading thread waits at that limit while the consumer waits on Arrow before
# it may read one more block: a batch whose rows run across blocks can need more than
# READ_AHEAD_BLOCKS of them, and then the two would wait for each other forever.
STALL_SECONDS = 0.2

# What Arrow is handed in place of each byte sequence that is not UTF-8: a Unicode noncharacter,
# valid UTF-8 but never text, with no ASCII byte in its encoding, so commas, quotes and line
# breaks stay where they were. Arrow must never see invalid UTF-8: for a row whose field count
# is also wrong, pyarrow decodes the row's text strictly before calling the invalid-row handler,
# fails, prints a traceback and stops with a bare "CSV parse error" — the whole file refused for
# one bad row, every good row lost.
INVALID_UTF8 = "\ufdd0"
_MARKER_ERRORS = "candor-mark-invalid-utf8"


def _mark_invalid(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    return INVALID_UTF8, error.end


codecs.register_error(_MARKER_ERRORS, _mark_invalid)


def _is_utf8(data: bytes | memoryview) -> bool:
    """Whether ``data`` is valid UTF-8, by Arrow's validator (some 10 times Python's decoder)."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _incomplete_tail(data: bytes | memoryview) -> int:
    """Where a multi-byte UTF-8 sequence cut off by the end of ``data`` starts (else its end)."""
    end = len(data)
    for i in range(end - 1, max(end - 4, -1), -1):
        byte = data[i]
        if byte < 0x80:  # ASCII: nothing is cut off
            return end
        if byte >= 0xC0:  # a lead byte: is its sequence complete?
            needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return i if i + needed > end else end
    return end


class _ThrottledReader(io.RawIOBase):
    """The file as Arrow sees it: counts what Arrow has pulled (for the progress bar), makes
    Arrow's reading thread wait once it is ``READ_AHEAD_BLOCKS`` blocks ahead of the consumer,
    and hands over each byte sequence that is not UTF-8 as ``INVALID_UTF8``."""

    def __init__(self, raw: IO[bytes], block_bytes: int) -> None:
        self._raw = raw
        self.block_bytes = block_bytes
        self._limit = READ_AHEAD_BLOCKS * block_bytes
        self._turn = threading.Condition()
        self.position = 0
        self._tail = b""  # the start of a UTF-8 sequence the last read cut off
        self._out = bytearray()  # checked bytes that did not fit where Arrow asked for them
        self.first_invalid: int | None = None  # offset in the file of the first bad byte
        self.consumer_waiting = False  # the consumer is inside Arrow, waiting for a batch

    def readable(self) -> bool:
        return True

    def consumed_block(self, blocks: int) -> None:
        """The consumer has taken ``blocks`` blocks: Arrow may read that much further."""
        with self._turn:
            self._limit = (blocks + READ_AHEAD_BLOCKS) * self.block_bytes
            self._turn.notify_all()

    def readinto(self, buffer: Any) -> int:
        with self._turn:
            while self.position >= self._limit and not self.closed:
                # Arrow's own thread waits here; never past interpreter shutdown, where a
                # thread still waiting would be killed holding Python state.
                if sys.is_finalizing():
                    return 0
                if not self._turn.wait(timeout=STALL_SECONDS) and self.consumer_waiting:
                    # Nothing taken for a while, and the consumer is still waiting for the
                    # batch this thread cannot read: one block more (see STALL_SECONDS).
                    self._limit = self.position + self.block_bytes
        if self.closed:
            return 0
        out = memoryview(buffer).cast("B")
        if not self._out:
            if len(out) > 4:  # room for what was held back and more: read straight into it
                return self._read_checked(out)
            scratch = bytearray(1 << 16)
            n = self._read_checked(memoryview(scratch))
            self._out[:0] = scratch[:n]
        n = min(len(out), len(self._out))
        out[:n] = self._out[:n]
        del self._out[:n]
        return n

    def _read_checked(self, out: memoryview) -> int:
        """Read into ``out`` (longer than 4 bytes), replacing each sequence that is not UTF-8
        by ``INVALID_UTF8``: what does not fit then waits in ``_out``. 0 at the end."""
        while True:
            held = len(self._tail)
            out[:held] = self._tail
            n = self._raw.readinto(out[held:]) or 0  # type: ignore[attr-defined]
            start = self.position - held  # where ``out`` starts in the file
            self.position += n
            end = held + n
            # Hold back a sequence the read cut off, to check it whole; at the end, it is bad.
            cut = _incomplete_tail(out[:end]) if n else end
            self._tail = bytes(out[cut:end])
            if cut or not n:
                break
        if _is_utf8(out[:cut]):
            return cut
        data = bytes(out[:cut])
        if self.first_invalid is None:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as e:
                self.first_invalid = start + e.start
        marked = data.decode("utf-8", _MARKER_ERRORS).encode("utf-8")  # longer than ``out``
        out[:cut] = marked[:cut]
        self._out += marked[cut:]
        return cut

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
    check_encoding(path, origin=origin)
    counting = _ThrottledReader(path.open("rb"), block_bytes)
    buffered = io.BufferedReader(counting, buffer_size=min(1 << 20, block_bytes))
    source = pa.PythonFile(buffered, mode="r")
    known = columns(attribute_names)
    invalid: list[tuple[int, Reject]] = []

    def on_invalid_row(row: Any) -> str:
        invalid.append((row.number, _structural_reject(row)))
        return "skip"

    reader = _open(source, counting, known, on_invalid_row, origin=origin)
    names = reader.schema.names
    try:
        if counting.first_invalid is not None and any(INVALID_UTF8 in n for n in names):
            raise InvalidInput(
                f"{origin}: the header is not valid UTF-8 text (byte {counting.first_invalid} "
                "of the file is not UTF-8); save the file as UTF-8"
            )
        check_columns(names, attribute_names, origin=origin)
        next_row = FIRST_DATA_ROW
        blocks = 0
        while True:
            counting.consumer_waiting = True
            try:
                block = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as e:
                why = _arrow_message(e, block_bytes)
                raise InvalidInput(
                    f"{origin}: reading stopped after row {next_row - 1}: {why}; "
                    "the rows before it were processed"
                ) from None
            finally:
                counting.consumer_waiting = False
            blocks += 1
            counting.consumed_block(blocks)
            numbers, next_row = _number_rows(block.num_rows, next_row, invalid)
            frame, rejects = _decode(block, numbers, marked=counting.first_invalid is not None)
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


def _open(
    source: pa.PythonFile,
    counting: _ThrottledReader,
    known: list[str],
    on_invalid_row: Callable[[Any], str],
    *,
    origin: str,
) -> pacsv.CSVStreamingReader:
    """Arrow's streaming reader of the file, its header read; closes ``counting`` on failure."""
    block_bytes = counting.block_bytes
    counting.consumer_waiting = True  # Arrow reads the first block before it answers
    try:
        return pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=block_bytes),
            # Quoted values may hold line breaks; without this Arrow cuts blocks inside them.
            parse_options=pacsv.ParseOptions(
                newlines_in_values=True, invalid_row_handler=on_invalid_row
            ),
            convert_options=pacsv.ConvertOptions(
                # Binary, made text in ``_decode``, which finds the cells holding INVALID_UTF8.
                column_types={name: pa.binary() for name in known},
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as e:
        counting.close()
        raise InvalidInput(
            f"{origin}: cannot be read as CSV: {_arrow_message(e, block_bytes)}"
        ) from None
    finally:
        counting.consumer_waiting = False


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


def _decode(
    block: pa.RecordBatch, numbers: np.ndarray, *, marked: bool
) -> tuple[pl.DataFrame, list[Reject]]:
    """Binary columns to UTF-8 text; a row with bytes that were not UTF-8 becomes a reject.

    ``marked``: whether the reader has met such bytes at all (else there is nothing to look for).
    """
    rejects: list[Reject] = []
    bad_rows = np.zeros(block.num_rows, dtype=bool)
    columns: dict[str, pa.Array] = {}
    for name, column in zip(block.schema.names, block.columns, strict=True):
        text = column.cast(pa.string())  # valid: the reader hands Arrow only UTF-8
        if marked:
            found = pc.fill_null(pc.match_substring(text, INVALID_UTF8), False)
            for i in np.flatnonzero(found.to_numpy(zero_copy_only=False)):
                bad_rows[i] = True
                rejects.append(Reject(int(numbers[i]), name, "is not valid UTF-8 text"))
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
