"""One named model as the service holds it: its artifact, batcher and bounded queue, rollout state.

Each model has its own `MicroBatcher` (its own queue and inference worker), so one model's backlog
never makes another model's requests wait. A shadow or canary candidate joins this type later.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from model import Predictor
from service.batcher import MicroBatcher
from service.rollout_state import RolloutState


@dataclass(eq=False)
class ServedModel:
    name: str  # the one name on v1, OIP, the log, the metrics and the client
    model_dir: Path | None  # its configured artifact (None: the shipped model)
    batcher: MicroBatcher  # swapped model by model: `batcher.predictor` is the one reference a reload replaces
    rollout: RolloutState = field(default_factory=RolloutState)  # the fleet's newest rollout of this model
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one reload or rollout of it at a time

    @property
    def predictor(self) -> Predictor:
        return self.batcher.predictor
