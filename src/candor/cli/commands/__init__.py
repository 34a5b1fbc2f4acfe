"""Every command, registered on the app in the order `candor --help` lists them."""

from __future__ import annotations

import typer

from candor.cli.commands import (
    check,
    clients,
    demo,
    ingest,
    keys,
    ledger,
    notices,
    objections,
    rating,
    repair,
    rulebook,
    serve,
    setup,
    sources,
    subject_file,
)


def register(app: typer.Typer) -> None:
    app.command("init")(setup.init)
    app.add_typer(sources.app, name="sources")
    app.add_typer(clients.app, name="clients")
    app.add_typer(keys.app, name="keys")
    app.add_typer(ledger.app, name="ledger")
    app.add_typer(notices.app, name="notices")
    app.command("ingest")(ingest.ingest)
    app.add_typer(rulebook.app, name="rulebook")
    app.command("rate")(rating.rate)
    app.command("explain")(rating.explain_)
    app.command("file")(subject_file.file)
    app.add_typer(objections.app, name="objections")
    app.add_typer(repair.app, name="repair")
    app.command("check")(check.check)
    app.command("demo")(demo.demo)
    app.command("serve")(serve.serve)
