"""`candor ledger …`: the signed head, proofs, and verifying the store against the ledger."""

from __future__ import annotations

from typing import Annotated

import typer

from candor.cli.options import DbOption, JsonOption, settings_for
from candor.cli.output import emit, reports_errors, spinner, stdout
from candor.services import ledger as service
from candor.services.secret import load_secret
from candor.store import open_store

app = typer.Typer(
    help="The ledger: an append-only Merkle log (RFC 9162) of every state change.",
    no_args_is_help=True,
)


@app.command("head")
@reports_errors
def head(db: DbOption = None, as_json: JsonOption = False) -> None:
    """The signed tree head over every entry so far (signing one if entries came since)."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        signed = service.head(store, load_secret(settings))
    data = signed.to_json()

    def render() -> None:
        stdout.print(
            f"{data['size']:,} entries, root {data['root']}\n"
            f"signed {data['signed_at']} with ledger key {data['key_id']}"
        )

    emit(data, as_json=as_json, render=render)


@app.command("proof")
@reports_errors
def proof(
    leaf: Annotated[int, typer.Argument(help="The entry's leaf index.", min=0)],
    tree_size: Annotated[
        int | None, typer.Option(help="An earlier signed head's size (default: the current).")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """An entry and its proof of inclusion in a signed head."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        found = service.inclusion(store, load_secret(settings), leaf, tree_size)
    data = found.to_json()

    def render() -> None:
        stdout.print_json(data=data)

    emit(data, as_json=as_json, render=render)


@app.command("consistency")
@reports_errors
def consistency(
    first: Annotated[int, typer.Argument(help="The earlier signed head's size.", min=0)],
    second: Annotated[
        int | None, typer.Argument(help="The later head's size (default: the latest).")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Proof that a later signed head extends an earlier one (RFC 9162 §2.1.4)."""
    settings = settings_for(db)
    with open_store(settings.database_url) as store:
        found = service.consistency(store, first, second)
    data = found.to_json()
    emit(data, as_json=as_json, render=lambda: stdout.print_json(data=data))


@app.command("verify")
@reports_errors
def verify(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Recompute the ledger from its entries and check every signed head, every stored tree
    node and every record, rulebook and listing against it. Exits 1 naming what fails."""
    settings = settings_for(db)
    with (
        open_store(settings.database_url) as store,
        spinner("[bold]verify[/] {task.description}") as progress,
    ):
        task = progress.add_task("heads")

        def on_progress(what: str, done: int) -> None:
            progress.update(task, description=f"{what}: {done:,}")

        found = service.verify(store, load_secret(settings), on_progress=on_progress)
    data = found.to_json()

    def render() -> None:
        if found.ok:
            stdout.print(
                f"ledger verified: {found.entries:,} entries, {found.heads:,} signed heads, "
                + ", ".join(f"{n:,} {t}" for t, n in found.objects.items())
            )
        else:
            stdout.print(f"[red]ledger verification FAILED[/]: {len(found.problems)} problem(s)")
            for problem in found.problems:
                stdout.print(f"  - {problem}", highlight=False)

    emit(data, as_json=as_json, render=render)
    if not found.ok:
        raise typer.Exit(1)
