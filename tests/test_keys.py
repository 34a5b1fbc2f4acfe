"""Identifier key rotation: `candor keys rotate` re-keys every stored hash while checks,
ingestion and reads go on, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from candor.cli import app
from candor.domain.pseudonyms import IDENTIFIER_PURPOSE, IdentifierHasher, derive_key
from candor.domain.registry import Registry
from candor.errors import ConfigurationError, StaleSecret
from candor.formats.jsonl_records import objects_batch
from candor.services import keys
from candor.services.checks import Checks, check_many
from candor.services.data_keys import DataKeys
from candor.services.ingestion import Ingestion, ingest_objects
from candor.services.rating import subject_id_for
from candor.services.rulebooks import SAMPLE_RULEBOOKS, activate
from candor.services.secret import KeyRing, add_key, load_secret
from candor.services.sources import add_source, get_source
from candor.settings import Settings
from candor.store import identifier_keys
from candor.store.database import Store
from candor.store.tables import identifiers, records, subjects
from tests.helpers import record_object, resident_id

TODAY = date(2026, 11, 23)
ON = date(2025, 6, 1)
FINDING = {"case_no": "(2025)京0105执1号", "ground": 2}
FEES = {"amount": "10.00"}
LISTED = [resident_id(i) for i in range(1, 41)]
UNLISTED = [resident_id(i) for i in range(41, 81)]


# --- the hashes ----------------------------------------------------------------------------------


def _hmac(master: bytes, message: bytes) -> bytes:
    return hmac.new(derive_key(master, IDENTIFIER_PURPOSE), message, hashlib.sha256).digest()


def test_each_key_wraps_the_hash_under_the_one_before() -> None:
    one, two, three = b"1" * 32, b"2" * 32, b"3" * 32
    chain = IdentifierHasher(three, 3, IdentifierHasher(two, 2, IdentifierHasher(one, 1)))
    first = _hmac(one, b"cn_resident_id:X")
    expected = _hmac(three, _hmac(two, first))
    assert chain.digest("cn_resident_id", "X") == expected
    assert chain.digests([("cn_resident_id", "X"), ("other", "Y")])[0] == expected
    assert chain.rewrap(first, 1) == expected
    assert chain.rewrap(_hmac(two, first), 2) == expected
    hashed = chain.hashed([("cn_resident_id", "X")])
    assert (hashed.key_id, hashed.previous_key_id) == (3, 2)
    assert hashed.digests == [expected] and hashed.previous == [_hmac(two, first)]
    assert chain.upto(1).digest("cn_resident_id", "X") == first
    assert chain.key_ids == [1, 2, 3]
    with pytest.raises(ValueError, match="older"):
        IdentifierHasher(one, 1, IdentifierHasher(two, 2))


def test_a_new_key_is_appended_to_the_secret_file_atomically_and_private(
    settings: Settings,
) -> None:
    before = load_secret(settings)
    added = add_key(settings)
    after = load_secret(settings)
    assert added.id == 2 and [k.id for k in after.keys] == [1, 2]
    assert after.keys[0].material == before.keys[0].material  # key 1 kept: a layer
    assert stat.S_IMODE(settings.secret_file.stat().st_mode) == 0o600
    assert [p.name for p in settings.secret_file.parent.glob(".*.new")] == []
    with pytest.raises(ConfigurationError, match="CANDOR_SECRET"):
        add_key(Settings.load(environ={"CANDOR_SECRET": settings.secret_file.read_text()}))


def test_a_secret_with_a_gap_in_its_key_ids_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "candor.secret"
    material = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
    path.write_text(
        json.dumps(
            {
                "format": "candor-secret/1",
                "keys": [{"id": 1, "material": material}, {"id": 3, "material": material}],
            }
        )
    )
    with pytest.raises(ConfigurationError, match="without gaps"):
        load_secret(Settings.load(environ={}, secret_file=path))


# --- a deployment to rotate ---------------------------------------------------------------------


@pytest.fixture
def deployment(store: Store, settings: Settings, registry: Registry) -> Store:
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
            f"f{i}", who, "court.dishonest_debtor_finding", "2025-03-01", attributes=FINDING
        )
        for i, who in enumerate(LISTED)
    ] + [
        record_object(f"u{i}", who, "utility.late_fees", "2025-03-01", attributes=FEES)
        for i, who in enumerate(UNLISTED)
    ]
    result = ingest_objects(store, settings, registry, "court", rows, today=TODAY)
    assert (result.accepted, result.rejected) == (len(rows), 0), result.rejects
    return store


def _hashes(store: Store) -> dict[int, tuple[int, int, bytes]]:
    """identifier id → (subject, key, digest)."""
    with store.read() as conn:
        return {
            i: (s, k, bytes(d))
            for i, s, k, d in conn.execute(
                sa.select(
                    identifiers.c.id,
                    identifiers.c.subject_id,
                    identifiers.c.key_id,
                    identifiers.c.digest,
                )
            )
        }


def _count(store: Store, table: sa.Table) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_rotation_rekeys_every_hash_and_everything_is_found_under_the_new_key(
    deployment: Store, settings: Settings, registry: Registry
) -> None:
    store = deployment
    old_secret = load_secret(settings).identifier_hasher()
    before = _hashes(store)
    progress: list[tuple[int, int]] = []

    done = keys.rotate(
        store, settings, grace_s=0, batch=7, on_progress=lambda d, t: progress.append((d, t))
    )

    assert (done.key_id, done.added, done.rekeyed) == (2, True, len(before))
    assert progress[0] == (0, len(before)) and progress[-1] == (len(before), len(before))
    after = _hashes(store)
    assert after.keys() == before.keys()  # in place: records still point at their identifier
    new = load_secret(settings).identifier_hasher()
    for iid, (subject, key_id, digest) in after.items():
        assert (subject, key_id) == (before[iid][0], 2)
        assert digest == new.rewrap(before[iid][2], 1) != before[iid][2]
    # Found under the new key; a copy of the old secret finds nothing any more.
    for who in LISTED[:3] + UNLISTED[:3]:
        assert subject_id_for(store, new, f"cn_resident_id:{who}", TODAY) is not None
        assert old_secret.digest("cn_resident_id", who) not in {d for _, _, d in after.values()}
    answers = check_many(
        store,
        registry,
        new,
        [f"cn_resident_id:{w}" for w in LISTED + UNLISTED],
        "no_air_travel",
        as_of=ON,
        today=TODAY,
        client="test",
        purpose="ticket sale",
    ).to_json()["answers"]
    assert [a["applies"] for a in answers] == [True] * len(LISTED) + [False] * len(UNLISTED)
    # The records sent again are duplicates of the same subjects, not new subjects.
    again = [
        record_object(
            f"f{i}", who, "court.dishonest_debtor_finding", "2025-03-01", attributes=FINDING
        )
        for i, who in enumerate(LISTED)
    ]
    result = ingest_objects(store, settings, registry, "court", again, today=TODAY)
    assert (result.accepted, result.duplicates) == (0, len(LISTED))
    assert _count(store, subjects) == len(LISTED) + len(UNLISTED)
    states = {k.id: k for k in keys.key_states(store, settings)}
    assert (states[1].hashes, states[2].hashes) == (0, len(before))
    assert states[2].registered_at is not None and states[2].rekeyed_at is not None


def test_checks_and_ingestion_go_on_during_a_rotation(
    deployment: Store, settings: Settings, registry: Registry
) -> None:
    """A server's checks (a key ring made before the rotation) answer rightly throughout, and
    records ingested meanwhile about known and new subjects land on the right subjects."""
    store = deployment
    ring = KeyRing(settings)
    data_keys = DataKeys(lambda: load_secret(settings))
    stop = threading.Event()
    wrong: list[Any] = []
    answered, ingested = [0], [0]
    during: list[tuple[int, int]] = []  # (answered, ingested) at each re-keyed batch

    def checker() -> None:
        with Checks(store, registry, ring, readers=1) as checks:
            while not stop.is_set():
                n = answered[0] % len(LISTED)
                for who, listed in ((LISTED[n], True), (UNLISTED[n], False)):
                    found = checks.answer(
                        "cn_resident_id", who, "no_air_travel", as_of=ON, today=TODAY
                    )
                    if found.subject_id is None or found.answer.applies is not listed:
                        wrong.append((who, found.answer.to_json()))
                answered[0] += 1

    def ingester() -> None:
        source = get_source(store, "court")
        while not stop.is_set():
            n = ingested[0]
            run = Ingestion(
                store,
                registry,
                ring.current,
                source,
                data_keys=data_keys,
                channel="api",
                file_name=None,
                today=TODAY,
            )
            rows = [
                record_object(f"k{n}-{i}", who, "utility.late_fees", "2025-04-01", attributes=FEES)
                for i, who in enumerate([LISTED[n % 40], UNLISTED[n % 40], resident_id(500 + n)])
            ]
            run.commit(run.prepare(objects_batch(rows, attribute_names=registry.attribute_names)))
            run.finish()
            ingested[0] += 1

    def slowly(done: int, total: int) -> None:
        during.append((answered[0], ingested[0]))
        time.sleep(0.02)  # a rotation of a few rows, stretched so that work overlaps it

    threads = [threading.Thread(target=checker), threading.Thread(target=ingester)]
    for t in threads:
        t.start()
    try:
        done = keys.rotate(
            store, settings, grace_s=KeyRing.CHECK_EVERY_S * 1.5, batch=2, on_progress=slowly
        )
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert wrong == []
    assert done.added
    # Checks were answered and records ingested while hashes were being re-keyed.
    assert during[-1][0] > during[0][0] and during[-1][1] > during[0][1], during
    hashes = _hashes(store)
    assert {k for _, k, _ in hashes.values()} == {2}
    # One subject per identifier: the known ones found, the new ones created once.
    new = ingested[0]
    assert _count(store, subjects) == len(hashes) == len(LISTED) + len(UNLISTED) + new
    hasher = load_secret(settings).identifier_hasher()
    with store.read() as conn:
        by_record = dict(
            conn.execute(
                sa.select(records.c.source_record_id, records.c.subject_id).where(
                    records.c.source_record_id.like("k%")
                )
            ).all()
        )
    for n in range(new):
        for i, who in enumerate([LISTED[n % 40], UNLISTED[n % 40], resident_id(500 + n)]):
            subject = subject_id_for(store, hasher, f"cn_resident_id:{who}", TODAY)
            assert by_record[f"k{n}-{i}"] == subject


def test_a_process_whose_secret_is_behind_fails_loudly_instead_of_answering_wrong(
    deployment: Store, settings: Settings, registry: Registry
) -> None:
    store = deployment
    stale = load_secret(settings).identifier_hasher()  # key 1 only, never re-read
    keys.rotate(store, settings, grace_s=0)

    with Checks(store, registry, stale, readers=1) as checks, pytest.raises(StaleSecret) as e:
        checks.answer("cn_resident_id", LISTED[0], "no_air_travel", as_of=ON, today=TODAY)
    assert e.value.STATUS == 503 and "key 2" in e.value.detail
    with pytest.raises(StaleSecret):
        subject_id_for(store, stale, f"cn_resident_id:{LISTED[0]}", TODAY)
    with pytest.raises(StaleSecret):
        check_many(
            store,
            registry,
            stale,
            [f"cn_resident_id:{LISTED[0]}"],
            "no_air_travel",
            as_of=ON,
            today=TODAY,
            client="test",
            purpose="ticket sale",
        )
    source = get_source(store, "court")
    run = Ingestion(
        store,
        registry,
        stale,
        source,
        data_keys=DataKeys(load_secret(settings)),
        channel="api",
        file_name=None,
        today=TODAY,
    )
    batch = objects_batch(
        [record_object("s1", LISTED[0], "utility.late_fees", "2025-04-01", attributes=FEES)],
        attribute_names=registry.attribute_names,
    )
    with pytest.raises(StaleSecret):
        run.commit(run.prepare(batch))
    run.finish(error="stale")
    assert _count(store, subjects) == len(LISTED) + len(UNLISTED)  # no second subject
    # A KeyRing reads the rotated file and answers.
    with Checks(store, registry, KeyRing(settings), readers=1) as checks:
        found = checks.answer("cn_resident_id", LISTED[0], "no_air_travel", as_of=ON, today=TODAY)
    assert found.answer.applies


def test_an_interrupted_rotation_is_finished_by_running_it_again(
    deployment: Store, settings: Settings, registry: Registry
) -> None:
    store = deployment
    add_key(settings)
    hasher = load_secret(settings).identifier_hasher()
    with store.write() as conn:  # as a rotation killed after its first batch would leave it
        identifier_keys.register(conn, 2, datetime.now(UTC))
        moved, _ = identifier_keys.rekey_some(conn, 2, hasher.rewrap, after=0, limit=10)
    assert moved == 10
    # Meanwhile lookups find hashes under either key.
    for who in LISTED[:12]:
        assert subject_id_for(store, hasher, f"cn_resident_id:{who}", TODAY) is not None

    done = keys.rotate(store, settings, grace_s=0)

    assert (done.key_id, done.added, done.rekeyed) == (2, False, len(LISTED) + len(UNLISTED) - 10)
    assert [k.id for k in load_secret(settings).keys] == [1, 2]  # no third key
    assert {k for _, k, _ in _hashes(store).values()} == {2}
    again = keys.rotate(store, settings, grace_s=0)  # a finished rotation: the next key
    assert (again.key_id, again.added) == (3, True)


def test_candor_keys_rotate_and_list(deployment: Store, settings: Settings) -> None:
    env = {
        "CANDOR_DATABASE_URL": settings.database_url,
        "CANDOR_SECRET_FILE": str(settings.secret_file),
    }
    runner = CliRunner()
    rotated = runner.invoke(app, ["keys", "rotate", "--grace", "0", "--json"], env=env)
    assert rotated.exit_code == 0, rotated.output
    assert json.loads(rotated.stdout) == {
        "key": 2,
        "added": True,
        "rekeyed": len(LISTED) + len(UNLISTED),
        "seconds": json.loads(rotated.stdout)["seconds"],
    }
    listed = runner.invoke(app, ["keys", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    got = {k["id"]: (k["in_secret"], k["hashes"]) for k in json.loads(listed.stdout)["keys"]}
    assert got == {1: (True, 0), 2: (True, len(LISTED) + len(UNLISTED))}
    with_env_secret = {**env, "CANDOR_SECRET": settings.secret_file.read_text()}
    refused = runner.invoke(app, ["keys", "rotate", "--json"], env=with_env_secret)
    assert refused.exit_code != 0
    assert "CANDOR_SECRET_FILE" in refused.stdout
