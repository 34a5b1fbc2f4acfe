"""The deployment secret: created once by `candor init`, read from a file or the environment.

File format (JSON, mode 0600)::

    {"format": "candor-secret/1", "keys": [{"id": 1, "created": "…", "material": "<base64>"}]}

Identifier hashes are wrapped by every key in turn, oldest first (see
``candor.domain.pseudonyms``): a rotation (``candor keys rotate``) appends a key and re-keys the
stored hashes, and every key stays, each being a layer. ``CANDOR_SECRET`` may hold the same
JSON, or bare base64 key material (key id 1); a rotation needs the file, which it rewrites.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from candor.domain.pseudonyms import IdentifierHasher
from candor.errors import ConfigurationError, StaleSecret
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
        """The chain of every key, oldest first: hashes under the newest key."""
        hasher: IdentifierHasher | None = None
        for key in sorted(self.keys, key=lambda k: k.id):
            hasher = IdentifierHasher(key.material, key.id, hasher)
        assert hasher is not None  # _decode refuses a secret without keys
        return hasher


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
    ids = sorted(k.id for k in keys)
    if ids != list(range(1, len(ids) + 1)):
        # Each key wraps the one before: a gap would leave a layer that nobody can compute.
        raise ConfigurationError(f"{origin}: key ids must run 1, 2, 3, … without gaps, not {ids}")
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


def add_key(settings: Settings) -> SecretKey:
    """Append a new key to the secret file, atomically and with mode 0600; return it.

    Raises:
        ConfigurationError: the secret comes from ``CANDOR_SECRET`` (there is no file to
            rewrite) or the file cannot be read or written.
    """
    if settings.secret:
        raise ConfigurationError(
            "the deployment secret comes from CANDOR_SECRET, which candor cannot rewrite; "
            "rotate with the secret in a file (CANDOR_SECRET_FILE), then hand the new file's "
            "contents to CANDOR_SECRET"
        )
    path = settings.secret_file
    current = load_secret(settings)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not doc.get("format"):  # bare base64 material: key 1 in the file format
            raise ValueError
    except ValueError:
        doc = {
            "format": FORMAT,
            "keys": [{"id": 1, "material": base64.b64encode(current.keys[0].material).decode()}],
        }
    key = SecretKey(current.current.id + 1, secrets.token_bytes(KEY_BYTES))
    doc["keys"].append(
        {
            "id": key.id,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "material": base64.b64encode(key.material).decode(),
        }
    )
    # Written beside, synced, then renamed over: a crash leaves the old file or the new one,
    # never half of one, and a reader never sees a key without its material.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        temporary.replace(path)
    except OSError as e:
        temporary.unlink(missing_ok=True)
        raise ConfigurationError(f"cannot write the deployment secret at {path}: {e}") from e
    return key


class KeyRing:
    """A long-running process's identifier keys, kept up to date with the secret file.

    ``current`` looks at the file's modification time at most once a second and reads it again
    when it changed, so that a server picks a rotation's new key up without a restart.
    ``catch_up`` reads it at once: for when the store says a newer key is in use.
    """

    CHECK_EVERY_S = 1.0

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._hasher = load_secret(settings).identifier_hasher()
        self._stamp = self._file_stamp()
        self._checked = time.monotonic()

    def _file_stamp(self) -> tuple[int, int] | None:
        if self._settings.secret:
            return None
        try:
            st = self._settings.secret_file.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def current(self) -> IdentifierHasher:
        now = time.monotonic()
        if now - self._checked < self.CHECK_EVERY_S or self._settings.secret:
            return self._hasher
        with self._lock:
            self._checked = now
            stamp = self._file_stamp()
            if stamp != self._stamp:
                self._hasher = load_secret(self._settings).identifier_hasher()
                self._stamp = stamp
        return self._hasher

    def catch_up(self, key_id: int) -> IdentifierHasher:
        """Keys through ``key_id``, reading the secret again.

        Raises:
            StaleSecret: the secret still lacks key ``key_id``.
        """
        with self._lock:
            if self._hasher.key_id < key_id:
                self._hasher = load_secret(self._settings).identifier_hasher()
                self._stamp = self._file_stamp()
                self._checked = time.monotonic()
            hasher = self._hasher
        if hasher.key_id < key_id:
            raise StaleSecret(hasher.key_id, key_id)
        return hasher


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
