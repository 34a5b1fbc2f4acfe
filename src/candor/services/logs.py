"""Logging set-up for candor's processes. Log lines name runs, sources and counts — never an
identifier, a name or a record's content."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

from candor.errors import CandorError, InvalidInput
from candor.settings import Settings

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a line is logged, not to what it was when
    logging was set up: a command run inside another program (a test's CliRunner, an embedding
    application) swaps stderr and closes its own afterwards."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(settings: Settings) -> None:
    level = settings.log_level.upper()
    if level not in LEVELS:
        raise InvalidInput(f"CANDOR_LOG_LEVEL must be one of {', '.join(LEVELS)}")
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[_Stderr()],
        force=True,
    )
    # Alembic announces its migration context on every check of the schema; only say so when
    # debugging.
    logging.getLogger("alembic").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)


def describe_failure(error: BaseException) -> str:
    """What may be said about a failure in a log line or the store, without the data behind it.

    candor's own errors are written to be repeated. A database error is not: PostgreSQL's
    messages quote the offending row ("Key (…)=(…)", "Failing row contains (…)", COPY's
    "column …: value"), so only its class and SQLSTATE are kept. Anything else is named by class.
    """
    if isinstance(error, CandorError):
        return error.detail
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    original = getattr(error, "orig", None) or error
    code = getattr(original, "sqlstate", None) or getattr(original, "sqlite_errorname", None)
    name = type(original).__name__
    return f"{name} (SQLSTATE {code})" if code else name
