"""Every command, registered on the app in the order `candor --help` lists them."""

from __future__ import annotations

import typer

from candor.cli.commands import (
    check,
    clients,
    demo,
    ingest,
    keys,
    rating,
    rulebook,
    serve,
    setup,
    sources,
)


def register(app: typer.Typer) -> None:
    app.command("init")(setup.init)
    app.add_typer(sources.app, name="sources")
    app.add_typer(clients.app, name="clients")
    app.add_typer(keys.app, name="keys")
    app.command("ingest")(ingest.ingest)
    app.add_typer(rulebook.app, name="rulebook")
    app.command("rate")(rating.rate)
    app.command("explain")(rating.explain_)
    app.command("check")(check.check)
    app.command("demo")(demo.demo)
    app.command("serve")(serve.serve)
