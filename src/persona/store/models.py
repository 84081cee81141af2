"""The shared data model: SQLAlchemy 2 tables for every entity Persona stores.

External ids (``customer_id``, ``product_id``…) are the shop's own strings and serve as keys, so
files from any source join without a lookup. PII columns hold ciphertext only (see
``persona.privacy.crypto``); ``customer_key`` is the pseudonym analytics use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger ids autoincrement on SQLite only as INTEGER: use the variant there.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON()
TS = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# --- raw entities -------------------------------------------------------------------------------
class Customer(Base):
    __tablename__ = "customers"

    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    customer_key: Mapped[str] = mapped_column(String(32), unique=True, index=True)  # pseudonym
    email_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    email_hash: Mapped[str | None] = mapped_column(String(64), index=True)  # keyed hash, for suppression lists
    gender: Mapped[str | None] = mapped_column(String(32))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    city: Mapped[str | None] = mapped_column(String(128))
    country: Mapped[str | None] = mapped_column(String(64))
    timezone: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime | None] = mapped_column(TS)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(Json)
    is_stub: Mapped[bool] = mapped_column(Boolean, default=False)  # created from an event, no CRM row yet
    erased_at: Mapped[datetime | None] = mapped_column(TS)
    row_hash: Mapped[str | None] = mapped_column(String(64))  # hash of the ingested source row: re-ingest skips unchanged rows


class Product(Base):
    __tablename__ = "products"

    product_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    title: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(256), index=True)
    brand: Mapped[str | None] = mapped_column(String(256))
    price: Mapped[float | None] = mapped_column(Float)
    in_stock: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime | None] = mapped_column(TS)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(Json)
    is_stub: Mapped[bool] = mapped_column(Boolean, default=False)
    row_hash: Mapped[str | None] = mapped_column(String(64))  # hash of the ingested source row


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)  # given, or a content hash
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    product_id: Mapped[str | None] = mapped_column(String(128), index=True)
    event_type: Mapped[str] = mapped_column(String(64), index=True)
    ts: Mapped[datetime] = mapped_column(TS, index=True)
    value: Mapped[float | None] = mapped_column(Float)
    quantity: Mapped[float | None] = mapped_column(Float)
    revenue: Mapped[float | None] = mapped_column(Float)
    channel: Mapped[str | None] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(128))
    context: Mapped[dict[str, Any] | None] = mapped_column(Json)


class Review(Base):
    __tablename__ = "reviews"

    review_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    product_id: Mapped[str] = mapped_column(String(128), index=True)
    rating: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str | None] = mapped_column(Text)
    lang: Mapped[str | None] = mapped_column(String(16))
    ts: Mapped[datetime | None] = mapped_column(TS)
    sentiment: Mapped[float | None] = mapped_column(Float)  # filled by the text stage
    row_hash: Mapped[str | None] = mapped_column(String(64))  # hash of the ingested source row


class Consent(Base):
    """Append-only consent history: the latest row per (customer, channel, purpose) is in force."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_lookup", "customer_id", "channel", "purpose", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(64))
    granted: Mapped[bool] = mapped_column(Boolean)
    ts: Mapped[datetime] = mapped_column(TS)
    source: Mapped[str | None] = mapped_column(String(128))
    row_hash: Mapped[str] = mapped_column(String(64), unique=True)  # de-duplicates re-ingested files


class IngestRun(Base):
    """One ingestion of a file or a pulled source: its counts, quarantine file, status and, when it failed, why."""

    __tablename__ = "ingest_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(TS)
    finished_at: Mapped[datetime | None] = mapped_column(TS)
    status: Mapped[str] = mapped_column(String(16))  # running, done, failed
    read: Mapped[int] = mapped_column(BigInteger, default=0)
    accepted: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    quarantine: Mapped[str | None] = mapped_column(Text)
    fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)  # file identity: a rerun resumes
    position: Mapped[int | None] = mapped_column(BigInteger)  # last source line (or row) committed
    error: Mapped[str | None] = mapped_column(Text)  # a failed run's message (a PersonaError's, secrets already hidden)
    host: Mapped[str | None] = mapped_column(String(255))  # the process loading it (a run it left running when it died
    pid: Mapped[int | None] = mapped_column(Integer)  # is found by persona.ingest.runs.settle_dead_runs)


class SourceCursor(Base):
    """Where the next incremental pull of a database query or an API starts: the largest value of a column read.

    ``source_key`` names the source without secrets (a hash of the entity, the URL without password or header values,
    the query and the column); ``cursor_value`` is the raw value as read, as text, and ``cursor_type`` says how to read
    it back.
    """

    __tablename__ = "source_cursors"

    source_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(Text)  # as ingest_runs.source: the URL without credentials, and the query
    cursor_column: Mapped[str] = mapped_column(String(256))  # a column of the query, or a record field of the API
    cursor_value: Mapped[str] = mapped_column(Text)
    cursor_type: Mapped[str] = mapped_column(String(16))  # integer, float, decimal, timestamptz, timestamp, date, text
    updated_at: Mapped[datetime] = mapped_column(TS)
    run_id: Mapped[int | None] = mapped_column(BigInteger)  # the ingest_runs row that moved it last



class SyncJobRecord(Base):
    """A background pull of the configured sources (``POST /v1/sources/jobs``, the dashboard's Sync now).

    A row says ``running`` only while its runner holds the workspace's sync lock: it is written after the lock is
    taken and given its final status before the lock is let go. A ``running`` row that nobody holds the lock for
    belongs to a process that died (restart, OOM kill) and is marked ``interrupted`` by the next holder or probe.
    """

    __tablename__ = "sync_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random, unguessable
    status: Mapped[str] = mapped_column(String(16))  # running, done, failed, interrupted
    requested: Mapped[list[str]] = mapped_column(Json)  # the source names asked for; [] = all
    sources: Mapped[list[str]] = mapped_column(Json)  # the sources it pulls, in dependency order
    full_pull: Mapped[bool] = mapped_column(Boolean, default=False)  # 'full' is a reserved word in PostgreSQL
    requested_by: Mapped[str] = mapped_column(String(128))  # the audit's actor: api:<key prefix>, ui:<key prefix>
    started_at: Mapped[datetime] = mapped_column(TS, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(TS)
    result: Mapped[list[dict[str, Any]] | None] = mapped_column(Json)  # each finished source's row, as persona sync --json
    error: Mapped[str | None] = mapped_column(Text)
    hint: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(255))  # the process that ran it, for the operator
    pid: Mapped[int | None] = mapped_column(Integer)

# --- derived entities ---------------------------------------------------------------------------
class Profile(Base):
    __tablename__ = "profiles"

    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    features: Mapped[dict[str, Any]] = mapped_column(Json)
    embedding: Mapped[list[float] | None] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(TS)


class Segment(Base):
    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("method", "segment_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    method: Mapped[str] = mapped_column(String(32))  # rfm, kmeans, dbscan
    segment_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    explanation: Mapped[dict[str, Any] | None] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(TS)


class SegmentMembership(Base):
    __tablename__ = "segment_memberships"
    __table_args__ = (Index("ix_segment_memberships_segment", "method", "segment_id"),)

    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    method: Mapped[str] = mapped_column(String(32), primary_key=True)
    segment_id: Mapped[str] = mapped_column(String(64))


class Prediction(Base):
    """Latest per-customer score of a predictive model (churn, propensity, clv, next purchase)."""

    __tablename__ = "predictions"

    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. churn_probability, clv_12m
    value: Mapped[float | None] = mapped_column(Float)
    details: Mapped[dict[str, Any] | None] = mapped_column(Json)
    model_version: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(TS)


class ModelVersion(Base):
    """Model registry: every trained model, its parameters, metrics and artifact."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))  # recommender, churn, clv, …
    params: Mapped[dict[str, Any] | None] = mapped_column(Json)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(Json)
    artifact_path: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="candidate")  # candidate, active, retired, pruned
    created_at: Mapped[datetime] = mapped_column(TS)
    pruned_at: Mapped[datetime | None] = mapped_column(TS)  # when retention deleted its artifact (the row stays)


class Campaign(Base):
    __tablename__ = "campaigns"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    created_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)


class CampaignRun(Base):
    __tablename__ = "campaign_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign: Mapped[str] = mapped_column(String(128), ForeignKey("campaigns.name", ondelete="CASCADE"), index=True)
    run_key: Mapped[str] = mapped_column(String(128), unique=True)  # e.g. campaign:2026-11-24
    planned_at: Mapped[datetime] = mapped_column(TS)
    status: Mapped[str] = mapped_column(String(16))
    stats: Mapped[dict[str, Any] | None] = mapped_column(Json)


class Message(Base):
    """The outbox: one row per intended send, written before sending."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("run_id", "customer_id", "channel"),
        Index("ix_messages_status", "status", "next_attempt_at"),
        Index("ix_messages_customer_sent", "customer_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    run_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaign_runs.id", ondelete="CASCADE"))
    campaign: Mapped[str] = mapped_column(String(128), index=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    variant: Mapped[str | None] = mapped_column(String(64))
    strategy: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any] | None] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(16))  # planned, sending, sent, failed, suppressed
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS)
    sent_at: Mapped[datetime | None] = mapped_column(TS)


class Experiment(Base):
    __tablename__ = "experiments"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    salt: Mapped[str] = mapped_column(String(64))
    variants: Mapped[dict[str, Any]] = mapped_column(Json)  # {"control": 0.5, "treatment": 0.5}
    holdout: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(16), default="running")
    created_at: Mapped[datetime] = mapped_column(TS)


class Assignment(Base):
    """Exposure log: a customer was shown a variant of an experiment."""

    __tablename__ = "assignments"

    experiment: Mapped[str] = mapped_column(String(128), ForeignKey("experiments.name", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    variant: Mapped[str] = mapped_column(String(64))
    exposed_at: Mapped[datetime] = mapped_column(TS)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # shown in listings, not secret
    key_hash: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(16))  # read, write, admin
    name: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(TS)
    revoked_at: Mapped[datetime | None] = mapped_column(TS)
    last_used_at: Mapped[datetime | None] = mapped_column(TS)


class AuditLog(Base):
    """Who did what, without the data itself (customers are named by pseudonym)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(TS, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any] | None] = mapped_column(Json)


TABLES = Base.metadata.tables
