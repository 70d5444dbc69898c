"""The `candidates` table: each model's shadow / canary candidate as every replica should run it.

Like rollouts, the newest row of a model wins and every replica polls it (`service.candidate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select

from service.log.tables import CandidateRow

CANDIDATES = CandidateRow.__table__.c


@dataclass(frozen=True)
class CandidateSetting:
    """One model's candidate: its artifact and the shares of traffic it shadows and answers."""

    model: str
    model_dir: str | None  # None: no candidate
    version: str | None  # the version that artifact holds (a replica whose copy differs does not run it)
    shadow_percent: float = 0.0  # of the primary's requests, scored again by the candidate after the answer
    canary_percent: float = 0.0  # of the clients (or requests when open), answered by the candidate
    id: int | None = None  # its row in `candidates`; None for a setting not (yet) recorded
    requested_by: str | None = None
    created_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.model_dir is not None


def latest_candidate(engine: Engine, model: str) -> CandidateSetting | None:
    """The model's newest candidate row, or None when none was ever recorded."""
    query = select(CandidateRow.__table__).where(CANDIDATES.model == model).order_by(CANDIDATES.id.desc()).limit(1)
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        return None
    return CandidateSetting(
        row.model,
        row.model_dir,
        row.version,
        row.shadow_percent,
        row.canary_percent,
        row.id,
        row.requested_by,
        row.created_at,
    )


def record_candidate(engine: Engine, setting: CandidateSetting, *, requested_by: str) -> int:
    """Insert a candidate row for every replica to follow and return its id."""
    values = {
        "created_at": datetime.now(UTC),
        "model": setting.model,
        "model_dir": setting.model_dir,
        "version": setting.version,
        "shadow_percent": setting.shadow_percent,
        "canary_percent": setting.canary_percent,
        "requested_by": requested_by,
    }
    with engine.begin() as connection:
        return int(connection.execute(insert(CandidateRow).returning(CandidateRow.id), [values]).scalar_one())
