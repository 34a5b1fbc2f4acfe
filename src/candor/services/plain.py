"""Stored rows as plain, JSON-ready values: what services hand to the API, the CLI and pages."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any


def iso(value: Any) -> Any:
    """A date or instant as ISO 8601 text (instants in UTC); anything else as it is."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def plain(row: dict[str, Any]) -> dict[str, Any]:
    """A row with its dates and instants as ISO text."""
    # str(): SQLAlchemy's labels are a str subclass, which orjson refuses as a key.
    return {str(k): iso(v) for k, v in row.items()}
