"""The HTTP API (FastAPI): thin routers over the same service layer as the CLI."""

from __future__ import annotations

from candor.api.app import create_app

__all__ = ["create_app"]
