"""The Typer application and the commands' shared options."""

from __future__ import annotations

import typer
from rich.text import Text

from candor.cli import commands
from candor.cli.commands import retention
from candor.cli.output import stderr
from candor.errors import CandorError
from candor.services.logs import configure_logging
from candor.settings import Settings

app = typer.Typer(
    name="candor",
    help="candor: a credit information system with due process and a tamper-evident log.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
commands.register(app)
app.add_typer(retention.app, name="retention")


@app.callback()
def _setup() -> None:
    """candor: a credit information system with due process and a tamper-evident log."""
    try:
        configure_logging(Settings.load())
    except CandorError as e:
        stderr.print(Text.assemble(("error: ", "bold red"), e.detail))
        raise typer.Exit(1) from None


def main() -> None:
    app()
