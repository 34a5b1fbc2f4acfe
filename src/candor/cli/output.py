"""Where command output goes: results on stdout (Rich, or one JSON object with --json);
progress, warnings and errors on stderr."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import orjson
import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from candor.errors import CandorError

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True)


def spinner(text: str = "[bold]{task.description}") -> Progress:
    """A progress display on stderr for work of unknown length: a spinner, ``text`` (a Rich
    column template over the task) and the time elapsed; gone when the work ends."""
    return Progress(
        SpinnerColumn(), TextColumn(text), TimeElapsedColumn(), console=stderr, transient=True
    )


P = ParamSpec("P")
R = TypeVar("R")


def emit(data: dict[str, Any], *, as_json: bool, render: Callable[[], None] | None = None) -> None:
    """Print a command's result: ``data`` as JSON, or the human rendering."""
    if as_json or render is None:
        sys.stdout.write(orjson.dumps(data, default=str).decode() + "\n")
        sys.stdout.flush()
    else:
        render()


def reports_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn candor's errors into a message (and, with --json, a problem object) and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except CandorError as e:
            if kwargs.get("as_json"):
                sys.stdout.write(
                    orjson.dumps({"error": e.to_problem()}, default=str).decode() + "\n"
                )
            # Unwrapped: a message names files and paths, which a wrap would cut in two.
            stderr.print(
                Text.assemble(("error: ", "bold red"), e.detail), highlight=False, soft_wrap=True
            )
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            stderr.print("[yellow]interrupted[/]; every batch reported as committed is kept")
            raise typer.Exit(130) from None

    return wrapper
