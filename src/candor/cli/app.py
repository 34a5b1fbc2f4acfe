"""The Typer application and the commands' shared options."""

from __future__ import annotations

import typer

from candor.cli import commands

app = typer.Typer(
    name="candor",
    help="candor: a credit information system with due process and a tamper-evident log.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
commands.register(app)


def main() -> None:
    app()
