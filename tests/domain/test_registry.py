"""The record-type registry: the shipped sample declares the CONTRACT's types, and the format
refuses what candor never processes, naming the file and the place in it."""

from __future__ import annotations

import textwrap
from importlib import resources

import pytest

from candor.domain.registry import AttributeType, DataCategory, Registry, parse_registry
from candor.domain.subjects import SubjectKind
from candor.errors import InvalidInput, RegistryError

P, ORG = SubjectKind.PERSON, SubjectKind.ORGANISATION
BOTH = frozenset({P, ORG})

# CONTRACT.md, "Record types of the sample jurisdiction", as data.
CONTRACT_TYPES: dict[str, tuple[frozenset[SubjectKind], frozenset[str]]] = {
    "court.enforcement_order": (BOTH, frozenset({"case_no", "amount"})),
    "court.dishonest_debtor_finding": (BOTH, frozenset({"case_no", "ground", "aggravated"})),
    "court.obligation_performed": (BOTH, frozenset({"case_no"})),
    "court.settlement_performed": (BOTH, frozenset({"case_no"})),
    "court.enforcement_terminated_no_assets": (BOTH, frozenset({"case_no"})),
    "contract.breach_found": (BOTH, frozenset({"case_no", "amount"})),
    "finance.loan_default": (BOTH, frozenset({"amount"})),
    "finance.card_overdue_cycle": (frozenset({P}), frozenset({"months", "amount"})),
    "finance.guarantor_breach": (BOTH, frozenset({"amount"})),
    "finance.illegal_fundraising_investigation": (BOTH, frozenset()),
    "commerce.fraud_finding": (BOTH, frozenset({"kind", "severity"})),
    "utility.late_fees": (BOTH, frozenset({"amount"})),
    "utility.unpaid_fees_ruling": (BOTH, frozenset({"amount"})),
    "utility.heating_tapping": (BOTH, frozenset()),
    "utility.theft": (BOTH, frozenset()),
    "utility.equipment_damage": (BOTH, frozenset()),
    "traffic.violation": (frozenset({P}), frozenset({"code"})),
    "traffic.drunk_driving": (frozenset({P}), frozenset()),
    "civic.volunteer_service": (frozenset({P}), frozenset({"hours"})),
    "civic.heroic_act": (frozenset({P}), frozenset()),
    "market.admin_penalty": (frozenset({ORG}), frozenset({"severity", "area", "amount"})),
    "market.abnormal_operations": (frozenset({ORG}), frozenset({"reason"})),
    "market.abnormal_operations_cleared": (frozenset({ORG}), frozenset()),
    "consent.scoring_granted": (frozenset({P}), frozenset()),
    "consent.scoring_withdrawn": (frozenset({P}), frozenset()),
}


@pytest.fixture(scope="module")
def shipped() -> Registry:
    text = resources.files("candor.resources").joinpath("record-types.yaml").read_text("utf-8")
    return parse_registry(text, origin="record-types.yaml")


def test_shipped_registry_declares_every_contract_type(shipped: Registry) -> None:
    missing = set(CONTRACT_TYPES) - set(shipped.record_types)
    assert not missing
    for name, (kinds, attributes) in CONTRACT_TYPES.items():
        spec = shipped.record_types[name]
        assert frozenset(spec.subject_kinds) == kinds, name
        assert len(spec.subject_kinds) == len(kinds), name
        assert attributes <= set(spec.attributes), name
        assert spec.description.strip(), name


def test_shipped_registry_attribute_rules_follow_the_contract(shipped: Registry) -> None:
    finding = shipped.record_types["court.dishonest_debtor_finding"].attributes
    assert finding["ground"].type is AttributeType.INTEGER
    assert (finding["ground"].minimum, finding["ground"].maximum) == (1, 6)
    assert finding["aggravated"].type is AttributeType.BOOLEAN
    fraud = shipped.record_types["commerce.fraud_finding"].attributes
    assert fraud["kind"].type is AttributeType.ENUM
    assert set(fraud["kind"].values or ()) == {"pyramid", "fraud", "counterfeit", "other"}
    assert fraud["severity"].type is AttributeType.INTEGER
    assert (fraud["severity"].minimum, fraud["severity"].maximum) == (1, 10)
    penalty = shipped.record_types["market.admin_penalty"].attributes
    assert set(penalty["severity"].values or ()) == {"ordinary", "heavy"}
    assert set(penalty["area"].values or ()) == {
        "general",
        "special_equipment",
        "work_safety",
        "fire_safety",
    }
    assert shipped.record_types["finance.card_overdue_cycle"].attributes["months"].type in (
        AttributeType.INTEGER,
    )
    for spec in shipped.record_types.values():
        if "amount" in spec.attributes:
            assert spec.attributes["amount"].type is AttributeType.DECIMAL
            assert spec.attributes["amount"].minimum == 0
        if "case_no" in spec.attributes:
            assert spec.attributes["case_no"].type is AttributeType.STRING


def test_shipped_registry_attribute_names(shipped: Registry) -> None:
    declared = set().union(*(attrs for _, attrs in CONTRACT_TYPES.values()))
    assert declared <= shipped.attribute_names
    assert shipped.get("court.enforcement_order") is shipped.record_types["court.enforcement_order"]
    assert shipped.get("court.no_such_type") is None


def test_shipped_registry_categories_are_allowed(shipped: Registry) -> None:
    assert {spec.category for spec in shipped.record_types.values()} <= set(DataCategory)
    assert shipped.record_types["consent.scoring_granted"].category is DataCategory.CONSENT


# --- refused registries -------------------------------------------------------------------------

ORIGIN = "conf/my-registry.yaml"


def registry_text(record_types: str) -> str:
    return "version: 1\nrecord_types:\n" + textwrap.indent(textwrap.dedent(record_types), "  ")


def refuse(text: str) -> RegistryError:
    with pytest.raises(RegistryError) as caught:
        parse_registry(text, origin=ORIGIN)
    error = caught.value
    assert isinstance(error, InvalidInput)
    assert error.detail.startswith(f"{ORIGIN}: ")
    assert error.STATUS == 400
    return error


def test_minimal_registry_parses() -> None:
    registry = parse_registry(
        registry_text(
            """
            court.order:
              description: An order.
              category: judicial
              subject_kinds: [person]
              attributes:
                when: {type: date}
            """
        ),
        origin=ORIGIN,
    )
    assert registry.record_types["court.order"].attributes["when"].type is AttributeType.DATE
    assert registry.record_types["court.order"].attributes["when"].required is False


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("version: 1\nrecord_types: {a.b: {description: d, category: civic, subject_kinds: "
         "[person]}}\ncolour: blue\n", "colour"),
        (registry_text("a.b: {description: d, category: civic, subject_kinds: [person], x: 1}"),
         "record_types.a.b.x"),
        (registry_text(
            "a.b: {description: d, category: civic, subject_kinds: [person], "
            "attributes: {n: {type: integer, colour: red}}}"
        ), "record_types.a.b.attributes.n.colour"),
    ],
)  # fmt: skip
def test_unknown_keys_are_refused(text: str, path: str) -> None:
    error = refuse(text)
    assert f"{path}: " in error.detail
    assert any(p.startswith(f"{path}: ") for p in error.extra["problems"])


@pytest.mark.parametrize(
    "category",
    ["biometric", "religion", "political_opinion", "ethnicity", "emotion", "communications",
     "location", "relationships", "Biometric"],
)  # fmt: skip
def test_prohibited_categories_are_refused(category: str) -> None:
    error = refuse(registry_text(f"a.b: {{description: d, category: {category}, "
                                 "subject_kinds: [person]}"))  # fmt: skip
    assert "record_types.a.b.category" in error.detail
    assert "is not allowed: candor never" in error.detail


def test_prohibited_category_on_an_attribute_is_refused() -> None:
    error = refuse(
        registry_text(
            "a.b: {description: d, category: civic, subject_kinds: [person], "
            "attributes: {note: {type: string, category: religion}}}"
        )
    )
    assert "record_types.a.b.attributes.note.category" in error.detail
    assert "religion" in error.detail


def test_unknown_category_is_refused() -> None:
    error = refuse(
        registry_text("a.b: {description: d, category: gossip, subject_kinds: [person]}")
    )
    assert "record_types.a.b.category" in error.detail


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("face_image", "biometric"),
        ("facial_match", "biometric"),
        ("fingerprint", "biometric"),
        ("fingerprints", "biometric"),
        ("voice_sample", "biometric"),
        ("gait", "biometric"),
        ("religion", "religion"),
        ("religious_affiliation", "religion"),
        ("beliefs", "religion"),
        ("gps_location", "movements"),
        ("locations", "movements"),
        ("latitude", "movements"),
        ("spouse_id", "relationships"),
        ("spouses", "relationships"),
        ("relatives", "relationships"),
        ("family_members", "relationships"),
        ("ethnic_group", "ethnicity"),
        ("political_party", "political opinion"),
        ("chat_messages", "communications"),
        ("emotion_score", "emotions"),
        ("emotions", "emotions"),
    ],
)
def test_prohibited_attribute_names_are_refused(name: str, why: str) -> None:
    error = refuse(
        registry_text(
            f"a.b: {{description: d, category: civic, subject_kinds: [person], "
            f"attributes: {{{name}: {{type: string}}}}}}"
        )
    )
    assert "record_types.a.b.attributes" in error.detail
    assert f"attribute {name!r} is not allowed" in error.detail
    assert why in error.detail


@pytest.mark.parametrize(
    "name", ["amount", "case_no", "surface_area", "interface", "trace_id", "grace_days", "severity"]
)
def test_ordinary_attribute_names_are_accepted(name: str) -> None:
    registry = parse_registry(
        registry_text(
            f"a.b: {{description: d, category: civic, subject_kinds: [person], "
            f"attributes: {{{name}: {{type: string}}}}}}"
        ),
        origin=ORIGIN,
    )
    assert name in registry.attribute_names


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        ("{type: enum}", "an enum attribute lists its values"),
        ("{type: enum, values: []}", "an enum attribute lists its values"),
        ("{type: integer, minimum: 5, maximum: 1}", "minimum is greater than maximum"),
        ("{type: decimal, minimum: 0.5, maximum: 0.25}", "minimum is greater than maximum"),
        ("{type: string, minimum: 1}", "minimum and maximum apply only"),
        ("{type: boolean, maximum: 1}", "minimum and maximum apply only"),
        ("{type: date, minimum: 1}", "minimum and maximum apply only"),
        ("{type: integer, values: [a]}", "values apply only to enum attributes"),
        ("{type: enum, values: [a, a]}", "enum values must be distinct and not blank"),
        ("{type: enum, values: [a, ' ']}", "enum values must be distinct and not blank"),
        ("{type: integer, minimum: 0.5}", "minimum and maximum are whole numbers"),
        ("{type: integer, max_length: 5}", "max_length applies only to string attributes"),
        ("{type: string, max_length: 0}", "greater than 0"),
        ("{type: float}", "type"),
        ("{required: true}", "type"),
    ],
)
def test_inconsistent_attributes_are_refused(attribute: str, message: str) -> None:
    error = refuse(
        registry_text(
            "a.b: {description: d, category: civic, subject_kinds: [person], "
            f"attributes: {{n: {attribute}}}}}"
        )
    )
    assert "record_types.a.b.attributes.n" in error.detail
    assert message in error.detail


def test_equal_minimum_and_maximum_are_fine() -> None:
    registry = parse_registry(
        registry_text(
            "a.b: {description: d, category: civic, subject_kinds: [person], "
            "attributes: {n: {type: integer, minimum: 3, maximum: 3}}}"
        ),
        origin=ORIGIN,
    )
    assert registry.record_types["a.b"].attributes["n"].minimum == 3


@pytest.mark.parametrize(
    ("kinds", "message"),
    [
        ("[person, person]", "a subject kind is listed twice"),
        ("[organisation, person, organisation]", "a subject kind is listed twice"),
        ("[unknown]", "subject kinds are person and organisation"),
        ("[]", "at least 1"),
        ("[robot]", "subject_kinds"),
    ],
)
def test_bad_subject_kinds_are_refused(kinds: str, message: str) -> None:
    error = refuse(
        registry_text(f"a.b: {{description: d, category: civic, subject_kinds: {kinds}}}")
    )
    assert "record_types.a.b.subject_kinds" in error.detail
    assert message in error.detail


@pytest.mark.parametrize(
    "name", ["court", "Court.order", "court.Order", "court..order", "1court.order", "court.order.",
             "court order.x", "court-x.order"],
)  # fmt: skip
def test_bad_record_type_names_are_refused(name: str) -> None:
    error = refuse(
        registry_text(f'"{name}": {{description: d, category: civic, subject_kinds: [person]}}')
    )
    assert f"record_types.{name}" in error.detail
    assert "pattern" in error.detail


def test_bad_attribute_names_are_refused() -> None:
    error = refuse(
        registry_text(
            "a.b: {description: d, category: civic, subject_kinds: [person], "
            "attributes: {Amount: {type: integer}}}"
        )
    )
    assert "record_types.a.b.attributes.Amount" in error.detail


def test_missing_pieces_are_refused() -> None:
    assert "record_types: Field required" in refuse("version: 1\n").detail
    assert (
        "version: Field required"
        in refuse(
            "record_types: {a.b: {description: d, category: civic, subject_kinds: [person]}}"
        ).detail
    )
    assert (
        "version: "
        in refuse(
            "version: 0\nrecord_types: {a.b: {description: d, category: civic, "
            "subject_kinds: [person]}}"
        ).detail
    )
    assert "record_types: " in refuse("version: 1\nrecord_types: {}\n").detail
    error = refuse(registry_text("a.b: {category: civic, subject_kinds: [person]}"))
    assert "record_types.a.b.description: Field required" in error.detail


def test_every_problem_is_reported_at_once() -> None:
    error = refuse(
        registry_text(
            """
            a.b: {description: d, category: biometric, subject_kinds: [person, person]}
            c.d: {description: d, category: civic, subject_kinds: [person],
                  attributes: {n: {type: enum}}}
            """
        )
    )
    problems = error.extra["problems"]
    assert any(p.startswith("record_types.a.b.category") for p in problems)
    assert any(p.startswith("record_types.a.b.subject_kinds") for p in problems)
    assert any(p.startswith("record_types.c.d.attributes.n") for p in problems)
    for p in problems:
        assert p in error.detail


def test_duplicate_record_types_are_refused() -> None:
    # YAML itself lets a later key silently replace an earlier one; a registry must not.
    error = refuse(
        registry_text(
            """
            a.b: {description: first, category: civic, subject_kinds: [person]}
            a.b: {description: second, category: civic, subject_kinds: [organisation]}
            """
        )
    )
    assert "a.b" in error.detail
    assert "twice" in error.detail


@pytest.mark.parametrize("text", ["version: 1\nrecord_types: [\n", "a: b: c\n", "\t- x\n"])
def test_invalid_yaml_is_refused(text: str) -> None:
    assert "not valid YAML" in refuse(text).detail


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n", "42\n", "null\n"])
def test_not_a_mapping_is_refused(text: str) -> None:
    assert "expected a mapping" in refuse(text).detail
