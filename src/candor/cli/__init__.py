"""The `candor` command line: thin commands over the service layer (Typer + Rich)."""

from __future__ import annotations

from candor.cli.app import app, main

__all__ = ["app", "main"]
