"""`candor serve`."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from candor.api import create_app
from candor.cli.options import DbOption, settings_for
from candor.cli.output import reports_errors, stderr
from candor.store import open_store


@reports_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: DbOption = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs)."""
    settings = settings_for(db)
    open_store(settings.database_url).close()  # fail here, clearly, not inside the server
    stderr.print(f"candor API on http://{host}:{port}  (OpenAPI: /openapi.json, docs: /docs)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level.lower())
