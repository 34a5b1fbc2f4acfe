"""The ledger in the store: entries appended with their tree nodes, in the caller's transaction.

An append takes the ledger's lock (PostgreSQL: an advisory transaction lock; SQLite: the write
transaction already excludes every other writer), gives the entries the next leaf indexes,
extends the Merkle tree's right edge (``candor.domain.merkle.Frontier``, restored from the
stored peaks) and writes the completed nodes, all before the caller commits: an entry is in the
tree exactly when the change it records is in the store. The lock is held from the append to the
commit, so callers append last in their transaction.

Nodes are kept by tiles (C2SP tlog-tiles' layout): one row per 256 nodes at every eighth tree
level, the levels between hashed up on demand. That is about 33 bytes a leaf, and a proof on a
tree of ten million leaves reads four tiles.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    LargeBinary,
    Numeric,
    Select,
    TypeDecorator,
    case,
    cast,
    func,
    insert,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.types import NullType

from candor.domain.ledger import (
    OBJECT_COLUMNS,
    Entry,
    TreeHead,
    canonical,
    for_object,
    form_digest,
)
from candor.domain.merkle import (
    Frontier,
    Subtree,
    leaf_hash,
    root,
    row_root,
    subtree_from_nodes,
)
from candor.store.bulk import driver_value, insert_rows
from candor.store.tables import ledger_entries, ledger_heads, ledger_tiles, metadata

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
HASH = 32
_PG_LOCK = "SELECT pg_advisory_xact_lock('ledger_entries'::regclass::oid::bigint)"


def _driver_rows(conn: Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
    """Rows of ``sql`` (parameters marked ``?``) read through the driver, in the open
    transaction: for reads that run often (a proof reads several tiles) or fetch many small rows
    (verify reads every entry), where SQLAlchemy's statement and row handling cost more than the
    reading itself."""
    if conn.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    driver = conn.connection.driver_connection
    assert driver is not None
    rows: list[Any] = driver.execute(sql, params).fetchall()
    return rows


def _read_tile(conn: Connection, tile_level: int, tile_index: int) -> bytes | None:
    rows = _driver_rows(
        conn,
        "SELECT hashes FROM ledger_tiles WHERE tile_level = ? AND tile_index = ?",
        (tile_level, tile_index),
    )
    return bytes(rows[0][0]) if rows else None


# A node between tile levels is hashed up from 2^k hashes of the tile below it: up to 127
# SHA-256 for one node, some 900 for a proof on a tree of ten million leaves. The roots of the
# wider rows are kept, by the rows' bytes: a complete node never changes, so the bytes name the
# answer whatever store or tree they came from, and the upper levels and the right edge of the
# tree recur in every proof against a head. At most 4,096 rows of 256 bytes to 4 KiB.
_MEMO_FROM = 3  # rows of 8 hashes and more: narrower ones cost less to hash than to look up
_wide_row_root = lru_cache(maxsize=4096)(row_root)


class TileNodes:
    """Complete subtree hashes read from the tiles of one transaction (cached while it lasts)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._tiles: dict[tuple[int, int], bytes] = {}

    def _tile(self, tile_level: int, tile_index: int) -> bytes:
        key = (tile_level, tile_index)
        found = self._tiles.get(key)
        if found is None:
            found = _read_tile(self._conn, tile_level, tile_index) or b""
            self._tiles[key] = found
        return found

    def node(self, level: int, index: int) -> bytes:
        """The hash of complete node ``(level, index)``.

        Raises:
            LookupError: the node is not complete in the stored tree.
        """
        tile_level, above = divmod(level, TILE_HEIGHT)
        first = index << above  # its leftmost node at the tile's level
        tile_index = first >> TILE_HEIGHT
        hashes = self._tile(tile_level, tile_index)
        start = (first - (tile_index << TILE_HEIGHT)) * HASH
        end = start + (HASH << above)
        if len(hashes) < end:
            raise LookupError(f"ledger node ({level}, {index}) is not in the stored tree")
        row = hashes[start:end]
        return _wide_row_root(row) if above >= _MEMO_FROM else row_root(row)

    def subtree(self) -> Subtree:
        return subtree_from_nodes(self.node)


def lock(conn: Connection) -> None:
    """Take the ledger's lock until the transaction ends (a no-op inside SQLite's write lock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(_PG_LOCK))


def size(conn: Connection) -> int:
    """Entries in the ledger."""
    return int(
        conn.execute(
            select(func.coalesce(func.max(ledger_entries.c.leaf_index) + 1, 0))
        ).scalar_one()
    )


def append(conn: Connection, entries: Sequence[Entry], now: datetime) -> list[int]:
    """Append ``entries`` in order inside the open write transaction; return their leaf indexes.

    Call last in the transaction: the ledger stays locked until it commits.
    """
    if not entries:
        return []
    lock(conn)
    first = size(conn)
    frontier = Frontier.restore(first, TileNodes(conn).node)
    datas = [e.data() for e in entries]
    _write_tiles(conn, first, frontier.append_levels(map(leaf_hash, datas), TILE_HEIGHT))
    recorded = driver_value(conn, ledger_entries, "recorded_at", now)
    if isinstance(recorded, datetime) and conn.dialect.name == "sqlite":
        recorded = recorded.isoformat(" ")  # what sqlite3 would write for each row, once
    indexes = range(first, first + len(entries))
    insert_rows(
        conn,
        ledger_entries,
        ("leaf_index", "kind", "object_table", "object_id", "subject_id", "data", "recorded_at"),
        [
            (i, e.kind, e.table, e.object_id, e.subject_id, d, recorded)
            for i, e, d in zip(indexes, entries, datas, strict=True)
        ],
    )
    return list(indexes)


def _write_tiles(conn: Connection, old_size: int, levels: Mapping[int, Sequence[bytes]]) -> None:
    """Add the nodes an append completed at tile levels to their tiles.

    ``levels`` maps a tile level's tree level L to the hashes of the nodes completed there, which
    are those at indexes [old_size >> L, …): they extend the right-edge tile of their level, if it
    is partial (each tile only ever grows at its end), and fill new tiles after it.
    """
    for level, hashes in sorted(levels.items()):
        if not hashes:
            continue
        tile_level = level // TILE_HEIGHT
        tile_index, have = divmod(old_size >> level, TILE_WIDTH)
        blob = b"".join(hashes)
        at = 0
        if have:  # the partial tile at the right edge grows
            existing = _read_tile(conn, tile_level, tile_index)
            if existing is None or len(existing) != have * HASH:
                raise AssertionError(f"ledger tile ({tile_level}, {tile_index}) would have a gap")
            at = (TILE_WIDTH - have) * HASH
            conn.execute(
                update(ledger_tiles)
                .where(
                    ledger_tiles.c.tile_level == tile_level,
                    ledger_tiles.c.tile_index == tile_index,
                )
                .values(hashes=existing + blob[:at])
            )
            tile_index += 1
        width = TILE_WIDTH * HASH
        insert_rows(  # new tiles: a primary-key conflict here would mean an overlap
            conn,
            ledger_tiles,
            ("tile_level", "tile_index", "hashes"),
            [
                (tile_level, tile_index + n, blob[start : start + width])
                for n, start in enumerate(range(at, len(blob), width))
            ],
        )


def root_at(conn: Connection, tree_size: int) -> bytes:
    """The root of the first ``tree_size`` entries, from the stored tiles."""
    return root(tree_size, TileNodes(conn).subtree())


# --- heads -------------------------------------------------------------------------------------


def _head(row: Any) -> TreeHead:
    return TreeHead(
        int(row.size), bytes(row.root), row.signed_at, int(row.key_id), bytes(row.signature)
    )


_HEAD_COLUMNS = (
    ledger_heads.c.size,
    ledger_heads.c.root,
    ledger_heads.c.signed_at,
    ledger_heads.c.key_id,
    ledger_heads.c.signature,
)


def latest_head(conn: Connection) -> TreeHead | None:
    row = conn.execute(select(*_HEAD_COLUMNS).order_by(ledger_heads.c.size.desc()).limit(1)).first()
    return _head(row) if row is not None else None


def head_at(conn: Connection, tree_size: int) -> TreeHead | None:
    row = conn.execute(select(*_HEAD_COLUMNS).where(ledger_heads.c.size == tree_size)).first()
    return _head(row) if row is not None else None


def heads(conn: Connection) -> list[TreeHead]:
    return [_head(r) for r in conn.execute(select(*_HEAD_COLUMNS).order_by(ledger_heads.c.size))]


def add_head(conn: Connection, head: TreeHead) -> None:
    """Store a signed head (one per size: a head signed concurrently for the same size wins)."""
    if head_at(conn, head.size) is not None:
        return
    conn.execute(
        insert(ledger_heads).values(
            size=head.size,
            root=head.root,
            signed_at=head.signed_at,
            key_id=head.key_id,
            signature=head.signature,
        )
    )


# --- reading entries ---------------------------------------------------------------------------


def entry_data(conn: Connection, leaf_index: int) -> bytes | None:
    found = conn.execute(
        select(ledger_entries.c.data).where(ledger_entries.c.leaf_index == leaf_index)
    ).scalar()
    return bytes(found) if found is not None else None


def entry_pages(
    conn: Connection, *, chunk: int = 100_000
) -> Iterator[tuple[list[int], list[bytes]]]:
    """Every entry's leaf index and data, in leaf order, a page of ``chunk`` entries at a time
    as two lists (read through the driver, as tiles are: verify reads every entry, and works on
    a page's columns at once rather than on its rows)."""
    plain = conn.dialect.name == "sqlite"  # hands over int and bytes already
    after = -1
    while True:
        rows = _driver_rows(
            conn,
            "SELECT leaf_index, data FROM ledger_entries WHERE leaf_index > ? "
            "ORDER BY leaf_index LIMIT ?",
            (after, chunk),
        )
        if not rows:
            return
        leaves, datas = (list(column) for column in zip(*rows, strict=True))
        if not plain:
            leaves, datas = list(map(int, leaves)), list(map(bytes, datas))
        yield leaves, datas
        after = leaves[-1]


def entries_in_order(conn: Connection, *, chunk: int = 100_000) -> Iterator[tuple[int, bytes]]:
    """Every entry's (leaf index, data), in leaf order, read a page at a time."""
    for leaves, datas in entry_pages(conn, chunk=chunk):
        yield from zip(leaves, datas, strict=True)


def tiles(conn: Connection, tile_level: int, first: int, last: int) -> dict[int, bytes]:
    """The stored tiles ``first`` … ``last`` of ``tile_level`` there are, by tile index."""
    rows = _driver_rows(
        conn,
        "SELECT tile_index, hashes FROM ledger_tiles "
        "WHERE tile_level = ? AND tile_index BETWEEN ? AND ?",
        (tile_level, first, last),
    )
    return {int(index): bytes(hashes) for index, hashes in rows}


def _select_rows(conn: Connection, query: Select[Any]) -> list[Any]:
    """The rows of ``query``, compiled for the connection's dialect and read through the driver
    (see :func:`_driver_rows`): plain tuples of the driver's values."""
    compiled = query.compile(dialect=conn.dialect)
    params = compiled.params
    driver = conn.connection.driver_connection
    assert driver is not None
    if compiled.positiontup is not None:  # SQLite's "?": the values in their places' order
        rows: list[Any] = driver.execute(
            str(compiled), tuple(params[name] for name in compiled.positiontup)
        ).fetchall()
    else:
        rows = driver.execute(str(compiled), params).fetchall()
    return rows


def _in_range(column: ColumnElement[Any], after: int | None, through: int | None) -> list[Any]:
    """The conditions ``after < column <= through``, an end left open when None."""
    return [
        *([column > after] if after is not None else []),
        *([column <= through] if through is not None else []),
    ]


def id_span(conn: Connection, table: str) -> tuple[int, int, int] | None:
    """The smallest id, the largest and how many objects ``table`` holds; None when it is
    empty."""
    ids = metadata.tables[table].c.id
    low, high, count = conn.execute(select(func.min(ids), func.max(ids), func.count())).one()
    return None if low is None else (int(low), int(high), int(count))


def form_pages(
    conn: Connection,
    table: str,
    *,
    after: int | None = None,
    through: int | None = None,
    chunk: int = 50_000,
) -> Iterator[list[Any]]:
    """The objects of ``table`` with ``after < id <= through`` (None: that end open) in their
    stored form, by id, a page of ``chunk`` at a time: each object a sequence of its values in
    ``OBJECT_COLUMNS`` order (so its id first), normalised as :func:`stored_forms` does.

    For verify, which hashes every object in the store: read through the driver, and only the
    columns whose page is not in its stored form already normalised (SQLite's dates are text
    already; its JSON is parsed, by orjson directly), where :func:`stored_forms`' dict per row
    would cost more than the hashing.
    """
    t = metadata.tables[table]
    columns = [t.c[name] for name in OBJECT_COLUMNS[table]]
    fixes = [(n, fix) for n, column in enumerate(columns) if (fix := _normaliser(column))]
    while True:
        rows: list[Any] = _select_rows(
            conn,
            select(*columns)
            .where(*_in_range(t.c.id, after, through))
            .order_by(t.c.id)
            .limit(chunk),
        )
        if not rows:
            return
        after = int(rows[-1][0])
        needed = []
        for n, fix in fixes:
            kinds = set(map(type, map(operator.itemgetter(n), rows)))
            if not kinds <= _STORED_AS[fix]:
                needed.append((n, _read_or_mark(fix)))
        if needed:  # a row at a time: cheaper than turning the page into columns and back
            forms = []
            for row in rows:
                form = list(row)
                for n, fix in needed:
                    form[n] = fix(form[n])
                forms.append(form)
            rows = forms
        yield rows


def rendered_forms(
    conn: Connection,
    table: str,
    *,
    after: int | None = None,
    through: int | None = None,
    chunk: int = 50_000,
) -> Iterator[tuple[list[int], list[bytes]]]:
    """The objects of ``table`` with ``after < id <= through`` (None: that end open), by id, a
    page of ``chunk`` at a time: their ids, and each one's stored form as JSON text, which
    :func:`forms_of` turns into the form's values.

    On SQLite the text is rendered by SQLite itself (``json_array`` of the columns), with no
    Python object per value: it is then the canonical form byte for byte (so its SHA-256 is the
    object's digest) whenever the stored JSON is compact with its keys in order and no instant
    is involved, and a faithful rendering of the stored values otherwise; verify hashes it and
    parses only the texts whose hash differs. Elsewhere, and for a page SQLite will not render
    (JSON it cannot parse, binary where text belongs), the text is the canonical form of the
    values :func:`form_pages` reads.
    """
    render = _sqlite_rendering(table) if conn.dialect.name == "sqlite" else None
    if render is None:
        for forms in form_pages(conn, table, after=after, through=through, chunk=chunk):
            yield [int(form[0]) for form in forms], list(map(_rendered, forms))
        return
    t = metadata.tables[table]
    while True:
        query = (
            select(t.c.id, render)
            .where(*_in_range(t.c.id, after, through))
            .order_by(t.c.id)
            .limit(chunk)
        )
        try:
            rows: list[Any] = _select_rows(conn, query)
        except conn.dialect.loaded_dbapi.Error:  # a row SQLite cannot render: the page as above
            forms = next(form_pages(conn, table, after=after, through=through, chunk=chunk), [])
            rows = [(form[0], _rendered(form)) for form in forms]
        if not rows:
            return
        ids, texts = (list(column) for column in zip(*rows, strict=True))
        yield ids, texts
        after = ids[-1]


@lru_cache
def _sqlite_rendering(table: str) -> ColumnElement[Any] | None:
    """``json_array`` of the table's ``OBJECT_COLUMNS`` as SQLite renders them (its JSON
    parsed and written compactly, binary as lower-case hex, as :func:`canonical` writes it), as
    a blob; None for a table with a column of reals, which SQLite would not write exactly."""
    values: list[ColumnElement[Any]] = []
    for name in OBJECT_COLUMNS[table]:
        column = metadata.tables[table].c[name]
        kind = column.type
        if isinstance(kind, TypeDecorator):
            kind = kind.impl_instance
        if isinstance(kind, Numeric):
            return None
        if isinstance(kind, JSON):
            values.append(func.json(column))
        elif isinstance(kind, LargeBinary):
            values.append(
                case((func.typeof(column) == "blob", func.lower(func.hex(column))), else_=column)
            )
        else:
            values.append(column)
    return cast(func.json_array(*values), LargeBinary)


def forms_of(table: str, texts: Sequence[bytes]) -> list[list[Any] | None]:
    """The stored forms that :func:`rendered_forms`' texts hold, normalised as
    :func:`stored_forms` normalises them: the instants SQLite renders as stored are put in their
    canonical form here (JSON values, dates and hex are in theirs already). None for a form
    with a value that cannot be read (``UNREADABLE``, or an instant that is not one)."""
    columns = metadata.tables[table].c
    instants = [
        n
        for n, name in enumerate(OBJECT_COLUMNS[table])
        if _normaliser(columns[name]) is _as_instant
    ]
    forms: list[list[Any] | None] = []
    for rendered in texts:
        try:
            form = orjson.loads(rendered)
            for n in instants:
                form[n] = _as_instant(form[n])
        except (ValueError, TypeError):
            form = None
        forms.append(form)
    return forms


# The text of a stored form with a value that cannot be read — JSON that does not parse, an
# instant that is not one (what a hand-edited database may hold). Not JSON, and no digest is its
# SHA-256, so verify names its object's entry as no longer matching rather than stopping.
UNREADABLE = b""


class _Unreadable:
    """Stands in a form for a value that cannot be read."""


_UNREADABLE_VALUE = _Unreadable()


def _read_or_mark(fix: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def read(value: Any) -> Any:
        try:
            return fix(value)
        except (ValueError, TypeError):  # orjson's JSONDecodeError is a ValueError
            return _UNREADABLE_VALUE

    return read


def _rendered(form: list[Any]) -> bytes:
    if any(value is _UNREADABLE_VALUE for value in form):
        return UNREADABLE
    return canonical(form)


def latest_entries(
    conn: Connection, table: str, *, after: int | None = None, through: int | None = None
) -> tuple[list[int], list[int], list[bytes]]:
    """The newest entry about each object of ``table`` with ``after < id <= through`` (None:
    that end open), in object id order, as three lists: object ids, leaf indexes, data.

    The entries are read in the order of their (table, object) index; an object with several
    keeps the one with the highest leaf index (sorting by leaf too cost SQLite a temporary
    B-tree, more than reading the rows, for what most objects do not need: one entry each).
    """
    e = ledger_entries.c
    rows = _select_rows(
        conn,
        select(e.object_id, e.leaf_index, e.data)
        .where(
            e.object_table == table,
            e.object_id.is_not(None),
            *_in_range(e.object_id, after, through),
        )
        .order_by(e.object_id),
    )
    if not rows:
        return [], [], []
    if conn.dialect.name != "sqlite":  # SQLite hands over int and bytes already
        rows = [(int(o), int(leaf), bytes(data)) for o, leaf, data in rows]
    objects, leaves, datas = (list(column) for column in zip(*rows, strict=True))
    if len(set(objects)) < len(objects):  # some objects have several entries
        newest: dict[int, tuple[int, bytes]] = {}
        for object_id, leaf, data in rows:
            kept = newest.get(object_id)
            if kept is None or leaf > kept[0]:
                newest[object_id] = (leaf, data)
        objects = list(newest)  # in the order first seen: the rows' object order
        leaves = [leaf for leaf, _ in newest.values()]
        datas = [data for _, data in newest.values()]
    return objects, leaves, datas


def _as_date(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else value.isoformat()


def _as_instant(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite: UTC without a zone, ' ' or 'T' between
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _as_json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


# The types each normaliser hands back as they are: a page's column of these alone is left alone.
_STORED_AS: dict[Callable[[Any], Any], frozenset[type]] = {
    _as_date: frozenset({str, type(None)}),
    _as_json: frozenset({dict, list, int, float, bool, type(None)}),
    _as_instant: frozenset(),
}


def _normaliser(column: Column[Any]) -> Callable[[Any], Any] | None:
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, DateTime):
        return _as_instant
    if isinstance(kind, Date):
        return _as_date
    if isinstance(kind, JSON):
        return _as_json
    return None


def stored_forms(
    conn: Connection,
    table: str,
    condition: ColumnElement[bool],
    *,
    after: int | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Rows of ``table`` in their stored form (``domain.ledger.OBJECT_COLUMNS``, in that order),
    by id.

    Read as the driver hands them over and normalised here — dates ``YYYY-MM-DD``, instants
    ``…Z`` in UTC, JSON parsed — rather than through SQLAlchemy's types: the same bytes on
    SQLite and PostgreSQL, at a fraction of the cost (ingestion reads every batch back).
    """
    t = metadata.tables[table]
    names = OBJECT_COLUMNS[table]
    columns = [t.c[n] for n in names]
    query = select(*(type_coerce(c, NullType()).label(c.name) for c in columns)).where(condition)
    if after is not None:
        query = query.where(t.c.id > after)
    query = query.order_by(t.c.id)
    if limit is not None:
        query = query.limit(limit)
    rows = [dict(zip(names, raw, strict=True)) for raw in conn.execute(query).all()]
    for name, column in zip(names, columns, strict=True):  # a column at a time
        fix = _normaliser(column)
        if fix is not None:
            for row in rows:
                row[name] = fix(row[name])
    return rows


def append_objects(
    conn: Connection,
    table: str,
    condition: ColumnElement[bool],
    kind: Callable[[Mapping[str, Any]], str],
    now: datetime,
) -> list[int]:
    """Append an entry for every row of ``table`` matching ``condition``, as stored now (read
    back inside the transaction, so the digest is of what the store holds), in id order."""
    return append_forms(conn, table, stored_forms(conn, table, condition), kind, now)


def append_forms(
    conn: Connection,
    table: str,
    forms: Sequence[Mapping[str, Any]],
    kind: Callable[[Mapping[str, Any]], str],
    now: datetime,
) -> list[int]:
    """Append an entry for each of ``forms``, rows of ``table`` as :func:`stored_forms` read
    them in this transaction (for a caller that needs them for more than the ledger)."""
    entries = [
        # The row's values are in OBJECT_COLUMNS order: its object_digest, without the look-ups.
        for_object(kind(row), table, row, now, digest=form_digest(list(row.values())))
        for row in forms
    ]
    return append(conn, entries, now)
