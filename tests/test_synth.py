"""The synthetic jurisdiction generator: valid, deterministic, realistic, honest about damage.

One small jurisdiction (3,000 persons, 600 organisations) is generated once per module and
read back with candor's own readers and validation, the way ingestion will see it.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from candor.domain.identifiers import (
    InvalidIdentifier,
    parse_identifier,
    resident_id_check_char,
    uscc_check_char,
)
from candor.domain.registry import Registry, parse_registry
from candor.domain.validation import RecordRules, check_batch
from candor.errors import InvalidInput
from candor.formats.csv_records import read_csv
from candor.formats.jsonl_records import read_jsonl
from candor.synth import Jurisdiction, SourceFile, generate
from candor.synth.identifiers import Damage, damaged, still_valid, typo_passed_off

TODAY = date(2026, 11, 23)
PERSONS, ORGANISATIONS = 3_000, 600
WINDOW_START = date(2021, 11, 24)  # five years before TODAY, TODAY included
NOT_ADVERSE = frozenset(
    {
        "court.obligation_performed",
        "court.settlement_performed",
        "court.enforcement_terminated_no_assets",
        "market.abnormal_operations_cleared",
    }
)
GROUND_1_CITATION = "Fa Shi [2017] No. 7 Art. 1 ground 1"
# Longest first: 股份有限公司 and 有限责任公司 also end in 公司.
LEGAL_FORMS = ("股份有限公司", "有限责任公司", "有限公司")


def _registry() -> Registry:
    text = (Path(__file__).parents[1] / "src/candor/resources/record-types.yaml").read_text("utf-8")
    return parse_registry(text, origin="record-types.yaml")


REGISTRY = _registry()


def _raw(file: SourceFile) -> pl.DataFrame:
    """The file as candor's reader sees it; the reader must find nothing structurally wrong."""
    reader = read_csv if file.path.suffix == ".csv" else read_jsonl
    batches = list(reader(file.path, attribute_names=REGISTRY.attribute_names, batch_rows=100_000))
    assert all(not b.rejects for b in batches), file.source
    return pl.concat([b.frame for b in batches], how="diagonal")


def _adverse() -> pl.Expr:
    """Adverse records: everything but civic and consent records and those ending a matter."""
    record_type = pl.col("record_type")
    return ~(record_type.str.contains(r"^(civic|consent)\.") | record_type.is_in(NOT_ADVERSE))


@pytest.fixture(scope="module")
def jurisdiction(tmp_path_factory: pytest.TempPathFactory) -> Jurisdiction:
    return generate(
        tmp_path_factory.mktemp("synth"),
        persons=PERSONS,
        organisations=ORGANISATIONS,
        seed=7,
        today=TODAY,
    )


@pytest.fixture(scope="module")
def raw(jurisdiction: Jurisdiction) -> dict[str, pl.DataFrame]:
    return {f.source: _raw(f) for f in jurisdiction.files}


@pytest.fixture(scope="module")
def truth(jurisdiction: Jurisdiction) -> pl.DataFrame:
    return pl.read_csv(jurisdiction.truth_dir / "records.csv", infer_schema=False)


@pytest.fixture(scope="module")
def subjects(jurisdiction: Jurisdiction) -> pl.DataFrame:
    return pl.read_csv(jurisdiction.truth_dir / "subjects.csv", infer_schema=False)


@pytest.fixture(scope="module")
def records(raw: dict[str, pl.DataFrame], truth: pl.DataFrame) -> pl.DataFrame:
    """Every record of every file with its true subject and damage."""
    frames = [
        frame.select(
            pl.lit(source).alias("source"),
            "source_record_id",
            "record_type",
            "identifier",
            "decided_on",
        )
        for source, frame in raw.items()
    ]
    return pl.concat(frames).join(
        truth, on=["source", "source_record_id"], how="left", validate="1:1"
    )


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    def run(name: str, seed: int) -> dict[str, bytes]:
        generate(tmp_path / name, persons=400, organisations=80, seed=seed, today=TODAY)
        return _files(tmp_path / name)

    first, again, other = run("a", 3), run("b", 3), run("c", 4)
    assert len(first) == 11  # nine sources and two truth files
    assert first == again
    # Every file that has records differs (a tiny jurisdiction may leave one with a header only).
    assert all(first[name] != other[name] for name in first if first[name].count(b"\n") > 1)


def test_every_source_file_and_both_formats(jurisdiction: Jurisdiction) -> None:
    names = {f.source for f in jurisdiction.files}
    assert {"court", "market_regulator", "utility", "traffic_police"} <= names
    assert {"volunteer_registry", "credit_office"} <= names
    assert any(n.endswith("bank") for n in names)
    assert {f.path.suffix for f in jurisdiction.files} == {".csv", ".jsonl"}
    for file in jurisdiction.files:
        assert list(file.mandate) == sorted(file.mandate)
        assert file.path.is_file()
        # Illegal-fundraising investigations are rare enough to miss a small jurisdiction.
        assert file.records > 0 or file.source == "financial_regulator", file.source
    assert jurisdiction.records == sum(f.records for f in jurisdiction.files)


def test_records_are_valid_unless_damaged(
    jurisdiction: Jurisdiction, raw: dict[str, pl.DataFrame], truth: pl.DataFrame
) -> None:
    for file in jurisdiction.files:
        frame = raw[file.source]
        assert frame.height == file.records
        rules = RecordRules(REGISTRY, frozenset(file.mandate), TODAY)
        checked = check_batch(frame, rules)
        flags = truth.filter(pl.col("source") == file.source)
        damaged_ids = set(
            flags.filter(pl.col("damage") != "none").get_column("source_record_id").to_list()
        )
        still_valid_ids = set(
            flags.filter(pl.col("damaged_still_valid") == "true")
            .get_column("source_record_id")
            .to_list()
        )
        rejected: dict[str, set[str]] = {}
        for reject in checked.rejects:
            assert reject.source_record_id is not None
            rejected.setdefault(reject.source_record_id, set()).add(reject.field)
        # Only damaged identifiers are rejected, on the identifier field alone; every damaged
        # identifier that is not flagged as still valid is rejected.
        assert set(rejected) <= damaged_ids, file.source
        assert all(fields == {"identifier"} for fields in rejected.values()), file.source
        assert set(rejected) == damaged_ids - still_valid_ids, file.source
        assert checked.duplicates == 0
        assert checked.records.height == file.records - len(rejected)


def test_records_stay_inside_the_five_years(raw: dict[str, pl.DataFrame]) -> None:
    for source, frame in raw.items():
        occurred = frame.get_column("occurred_on").str.to_date().to_list()
        decided = frame.get_column("decided_on").str.to_date().to_list()
        assert min(occurred) >= WINDOW_START, source
        assert max(decided) <= TODAY, source
        assert all(o <= d for o, d in zip(occurred, decided, strict=True)), source
        assert decided == sorted(decided), f"{source}: not in order of decision"


def test_refers_to_names_an_earlier_record_of_the_same_file(
    raw: dict[str, pl.DataFrame],
) -> None:
    referring = 0
    for source, frame in raw.items():
        position = {srid: i for i, srid in enumerate(frame.get_column("source_record_id"))}
        assert len(position) == frame.height, f"{source}: source_record_ids repeat"
        kinds = dict(zip(frame["source_record_id"], frame["record_type"], strict=True))
        for i, (srid, target) in enumerate(
            frame.select("source_record_id", "refers_to").iter_rows()
        ):
            if target is None:
                continue
            referring += 1
            assert position.get(target, i) < i, f"{source} {srid} -> {target}"
            follow_up = kinds[srid]
            if follow_up == "consent.scoring_withdrawn":
                assert kinds[target] == "consent.scoring_granted"
            if follow_up == "market.abnormal_operations_cleared":
                assert kinds[target] == "market.abnormal_operations"
    assert referring > 0


def test_court_cases_flow_from_order_to_finding_to_ending(
    raw: dict[str, pl.DataFrame], truth: pl.DataFrame
) -> None:
    court = raw["court"].join(
        truth.filter(pl.col("source") == "court").select("source_record_id", "subject_key"),
        on="source_record_id",
        how="left",
    )
    by_id = {row["source_record_id"]: row for row in court.iter_rows(named=True)}
    orders = court.filter(pl.col("record_type") == "court.enforcement_order")
    findings = court.filter(
        (pl.col("record_type") == "court.dishonest_debtor_finding") & pl.col("refers_to").is_null()
    )
    order_cases = set(orders.get_column("attr.case_no").to_list())
    assert orders.get_column("attr.case_no").is_unique().all()
    assert set(findings.get_column("attr.case_no").to_list()) <= order_cases
    grounds = Counter(findings.get_column("attr.ground").to_list())
    assert grounds.most_common(1)[0][0] == "1"
    aggravated = findings.get_column("attr.aggravated").to_list().count("true") / findings.height
    assert 0 < aggravated < 0.25
    assert findings.get_column("legal_basis").str.contains(GROUND_1_CITATION, literal=True).any()
    endings = court.filter(
        pl.col("record_type").is_in(
            [
                "court.obligation_performed",
                "court.settlement_performed",
                "court.enforcement_terminated_no_assets",
            ]
        )
    )
    assert endings.height > 0
    for row in endings.iter_rows(named=True):
        target = by_id[row["refers_to"]]
        assert target["attr.case_no"] == row["attr.case_no"]
        assert target["subject_key"] == row["subject_key"]
        assert target["record_type"] in (
            "court.enforcement_order",
            "court.dishonest_debtor_finding",
        )


def test_statuses_mostly_final_some_under_review_a_few_overturned(
    raw: dict[str, pl.DataFrame],
) -> None:
    statuses = Counter(s for frame in raw.values() for s in frame.get_column("status").to_list())
    total = sum(statuses.values())
    assert statuses["final"] / total > 0.95
    assert statuses["under_review"] > 0
    assert 0 < statuses["overturned"] / total < 0.02


def test_identifiers_unique_and_valid(subjects: pl.DataFrame) -> None:
    assert subjects.height == PERSONS + ORGANISATIONS
    assert subjects.get_column("identifier").is_unique().all()
    assert subjects.get_column("subject_key").is_unique().all()
    for row in subjects.iter_rows(named=True):
        parsed = parse_identifier(row["identifier_scheme"], row["identifier"], today=TODAY)
        value = parsed.value
        assert parsed.region_code == row["region_code"]
        if row["kind"] == "person":
            assert value[17] == resident_id_check_char(value[:17])
            assert parsed.birth_date is not None
            age = (TODAY - parsed.birth_date).days / 365.25
            assert 18 <= age < 86
            assert parsed.birth_date.isoformat() == row["birth_date"]
        else:
            assert value[17] == uscc_check_char(value[:17])
            assert value[0] == "9" and value[1] in "123"
            assert _organisation_code_ok(value[8:17])


def _organisation_code_ok(code: str) -> bool:
    """GB 11714: the ninth character checks the first eight."""
    values = [int(c) if c.isdigit() else ord(c) - 55 for c in code[:8]]
    check = 11 - sum(v * w for v, w in zip(values, [3, 7, 9, 10, 5, 8, 4, 2], strict=True)) % 11
    return code[8] == {10: "X", 11: "0"}.get(check, str(check))


def test_a_city_most_residents_registered_at_home(subjects: pl.DataFrame) -> None:
    persons = subjects.filter(pl.col("kind") == "person")
    home = persons.filter(pl.col("region_code").str.starts_with("3710")).height / persons.height
    assert 0.65 < home < 0.75
    assert persons.get_column("region_code").str.slice(0, 2).n_unique() > 10
    organisations = subjects.filter(pl.col("kind") == "organisation")
    names = organisations.get_column("name").to_list()
    legal_forms = Counter(
        next((form for form in LEGAL_FORMS if name.endswith(form)), None) for name in names
    )
    assert all(legal_forms[form] > 0 for form in LEGAL_FORMS)
    assert sum(legal_forms[form] for form in LEGAL_FORMS) / len(names) > 0.75
    assert subjects.get_column("address").null_count() == 0


def test_truth_matches_the_files(
    jurisdiction: Jurisdiction, records: pl.DataFrame, subjects: pl.DataFrame
) -> None:
    assert records.get_column("subject_key").null_count() == 0
    assert records.height == jurisdiction.records
    keyed = records.join(
        subjects.select("subject_key", "kind", pl.col("identifier").alias("true_identifier")),
        on="subject_key",
        how="left",
    )
    clean = keyed.filter(pl.col("damage") == "none")
    assert (clean.get_column("identifier") == clean.get_column("true_identifier")).all()
    hurt = keyed.filter(pl.col("damage") != "none")
    assert hurt.height == jurisdiction.damaged
    assert (hurt.get_column("identifier") != hurt.get_column("true_identifier")).all()
    for row in hurt.iter_rows(named=True):
        if row["damage"] == Damage.MISSING_CHECK:
            assert row["identifier"] == row["true_identifier"][:17]
        elif row["damage"] == Damage.TRANSPOSITION:
            assert _differing(row["identifier"], row["true_identifier"]) == 2
        else:  # a typo, after which the check character may have been recomputed
            typed, true = row["identifier"], row["true_identifier"]
            check = resident_id_check_char if row["kind"] == "person" else uscc_check_char
            assert _differing(typed, true) == 1 or (
                _differing(typed[:17], true[:17]) == 1 and typed[17] == check(typed[:17])
            )
    # Some damaged identifiers pass as valid: the case linkage must catch by other means.
    assert hurt.filter(pl.col("damaged_still_valid") == "true").height > 0
    share = jurisdiction.damaged / jurisdiction.records
    assert 0.01 < share < 0.02
    assert set(hurt.get_column("damage").to_list()) == {
        Damage.TYPO.value,
        Damage.TRANSPOSITION.value,
        Damage.MISSING_CHECK.value,
    }


def _differing(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def test_rates_clean_majority_heavy_tail_and_consent(records: pl.DataFrame) -> None:
    adverse = records.filter(_adverse())
    per_subject = adverse.group_by("subject_key").len().get_column("len").sort(descending=True)
    population = PERSONS + ORGANISATIONS
    assert 1 - per_subject.len() / population >= 0.6
    top = per_subject.head(population // 100).sum()
    assert top / adverse.height >= 0.15
    granted = records.filter(pl.col("record_type") == "consent.scoring_granted")
    consent_share = granted.get_column("subject_key").n_unique() / PERSONS
    assert 0.6 < consent_share < 0.7


def test_persons_only_types_never_name_an_organisation(records: pl.DataFrame) -> None:
    persons_only = [
        name
        for name, spec in REGISTRY.record_types.items()
        if [k.value for k in spec.subject_kinds] == ["person"]
    ]
    on_firms = records.filter(
        pl.col("record_type").is_in(persons_only) & pl.col("subject_key").str.starts_with("O")
    )
    assert on_firms.is_empty()
    firms_only = ["market.admin_penalty", "market.abnormal_operations"]
    on_people = records.filter(
        pl.col("record_type").is_in(firms_only) & pl.col("subject_key").str.starts_with("P")
    )
    assert on_people.is_empty()


@pytest.mark.parametrize(
    ("scheme", "identifier"),
    [("cn_resident_id", "11010519491231002X"), ("cn_uscc", "91350100M000100Y43")],
)
@pytest.mark.parametrize("damage", [Damage.TYPO, Damage.TRANSPOSITION, Damage.MISSING_CHECK])
def test_damage_changes_the_identifier_as_named(
    scheme: str, identifier: str, damage: Damage
) -> None:
    assert still_valid(scheme, identifier, TODAY)
    rng = np.random.default_rng(0)
    for _ in range(50):
        hurt = damaged(rng, identifier, damage)
        if damage is Damage.MISSING_CHECK:
            assert hurt == identifier[:17]
        else:
            changed = [i for i, (a, b) in enumerate(zip(hurt, identifier, strict=True)) if a != b]
            if damage is Damage.TYPO:
                assert len(changed) == 1 and hurt[changed[0]].isdigit()
            else:
                assert len(changed) == 2 and changed[1] == changed[0] + 1
                assert hurt[changed[0]] == identifier[changed[1]]
        # Both check-character schemes catch every single substitution and a missing character.
        if damage is not Damage.TRANSPOSITION:
            assert not still_valid(scheme, hurt, TODAY)
            with pytest.raises(InvalidIdentifier):
                parse_identifier(scheme, hurt, today=TODAY)


def test_refuses_an_empty_jurisdiction(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        generate(tmp_path, persons=0, organisations=10, today=TODAY)


def test_reports_progress(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    generate(
        tmp_path,
        persons=200,
        organisations=40,
        today=TODAY,
        on_progress=lambda stage, done, total: seen.append((stage, done, total)),
    )
    assert len(seen) > 5
    assert [d for _, d, _ in seen] == sorted(d for _, d, _ in seen)
    assert seen[-1][1] == seen[-1][2]


@pytest.mark.slow
def test_default_size_has_the_volume_and_rates_asked_for(tmp_path: Path) -> None:
    made = generate(tmp_path, today=TODAY)
    assert 850_000 <= made.records <= 1_150_000
    frames = []
    for file in made.files:
        if file.path.suffix == ".csv":
            frame = pl.read_csv(file.path, columns=["source_record_id", "record_type"])
        else:
            frame = pl.read_ndjson(file.path, infer_schema_length=None)
        frames.append(
            frame.select("source_record_id", "record_type", pl.lit(file.source).alias("source"))
        )
    truth = pl.read_csv(
        made.truth_dir / "records.csv", columns=["source", "source_record_id", "subject_key"]
    )
    records = pl.concat(frames).join(truth, on=["source", "source_record_id"], validate="1:1")
    adverse = records.filter(_adverse())
    per_subject = adverse.group_by("subject_key").len().get_column("len").sort(descending=True)
    population = made.persons + made.organisations
    assert 1 - per_subject.len() / population >= 0.6
    assert per_subject.head(population // 100).sum() / adverse.height >= 0.15
    granted = records.filter(pl.col("record_type") == "consent.scoring_granted")
    assert 0.6 < granted.get_column("subject_key").n_unique() / made.persons < 0.7
    # Volume comes from frequent minor and benign records, not from court findings.
    counts = dict(records.group_by("record_type").len().iter_rows())
    assert counts["civic.volunteer_service"] + counts["traffic.violation"] > made.records / 2
    assert counts["court.dishonest_debtor_finding"] < 0.01 * made.records


@pytest.mark.parametrize(
    ("scheme", "identifier"),
    [("cn_resident_id", "11010519491231002X"), ("cn_uscc", "91350100M000100Y43")],
)
def test_a_typo_passed_off_is_well_formed_but_wrong(scheme: str, identifier: str) -> None:
    rng = np.random.default_rng(1)
    passed = 0
    for _ in range(50):
        typed = typo_passed_off(rng, identifier, scheme)
        assert typed != identifier
        assert sum(a != b for a, b in zip(typed[:17], identifier[:17], strict=True)) == 1
        passed += still_valid(scheme, typed, TODAY)
    # Only a typo that makes the birth date impossible still fails.
    assert passed > 25
