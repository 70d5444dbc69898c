"""One named model as the service holds it: its artifact, batcher and bounded queue, rollout state, and
its shadow / canary candidate.

Each model has its own `MicroBatcher` (its own queue and inference worker), so one model's backlog
never makes another model's requests wait. A candidate (`service.candidate`) has a batcher of its own
too: the requests of its canary share queue there, never behind the primary's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from model import Predictor
from service.batcher import MicroBatcher
from service.rollout_state import RolloutState

if TYPE_CHECKING:
    from service.candidate.candidates import Candidate


@dataclass(eq=False)
class ServedModel:
    name: str  # the one name on v1, OIP, the log, the metrics and the client
    model_dir: Path | None  # its configured artifact (None: the shipped model)
    batcher: MicroBatcher  # swapped model by model: `batcher.predictor` is the one reference a reload replaces
    rollout: RolloutState = field(default_factory=RolloutState)  # the fleet's newest rollout of this model
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one reload or rollout of it at a time
    candidate: Candidate | None = None  # its shadow / canary candidate, if any (one reference, swapped whole)
    role: Literal["primary", "canary"] = "primary"  # which version answers through this (see `answered_by`)

    @property
    def predictor(self) -> Predictor:
        return self.batcher.predictor

    def answered_by(self, candidate: Candidate) -> ServedModel:
        """This model as its canary share sees it: same name, the candidate's batcher (a view for one request)."""
        return replace(self, batcher=candidate.batcher, candidate=None, role="canary")
