"""A trained linkage model as a file: Splink's model JSON, wrapped with what candor must know
about it to trust a link made with it later.

The wrapper says which kind of subject it links, which Splink wrote it, a hash of the prepared
training records (which data it learned from, without keeping any of it) and an identifier
that is a hash of everything else, so that a link can name the exact model that made it and
nobody can change the weights under the same name. Splink's own JSON holds settings and m/u
probabilities only: no record value goes into the file.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import splink

from candor.errors import InvalidInput
from candor.linkage.comparisons import LinkType
from candor.linkage.records import Kind

FORMAT = 1  # this file layout; a later layout must still read this one


def _canonical(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def data_hash(tables: Sequence[pa.Table]) -> str:
    """SHA-256 of the prepared records, independent of their order."""
    rows = sorted(_canonical(row) for table in tables for row in table.to_pylist())
    digest = hashlib.sha256()
    for row in rows:
        digest.update(hashlib.sha256(row).digest())
    return digest.hexdigest()


@dataclass(frozen=True)
class LinkageModel:
    """A trained model of one kind of subject."""

    kind: Kind
    splink_model: dict[str, Any]  # what Splink's save_model_to_json gives
    training_data_hash: str
    splink_version: str = splink.__version__

    @property
    def identifier(self) -> str:
        """``person-<16 hex>``: a hash of the whole model, naming it in every link it makes."""
        body = {k: v for k, v in self._body().items() if k != "identifier"}
        return f"{self.kind.value}-{hashlib.sha256(_canonical(body)).hexdigest()[:16]}"

    @property
    def link_type(self) -> LinkType:
        link_type: LinkType = self.splink_model["link_type"]
        return link_type

    @property
    def prior(self) -> float:
        """The probability that two records drawn at random are the same subject."""
        return float(self.splink_model["probability_two_random_records_match"])

    def _body(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "kind": self.kind.value,
            "splink_version": self.splink_version,
            "training_data_hash": self.training_data_hash,
            "splink_model": self.splink_model,
        }

    def to_json(self) -> dict[str, Any]:
        """The file's document; a copy, so that changing it cannot change the model."""
        return copy.deepcopy({**self._body(), "identifier": self.identifier})

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False, sort_keys=True)

    def save(self, path: Path) -> None:
        path.write_text(self.dumps() + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LinkageModel:
        if doc.get("format") != FORMAT:
            raise InvalidInput(f"a linkage model of format {doc.get('format')!r}; {FORMAT} known")
        try:
            model = cls(
                kind=Kind(doc["kind"]),
                splink_model=copy.deepcopy(doc["splink_model"]),
                training_data_hash=doc["training_data_hash"],
                splink_version=doc["splink_version"],
            )
        except (KeyError, ValueError) as e:
            raise InvalidInput(f"a linkage model file is incomplete: {e}") from e
        if doc.get("identifier") != model.identifier:
            raise InvalidInput(
                f"linkage model {doc.get('identifier')!r} does not match its contents "
                f"({model.identifier}): it was changed after training"
            )
        return model

    @classmethod
    def loads(cls, text: str) -> LinkageModel:
        return cls.from_json(json.loads(text))

    @classmethod
    def load(cls, path: Path) -> LinkageModel:
        return cls.loads(path.read_text(encoding="utf-8"))
