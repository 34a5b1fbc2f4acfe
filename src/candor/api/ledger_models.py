"""Response models of the ledger's endpoints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class TreeHeadOut(BaseModel):
    origin: str
    size: int = Field(description="Entries the head commits to: leaves 0 … size-1.")
    root: str = Field(description="The Merkle tree's root, hex (RFC 9162 hashing).")
    signed_at: str
    key_id: int = Field(description="The key that signed it (see /v1/ledger/keys).")
    signature: str = Field(description="Ed25519 signature of `checkpoint`, base64.")
    checkpoint: str = Field(description="The signed text: origin, size, base64 root, time.")


class LedgerKey(BaseModel):
    key_id: int
    public_key: str = Field(description="Raw Ed25519 public key, base64.")


class LedgerKeysOut(BaseModel):
    keys: list[LedgerKey]


class InclusionOut(BaseModel):
    leaf_index: int
    entry: dict[str, Any] = Field(description="The entry as recorded (its canonical JSON).")
    leaf_hash: str
    tree_size: int
    root: str
    proof: list[str] = Field(description="RFC 9162 §2.1.3 inclusion path, hex, leaf upwards.")
    head: TreeHeadOut


class ConsistencyOut(BaseModel):
    first: TreeHeadOut
    second: TreeHeadOut
    proof: list[str] = Field(description="RFC 9162 §2.1.4 consistency proof, hex.")
