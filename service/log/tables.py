"""The log database's tables: one row per text served, feedback on those rows, model rollouts, candidates.

Alembic migrations (`migrations/versions`) create them; these classes must match the newest one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

LOG_ID = BigInteger().with_variant(Integer, "sqlite")  # a request-log row's id (0009)


class Base(DeclarativeBase):
    pass


class RequestLogRow(Base):
    __tablename__ = "request_log"
    __table_args__ = (
        Index("ix_request_log_version_created", "model_version", "created_at"),
        Index("ix_request_log_label_created", "label", "created_at"),  # 0002: replaces 0001's (label)
        Index("ix_request_log_model_created", "model", "created_at"),  # 0006
    )

    # BIGINT on PostgreSQL (0009); SQLite's INTEGER PRIMARY KEY is its 64-bit rowid (a BIGINT one would not be)
    id: Mapped[int] = mapped_column(LOG_ID, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    request_id: Mapped[str] = mapped_column(String(128), index=True)
    endpoint: Mapped[str] = mapped_column(String(64))
    item_index: Mapped[int] = mapped_column(Integer)  # position of the text in its request
    client_key_id: Mapped[str | None] = mapped_column(String(16))  # hash prefix of the key, never the key
    text: Mapped[str | None] = mapped_column(Text)  # LOG_TEXT=full
    text_sha256: Mapped[str | None] = mapped_column(String(64))  # LOG_TEXT=full or hash
    text_chars: Mapped[int] = mapped_column(Integer)
    label: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[str | None] = mapped_column(String(32))
    batch_size: Mapped[int | None] = mapped_column(Integer)
    queue_wait_ms: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float)
    status: Mapped[int] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(64))
    # Added by 0002: what the request asked for, and what the model read of the text.
    explain: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    sentences: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    tokens: Mapped[int | None] = mapped_column(Integer)  # tokens in the text (before truncation)
    unknown_tokens: Mapped[int | None] = mapped_column(Integer)  # of the tokens read, those not in the vocabulary
    # Added by 0006: the served model's name (SENTIMENT_MODELS); NULL on older rows = the default model.
    model: Mapped[str | None] = mapped_column(String(64))
    # Added by 0007: the language the text was read as (named by the request or detected); NULL before.
    language: Mapped[str | None] = mapped_column(String(16))
    # Added by 0008: primary (the model's answer), canary (its candidate's answer) or shadow (the
    # candidate's score of a text the primary answered: never an answer, left out of every served figure).
    role: Mapped[str] = mapped_column(String(16), server_default="primary")


class FeedbackRow(Base):
    """Ground truth for one logged prediction, bound to its log row; the owner's latest answer wins.

    `owner_key_id` is the client key id of the prediction (not of whoever answered: an admin may
    answer for a client), '' without one; `log_id` the very row answered (0004).
    """

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("request_id", "item_index", "owner_key_id", name="uq_feedback_owner_item"),
        Index("ix_feedback_log_id", "log_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    request_id: Mapped[str] = mapped_column(String(128))
    item_index: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    client_key_id: Mapped[str | None] = mapped_column(String(16))  # who answered
    log_id: Mapped[int | None] = mapped_column(LOG_ID)  # request_log.id; None once that row is gone
    owner_key_id: Mapped[str] = mapped_column(String(16), default="", server_default="")
    exported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # export-feedback (0005)


class RolloutRow(Base):
    """A model version that every replica should serve: the newest row of each model wins."""

    __tablename__ = "rollouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[str] = mapped_column(String(32))
    model_dir: Mapped[str | None] = mapped_column(Text)  # None = the replica's configured artifact
    requested_by: Mapped[str | None] = mapped_column(String(128))  # the replica that took the admin request
    model: Mapped[str | None] = mapped_column(String(64))  # the model's name (0006); NULL = the default model


class CandidateRow(Base):
    """A model's shadow / canary candidate as every replica should run it: the newest row of each model wins.

    A row without `model_dir` stops the candidate (an admin's stop, or a promote once its rollout is recorded).
    """

    __tablename__ = "candidates"
    __table_args__ = (Index("ix_candidates_model_id", "model", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    model: Mapped[str] = mapped_column(String(64))  # the served model it is a candidate for
    model_dir: Mapped[str | None] = mapped_column(Text)  # its artifact (an absolute path); None = no candidate
    version: Mapped[str | None] = mapped_column(String(32))  # what that artifact held on the replica that asked
    shadow_percent: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    canary_percent: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    requested_by: Mapped[str | None] = mapped_column(String(128))


class StatsRollupRow(Base):
    """The request log's figures over one whole minute, hour or day, per model version (added by 0003).

    One row per (span, start, version, figure, category, bin): `count` rows fell in it, `total` is the
    sum of the figure's values there, `low`/`high` the smallest and largest. Rebuilt from the log by
    `service.log.rollup`; `/v1/stats` reads whole minutes, hours and days from here.
    """

    __tablename__ = "stats_rollup"

    span_s: Mapped[int] = mapped_column(Integer, primary_key=True)  # 60 (a minute), 3600 (an hour) or 86400 (a UTC day)
    start_s: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # epoch seconds, a multiple of span_s
    model_version: Mapped[str] = mapped_column(String(32), primary_key=True)  # '' for rows without one
    figure: Mapped[str] = mapped_column(String(24), primary_key=True)  # rows, label, error_code, score, ...
    category: Mapped[str] = mapped_column(String(64), primary_key=True)  # the label or error code; '' for bins
    bin: Mapped[int] = mapped_column(Integer, primary_key=True)  # the histogram bin; 1 = error rows for `rows`
    count: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[float | None] = mapped_column(Float)
    low: Mapped[float | None] = mapped_column(Float)
    high: Mapped[float | None] = mapped_column(Float)


class StatsRollupState(Base):
    """How far the rollup reaches (one row, id 1): every minute before `watermark_s` is in stats_rollup."""

    __tablename__ = "stats_rollup_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    watermark_s: Mapped[int | None] = mapped_column(BigInteger)  # epoch seconds, a whole minute; None = nothing yet
    seen_id: Mapped[int | None] = mapped_column(BigInteger)  # the newest log row id at the last pass
    rescan_from_id: Mapped[int | None] = mapped_column(BigInteger)  # the newest id the pass before: late rows above
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


COLUMNS = [c.name for c in RequestLogRow.__table__.columns if c.name != "id"]
