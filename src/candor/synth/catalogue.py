"""The jurisdiction's sources: who they are, what they may submit, how they write their files.

Each source writes one file. Most write CSV; the volunteer registry, the credit office and the
rural bank send JSON Lines (their systems are web applications), so both of candor's readers
get exercised. Mandates are checked against the sample record-type registry before anything
is generated, so a renamed record type fails loudly here rather than as rejected rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from importlib import resources

from candor.domain.registry import Registry, parse_registry

SAMPLE_REGISTRY = "record-types.yaml"


class FileFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


@dataclass(frozen=True)
class SourceSpec:
    name: str
    description: str
    mandate: tuple[str, ...]  # sorted
    file_format: FileFormat
    id_prefix: str  # of its source_record_ids: PREFIX-YEAR-SEQUENCE

    @property
    def file_name(self) -> str:
        return f"{self.name}.{self.file_format.value}"


COURT = SourceSpec(
    "court",
    "Rongcheng People's Court and Weihai Intermediate People's Court: enforcement cases, "
    "dishonest-debtor findings, contract judgments",
    (
        "contract.breach_found",
        "court.dishonest_debtor_finding",
        "court.enforcement_order",
        "court.enforcement_terminated_no_assets",
        "court.obligation_performed",
        "court.settlement_performed",
    ),
    FileFormat.CSV,
    "CT",
)
MARKET_REGULATOR = SourceSpec(
    "market_regulator",
    "Rongcheng Administration for Market Regulation: penalties, abnormal-operations list, "
    "commercial fraud",
    (
        "commerce.fraud_finding",
        "market.abnormal_operations",
        "market.abnormal_operations_cleared",
        "market.admin_penalty",
    ),
    FileFormat.CSV,
    "MR",
)
CITY_BANK = SourceSpec(
    "city_bank",
    "A city commercial bank: credit cards, consumer and business loans, guarantees",
    ("finance.card_overdue_cycle", "finance.guarantor_breach", "finance.loan_default"),
    FileFormat.CSV,
    "CB",
)
RURAL_BANK = SourceSpec(
    "rural_bank",
    "A rural commercial bank: loans to households, fishermen and small firms, guarantees",
    ("finance.guarantor_breach", "finance.loan_default"),
    FileFormat.JSONL,
    "RB",
)
FINANCIAL_REGULATOR = SourceSpec(
    "financial_regulator",
    "Weihai local financial regulatory bureau: illegal-fundraising investigations",
    ("finance.illegal_fundraising_investigation",),
    FileFormat.CSV,
    "FR",
)
UTILITY = SourceSpec(
    "utility",
    "Rongcheng water, power, gas and heat suppliers: late and unpaid fees, tapping, theft, damage",
    (
        "utility.equipment_damage",
        "utility.heating_tapping",
        "utility.late_fees",
        "utility.theft",
        "utility.unpaid_fees_ruling",
    ),
    FileFormat.CSV,
    "UT",
)
TRAFFIC_POLICE = SourceSpec(
    "traffic_police",
    "Rongcheng traffic police brigade: traffic violation tickets and drunk-driving findings",
    ("traffic.drunk_driving", "traffic.violation"),
    FileFormat.CSV,
    "TP",
)
VOLUNTEER_REGISTRY = SourceSpec(
    "volunteer_registry",
    "Rongcheng volunteer service registry: confirmed service hours and recognised heroic acts",
    ("civic.heroic_act", "civic.volunteer_service"),
    FileFormat.JSONL,
    "VR",
)
CREDIT_OFFICE = SourceSpec(
    "credit_office",
    "Rongcheng social credit office: residents' consent to be scored, and its withdrawal",
    ("consent.scoring_granted", "consent.scoring_withdrawn"),
    FileFormat.JSONL,
    "CO",
)

SOURCES: tuple[SourceSpec, ...] = (
    COURT,
    MARKET_REGULATOR,
    CITY_BANK,
    RURAL_BANK,
    FINANCIAL_REGULATOR,
    UTILITY,
    TRAFFIC_POLICE,
    VOLUNTEER_REGISTRY,
    CREDIT_OFFICE,
)


@lru_cache(maxsize=1)
def sample_registry() -> Registry:
    """The record-type registry shipped with candor, which the sources' mandates name."""
    text = resources.files("candor.resources").joinpath(SAMPLE_REGISTRY).read_text("utf-8")
    registry = parse_registry(text, origin=f"candor/resources/{SAMPLE_REGISTRY}")
    for spec in SOURCES:
        unknown = [t for t in spec.mandate if registry.get(t) is None]
        assert not unknown, f"source {spec.name}: record types not in the registry: {unknown}"
        assert list(spec.mandate) == sorted(spec.mandate), f"{spec.name}: mandate not sorted"
    return registry


def attribute_names(spec: SourceSpec, registry: Registry) -> list[str]:
    """The attributes the source's record types declare, sorted: its file's attr columns."""
    names: set[str] = set()
    for record_type in spec.mandate:
        type_spec = registry.get(record_type)
        assert type_spec is not None
        names.update(type_spec.attributes)
    return sorted(names)
