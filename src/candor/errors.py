"""candor's exceptions. Each carries its HTTP status and an RFC 9457 problem type.

    CandorError             500  internal            (type: urn:candor:problem:<slug>)
    ├── InvalidInput        400  invalid-input       a bad argument, file header or setting value
    │   ├── RegistryError   400  invalid-registry    the record-type registry file is malformed
    │   └── RulebookError   400  invalid-rulebook    a rulebook file is malformed or inconsistent
    ├── Unauthenticated     401  unauthenticated     no credentials, or credentials not valid now
    ├── Forbidden           403  forbidden           an action the caller may not take
    ├── NotFound            404  not-found           an unknown source, subject, …
    ├── Conflict            409  conflict            e.g. a source registered twice, differently
    ├── PayloadTooLarge     413  payload-too-large   an API batch over the configured limit
    ├── TooManyRequests     429  too-many-requests   a client over its rate or its daily bulk cap
    └── ConfigurationError  500  configuration       the store or the secret is missing or unusable

The API maps these through one table (``candor.api.problems``); the CLI prints ``detail`` and
exits non-zero. ``detail`` is written for the person who must act on it and never contains a raw
identifier or a name.
"""

from __future__ import annotations

from typing import Any, ClassVar


class CandorError(Exception):
    """Base of every error candor raises on purpose."""

    STATUS: ClassVar[int] = 500
    TYPE: ClassVar[str] = "internal"
    TITLE: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def problem_type(self) -> str:
        return f"urn:candor:problem:{self.TYPE}"

    def headers(self) -> dict[str, str]:
        """HTTP headers the answer must carry (e.g. WWW-Authenticate, Retry-After)."""
        return {}

    def to_problem(self) -> dict[str, Any]:
        """The RFC 9457 problem object for this error."""
        return {
            "type": self.problem_type,
            "title": self.TITLE,
            "status": self.STATUS,
            "detail": self.detail,
            **self.extra,
        }


class InvalidInput(CandorError):
    STATUS = 400
    TYPE = "invalid-input"
    TITLE = "Invalid input"


class RegistryError(InvalidInput):
    TYPE = "invalid-registry"
    TITLE = "Invalid record-type registry"


class RulebookError(InvalidInput):
    TYPE = "invalid-rulebook"
    TITLE = "Invalid rulebook"


class Unauthenticated(CandorError):
    """Says why the credentials failed only in general terms: a caller probing tokens learns
    nothing about which part was wrong."""

    STATUS = 401
    TYPE = "unauthenticated"
    TITLE = "Authentication required"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="candor"'}


class Forbidden(CandorError):
    STATUS = 403
    TYPE = "forbidden"
    TITLE = "Forbidden"


class NotFound(CandorError):
    STATUS = 404
    TYPE = "not-found"
    TITLE = "Not found"


class Conflict(CandorError):
    STATUS = 409
    TYPE = "conflict"
    TITLE = "Conflict"


class PayloadTooLarge(CandorError):
    STATUS = 413
    TYPE = "payload-too-large"
    TITLE = "Payload too large"


class TooManyRequests(CandorError):
    STATUS = 429
    TYPE = "too-many-requests"
    TITLE = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, retry_after=max(1, retry_after), **extra)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.extra["retry_after"])}


class ConfigurationError(CandorError):
    STATUS = 500
    TYPE = "configuration"
    TITLE = "Configuration error"


class StaleSecret(ConfigurationError):
    """The store's identifiers are hashed under a key this process's secret lacks."""

    STATUS = 503  # the process, not the caller, is behind: a retry elsewhere may succeed

    def __init__(self, have: int, needed: int) -> None:
        super().__init__(
            f"the store's identifiers are hashed under key {needed} (after `candor keys "
            f"rotate`), but this process's deployment secret ends at key {have}: give it the "
            "rotated secret file (or CANDOR_SECRET)"
        )
        self.have, self.needed = have, needed
