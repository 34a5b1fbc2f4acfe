"""Options every command takes (CONTRACT: `--db URL` and `--json`), declared once."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer

from candor.settings import Settings

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="URL",
        help="The store: sqlite:///path/candor.db or postgresql://…  "
        "(default: $CANDOR_DATABASE_URL, else sqlite:///candor.db)",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON object on stdout and nothing else there."),
]


def settings_for(db: str | None) -> Settings:
    return Settings.load(database_url=db)


AsOfOption = Annotated[
    datetime | None,
    typer.Option(
        "--as-of",
        formats=["%Y-%m-%d"],
        metavar="DATE",
        help="The date to answer for (YYYY-MM-DD; default: today).",
        show_default=False,
    ),
]

EffectiveOption = Annotated[
    datetime | None,
    typer.Option(
        "--effective",
        formats=["%Y-%m-%d"],
        metavar="DATE",
        help="The day the version takes effect (YYYY-MM-DD; default: today). Only a "
        "rulebook's first version may name a past date.",
        show_default=False,
    ),
]


def day(value: datetime | None) -> date:
    """An optional ``--as-of``/``--effective`` value as a date (today when not given)."""
    return value.date() if value is not None else date.today()
