"""The record-type registry: which kinds of record exist, about whom, carrying which attributes.

The registry is a YAML file (``candor/resources/record-types.yaml`` by default). Its format is
closed on purpose: a record type's data category must be one of ``DataCategory``, and there is
no way to declare the kinds of data candor never processes (see ``PROHIBITED_DATA``) — trying
to is an error naming the offending field.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from enum import StrEnum
from typing import Annotated, Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from candor.domain.subjects import SubjectKind
from candor.errors import CandorError, RegistryError


class DataCategory(StrEnum):
    """The data categories a record type may belong to."""

    JUDICIAL = "judicial"  # court findings and orders
    ADMINISTRATIVE = "administrative"  # regulators' penalties and lists
    FINANCIAL = "financial"  # loans, cards, guarantees
    COMMERCIAL = "commercial"  # fraud, counterfeiting, commercial dishonesty
    UTILITY = "utility"  # public-utility fees and conduct
    TRAFFIC = "traffic"  # traffic offences
    CIVIC = "civic"  # volunteer service, heroic acts
    CONSENT = "consent"  # the subject's consent to be scored


# What candor never processes (BRIEF, "What candor never does"): a category name, or a word in an
# attribute name, from this table is refused with the reason given.
PROHIBITED_DATA: dict[str, tuple[str, frozenset[str]]] = {
    "biometric": (
        "candor never identifies people biometrically",
        frozenset(
            {"biometric", "face", "facial", "fingerprint", "iris", "gait", "voice", "voiceprint"}
        ),
    ),
    "emotion": (
        "candor never analyses emotions or expressions",
        frozenset({"emotion", "expression", "microexpression"}),
    ),
    "political_opinion": (
        "candor never rates or lists anyone on political opinion",
        frozenset({"political", "politics", "party_member", "opinion", "petition", "protest"}),
    ),
    "religion": (
        "candor never rates or lists anyone on religion",
        frozenset({"religion", "religious", "faith", "belief"}),
    ),
    "ethnicity": (
        "candor never rates or lists anyone on ethnicity",
        frozenset({"ethnicity", "ethnic", "race", "nationality_group"}),
    ),
    "communications": (
        "candor never reads, filters or censors communications",
        frozenset({"communication", "communications", "message", "messages", "chat", "speech"}),
    ),
    "location": (
        "candor never tracks people's movements",
        frozenset({"location", "gps", "latitude", "longitude", "trajectory", "whereabouts"}),
    ),
    "relationships": (
        "candor never rates or sanctions anyone for their associations or relationships",
        frozenset(
            {
                "relationship",
                "relationships",
                "relative",
                "relatives",
                "spouse",
                "friend",
                "friends",
                "family",
                "association",
                "associations",
                "contacts",
                "connections",
            }
        ),
    ),
}


def prohibited_reason(name: str) -> str | None:
    """Why a category or attribute name is refused, or None when it is acceptable."""
    lowered = name.lower()
    if lowered in PROHIBITED_DATA:
        return PROHIBITED_DATA[lowered][0]
    words = set(lowered.split("_"))
    words |= {w[:-1] for w in words if w.endswith("s")}  # plurals: fingerprints, locations
    for reason, terms in PROHIBITED_DATA.values():
        if words & terms or lowered in terms:
            return reason
    return None


class AttributeType(StrEnum):
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    STRING = "string"
    ENUM = "enum"
    DATE = "date"


RecordTypeName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")]
AttributeName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]


def _check_category(value: Any) -> Any:
    if isinstance(value, str) and (reason := prohibited_reason(value)):
        raise ValueError(f"category {value!r} is not allowed: {reason}")
    return value


class AttributeSpec(BaseModel):
    """One attribute a record type carries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: AttributeType
    required: bool = False
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = Field(default=None, gt=0, le=10_000)
    values: tuple[str, ...] | None = None
    category: DataCategory | None = None  # defaults to the record type's category
    # Personal data (free text that may name or describe a person): sealed with the record's name
    # under its subject's data key, erased with it, and never read by a rule.
    personal: bool = False

    _check_category = field_validator("category", mode="before")(_check_category)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        numeric = self.type in (AttributeType.INTEGER, AttributeType.DECIMAL)
        if not numeric and (self.minimum is not None or self.maximum is not None):
            raise ValueError("minimum and maximum apply only to integer and decimal attributes")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError("minimum is greater than maximum")
        if self.type is AttributeType.ENUM and not self.values:
            raise ValueError("an enum attribute lists its values")
        if self.type is not AttributeType.ENUM and self.values is not None:
            raise ValueError("values apply only to enum attributes")
        if self.values is not None and (
            len(set(self.values)) != len(self.values) or not all(v.strip() for v in self.values)
        ):
            raise ValueError("enum values must be distinct and not blank")
        if self.type is AttributeType.INTEGER and any(
            bound is not None and not float(bound).is_integer()
            for bound in (self.minimum, self.maximum)
        ):
            raise ValueError("an integer attribute's minimum and maximum are whole numbers")
        if self.type is not AttributeType.STRING and self.max_length is not None:
            raise ValueError("max_length applies only to string attributes")
        return self

    @property
    def string_limit(self) -> int:
        return self.max_length or 200


class RetentionStart(StrEnum):
    """What a record's retention period counts from."""

    DECISION = "decision"  # the record's decided_on
    # The latest end of any listing the record entered its subject on (its decision if none);
    # while such a listing has no end, or has not reached it, the record is kept.
    LISTING_END = "listing_end"


class Retention(BaseModel):
    """How long a record's personal data (its name, personal attributes) is kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    years: int = Field(ge=0, le=100)
    after: RetentionStart


class RecordTypeSpec(BaseModel):
    """One kind of record: about whom, in which category, with which attributes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = Field(min_length=1)
    category: DataCategory
    subject_kinds: tuple[SubjectKind, ...] = Field(min_length=1)
    attributes: dict[AttributeName, AttributeSpec] = Field(default_factory=dict)
    retention: Retention | None = None  # None: the registry's
    # False for records that are not a decision about the subject (an investigation opened, a
    # case under way): lint refuses a penalty that counts them without a documented exception.
    decision: bool = True

    @property
    def personal_attributes(self) -> frozenset[str]:
        return frozenset(name for name, spec in self.attributes.items() if spec.personal)

    _check_category = field_validator("category", mode="before")(_check_category)

    @field_validator("subject_kinds")
    @classmethod
    def _known_kinds(cls, kinds: tuple[SubjectKind, ...]) -> tuple[SubjectKind, ...]:
        if SubjectKind.UNKNOWN in kinds:
            raise ValueError("subject kinds are person and organisation")
        if len(set(kinds)) != len(kinds):
            raise ValueError("a subject kind is listed twice")
        return kinds

    @field_validator("attributes")
    @classmethod
    def _no_prohibited_attributes(
        cls, attributes: dict[str, AttributeSpec]
    ) -> dict[str, AttributeSpec]:
        for name in attributes:
            if reason := prohibited_reason(name):
                raise ValueError(f"attribute {name!r} is not allowed: {reason}")
        return attributes


class Registry(BaseModel):
    """The whole registry: record types by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    # Every record type's retention unless it sets its own. None: personal data is kept until
    # an officer erases it (a deployment states its retention; candor does not guess one).
    retention: Retention | None = None
    record_types: dict[RecordTypeName, RecordTypeSpec] = Field(min_length=1)

    def get(self, name: str) -> RecordTypeSpec | None:
        return self.record_types.get(name)

    def retention_of(self, record_type: str) -> Retention | None:
        spec = self.record_types.get(record_type)
        own = spec.retention if spec is not None else None
        return own or self.retention

    @property
    def personal_attributes(self) -> dict[str, frozenset[str]]:
        """The personal attributes of each record type that has any."""
        return {
            name: spec.personal_attributes
            for name, spec in self.record_types.items()
            if spec.personal_attributes
        }

    @property
    def attribute_names(self) -> frozenset[str]:
        """Every attribute name some record type declares."""
        return frozenset(a for t in self.record_types.values() for a in t.attributes)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key repeated in one mapping.

    Plain YAML keeps the last of two equal keys without a word, so a record type declared twice
    would silently lose its first definition.
    """


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, Hashable):
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark
                )
            seen.add(key)
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_unique_yaml(text: str, *, origin: str, error: type[CandorError]) -> Any:
    """Safe-load YAML, refusing a key repeated in one mapping; ``error`` names ``origin``."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 — a SafeLoader
    except yaml.YAMLError as e:
        raise error(f"{origin}: not valid YAML: {e}") from e


def parse_registry(text: str, *, origin: str) -> Registry:
    """Parse and validate registry YAML.

    Raises:
        RegistryError: naming ``origin`` and the path inside the file of each problem.
    """
    data = load_unique_yaml(text, origin=origin, error=RegistryError)
    if not isinstance(data, Mapping):
        raise RegistryError(f"{origin}: expected a mapping with `version` and `record_types`")
    try:
        return Registry.model_validate(data)
    except ValidationError as e:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in e.errors()
        ]
        raise RegistryError(f"{origin}: " + "; ".join(problems), problems=problems) from None
