"""`GET /health`: the store answers and has the schema this candor expects."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

import candor
from candor.api.auth import ANYONE, allow
from candor.api.deps import StoreDep
from candor.api.models import Health
from candor.errors import ConfigurationError
from candor.store.migrate import current_revision

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Health,
    summary="Liveness and store check",
    dependencies=[allow(*ANYONE)],
)
def health(store: StoreDep) -> Health:
    try:
        with store.read() as conn:
            conn.execute(text("SELECT 1"))
        revision = current_revision(store) or "none"
    except Exception as e:
        raise ConfigurationError("the store does not answer") from e
    return Health(
        status="ok", version=candor.__version__, store=store.dialect, schema_revision=revision
    )
