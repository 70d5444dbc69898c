"""What a replica knows of the fleet's newest rollout of one model (for /readyz and the metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class RolloutState:
    """What this replica knows of the fleet's newest rollout (for /readyz and the metrics)."""

    seen_id: int | None = None  # newest rollout row this replica has acted on
    wanted: str | None = None  # the version that row names
    model_dir: str | None = None  # the artifact it names (None: the configured one)
    error: str | None = None  # why this replica does not serve `wanted`
    retry_at: float = 0.0  # monotonic time of the next try while `error` is set
    retry_s: float = 0.0
    poll_error: str | None = None  # the last failure to read the rollouts table

    def check(self, serving: str | None) -> dict[str, Any]:
        return {
            "id": self.seen_id,
            "version": self.wanted,
            "in_step": self.wanted is None or self.wanted == serving,
            "error": self.error,
            "poll_error": self.poll_error,
        }
