"""Logging set-up for candor's processes. Log lines name runs, sources and counts — never an
identifier, a name or a record's content."""

from __future__ import annotations

import logging

from candor.errors import InvalidInput
from candor.settings import Settings

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def configure_logging(settings: Settings) -> None:
    level = settings.log_level.upper()
    if level not in LEVELS:
        raise InvalidInput(f"CANDOR_LOG_LEVEL must be one of {', '.join(LEVELS)}")
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    # Alembic announces its migration context on every check of the schema; only say so when
    # debugging.
    logging.getLogger("alembic").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
