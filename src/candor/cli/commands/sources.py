"""`candor sources …`: registering sources and their mandates."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from candor.cli.options import DbOption, JsonOption, settings_for
from candor.cli.output import emit, reports_errors, stdout
from candor.services import sources as service
from candor.services.registry import load_registry
from candor.store import open_store
from candor.store.sources import SourceRow

app = typer.Typer(
    help="Register sources and the record types each may submit.", no_args_is_help=True
)

TypesOption = Annotated[
    str,
    typer.Option("--types", metavar="T1,T2,…", help="Record types, comma-separated."),
]


def _source_json(source: SourceRow) -> dict[str, object]:
    return {
        "name": source.name,
        "description": source.description,
        "mandate": sorted(source.mandate),
        "created_at": source.created_at.isoformat(),
    }


def _types(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


@app.command("add")
@reports_errors
def add(
    name: Annotated[str, typer.Argument(help="The source's name, e.g. court_beijing_01.")],
    types: TypesOption,
    description: Annotated[str, typer.Option(help="Who the source is.")] = "",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a source and its mandate (the record types it may submit)."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        result = service.add_source(
            store, load_registry(settings), name, _types(types), description
        )
    data = {**_source_json(result.source), "created": result.created}

    def render() -> None:
        verb = "registered" if result.created else "already registered, unchanged"
        stdout.print(f"source {name}: {verb}; mandate: {', '.join(sorted(result.source.mandate))}")

    emit(data, as_json=as_json, render=render)


@app.command("grant")
@reports_errors
def grant(name: str, types: TypesOption, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Add record types to a source's mandate."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        source = service.change_mandate(store, load_registry(settings), name, grant=_types(types))
    emit(
        _source_json(source),
        as_json=as_json,
        render=lambda: stdout.print(f"source {name}: mandate {', '.join(sorted(source.mandate))}"),
    )


@app.command("revoke")
@reports_errors
def revoke(name: str, types: TypesOption, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Remove record types from a source's mandate; its records already accepted stay."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        source = service.change_mandate(store, load_registry(settings), name, revoke=_types(types))
    emit(
        _source_json(source),
        as_json=as_json,
        render=lambda: stdout.print(
            f"source {name}: mandate {', '.join(sorted(source.mandate)) or '(none)'}"
        ),
    )


@app.command("list")
@reports_errors
def list_(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List the registered sources and their mandates."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        found = service.list_sources(store)

    def render() -> None:
        table = Table("source", "mandate", "registered")
        for s in found:
            table.add_row(s.name, "\n".join(sorted(s.mandate)), f"{s.created_at:%Y-%m-%d}")
        stdout.print(table)

    emit({"sources": [_source_json(s) for s in found]}, as_json=as_json, render=render)
