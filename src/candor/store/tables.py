"""The store's tables (SQLAlchemy Core). Alembic migrations create them; this is their source.

Design rules, so that moving from SQLite to PostgreSQL is a change of configuration:
- 64-bit integer keys (plain INTEGER on SQLite, where only that aliases the rowid);
- dates as DATE, instants as UTC timestamps, attributes as JSON (JSONB on PostgreSQL);
- no raw external identifier anywhere: ``identifiers.digest`` is their keyed hash;
- records are never updated except to resolve ``refers_to_id`` and ``original_id`` in the batch
  that wrote them, and to erase their personal data at the end of retention.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant, stored in UTC and always read back time-zone aware.

    SQLite has no time zones: without this, an instant written as UTC comes back naive.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def _one_of(column: str, *values: str) -> str:
    """A CHECK that a column holds one of a few words, written as ORs: SQLite evaluates
    `x IN (…)` in a CHECK through a temporary look-up table per row, which made inserting a
    record about 30% slower."""
    return " OR ".join(f"{column} = '{v}'" for v in values)


Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")
Instant = UTCDateTime()

sources = Table(
    "sources",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("description", String(500), nullable=False, server_default=""),
    Column("created_at", Instant, nullable=False),
)

# The record types a source may submit. A record of any other type is rejected.
source_mandates = Table(
    "source_mandates",
    metadata,
    Column("source_id", ForeignKey("sources.id"), primary_key=True),
    Column("record_type", String(80), primary_key=True),
    Column("granted_at", Instant, nullable=False),
)

subjects = Table(
    "subjects",
    metadata,
    Column("id", Id, primary_key=True),
    # The subject's public reference (URLs, the subject file): random, so it reveals nothing.
    Column("ref", String(32), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    # Facts the identifier itself encodes, kept because the identifier is not: the region code
    # (for regional breakdowns) and, for persons, the birth date (for identity resolution).
    Column("region_code", String(6)),
    Column("birth_date", Date),
    Column("created_at", Instant, nullable=False),
    CheckConstraint(_one_of("kind", "person", "organisation", "unknown"), name="kind"),
)

# External identifiers, only as HMAC-SHA256 of "scheme:identifier" under key `key_id`.
identifiers = Table(
    "identifiers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("subject_id", ForeignKey("subjects.id"), nullable=False, index=True),
    Column("scheme", String(16), nullable=False),
    Column("key_id", SmallInteger, nullable=False),
    Column("digest", LargeBinary(32), nullable=False),
    Column("created_at", Instant, nullable=False),
    UniqueConstraint("key_id", "digest"),
)

# The identifier keys the store's hashes use (see candor.domain.pseudonyms): key 1 from the
# start, and one row per `candor keys rotate`. A key is registered before any hash is re-keyed
# to it: a process that finds a newer key here than its secret holds knows it is behind.
identifier_keys = Table(
    "identifier_keys",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("registered_at", Instant, nullable=False),
    # When the last hash under an older key was re-keyed to this one, and how many were.
    Column("rekeyed_at", Instant),
    Column("rekeyed", BigInteger),
)

# One run of ingestion: a file from the CLI or a request to the API.
ingestions = Table(
    "ingestions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("source_id", ForeignKey("sources.id"), nullable=False, index=True),
    Column("channel", String(8), nullable=False),
    Column("file_name", String(255)),
    Column("started_at", Instant, nullable=False),
    Column("finished_at", Instant),
    Column("status", String(16), nullable=False),
    Column("rows_read", BigInteger, nullable=False, server_default="0"),
    Column("accepted", BigInteger, nullable=False, server_default="0"),
    Column("rejected", BigInteger, nullable=False, server_default="0"),
    Column("duplicates", BigInteger, nullable=False, server_default="0"),
    Column("error", Text),
    CheckConstraint(_one_of("channel", "file", "api"), name="channel"),
    CheckConstraint(_one_of("status", "running", "completed", "failed"), name="status"),
)

# One committed batch of an ingestion: what was acknowledged, and when.
ingest_batches = Table(
    "ingest_batches",
    metadata,
    Column("id", Id, primary_key=True),
    Column("ingestion_id", ForeignKey("ingestions.id"), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("first_row", BigInteger),
    Column("last_row", BigInteger),
    Column("accepted", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("committed_at", Instant, nullable=False),
    UniqueConstraint("ingestion_id", "seq"),
)

records = Table(
    "records",
    metadata,
    Column("id", Id, primary_key=True),
    Column("source_id", ForeignKey("sources.id"), nullable=False),
    Column("source_record_id", String(128), nullable=False),
    Column("subject_id", ForeignKey("subjects.id"), nullable=False, index=True),
    Column("identifier_id", ForeignKey("identifiers.id"), nullable=False),
    Column("record_type", String(80), nullable=False),
    # Empty: the name is sealed in `sealed`. (Records stored before data keys hold it here.)
    Column("name", String(200), nullable=False),
    Column("occurred_on", Date, nullable=False),
    Column("decided_on", Date, nullable=False),
    Column("legal_basis", String(1000), nullable=False),
    Column("status", String(16), nullable=False),
    Column("refers_to", String(128)),
    Column("refers_to_id", ForeignKey("records.id")),
    # The first version of the decision this record is a later version of (a record of the same
    # type that refers_to another corrects, confirms or revokes it); NULL for a first version.
    Column("original_id", ForeignKey("records.id")),
    Column("attributes", Json, nullable=False),  # all but the personal ones
    Column("batch_id", ForeignKey("ingest_batches.id"), nullable=False),
    # The record's personal data — its name and personal attributes — sealed under its subject's
    # data key (see candor.domain.sealing); NULL once erased, on `erased_on`.
    Column("sealed", LargeBinary),
    Column("erased_on", Date),
    # Idempotency: a source's own id names one record, once.
    UniqueConstraint("source_id", "source_record_id"),
    CheckConstraint(_one_of("status", "final", "under_review", "overturned"), name="status"),
    CheckConstraint("decided_on >= occurred_on", name="dates"),
)
# Partial: most records refer to nothing, and indexing their NULLs would slow every insert.
Index(
    "ix_records_refers_to_id",
    records.c.refers_to_id,
    sqlite_where=records.c.refers_to_id.is_not(None),
    postgresql_where=records.c.refers_to_id.is_not(None),
)

# Why rows were not accepted, kept with the batch that read them.
rejects = Table(
    "rejects",
    metadata,
    Column("id", Id, primary_key=True),
    Column("batch_id", ForeignKey("ingest_batches.id"), nullable=False, index=True),
    Column("row", BigInteger, nullable=False),
    Column("source_record_id", String(128)),
    Column("field", String(80), nullable=False),
    Column("reason", String(500), nullable=False),
)


# Rulebook versions, exactly as published. Per rulebook name, the version with the latest
# `effective_from` on or before a date governs that date; nothing is ever deleted, so any rating
# can be recomputed under the version that governed it.
rulebooks = Table(
    "rulebooks",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(64), nullable=False),
    Column("version", String(32), nullable=False),
    Column("title", String(200), nullable=False),
    Column("content", Text, nullable=False),
    Column("digest", String(64), nullable=False),  # SHA-256 of content
    Column("effective_from", Date, nullable=False),
    Column("activated_at", Instant, nullable=False),
    # Who activated it (``cli:<user>`` at the command line); NULL before revision 0012.
    Column("activated_by", String(64), nullable=True),
    UniqueConstraint("name", "version"),
)

# One batch rating of every subject: the date rated for and the last record it read.
rating_runs = Table(
    "rating_runs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("as_of", Date, nullable=False),
    Column("through_record_id", BigInteger, nullable=False),
    Column("started_at", Instant, nullable=False),
    Column("finished_at", Instant),
    Column("subjects", BigInteger, nullable=False, server_default="0"),
)

# Subjects rated one at a time since the last run (their records changed).
subject_rerates = Table(
    "subject_rerates",
    metadata,
    Column("subject_id", ForeignKey("subjects.id"), primary_key=True),
    Column("as_of", Date, nullable=False),
    Column("through_record_id", BigInteger, nullable=False),
    Column("rated_at", Instant, nullable=False),
)

# The current rating of each subject under each scoring rulebook version.
ratings = Table(
    "ratings",
    metadata,
    Column("rulebook_id", ForeignKey("rulebooks.id"), primary_key=True),
    Column("subject_id", ForeignKey("subjects.id"), primary_key=True, index=True),
    Column("as_of", Date, nullable=False),
    Column("consented", Boolean, nullable=False),
    Column("score", Integer),
    Column("grade", String(8)),
)

# Every change of a rating: the rating history a subject's file shows.
rating_changes = Table(
    "rating_changes",
    metadata,
    Column("id", Id, primary_key=True),
    Column("rulebook_id", ForeignKey("rulebooks.id"), nullable=False),
    Column("subject_id", ForeignKey("subjects.id"), nullable=False, index=True),
    Column("as_of", Date, nullable=False),
    Column("score", Integer),
    Column("grade", String(8)),
    Column("previous_score", Integer),
    Column("previous_grade", String(8)),
    Column("changed_at", Instant, nullable=False),
)

# Listings: one per entry record (the first version of its decision) and list. A listing is
# never deleted: it ends at its term, on a removal trigger, or — when its entry record is
# overturned — is marked withdrawn.
listings = Table(
    "listings",
    metadata,
    Column("id", Id, primary_key=True),
    Column("ref", String(32), nullable=False, unique=True),
    Column("rulebook_id", ForeignKey("rulebooks.id"), nullable=False),
    Column("list_name", String(64), nullable=False),
    Column("subject_id", ForeignKey("subjects.id"), nullable=False, index=True),
    Column("record_id", ForeignKey("records.id"), nullable=False),
    Column("criterion", SmallInteger, nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date),
    Column("removed_on", Date),
    Column("removed_by", ForeignKey("records.id")),
    Column("withdrawn_on", Date),
    Column("as_of", Date, nullable=False),
    Column("updated_at", Instant, nullable=False),
    # What its subject was last told (announced, in_force, ended): a rating that finds the
    # listing in another phase tells them again (see ``candor.services.subject_notices``).
    Column("phase", String(16)),
    UniqueConstraint("rulebook_id", "list_name", "record_id"),
)

# Every check a relying party made: who asked, why, about which subject, and the answer. The
# identifier asked about is not kept — only the subject it named, if any.
checks = Table(
    "checks",
    metadata,
    Column("id", Id, primary_key=True),
    Column("checked_at", Instant, nullable=False),
    Column("client", String(64), nullable=False),
    Column("purpose", String(200), nullable=False),
    Column("measure", String(64), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("subject_id", ForeignKey("subjects.id"), index=True),
    Column("applies", Boolean, nullable=False),
    Column("listing_id", ForeignKey("listings.id")),
    Column("until", Date),
    # How many checks this row stands for: 1, except for a bulk check's identifiers that name
    # no subject, logged as one row per (request, answer) (see ``candor.services.checks``).
    Column("times", Integer, nullable=False, server_default="1"),
)


# Clients: every caller of the API other than the public. One role each (separate duties,
# separate credentials); a name is never reused, so logs that name a client stay unambiguous.
clients = Table(
    "clients",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("description", String(500), nullable=False, server_default=""),
    Column("source_id", ForeignKey("sources.id")),  # role source: the source it submits for
    Column("subject_id", ForeignKey("subjects.id")),  # role subject: who it is
    # Relying parties: the measures they may check and the purposes they may state.
    Column("measures", Json, nullable=False),
    Column("purposes", Json, nullable=False),
    Column("rate_per_minute", Integer),  # NULL: the deployment's default
    Column("bulk_per_day", BigInteger),  # NULL: the deployment's default
    Column("created_at", Instant, nullable=False),
    Column("revoked_at", Instant),
    CheckConstraint(
        _one_of("role", "source", "officer", "reviewer", "relying_party", "subject", "auditor"),
        name="role",
    ),
)

# Credentials of clients, only as argon2id hashes. `public_id` is the token's visible prefix
# part: it finds the row to verify against, and names the token in lists and revocations.
# Kinds: `api` (a machine client's bearer token, also its OAuth2 client secret) and
# `sign_in` (a one-time link for a subject, spent on first use).
client_tokens = Table(
    "client_tokens",
    metadata,
    Column("id", Id, primary_key=True),
    Column("public_id", String(16), nullable=False, unique=True),
    Column("client_id", ForeignKey("clients.id"), nullable=False, index=True),
    Column("kind", String(8), nullable=False),
    Column("hash", String(200), nullable=False),
    Column("created_at", Instant, nullable=False),
    Column("expires_at", Instant, nullable=False),
    Column("revoked_at", Instant),
    Column("used_at", Instant),  # sign_in: when it was spent
    CheckConstraint(_one_of("kind", "api", "sign_in"), name="kind"),
)

# Identifiers a relying party checked in bulk, per day: the daily cap holds across servers.
client_usage = Table(
    "client_usage",
    metadata,
    Column("client_id", ForeignKey("clients.id"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("bulk_identifiers", BigInteger, nullable=False),
)

# Every read of a subject's data other than a check (checks have their own log): who, why,
# when, about whom and what was returned. The subject sees these in their file.
accesses = Table(
    "accesses",
    metadata,
    Column("id", Id, primary_key=True),
    Column("accessed_at", Instant, nullable=False),
    Column("client", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("purpose", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("subject_id", ForeignKey("subjects.id"), index=True),
    Column("returned", String(500), nullable=False),
)


# --- the ledger (see candor.services.ledger) ---------------------------------------------------

# Every state change, in order: leaf `leaf_index` of the ledger's Merkle tree. `data` is the
# entry exactly as hashed (canonical JSON: what changed, when, and the SHA-256 of the changed
# object's stored form); the object it names is checked against that digest by `ledger verify`.
ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(32), nullable=False),
    Column("object_table", String(32)),
    Column("object_id", BigInteger),
    # Not indexed: a subject's entries are found through its records and listings.
    Column("subject_id", ForeignKey("subjects.id")),
    Column("data", LargeBinary, nullable=False),
    Column("recorded_at", Instant, nullable=False),
)
Index("ix_ledger_entries_object", ledger_entries.c.object_table, ledger_entries.c.object_id)

# The tree's complete subtrees, by tiles: the hashes at tree level 8·`tile_level` of nodes
# 256·`tile_index` … 256·`tile_index` + 255, concatenated (fewer in the right-edge tile). Nodes
# between tile levels are hashed up from the tile below on demand (C2SP tlog-tiles' layout).
ledger_tiles = Table(
    "ledger_tiles",
    metadata,
    Column("tile_level", SmallInteger, primary_key=True, autoincrement=False),
    Column("tile_index", BigInteger, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary, nullable=False),
)

# Signed tree heads: the root of the first `size` leaves, signed (Ed25519) with the ledger key
# derived from deployment secret key `key_id`. One per transaction that appended entries.
ledger_heads = Table(
    "ledger_heads",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("signed_at", Instant, nullable=False),
    Column("key_id", SmallInteger, nullable=False),
    Column("signature", LargeBinary(64), nullable=False),
)


# --- notices (see candor.services.notices) -----------------------------------------------------

# What a subject or a relying party is told: a record about them was accepted, a listing is
# about to take effect, an objection was decided, an answer they had changed. The row is the
# notice, kept for good (the "stored" channel, which every notice has); `body` is the notice as a
# person reads it, `data` the same in structured form.
notices = Table(
    "notices",
    metadata,
    Column("id", Id, primary_key=True),
    Column("subject_id", ForeignKey("subjects.id"), index=True),
    Column("client_id", ForeignKey("clients.id"), index=True),  # a relying party's notice
    Column("kind", String(32), nullable=False),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("data", Json, nullable=False),
    Column("created_at", Instant, nullable=False),
    CheckConstraint("(subject_id IS NULL) <> (client_id IS NULL)", name="recipient"),
)

# Sending a notice by email or webhook: one row per address, retried with backoff until
# delivered or, after the deployment's most attempts, marked failed — kept and listed, never
# dropped. A pending row is due at `next_attempt_at`; a sender that claims it moves that forward
# by a lease, so that no other sender takes it while it is being sent.
notice_deliveries = Table(
    "notice_deliveries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("notice_id", ForeignKey("notices.id"), nullable=False, index=True),
    Column("channel", String(16), nullable=False),
    Column("address", String(320), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Instant),
    Column("last_attempt_at", Instant),
    Column("delivered_at", Instant),
    Column("last_error", String(500)),
    CheckConstraint(_one_of("channel", "email", "webhook"), name="channel"),
    CheckConstraint(_one_of("status", "pending", "delivered", "failed"), name="status"),
)
Index("ix_notice_deliveries_due", notice_deliveries.c.status, notice_deliveries.c.next_attempt_at)

# Where a subject or a relying party wants its notices sent besides the store: an email address
# or a webhook URL. Every notice to the recipient gets one delivery per address.
notice_addresses = Table(
    "notice_addresses",
    metadata,
    Column("id", Id, primary_key=True),
    Column("subject_id", ForeignKey("subjects.id"), index=True),
    Column("client_id", ForeignKey("clients.id"), index=True),
    Column("channel", String(16), nullable=False),
    Column("address", String(320), nullable=False),
    Column("added_at", Instant, nullable=False),
    Column("added_by", String(64), nullable=False),
    CheckConstraint("(subject_id IS NULL) <> (client_id IS NULL)", name="recipient"),
    CheckConstraint(_one_of("channel", "email", "webhook"), name="channel"),
    UniqueConstraint("subject_id", "client_id", "channel", "address"),
)


# --- objections and appeals (see candor.services.objections) -----------------------------------

# A subject's objection to a record, a listing or a rating, and its whole course: filed → in
# review → decided (upheld, partly upheld, rejected, with reasons) → appealed → final. The
# reviewer of an appeal must differ from the one who decided first (checked by the service).
objections = Table(
    "objections",
    metadata,
    Column("id", Id, primary_key=True),
    Column("ref", String(32), nullable=False, unique=True),
    Column("subject_id", ForeignKey("subjects.id"), nullable=False, index=True),
    Column("about", String(16), nullable=False),
    Column("record_id", ForeignKey("records.id")),  # the record (a listing's: its entry record)
    Column("listing_id", ForeignKey("listings.id")),
    Column("rulebook_id", ForeignKey("rulebooks.id")),  # a rating: under which rulebook
    Column("statement", Text, nullable=False),
    Column("filed_by", String(64), nullable=False),
    Column("filed_at", Instant, nullable=False),
    Column("due_on", Date, nullable=False),  # the review's deadline
    Column("state", String(16), nullable=False),
    Column("reviewer", String(64)),
    Column("decision", String(16)),
    Column("reasons", Text),
    Column("decided_by", String(64)),
    Column("decided_at", Instant),
    Column("appeal_statement", Text),
    Column("appealed_at", Instant),
    Column("appeal_due_on", Date),
    Column("appeal_decision", String(16)),
    Column("appeal_reasons", Text),
    Column("appeal_decided_by", String(64)),
    Column("appeal_decided_at", Instant),
    Column("correction_record_id", ForeignKey("records.id")),
    CheckConstraint(_one_of("about", "record", "listing", "rating"), name="about"),
    CheckConstraint(
        _one_of("state", "filed", "in_review", "decided", "appealed", "final"), name="state"
    ),
)

# What a subject attaches to an objection (proof of payment, a court's later ruling), as sent.
objection_attachments = Table(
    "objection_attachments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("objection_id", ForeignKey("objections.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("added_at", Instant, nullable=False),
)


# --- repair: early removal from a list (see candor.services.repair) ----------------------------

# A subject's application for early removal from a list after its minimum publicity period, with
# proof of performance, and its course: filed → in review → approved | refused (with reasons).
# Approval adds the list's repair record (`approval_record_id`), which ends the listing.
repairs = Table(
    "repairs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("ref", String(32), nullable=False, unique=True),
    Column("subject_id", ForeignKey("subjects.id"), nullable=False, index=True),
    Column("listing_id", ForeignKey("listings.id"), nullable=False, index=True),
    Column("statement", Text, nullable=False),  # the statement of performance ("" with proof only)
    Column("filed_by", String(64), nullable=False),
    Column("filed_at", Instant, nullable=False),
    Column("due_on", Date, nullable=False),  # the review's deadline
    Column("state", String(16), nullable=False),
    Column("reviewer", String(64)),
    Column("reasons", Text),
    Column("decided_by", String(64)),
    Column("decided_at", Instant),
    Column("approval_record_id", ForeignKey("records.id")),
    CheckConstraint(_one_of("state", "filed", "in_review", "approved", "refused"), name="state"),
)

# The proof of performance a subject sends with an application (a receipt, a court's note of
# satisfaction), as sent; the hash lets the reviewer and the subject cite the same bytes.
repair_attachments = Table(
    "repair_attachments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("repair_id", ForeignKey("repairs.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("added_at", Instant, nullable=False),
)


# --- personal data: sealing, retention and erasure (see candor.services.retention) -------------

# Each subject's data key, which seals its records' personal data: 32 random bytes, kept only
# wrapped (AES-256-GCM) under the key-encryption key derived from deployment secret key
# `kek_id`. Shredding deletes the wrapped key (`wrapped` NULL, `shredded_at` set): every copy of
# the subject's sealed data, anywhere, becomes unreadable. A record about the subject after that
# gets a new key in the same row.
subject_keys = Table(
    "subject_keys",
    metadata,
    Column("subject_id", ForeignKey("subjects.id"), primary_key=True, autoincrement=False),
    Column("kek_id", SmallInteger, nullable=False),
    Column("wrapped", LargeBinary),
    Column("created_at", Instant, nullable=False),
    Column("shredded_at", Instant),
)

# An officer's erasure of one subject's personal data at once (a court order, a lawful request):
# who, why and when. The erased records' ledger entries name this row; the reason stays here,
# out of the ledger, which can never forget what it holds.
erasures = Table(
    "erasures",
    metadata,
    Column("id", Id, primary_key=True),
    Column("subject_id", ForeignKey("subjects.id"), nullable=False, index=True),
    Column("reason", String(1000), nullable=False),
    Column("requested_by", String(64), nullable=False),
    Column("erased_at", Instant, nullable=False),
    Column("records", Integer, nullable=False),
)
