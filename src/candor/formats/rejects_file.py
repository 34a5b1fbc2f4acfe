"""Record files' companions: the rejects file an ingestion writes, and telling formats apart."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from candor.domain.rejects import Reject
from candor.errors import InvalidInput

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
REJECT_COLUMNS = ("row", "field", "reason", "source_record_id")


class RejectsFile:
    """The rejects of one ingestion as CSV: row, field, reason, source_record_id."""

    def __init__(self, path: Path, *, reading: Path) -> None:
        """Create (or truncate) the rejects file at ``path`` for the record file ``reading``.

        Raises:
            InvalidInput: ``path`` is the record file itself, or cannot be written.
        """
        if path.resolve() == reading.resolve():
            raise InvalidInput(f"{path}: is the file being ingested; choose another rejects path")
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("w", newline="", encoding="utf-8")
        except OSError as e:
            raise InvalidInput(f"{path}: cannot write the rejects there ({e.strerror})") from None
        self._writer = csv.writer(self._file)
        self._writer.writerow(REJECT_COLUMNS)

    def write(self, rejects: Iterable[Reject]) -> None:
        self._writer.writerows(
            (r.row, r.field, r.reason, r.source_record_id or "") for r in rejects
        )
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def default_rejects_path(path: Path) -> Path:
    return path.with_name(path.name + ".rejects.csv")


def file_format(path: Path, declared: str | None) -> str:
    if declared:
        if declared not in ("csv", "jsonl"):
            raise InvalidInput("--format must be csv or jsonl")
        return declared
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"{path.name}: cannot tell the format from the extension; name it .csv or .jsonl, "
            "or pass --format"
        )
    return fmt
