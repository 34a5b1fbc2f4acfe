"""Dependencies the routers declare, as `Annotated` aliases.

Access control (issue: "Access control, privacy and hardening") adds its principal dependency
here; routers already name the caller they act for (`SourceName`), so the check slots in.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from candor.domain.registry import Registry
from candor.settings import Settings
from candor.store import Store


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
SourceName = Annotated[
    str,
    Path(
        pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}$",
        description="The registered source submitting the records.",
    ),
]
