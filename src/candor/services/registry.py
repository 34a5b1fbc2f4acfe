"""Loading the record-type registry named by the settings (or the sample one shipped)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from candor.domain.registry import Registry, parse_registry
from candor.errors import ConfigurationError
from candor.settings import Settings

SAMPLE_REGISTRY = "record-types.yaml"


@lru_cache(maxsize=8)
def _load(path: Path | None) -> Registry:
    if path is None:
        text = resources.files("candor.resources").joinpath(SAMPLE_REGISTRY).read_text("utf-8")
        return parse_registry(text, origin=f"candor/resources/{SAMPLE_REGISTRY}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigurationError(f"cannot read the record-type registry {path}: {e}") from e
    return parse_registry(text, origin=str(path))


def load_registry(settings: Settings) -> Registry:
    """The registry in force: CANDOR_REGISTRY_FILE, or the sample registry."""
    return _load(settings.registry_file)
