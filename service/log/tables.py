"""The log database's tables: one row per text served, feedback on those rows, model rollouts.

Alembic migrations (`migrations/versions`) create them; these classes must match the newest one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class RequestLogRow(Base):
    __tablename__ = "request_log"
    __table_args__ = (
        Index("ix_request_log_version_created", "model_version", "created_at"),
        Index("ix_request_log_label_created", "label", "created_at"),  # 0002: replaces 0001's (label)
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
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


class FeedbackRow(Base):
    """Ground truth for one logged prediction (request id + item index); the latest answer wins."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("request_id", "item_index", name="uq_feedback_item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    request_id: Mapped[str] = mapped_column(String(128))
    item_index: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    client_key_id: Mapped[str | None] = mapped_column(String(16))


class RolloutRow(Base):
    """A model version that every replica should serve: the newest row wins."""

    __tablename__ = "rollouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[str] = mapped_column(String(32))
    model_dir: Mapped[str | None] = mapped_column(Text)  # None = the replica's configured artifact
    requested_by: Mapped[str | None] = mapped_column(String(128))  # the replica that took the admin request


COLUMNS = [c.name for c in RequestLogRow.__table__.columns if c.name != "id"]
