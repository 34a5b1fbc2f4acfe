"""The deployment secret: created once by `candor init`, read from a file or the environment.

File format (JSON, mode 0600)::

    {"format": "candor-secret/1", "keys": [{"id": 1, "created": "…", "material": "<base64>"}]}

The newest key hashes new identifiers; older keys stay so that key rotation can re-hash without
downtime. ``CANDOR_SECRET`` may hold the same JSON, or bare base64 key material (key id 1).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from candor.domain.pseudonyms import IdentifierHasher
from candor.errors import ConfigurationError
from candor.settings import Settings

FORMAT = "candor-secret/1"
KEY_BYTES = 32


@dataclass(frozen=True)
class SecretKey:
    id: int
    material: bytes

    def __repr__(self) -> str:
        return f"SecretKey(id={self.id})"


@dataclass(frozen=True)
class DeploymentSecret:
    keys: tuple[SecretKey, ...]

    @property
    def current(self) -> SecretKey:
        return max(self.keys, key=lambda k: k.id)

    def identifier_hasher(self) -> IdentifierHasher:
        key = self.current
        return IdentifierHasher(key.material, key.id)


def _decode(text: str, origin: str) -> DeploymentSecret:
    text = text.strip()
    if not text.startswith("{"):
        return DeploymentSecret((SecretKey(1, _material(text, origin)),))
    try:
        doc = json.loads(text)
        if doc.get("format") != FORMAT:
            raise ConfigurationError(f"{origin}: not a candor secret (format {FORMAT!r})")
        keys = tuple(SecretKey(int(k["id"]), _material(k["material"], origin)) for k in doc["keys"])
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigurationError(f"{origin}: malformed candor secret ({type(e).__name__})") from e
    if not keys:
        raise ConfigurationError(f"{origin}: the secret holds no keys")
    return DeploymentSecret(keys)


def _material(encoded: str, origin: str) -> bytes:
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{origin}: key material is not base64") from None
    if len(raw) < KEY_BYTES:
        raise ConfigurationError(f"{origin}: key material must be at least {KEY_BYTES} bytes")
    return raw


def load_secret(settings: Settings) -> DeploymentSecret:
    """The deployment secret from CANDOR_SECRET, else from the secret file.

    Raises:
        ConfigurationError: when neither is present or usable (the message says how to fix it).
    """
    if settings.secret:
        return _decode(settings.secret, "CANDOR_SECRET")
    path = settings.secret_file
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"no deployment secret at {path}; run `candor init` to create one, or set "
            "CANDOR_SECRET_FILE / CANDOR_SECRET"
        ) from None
    except OSError as e:
        raise ConfigurationError(f"cannot read the deployment secret at {path}: {e}") from e
    return _decode(text, str(path))


def create_secret_file(path: Path) -> bool:
    """Create a new secret file with mode 0600 unless one exists. Returns True when created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "format": FORMAT,
        "keys": [
            {
                "id": 1,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "material": base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode(),
            }
        ],
    }
    # O_EXCL: never overwrite a secret another process created a moment ago.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f)
        f.write("\n")
    return True
