"""`candor rulebook diff`: whom a new rulebook version moves, on a small demo jurisdiction, checked
against each subject rated one at a time inside the store (SQLite, and PostgreSQL where set)."""

from __future__ import annotations

import html.parser
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from candor.domain.listings import in_force
from candor.domain.rulebook import ActiveRulebook, MeasureKind, Rulebook
from candor.engine.execute import Rows, run_in_store
from candor.services.registry import load_registry
from candor.services.rulebooks import SAMPLE_RULEBOOKS, plan_for, read_rulebook
from candor.settings import Settings
from candor.store import open_store
from candor.store.tables import subjects
from tests.conftest import new_database_url
from tests.test_cli import Candor

RONGCHENG = SAMPLE_RULEBOOKS / "rongcheng-personal.yaml"
COURT = SAMPLE_RULEBOOKS / "court-dishonest-debtors.yaml"
TODAY = date.today()  # the demo rates as of today; its records are dated before it


@dataclass(frozen=True)
class Demo:
    candor: Candor
    url: str
    tmp: Path


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """A small demo jurisdiction (both sample rulebooks active), once per engine."""
    tmp = tmp_path_factory.mktemp(f"diff-{request.param}")
    url = new_database_url(request.param, tmp, request)
    candor = Candor(url, tmp)
    args = ("demo", "--persons", "400", "--orgs", "80", "--dir", str(tmp / "demo"), "--no-serve")
    candor.json(*args)
    return Demo(candor, url, tmp)


def changed(tmp: Path, shipped: Path, name: str, *edits: tuple[str, str]) -> Path:
    """A copy of a shipped rulebook with each (old, new) text replaced exactly once."""
    text = shipped.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, f"{shipped.name} no longer has {old!r} once"
        text = text.replace(old, new)
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def traffic_doubled(tmp: Path) -> Path:
    """Rongcheng with the traffic ticket's deduction doubled: the commonest in the demo."""
    return changed(
        tmp,
        RONGCHENG,
        "rongcheng-next.yaml",
        ('version: "2026.3"', 'version: "2026.4"'),
        (
            "record_type: traffic.violation\n    points: -5\n",
            "record_type: traffic.violation\n    points: -10\n",
        ),
    )


def court_longer_term(tmp: Path) -> Path:
    """The court's list with a 3-year term instead of 2."""
    return changed(
        tmp,
        COURT,
        "court-next.yaml",
        ('version: "2017.2"', 'version: "2017.3"'),
        ("    term: {years: 2}\n", "    term: {years: 3}\n"),
    )


# --- the independent recomputation ---------------------------------------------------------------


@dataclass(frozen=True)
class Rated:
    grade: str
    lists: frozenset[str]
    measures: frozenset[str]
    points: dict[str, int]  # per rule, when scored


def rated_one_by_one(
    store: Any, registry: Any, rulebook: Rulebook, ids: list[int]
) -> dict[int, Rated]:
    """Each subject rated alone inside the store under ``rulebook`` alone."""
    plan = plan_for(
        [ActiveRulebook(id=7, effective_from=TODAY, rulebook=rulebook)], registry, one_subject=True
    )
    out: dict[int, Rated] = {}
    with store.read() as conn:
        for subject_id in ids:
            rows: Rows = run_in_store(conn, plan, subject_id, TODAY)
            scored = bool(rows.ratings) and bool(rows.ratings[0]["consented"])
            lists = frozenset(r["list_name"] for r in rows.listings if in_force(r, TODAY))
            points: dict[str, int] = defaultdict(int)
            if scored:
                for line in rows.contributions:
                    points[line["rule_id"]] += line["points"]
            grade = rows.ratings[0]["grade"] if scored else "not scored"
            out[subject_id] = Rated(
                grade,
                lists,
                frozenset(
                    name
                    for name, m in rulebook.measures.items()
                    if lists & set(m.imposed_by) or (scored and grade in m.grades)
                ),
                dict(points),
            )
    return out


def red_lists(rulebook: Rulebook) -> set[str]:
    """Lists every measure of which is a reward (none in the shipped samples)."""
    return {
        name
        for name in rulebook.lists
        if {m.kind for m in rulebook.measures.values() if name in m.imposed_by}
        == {MeasureKind.REWARD}
    }


def rank(rulebook: Rulebook, grade: str) -> int | None:
    if rulebook.grades is None or grade == "not scored":
        return None
    return rulebook.grades.rank(grade)


def expected_report(demo: Demo, old_file: Path, new_file: Path) -> dict[str, Any]:
    settings = Settings.load(environ={}, database_url=demo.url)
    registry = load_registry(settings)
    old, _ = read_rulebook(old_file, registry)
    new, _ = read_rulebook(new_file, registry)
    with open_store(demo.url) as store:
        with store.read() as conn:
            people = conn.execute(
                sa.select(subjects.c.id, subjects.c.kind, subjects.c.region_code)
            ).all()
        ids = [p.id for p in people]
        before = rated_one_by_one(store, registry, old, ids)
        after = rated_one_by_one(store, registry, new, ids)

    transitions: Counter[tuple[str, str]] = Counter()
    rules: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    lists: dict[str, Counter[str]] = defaultdict(Counter)
    measures: dict[str, Counter[str]] = defaultdict(Counter)
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    by_region: dict[str | None, Counter[str]] = defaultdict(Counter)
    for person in people:
        o, n = before[person.id], after[person.id]
        transitions[o.grade, n.grade] += 1
        for rule, points in o.points.items():
            rules[rule][0] += points
        for rule, points in n.points.items():
            rules[rule][1] += points
        for name in o.lists - n.lists:
            lists[name]["delisted"] += 1
        for name in n.lists - o.lists:
            lists[name]["newly_listed"] += 1
        for name in n.measures - o.measures:
            measures[name]["newly_applying"] += 1
        for name in o.measures - n.measures:
            measures[name]["no_longer_applying"] += 1
        r_old, r_new = rank(old, o.grade), rank(new, n.grade)
        worse = r_old is not None and r_new is not None and r_new > r_old
        better = r_old is not None and r_new is not None and r_new < r_old
        # On or off a red list, a reward gained or lost, move the other way than a penalty.
        red_old, red_new = red_lists(old), red_lists(new)
        rewards_old = {m for m in o.measures if old.measures[m].kind is MeasureKind.REWARD}
        rewards_new = {m for m in n.measures if new.measures[m].kind is MeasureKind.REWARD}
        listed, delisted = n.lists - o.lists, o.lists - n.lists
        imposed, lifted = n.measures - o.measures, o.measures - n.measures
        adverse = bool(
            worse
            or listed - red_new
            or delisted & red_old
            or imposed - rewards_new
            or lifted & rewards_old
        )
        favourable = bool(
            better
            or delisted - red_old
            or listed & red_new
            or lifted - rewards_old
            or imposed & rewards_new
        )
        moved = {
            "subjects": 1,
            "grade_worse": worse,
            "grade_better": better,
            "newly_listed": bool(n.lists - o.lists),
            "delisted": bool(o.lists - n.lists),
            "newly_under_measure": bool(n.measures - o.measures),
            "measure_lifted": bool(o.measures - n.measures),
            "adversely_moved": adverse,
            "favourably_moved": favourable,
        }
        for tally in (by_kind[person.kind], by_region[person.region_code]):
            tally.update({k: int(v) for k, v in moved.items()})
    return {
        "transitions": {k: v for k, v in transitions.items() if v},
        "rules": {rule: tuple(points) for rule, points in rules.items()},
        "lists": {k: dict(v) for k, v in lists.items()},
        "measures": {k: dict(v) for k, v in measures.items()},
        "by_kind": by_kind,
        "by_region": by_region,
        "subjects": len(people),
    }


TALLY = (
    "subjects",
    "grade_worse",
    "grade_better",
    "newly_listed",
    "delisted",
    "newly_under_measure",
    "measure_lifted",
    "adversely_moved",
    "favourably_moved",
)


def assert_matches(report: dict[str, Any], expected: dict[str, Any]) -> None:
    assert report["subjects"] == expected["subjects"]
    cells = {
        (old, new): n for old, row in report["transitions"].items() for new, n in row.items() if n
    }
    assert cells == expected["transitions"]
    given = {
        r["rule"]: (r["old_points"], r["new_points"])
        for r in report["rules"]
        if r["old_subjects"] or r["new_subjects"]
    }
    assert given == expected["rules"]
    assert all(
        r["change"] == (r["new_points"] or 0) - (r["old_points"] or 0) for r in report["rules"]
    )
    for row in report["lists"]:
        want = expected["lists"].get(row["list"], {})
        assert (row["newly_listed"], row["delisted"]) == (
            want.get("newly_listed", 0),
            want.get("delisted", 0),
        )
    for row in report["measures"]:
        want = expected["measures"].get(row["measure"], {})
        assert (row["newly_applying"], row["no_longer_applying"]) == (
            want.get("newly_applying", 0),
            want.get("no_longer_applying", 0),
        )
    assert {k["kind"]: {t: k[t] for t in TALLY} for k in report["by_kind"]} == {
        kind: {t: tally[t] for t in TALLY} for kind, tally in expected["by_kind"].items()
    }
    assert {r["region_code"]: {t: r[t] for t in TALLY} for r in report["by_region"]} == {
        region: {t: tally[t] for t in TALLY} for region, tally in expected["by_region"].items()
    }
    overall = sum(t["adversely_moved"] for t in expected["by_kind"].values())
    overall_share = overall / expected["subjects"]
    for row in report["by_region"]:
        tally = expected["by_region"][row["region_code"]]
        share = tally["adversely_moved"] / tally["subjects"]
        assert row["adverse_share"] == pytest.approx(share)
        assert row["overall_adverse_share"] == pytest.approx(overall_share)
        assert row["disparity_ratio"] == (
            pytest.approx(share / overall_share) if overall_share else None
        )


# --- the report ----------------------------------------------------------------------------------


def test_doubling_a_deduction_moves_those_it_counts_against_as_recomputed_one_by_one(
    demo: Demo, tmp_path: Path
) -> None:
    new = traffic_doubled(tmp_path)
    html_path = tmp_path / "diff.html"

    report = demo.candor.json(
        "rulebook",
        "diff",
        str(RONGCHENG),
        str(new),
        "--as-of",
        TODAY.isoformat(),
        "--html",
        str(html_path),
    )

    assert (report["rulebook"], report["old"]["version"], report["new"]["version"]) == (
        "rongcheng-personal",
        "2026.3",
        "2026.4",
    )
    assert_matches(report, expected_report(demo, RONGCHENG, new))
    # The change is not empty: tickets are common in the demo, and doubled they cost a grade.
    [ticket] = [r for r in report["rules"] if r["rule"] == "traffic_ticket"]
    assert ticket["old_points"] < 0 and ticket["new_points"] == 2 * ticket["old_points"]
    assert ticket["change"] == ticket["old_points"]
    assert all(r["change"] == 0 for r in report["rules"] if r["rule"] != "traffic_ticket")
    overall = report["overall"]
    assert overall["grade_worse"] > 0 and overall["grade_better"] == 0
    assert overall["adversely_moved"] == overall["grade_worse"]
    # A deduction can only lower a grade: nobody moves up, nobody changes whether scored.
    grades = report["grades"]
    for old, row in report["transitions"].items():
        for new_grade, n in row.items():
            if n and old != new_grade:
                assert "not scored" not in (old, new_grade)
                assert grades.index(new_grade) > grades.index(old)
    # Rongcheng scores persons only: every organisation is "not scored" under both.
    [organisations] = [k for k in report["by_kind"] if k["kind"] == "organisation"]
    assert organisations["adversely_moved"] == 0
    assert report["transitions"]["not scored"]["not scored"] >= organisations["subjects"]

    assert_static_html(html_path)


def test_a_longer_list_term_lists_more_subjects_and_applies_its_measures_to_them(
    demo: Demo, tmp_path: Path
) -> None:
    new = court_longer_term(tmp_path)

    report = demo.candor.json(
        "rulebook", "diff", str(COURT), str(new), "--as-of", TODAY.isoformat()
    )

    assert_matches(report, expected_report(demo, COURT, new))
    [listed] = report["lists"]
    assert listed["list"] == "dishonest_debtors" and listed["newly_listed"] > 0
    assert listed["delisted"] == 0  # a longer term ends no listing sooner
    assert listed["in_force_new"] == listed["in_force_old"] + listed["newly_listed"]
    assert len(report["measures"]) == 10
    assert all(m["newly_applying"] == listed["newly_listed"] for m in report["measures"])
    assert report["overall"]["adversely_moved"] == listed["newly_listed"]
    assert report["grades"] == ["not scored"]  # the court's rulebook lists, it does not score


class _Parsed(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        for name, value in attrs:
            # Nothing is fetched: no external link, image or font.
            if name in ("src", "href") and value and not value.startswith("#"):
                raise AssertionError(f"<{tag} {name}={value!r}> reaches outside the page")


def assert_static_html(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    parsed = _Parsed()
    parsed.feed(text)
    parsed.close()
    assert parsed.tags["html"] == 1 and parsed.tags["table"] >= 4
    assert parsed.tags["svg"] >= 3  # the transition matrix, the rules, the kinds, the regions
    assert "<svg" in text and "<script" not in text.lower()
    assert "traffic_ticket" in text


def test_the_json_has_its_documented_keys(demo: Demo, tmp_path: Path) -> None:
    report = demo.candor.json("rulebook", "diff", str(RONGCHENG), str(traffic_doubled(tmp_path)))

    assert report["as_of"] == TODAY.isoformat()  # today when not given
    assert set(report) == {
        "rulebook",
        "old",
        "new",
        "as_of",
        "records",
        "subjects",
        "seconds",
        "stages",
        "grades",
        "transitions",
        "lists",
        "measures",
        "rules",
        "overall",
        "by_kind",
        "by_region",
        "by_province",
    }
    assert set(report["old"]) == {"file", "version", "title", "sha256"}
    assert report["old"]["sha256"] != report["new"]["sha256"]
    assert set(report["stages"]) == {"read", "rate", "compare"}
    assert report["grades"] == ["AAA", "AA", "A", "B", "C", "D", "not scored"]
    assert set(report["transitions"]) == set(report["grades"])
    tally = set(TALLY)
    disparity = {"adverse_share", "overall_adverse_share", "disparity_ratio"}
    assert set(report["overall"]) == tally | disparity
    assert report["overall"]["disparity_ratio"] == 1.0
    assert all(set(k) == {"kind"} | tally | disparity for k in report["by_kind"])
    assert all(
        set(r) == {"region_code", "province"} | tally | disparity for r in report["by_region"]
    )
    assert all(set(p) == {"province"} | tally | disparity for p in report["by_province"])
    assert set(report["rules"][0]) == {
        "rule",
        "old_points",
        "new_points",
        "change",
        "old_subjects",
        "new_subjects",
    }
    assert report["lists"] == []
    # Rongcheng's rewards are earned by grades: the same measures on both sides.
    assert [(m["measure"], m["in_old"], m["in_new"]) for m in report["measures"]] == [
        ("cheaper_winter_heating", True, True),
        ("deposit_free_bike_rental", True, True),
    ]
    # Regions are six-digit codes with their province; provinces add up to everyone.
    assert all(len(r["region_code"]) == 6 for r in report["by_region"] if r["region_code"])
    assert sum(p["subjects"] for p in report["by_province"]) == report["subjects"]
    shandong = next(r for r in report["by_region"] if (r["region_code"] or "").startswith("37"))
    assert shandong["province"] == "山东省"


def test_the_diff_stores_nothing(demo: Demo, tmp_path: Path) -> None:
    def stored() -> tuple[int, ...]:
        with open_store(demo.url) as store, store.read() as conn:
            return tuple(
                conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in (
                    "rulebooks",
                    "rating_runs",
                    "ratings",
                    "rating_changes",
                    "listings",
                    "ledger_entries",
                    "notices",
                )
            )

    before = stored()
    demo.candor.json("rulebook", "diff", str(COURT), str(court_longer_term(tmp_path)))
    assert stored() == before


# --- refusals ------------------------------------------------------------------------------------


def test_bad_input_is_named_and_exits_1(demo: Demo, tmp_path: Path) -> None:
    missing = demo.candor("rulebook", "diff", str(RONGCHENG), str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 1
    assert "cannot read the rulebook" in missing.stderr and "nope.yaml" in missing.stderr

    no_basis = changed(
        tmp_path,
        RONGCHENG,
        "no-basis.yaml",
        (
            "    legal_basis: Rongcheng assessment table, Attachment 1 (-20)\n"
            "  - id: breach_of_contract",
            "  - id: breach_of_contract",
        ),
    )
    linted = demo.candor("rulebook", "diff", str(RONGCHENG), str(no_basis))
    assert linted.exit_code == 1
    assert "no-basis.yaml" in linted.stderr and "rules.0.legal_basis" in linted.stderr
    assert "[legal-basis]" in linted.stderr

    other = demo.candor.json("rulebook", "diff", str(RONGCHENG), str(COURT), code=1)
    detail = other["error"]["detail"]
    assert "'rongcheng-personal'" in detail and "'court-dishonest-debtors'" in detail
    assert "two versions of the same rulebook" in detail
