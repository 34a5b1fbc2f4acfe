"""The ledger in the store: every state change an entry, signed heads, proofs that verify with
the RFC 9162 verifiers alone, and `ledger verify` naming the first entry a changed byte breaks —
on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from typing import Any

import hypothesis
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from candor.api.app import create_app
from candor.cli import app
from candor.domain import merkle
from candor.domain.ledger import (
    LISTING_STARTED,
    OBJECT_COLUMNS,
    RECORD_ACCEPTED,
    RECORD_CORRECTION,
    RULEBOOK_ACTIVATED,
    Entry,
    canonical,
    form_digest,
    read_entry,
)
from candor.domain.registry import Registry
from candor.services import ledger
from candor.services.ingestion import ingest_objects
from candor.services.rating import rate_all
from candor.services.registry import load_registry
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate
from candor.services.secret import load_secret
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import ledger as ledger_rows
from candor.store.database import Store
from candor.store.tables import ledger_entries, ledger_heads, ledger_tiles, listings, records
from tests.helpers import bearer, record_object, resident_id

TODAY = date(2026, 11, 23)
FINDING = {"case_no": "(2025)京0105执1号", "ground": 2}
FEES = {"amount": "10.00"}


@pytest.fixture
def world(store: Store, settings: Settings, registry: Registry) -> Store:
    activate(
        store,
        registry,
        SAMPLE_RULEBOOKS / "court-dishonest-debtors.yaml",
        effective=date(2017, 5, 1),
        today=TODAY,
    )
    add_source(store, registry, "court", list(registry.record_types))
    rows = [
        record_object(
            f"f{i}",
            resident_id(i),
            "court.dishonest_debtor_finding",
            "2025-03-01",
            attributes=FINDING,
        )
        for i in range(1, 6)
    ] + [
        record_object(f"u{i}", resident_id(i), "utility.late_fees", "2025-03-01", attributes=FEES)
        for i in range(6, 300)
    ]
    first = ingest_objects(store, settings, registry, "court", rows, today=TODAY)
    assert first.rejected == 0, first.rejects
    rate_all(store, registry, as_of=TODAY, today=TODAY)
    # Overturned after it was listed: the listing is withdrawn at the re-rating.
    correction = record_object(
        "f1-fix",
        resident_id(1),
        "court.dishonest_debtor_finding",
        "2025-04-01",
        attributes=FINDING,
        refers_to="f1",
        status="overturned",
    )
    assert ingest_objects(store, settings, registry, "court", [correction], today=TODAY).accepted
    return store


def _entries(store: Store) -> list[dict[str, Any]]:
    with store.read() as conn:
        return [
            {"leaf": leaf, **read_entry(bytes(data))}
            for leaf, data in conn.execute(
                sa.select(ledger_entries.c.leaf_index, ledger_entries.c.data).order_by(
                    ledger_entries.c.leaf_index
                )
            )
        ]


def _count(store: Store, table: sa.Table) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_every_state_change_is_an_entry_in_order(world: Store) -> None:
    entries = _entries(world)
    kinds = [e["kind"] for e in entries]
    assert kinds[0] == RULEBOOK_ACTIVATED
    assert kinds.count(RECORD_ACCEPTED) == 299 and kinds.count(RECORD_CORRECTION) == 1
    assert [e["leaf"] for e in entries] == list(range(len(entries)))
    # Every record and listing is named by an entry.
    named = {(e["object"]["table"], e["object"]["id"]) for e in entries if "object" in e}
    with world.read() as conn:
        record_ids = set(conn.execute(sa.select(records.c.id)).scalars())
        listing_ids = set(conn.execute(sa.select(listings.c.id)).scalars())
    assert listing_ids, "the findings listed their subjects"
    assert {("records", i) for i in record_ids} <= named
    assert {("listings", i) for i in listing_ids} <= named
    assert kinds.count(LISTING_STARTED) == len(listing_ids)


def test_heads_are_signed_and_proofs_verify_with_the_rfc_verifiers_alone(
    world: Store, settings: Settings
) -> None:
    secret = load_secret(settings)
    first = ledger.head(world, secret)
    assert first.size == _count(world, ledger_entries)
    assert ledger.head(world, secret) == first  # nothing new: the same head
    key = ledger.public_keys(secret)[first.key_id]
    assert ledger.signature_valid(first, key)
    forged = type(first)(first.size, bytes(32), first.signed_at, first.key_id, first.signature)
    assert not ledger.signature_valid(forged, key)

    for leaf in (0, 1, first.size // 2, first.size - 1):
        proved = ledger.inclusion(world, secret, leaf)
        assert merkle.verify_inclusion(
            merkle.leaf_hash(proved.entry), leaf, proved.head.size, proved.proof, proved.head.root
        )
        assert not merkle.verify_inclusion(
            merkle.leaf_hash(proved.entry + b" "),
            leaf,
            proved.head.size,
            proved.proof,
            proved.head.root,
        )
    # More entries, a newer head, and a consistency proof between the two.
    add_more(world, settings)
    second = ledger.head(world, secret)
    assert second.size > first.size
    between = ledger.consistency(world, first.size)
    assert between.second == second
    assert merkle.verify_consistency(
        first.size, second.size, first.root, second.root, between.proof
    )
    assert ledger.inclusion(world, secret, 3, first.size).head == first
    assert ledger.verify(world, secret).to_json() == {
        "ok": True,
        "first_bad": None,
        "entries": second.size,
        "heads": 2,
        "objects": {
            "records": _count(world, records),
            "rulebooks": 1,
            "objections": 0,
            "repairs": 0,
            "listings": _count(world, listings),
        },
        "problems": [],
    }


def add_more(store: Store, settings: Settings) -> None:
    rows = [
        record_object(
            f"m{i}", resident_id(400 + i), "utility.late_fees", "2025-05-01", attributes=FEES
        )
        for i in range(10)
    ]
    assert ingest_objects(store, settings, load_registry(settings), "court", rows, today=TODAY)


def _flip(value: Any) -> Any:
    """The value with one byte changed."""
    if isinstance(value, bytes | memoryview):
        raw = bytearray(bytes(value))
        raw[len(raw) // 2] ^= 0x01
        return bytes(raw)
    if isinstance(value, str):
        return value[:-1] + ("x" if value[-1] != "x" else "y")
    if isinstance(value, date):
        return value.replace(day=2 if value.day != 2 else 3)
    raise AssertionError(type(value))


TAMPERED = {
    # table, column, which row (by order of id), what verify must say
    "a record's sealed name": (
        "records",
        "sealed",
        7,
        "entry {leaf} (record.accepted, records id {id})",
    ),
    "a record's decision date": ("records", "decided_on", 3, "entry {leaf} (record.accepted"),
    "a rulebook's content": ("rulebooks", "content", 0, "entry 0 (rulebook.activated"),
    "a listing's end": ("listings", "ends_on", 1, "(listing.started, listings id {id})"),
}


@pytest.mark.parametrize("what", sorted(TAMPERED))
def test_a_byte_changed_in_a_stored_object_is_found_and_its_entry_named(
    world: Store, settings: Settings, what: str
) -> None:
    secret = load_secret(settings)
    ledger.head(world, secret)
    table_name, column, nth, expected = TAMPERED[what]
    table = sa.Table(table_name, sa.MetaData(), autoload_with=world.engine)
    with world.write() as conn:
        row = conn.execute(
            sa.select(table.c.id, table.c[column]).order_by(table.c.id).offset(nth).limit(1)
        ).one()
        conn.execute(sa.update(table).where(table.c.id == row.id).values({column: _flip(row[1])}))
        leaf = conn.execute(
            sa.select(sa.func.max(ledger_entries.c.leaf_index)).where(
                ledger_entries.c.object_table == table_name, ledger_entries.c.object_id == row.id
            )
        ).scalar_one()

    found = ledger.verify(world, secret)

    assert not found.ok
    assert len(found.problems) == 1, found.problems
    assert expected.format(leaf=leaf, id=row.id) in found.problems[0]
    assert "no longer matches" in found.problems[0]


def test_a_byte_changed_in_the_ledger_itself_is_found(world: Store, settings: Settings) -> None:
    secret = load_secret(settings)
    signed = ledger.head(world, secret)
    with world.write() as conn:
        data = conn.execute(
            sa.select(ledger_entries.c.data).where(ledger_entries.c.leaf_index == 5)
        ).scalar_one()
        conn.execute(
            sa.update(ledger_entries)
            .where(ledger_entries.c.leaf_index == 5)
            .values(data=bytes(data).replace(b'"v":1', b'"v":2'))
        )
    found = ledger.verify(world, secret)
    assert not found.ok
    assert found.problems[0].startswith("entry 5 (")
    assert "no longer match the tree" in found.problems[0]
    assert any(f"head of size {signed.size}" in p for p in found.problems)


def test_a_rewritten_tree_or_head_is_found(world: Store, settings: Settings) -> None:
    secret = load_secret(settings)
    signed = ledger.head(world, secret)
    with world.write() as conn:
        blob = conn.execute(
            sa.select(ledger_tiles.c.hashes).where(
                ledger_tiles.c.tile_level == 0, ledger_tiles.c.tile_index == 1
            )
        ).scalar_one()
        conn.execute(
            sa.update(ledger_tiles)
            .where(ledger_tiles.c.tile_level == 0, ledger_tiles.c.tile_index == 1)
            .values(hashes=_flip(blob))
        )
    found = ledger.verify(world, secret)
    assert not found.ok and "no longer match the tree" in found.problems[0]

    with world.write() as conn:  # put the tile back; now forge the head's root
        conn.execute(
            sa.update(ledger_tiles)
            .where(ledger_tiles.c.tile_level == 0, ledger_tiles.c.tile_index == 1)
            .values(hashes=blob)
        )
        conn.execute(
            sa.update(ledger_heads)
            .where(ledger_heads.c.size == signed.size)
            .values(root=_flip(signed.root))
        )
    found = ledger.verify(world, secret)
    assert found.problems == [
        f"head of size {signed.size}: the signature does not verify",
        f"head of size {signed.size}: the entries before it no longer give its root",
    ]


def test_a_row_added_behind_the_ledgers_back_is_found(world: Store, settings: Settings) -> None:
    secret = load_secret(settings)
    with world.write() as conn:
        row = dict(conn.execute(sa.select(records).limit(1)).mappings().one())
        row["id"] = 999_999
        row["source_record_id"] = "smuggled"
        conn.execute(sa.insert(records).values(row))
    found = ledger.verify(world, secret)
    assert found.problems == ["records id 999999: no ledger entry records it"]


def test_the_api_publishes_heads_anyone_can_check(world: Store, settings: Settings) -> None:
    auditor = bearer(world, "auditor-1", "auditor")
    with TestClient(create_app(settings)) as api:
        head = api.get("/v1/ledger/head").json()  # no credentials: published
        keys = {k["key_id"]: k["public_key"] for k in api.get("/v1/ledger/keys").json()["keys"]}
        # Checked with nothing of candor's: the key, the signed text, the signature.
        Ed25519PublicKey.from_public_bytes(base64.b64decode(keys[head["key_id"]])).verify(
            base64.b64decode(head["signature"]), head["checkpoint"].encode()
        )
        origin, size, root, _time = head["checkpoint"].splitlines()
        assert (origin, int(size), base64.b64decode(root).hex()) == (
            "candor",
            head["size"],
            head["root"],
        )
        assert api.get("/v1/ledger/proof/inclusion/0").status_code == 401
        proved = api.get("/v1/ledger/proof/inclusion/4", headers=auditor).json()
        entry = canonical(proved["entry"])
        assert merkle.verify_inclusion(
            merkle.leaf_hash(entry),
            4,
            proved["tree_size"],
            [bytes.fromhex(h) for h in proved["proof"]],
            bytes.fromhex(head["root"]),
        )
        add_more(world, settings)
        later = api.get("/v1/ledger/head").json()
        between = api.get("/v1/ledger/proof/consistency", params={"first": head["size"]}).json()
        assert merkle.verify_consistency(
            head["size"],
            later["size"],
            bytes.fromhex(head["root"]),
            bytes.fromhex(later["root"]),
            [bytes.fromhex(h) for h in between["proof"]],
        )
        missing = api.get("/v1/ledger/proof/consistency", params={"first": head["size"] + 1})
        assert missing.status_code == 404


def test_candor_ledger_verify_exits_1_naming_the_entry(world: Store, settings: Settings) -> None:
    env = {
        "CANDOR_DATABASE_URL": settings.database_url,
        "CANDOR_SECRET_FILE": str(settings.secret_file),
    }
    runner = CliRunner()
    good = runner.invoke(app, ["ledger", "verify", "--json"], env=env)
    assert good.exit_code == 0, good.output
    assert json.loads(good.stdout)["ok"] is True
    assert json.loads(good.stdout)["first_bad"] is None
    head = runner.invoke(app, ["ledger", "head", "--json"], env=env)
    assert json.loads(head.stdout)["size"] == json.loads(good.stdout)["entries"]
    with world.write() as conn:
        conn.execute(sa.update(records).where(records.c.id == 2).values(legal_basis="edited"))
    bad = runner.invoke(app, ["ledger", "verify", "--json"], env=env)
    assert bad.exit_code == 1
    problems = json.loads(bad.stdout)["problems"]
    # The contract's first_bad: the entry the problem names (record 2's, as the problem says).
    assert problems[0].startswith(f"entry {json.loads(bad.stdout)['first_bad']} (")
    assert (
        len(problems) == 1 and "records id 2): the stored record no longer matches" in problems[0]
    )


# --- verify at scale: pages, ranges of objects, processes ---------------------------------------


@hypothesis.settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 300), max_size=8), st.sampled_from([1, 2, 8]))
def test_appending_a_level_at_a_time_completes_the_nodes_one_at_a_time_does(
    batches: list[int], every: int
) -> None:
    hashes = [merkle.leaf_hash(b"%d" % i) for i in range(sum(batches))]
    one_by_one, by_levels = merkle.Frontier(), merkle.Frontier()
    expected: dict[int, list[bytes]] = {}
    for level, _, digest in one_by_one.append_many(hashes):
        if level % every == 0:
            expected.setdefault(level, []).append(digest)
    got: dict[int, list[bytes]] = {}
    start = 0
    for size in batches:
        for level, nodes in by_levels.append_levels(hashes[start : start + size], every).items():
            got.setdefault(level, []).extend(nodes)
        start += size
    assert {level: nodes for level, nodes in got.items() if nodes} == expected
    assert (by_levels.size, by_levels.peaks, by_levels.root()) == (
        one_by_one.size,
        one_by_one.peaks,
        one_by_one.root(),
    )
    assert merkle.leaf_hashes([b"%d" % i for i in range(len(hashes))]) == hashes


def _named(store: Store, table: str, object_id: int) -> str:
    """How verify names the newest entry about an object."""
    with store.read() as conn:
        leaf, data = conn.execute(
            sa.select(ledger_entries.c.leaf_index, ledger_entries.c.data)
            .where(ledger_entries.c.object_table == table, ledger_entries.c.object_id == object_id)
            .order_by(ledger_entries.c.leaf_index.desc())
            .limit(1)
        ).one()
    return f"entry {leaf} ({read_entry(bytes(data))['kind']}, {table} id {object_id})"


def _change(conn: sa.Connection, record_id: int, column: str) -> None:
    value = conn.execute(sa.select(records.c[column]).where(records.c.id == record_id))
    conn.execute(
        sa.update(records)
        .where(records.c.id == record_id)
        .values({column: _flip(value.scalar_one())})
    )


def test_verify_in_pages_ranges_and_processes_finds_what_one_pass_finds(
    world: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = load_secret(settings)
    first = ledger.head(world, secret)
    add_more(world, settings)
    second = ledger.head(world, secret)
    whole = ledger.verify(world, secret, workers=1).to_json()
    assert whole["ok"] and whole["entries"] == second.size

    # Pages of 64 entries and 7 objects, parts of about 50 objects: cuts fall between the
    # entries before and after a head, and between objects and their entries.
    monkeypatch.setattr(ledger, "ENTRIES_A_PAGE", 64)
    monkeypatch.setattr(ledger, "OBJECTS_A_PAGE", 7)
    monkeypatch.setattr(ledger, "OBJECTS_A_PART", 50)
    assert ledger.verify(world, secret, workers=1).to_json() == whole
    assert ledger.verify(world, secret, workers=2).to_json() == whole  # 2 processes

    edited = [*range(40, 61), 120]  # a run across pages and ranges, and one alone
    with world.read() as conn:
        smuggled = int(conn.execute(sa.select(sa.func.max(records.c.id))).scalar_one()) + 1
    expected = [
        f"{_named(world, 'records', i)}: the stored record no longer matches it" for i in edited
    ]
    expected.append(f"{_named(world, 'records', 200)}: the record it names is gone")
    expected.append(f"records id {smuggled}: no ledger entry records it")
    with world.write() as conn:
        conn.execute(
            sa.update(records)
            .where(records.c.id.between(40, 60))
            .values(legal_basis=records.c.legal_basis + " (edited)")
        )
        _change(conn, 120, "decided_on")
        conn.execute(sa.delete(records).where(records.c.id == 200))  # a fee: nothing names it
        row = dict(conn.execute(sa.select(records).where(records.c.id == 100)).mappings().one())
        conn.execute(sa.insert(records).values({**row, "id": smuggled, "source_record_id": "x"}))
        data = conn.execute(
            sa.select(ledger_entries.c.data).where(ledger_entries.c.leaf_index == 70)
        ).scalar_one()
        conn.execute(
            sa.update(ledger_entries)
            .where(ledger_entries.c.leaf_index == 70)
            .values(data=bytes(data).replace(b'"v":1', b'"v":3'))
        )
    found = ledger.verify(world, secret, workers=1)
    assert (
        found.problems[0].startswith("entry 70 (")
        and "no longer match the tree" in found.problems[0]
    )
    assert found.problems[1:] == [
        f"head of size {first.size}: the entries before it no longer give its root",
        f"head of size {second.size}: the entries before it no longer give its root",
        *expected,
    ]
    assert ledger.verify(world, secret, workers=2).to_json() == found.to_json()
    monkeypatch.undo()  # one page, one range: the same problems
    assert ledger.verify(world, secret, workers=1).to_json() == found.to_json()
    assert ledger.verify(world, secret, workers=2).to_json() == found.to_json()


def test_a_missing_entry_is_named_and_the_entries_before_it_checked(
    world: Store, settings: Settings
) -> None:
    secret = load_secret(settings)
    with world.write() as conn:
        conn.execute(sa.delete(ledger_entries).where(ledger_entries.c.leaf_index == 7))
    found = ledger.verify(world, secret)
    assert found.problems[0] == "entry 7 is missing (the next stored entry is 8)"
    assert found.entries == 7


def test_stored_json_written_another_way_is_the_same_form_and_a_changed_value_is_named(
    world: Store, settings: Settings
) -> None:
    secret = load_secret(settings)
    column = "CAST(:text AS jsonb)" if world.dialect == "postgresql" else ":text"
    update = sa.text(f"UPDATE records SET attributes = {column} WHERE id = 1")
    with world.read() as conn:
        attributes = conn.execute(sa.select(records.c.attributes).where(records.c.id == 1))
        values = dict(attributes.scalar_one())

    def written(values: dict[str, Any]) -> str:  # keys in reverse order, with spaces
        pairs = sorted(values.items(), reverse=True)
        return "{ " + ", ".join(f"{json.dumps(k)} : {json.dumps(v)}" for k, v in pairs) + " }"

    with world.write() as conn:
        conn.execute(update, {"text": written(values)})
    assert ledger.verify(world, secret).ok
    with world.write() as conn:
        conn.execute(update, {"text": written({**values, "added": 1})})
    assert ledger.verify(world, secret).problems == [
        f"{_named(world, 'records', 1)}: the stored record no longer matches it"
    ]


def test_a_stored_value_that_cannot_be_read_names_its_entry_instead_of_stopping(
    world: Store, settings: Settings
) -> None:
    """JSON that does not parse and an instant that is not one: what a hand edit can leave in
    SQLite's untyped columns (PostgreSQL's types refuse both)."""
    if world.dialect != "sqlite":
        pytest.skip("PostgreSQL's jsonb and timestamptz columns cannot hold such values")
    secret = load_secret(settings)
    with world.write() as conn:
        conn.execute(sa.text("""UPDATE records SET attributes = '{"ground": 2' WHERE id = 2"""))
        conn.execute(sa.text("UPDATE rulebooks SET activated_at = 'yesterday' WHERE id = 1"))

    found = ledger.verify(world, secret)

    assert sorted(found.problems) == sorted(
        [
            f"{_named(world, 'records', 2)}: the stored record no longer matches it",
            f"{_named(world, 'rulebooks', 1)}: the stored rulebook no longer matches it",
        ]
    )
    assert found.objects["records"] == _count(world, records)


def _as_before_0010(conn: sa.Connection, record_id: int) -> None:
    """Make a record what candor wrote before revision 0010 (its name in the clear, no sealed
    data), with a newest entry holding the digest of its form then: without sealed, erased_on."""
    conn.execute(
        sa.update(records).where(records.c.id == record_id).values(sealed=None, name="张三")
    )
    (form,) = ledger_rows.stored_forms(conn, "records", records.c.id == record_id)
    then = [v for c, v in form.items() if c not in ("sealed", "erased_on")]
    assert len(then) == len(OBJECT_COLUMNS["records"]) - 2
    entry = Entry(
        RECORD_ACCEPTED,
        "records",
        record_id,
        form["subject_id"],
        form_digest(then),
        datetime.now(UTC),
    )
    ledger_rows.append(conn, [entry], datetime.now(UTC))


def test_records_written_before_their_form_grew_still_verify_and_changes_are_found(
    world: Store, settings: Settings
) -> None:
    secret = load_secret(settings)
    with world.write() as conn:
        _as_before_0010(conn, 3)
        _as_before_0010(conn, 4)
    assert ledger.verify(world, secret).ok

    with world.write() as conn:  # a column the old form leaves out, set behind the ledger's back
        conn.execute(sa.update(records).where(records.c.id == 3).values(erased_on=TODAY))
        conn.execute(sa.update(records).where(records.c.id == 4).values(name="李四"))

    assert sorted(ledger.verify(world, secret).problems) == sorted(
        f"{_named(world, 'records', n)}: the stored record no longer matches it" for n in (3, 4)
    )


def test_a_rulebook_activated_before_its_form_grew_still_verifies(
    world: Store, settings: Settings
) -> None:
    """A version activated before revision 0012 has no activated_by, and its entry the digest of
    the form without it; a name put there later no longer matches."""
    from candor.store.tables import rulebooks  # noqa: PLC0415 - this test alone

    secret = load_secret(settings)
    with world.write() as conn:
        conn.execute(sa.update(rulebooks).where(rulebooks.c.id == 1).values(activated_by=None))
        (form,) = ledger_rows.stored_forms(conn, "rulebooks", rulebooks.c.id == 1)
        then = [v for c, v in form.items() if c != "activated_by"]
        entry = Entry(
            RULEBOOK_ACTIVATED, "rulebooks", 1, None, form_digest(then), datetime.now(UTC)
        )
        ledger_rows.append(conn, [entry], datetime.now(UTC))
    assert ledger.verify(world, secret).ok

    with world.write() as conn:
        conn.execute(sa.update(rulebooks).where(rulebooks.c.id == 1).values(activated_by="x"))
    assert ledger.verify(world, secret).problems == [
        f"{_named(world, 'rulebooks', 1)}: the stored rulebook no longer matches it"
    ]
