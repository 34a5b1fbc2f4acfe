"""Who is calling: candor API tokens, OAuth2 client-credentials access tokens, sign-in links.

- An API token (``candor_…``) is checked against its argon2id hash once per process; after that
  the process knows it by its SHA-256 and only re-reads whether it (or its client) has been
  revoked, at most every ``STATUS_TTL`` seconds. Revocation takes effect on every server within
  that time; expiry takes effect at once.
- An access token is a JWT (EdDSA, Ed25519) that ``POST /v1/oauth/token`` issues for a client's
  API token: short-lived, signed by a key derived from the deployment secret (one per secret key,
  named ``k<id>`` in the JWT header; the public keys are served as a JWK set), and tied to the
  API token it was issued for, so revoking that token or its client ends it too.
- A sign-in link (``candorlink_…``) is spent once, within 15 minutes, for an access token of the
  subject's own client.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from candor.domain.access import Principal, Role
from candor.domain.pseudonyms import derive_key
from candor.errors import Unauthenticated
from candor.services.clients import principal_of, split_token, verify_token
from candor.services.secret import DeploymentSecret
from candor.store import Store
from candor.store import clients as rows

SIGNING_PURPOSE = b"candor/access-token-signing/v1"
ISSUER = "candor"
AUDIENCE = "candor-api"
ACCESS_TOKEN_LIFETIME = timedelta(minutes=5)
SUBJECT_SESSION_LIFETIME = timedelta(minutes=15)
STATUS_TTL = 2.0  # seconds a server trusts what it last read about a token's revocation
_CACHE_SIZE = 50_000

_BAD = "the credentials are not valid"


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int  # seconds
    client: str
    role: Role

    def to_json(self) -> dict[str, Any]:
        # RFC 6749 §5.1's member names: OAuth2 client libraries read them.
        return {"access_token": self.token, "token_type": "Bearer", "expires_in": self.expires_in}


def signing_keys(secret: DeploymentSecret) -> dict[str, Ed25519PrivateKey]:
    """The access-token signing key of each secret key, by key id (``k1``, ``k2``, …)."""
    return {
        f"k{k.id}": Ed25519PrivateKey.from_private_bytes(derive_key(k.material, SIGNING_PURPOSE))
        for k in secret.keys
    }


class Authenticator:
    """Verifies credentials and issues access tokens for one API process."""

    def __init__(self, store: Store, secret: DeploymentSecret) -> None:
        self.store = store
        self._keys = signing_keys(secret)
        self._kid = f"k{secret.current.id}"
        self._public: dict[str, Ed25519PublicKey] = {
            kid: key.public_key() for kid, key in self._keys.items()
        }
        # SHA-256 of a verified credential -> (token public id, expiry as a Unix time)
        self._verified: dict[bytes, tuple[str, float]] = {}
        # token public id -> (monotonic time read, principal, or None when no longer valid)
        self._status: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()
        self._gates: dict[bytes, threading.Lock] = {}  # credential being verified -> its gate

    # --- bearer credentials ----------------------------------------------------------------

    def cached(self, credential: str) -> Principal | None:
        """The principal of a credential verified before, or None when it must be verified
        (``verify``). Cheap enough for the event loop: two dictionary look-ups, and a single
        indexed read when the revocation status is older than ``STATUS_TTL``."""
        hit = self._verified.get(hashlib.sha256(credential.encode()).digest())
        if hit is None:
            return None
        public_id, expires = hit
        if time.time() >= expires:
            raise Unauthenticated("the credentials have expired")
        return self._principal(public_id)

    def verify(self, credential: str) -> Principal:
        """Check a credential fully (argon2id or EdDSA: milliseconds; run it off the loop).

        One verification per credential at a time: when many requests arrive together with a
        token this process has not seen, the first verifies it (argon2id: 64 MiB, tens of ms)
        and the others wait and then find it cached, instead of each hashing at once (measured
        under load: 16 parallel verifications took the server to 1 GiB and stalled it ~8 s).
        """
        key = hashlib.sha256(credential.encode()).digest()
        with self._lock:
            gate = self._gates.setdefault(key, threading.Lock())
        with gate:
            try:
                found = self.cached(credential)
                return found if found is not None else self._verify(credential)
            finally:
                with self._lock:
                    self._gates.pop(key, None)

    def _verify(self, credential: str) -> Principal:
        if credential.count(".") == 2:
            claims = self._decode(credential)
            public_id, expires = str(claims["tid"]), float(claims["exp"])
        else:
            public_id, expires = self._api_token(credential)
        if time.time() >= expires:
            raise Unauthenticated("the credentials have expired")
        principal = self._principal(public_id)
        with self._lock:
            if len(self._verified) >= _CACHE_SIZE:
                self._verified.clear()
            self._verified[hashlib.sha256(credential.encode()).digest()] = (public_id, expires)
        return principal

    def _api_token(self, credential: str) -> tuple[str, float]:
        split = split_token(credential)
        if split is None or split[0] != "api":
            raise Unauthenticated(_BAD)
        with self.store.read() as conn:
            row = rows.get_token(conn, split[1])
        if row is None or row.kind != "api" or not verify_token(row, credential):
            raise Unauthenticated(_BAD)
        return row.public_id, row.expires_at.timestamp()

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._public.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise Unauthenticated(_BAD)
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=["EdDSA"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "tid"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the access token has expired; ask for a new one") from None
        except jwt.PyJWTError:
            raise Unauthenticated(_BAD) from None
        return claims

    def _principal(self, public_id: str) -> Principal:
        now = time.monotonic()
        entry = self._status.get(public_id)
        if entry is None or now - entry[0] > STATUS_TTL:
            entry = (now, self._load(public_id))
            self._status[public_id] = entry
        if entry[1] is None:
            raise Unauthenticated("the credentials are revoked or expired")
        return entry[1]

    def _load(self, public_id: str) -> Principal | None:
        with self.store.read() as conn:
            token = rows.get_token(conn, public_id)
            client = None if token is None else rows.get_client(conn, id=token.client_id)
        if token is None or client is None:
            return None
        if token.revoked_at is not None or client.revoked_at is not None:
            return None
        # A spent sign-in link still stands behind the session it opened; an API token does
        # not outlive its expiry, nor do access tokens issued for it.
        if token.kind == "api" and token.expires_at <= datetime.now(UTC):
            return None
        return principal_of(client)

    # --- issuing access tokens ----------------------------------------------------------------

    def _mint(self, principal: Principal, public_id: str, lifetime: timedelta) -> AccessToken:
        now = int(time.time())
        seconds = int(lifetime.total_seconds())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": principal.name,
            "role": principal.role.value,
            "tid": public_id,
            "iat": now,
            "exp": now + seconds,
            "jti": secrets.token_urlsafe(12),
        }
        token = jwt.encode(
            claims, self._keys[self._kid], algorithm="EdDSA", headers={"kid": self._kid}
        )
        return AccessToken(token, seconds, principal.name, principal.role)

    def client_credentials(self, client_id: str, client_secret: str) -> AccessToken:
        """RFC 6749 §4.4: a client's API token, sent as its secret, for a short-lived JWT."""
        public_id, expires = self._api_token(client_secret)
        principal = self._principal(public_id)
        if principal.name != client_id:
            raise Unauthenticated(_BAD)
        remaining = timedelta(seconds=max(0, int(expires - time.time())))
        return self._mint(principal, public_id, min(ACCESS_TOKEN_LIFETIME, remaining))

    def redeem_sign_in(self, link: str) -> AccessToken:
        """Spend a one-time sign-in link for an access token of the subject's own client."""
        split = split_token(link)
        if split is None or split[0] != "sign_in":
            raise Unauthenticated(_BAD)
        now = datetime.now(UTC)
        with self.store.write() as conn:
            row = rows.get_token(conn, split[1])
            if row is None or row.kind != "sign_in" or not verify_token(row, link):
                raise Unauthenticated(_BAD)
            if row.expires_at <= now or row.used_at is not None or row.revoked_at is not None:
                raise Unauthenticated("this sign-in link has been used or has expired")
            if not rows.spend_token(conn, row.id, now):
                raise Unauthenticated("this sign-in link has been used or has expired")
        principal = self._principal(row.public_id)
        return self._mint(principal, row.public_id, SUBJECT_SESSION_LIFETIME)

    def jwks(self) -> dict[str, Any]:
        """The public keys that verify candor's access tokens (RFC 7517 JWK set)."""
        keys = []
        for kid, public in self._public.items():
            jwk: dict[str, Any] = jwt.algorithms.OKPAlgorithm.to_jwk(public, as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "EdDSA"})
        return {"keys": keys}
