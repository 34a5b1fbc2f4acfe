"""The ledger: its signed head, the keys that sign heads, and proofs.

Heads, keys and consistency proofs are public: they reveal no entry, and anyone holding a head
can check that a later one extends it. An entry with its inclusion proof is for staff (an
entry names the object it is about); a subject gets the proofs of its own entries in its file.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from candor.api.auth import ANYONE, allow
from candor.api.deps import SettingsDep, StoreDep
from candor.api.ledger_models import ConsistencyOut, InclusionOut, LedgerKeysOut, TreeHeadOut
from candor.domain.access import STAFF
from candor.services import ledger as service
from candor.services.secret import load_secret

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])

Size = Annotated[int, Query(ge=0, le=2**63 - 1, description="A signed head's size.")]


@router.get(
    "/head",
    response_model=TreeHeadOut,
    summary="The ledger's signed tree head",
    description="The root of every entry so far, signed now if entries came since the last head.",
    dependencies=[allow(*ANYONE)],
)
def head(store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    return service.head(store, load_secret(settings)).to_json()


@router.get(
    "/keys",
    response_model=LedgerKeysOut,
    summary="The public keys that verify tree heads",
    dependencies=[allow(*ANYONE)],
)
def keys(settings: SettingsDep) -> dict[str, Any]:
    found = service.public_keys(load_secret(settings))
    return {
        "keys": [
            {"key_id": k, "public_key": base64.b64encode(v).decode()}
            for k, v in sorted(found.items())
        ]
    }


@router.get(
    "/proof/inclusion/{leaf}",
    response_model=InclusionOut,
    summary="An entry and its proof of inclusion in a signed head",
    description="In the current head unless `tree_size` names an earlier signed one.",
    dependencies=[allow(*STAFF)],
)
def inclusion(
    leaf: Annotated[int, Path(ge=0, le=2**63 - 1)],
    store: StoreDep,
    settings: SettingsDep,
    tree_size: Size | None = None,
) -> dict[str, Any]:
    return service.inclusion(store, load_secret(settings), leaf, tree_size).to_json()


@router.get(
    "/proof/consistency",
    response_model=ConsistencyOut,
    summary="Proof that a later signed head extends an earlier one",
    description="From the head of size `first` to that of `second` (default: the latest).",
    dependencies=[allow(*ANYONE)],
)
def consistency(store: StoreDep, first: Size, second: Size | None = None) -> dict[str, Any]:
    return service.consistency(store, first, second).to_json()
