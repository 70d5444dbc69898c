"""Each model's shadow / canary candidate on this replica, set by an admin call or a setting and
followed from the log database, so every replica runs the same one.

An admin call (`PUT /v1/models/{name}/candidate`) loads the artifact here, checks it with a
prediction, runs it and records a `candidates` row; every replica sharing the database reads each
model's newest row every `SENTIMENT_ROLLOUT_POLL_S` seconds and runs what it names, if its own copy
of the artifact holds the row's version (else it runs no candidate for that model and reports why,
trying again with backoff). `SENTIMENT_CANDIDATES` is the candidate at start of a model that no row
names yet. Promote is a rollout of the candidate (`service.rollout.reload`, which every replica
follows) and then a row that stops it; stop is that row alone.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model import Predictor
from model.errors import first_line
from service.batcher import MicroBatcher
from service.candidate.shadow import ShadowLane
from service.candidate.share import in_share
from service.errors import ServiceError
from service.log import query_in_thread
from service.log.candidates import CandidateSetting, latest_candidate, record_candidate
from service.log.recorder import Item, RequestFacts
from service.rollout import MAX_RETRY_S, load_checked, release_memory, reload, replica_name
from service.schemas import ReloadResponse

if TYPE_CHECKING:
    from service.served import ServedModel
    from service.state import ServiceState

log = logging.getLogger("service.candidate")
QUIET_S = 0.02  # the shadow lane runs once every batcher has been idle this long: under load, batches come closer


class CandidateFailed(ServiceError):
    status, code = 422, "candidate_failed"


class NoCandidate(ServiceError):
    status, code = 409, "no_candidate"


@dataclass(eq=False)
class Candidate:
    """A running candidate: what the fleet asked for, and its own batcher (canary answers queue there)."""

    setting: CandidateSetting
    batcher: MicroBatcher

    @property
    def predictor(self) -> Predictor:
        return self.batcher.predictor


@dataclass
class _Followed:
    """What this replica knows of one model's newest candidate row."""

    seen_id: int | None = None
    error: str | None = None  # why this replica does not run the row's candidate
    retry_at: float = 0.0
    retry_s: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one change of this model's candidate at a time


class Candidates:
    """This replica's candidates (one per model at most), the shadow lane they score in, and the poller."""

    def __init__(self, service: ServiceState) -> None:
        self.service = service
        s, m = service.settings, service.metrics
        self.lane = ShadowLane(
            max_queue=s.shadow_max_queue,
            max_batch=s.max_batch_size,
            is_idle=self._primaries_idle,
            build_row=lambda facts, index, text, language, outcome, seconds: service.recorder.row(
                facts, index, Item(text, outcome, language=language), seconds
            ),
            write=service.recorder.add,
            on_scored=lambda model, n: m.shadow_scored.labels(model).inc(n),
            on_dropped=lambda reason, n: m.shadow_dropped.labels(reason).inc(n),
        )
        self._followed: dict[str, _Followed] = {}
        self.poll_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    # -- the request path --------------------------------------------------------------------
    def route(self, served: ServedModel, sticky: str) -> ServedModel:
        """The model a request is answered by: its canary candidate for the canary share of keys, else itself."""
        candidate = served.candidate
        if candidate is None or not in_share(sticky, candidate.setting.canary_percent, f"canary:{served.name}"):
            return served
        self.service.metrics.canary_answers.labels(served.name).inc()
        return served.answered_by(candidate)

    def offer(self, facts: RequestFacts, items: Sequence[Item]) -> None:
        """After a request is recorded: hand the texts each model's primary answered to that model's shadow
        lane, for its share of requests (a batch routed by language may hold texts of several models)."""
        answered: dict[str, list[tuple[int, str, str | None]]] = {}
        for i, item in enumerate(items):
            if item.outcome is not None and (item.role or facts.role) == "primary":
                answered.setdefault(item.model or facts.model, []).append((i, item.text, item.language))
        for name, texts in answered.items():
            served = self.service.models.get(name)
            candidate = served.candidate if served is not None else None
            if candidate is None or not in_share(facts.request_id, candidate.setting.shadow_percent, f"shadow:{name}"):
                continue
            self.lane.offer(replace(facts, model=name), candidate.predictor, texts)

    def _primaries_idle(self) -> bool:
        """Every model's batcher (and canary batcher) idle, none of them busy in the last QUIET_S."""
        quiet_since = time.monotonic() - QUIET_S
        for served in self.service.models.values():
            for batcher in (served.batcher, served.candidate.batcher if served.candidate is not None else None):
                if batcher is not None and (not batcher.idle or batcher.last_pass_end > quiet_since):
                    return False
        return True

    # -- start and stop ----------------------------------------------------------------------
    async def start(self) -> None:
        """Run each model's newest recorded candidate (else its SENTIMENT_CANDIDATES one); start the lane and poller."""
        self._followed = {}  # its locks belong to the running loop
        self.lane.start()
        service, s = self.service, self.service.settings
        follow = s.rollout_poll_s > 0 and service.engine is not None
        for served in service.models.values():
            row = None
            if follow:
                try:
                    row = await asyncio.to_thread(latest_candidate, service.engine, served.name)  # type: ignore[arg-type]
                except Exception as exc:  # noqa: BLE001 - run the configured one; the poller tries again
                    self.poll_error = first_line(exc, 200)
                    log.warning("cannot read the candidates table at start: %s", exc)
            if row is not None:
                await self._apply(served, row)
            elif served.name in s.candidates:
                model_dir = str(Path(s.candidates[served.name]).resolve())
                setting = CandidateSetting(served.name, model_dir, None, s.shadow_percent, s.canary_percent)
                try:
                    await self._run(served, setting)
                except CandidateFailed as exc:
                    self._state(served.name).error = exc.message
                    log.error("SENTIMENT_CANDIDATES for %s: %s", served.name, exc.message)
        if follow:
            self._task = asyncio.create_task(self._follow(), name="candidate-poller")

    async def stop(self) -> None:
        """Stop the poller and the lane (its waiting texts are dropped), then each candidate's batcher."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.lane.stop()
        for served in self.service.models.values():
            if served.candidate is not None:
                await served.candidate.batcher.stop()  # answers the canary texts already queued

    # -- admin calls ---------------------------------------------------------------------------
    async def set(self, served: ServedModel, model_dir: str, *, shadow: float, canary: float) -> CandidateSetting:
        """Run `model_dir` as the model's candidate here, then record it for every replica."""
        try:
            resolved = str(Path(model_dir).resolve())  # other replicas may run in another folder
        except (OSError, ValueError) as exc:  # a NUL byte, a loop of links
            raise CandidateFailed(f"cannot run {model_dir!r} as a candidate: {exc}") from None
        setting = CandidateSetting(served.name, resolved, None, shadow, canary)
        async with self._state(served.name).lock:
            running = await self._run(served, setting)
            return await self._publish(served, running)

    async def drop(self, served: ServedModel) -> CandidateSetting:
        """Stop the model's candidate here and on every replica."""
        async with self._state(served.name).lock:
            await self._uninstall(served)
            return await self._publish(served, CandidateSetting(served.name, None, None))

    async def promote(self, served: ServedModel) -> ReloadResponse:
        """Roll the candidate out as the model (every replica follows the rollout), then stop it."""
        candidate = served.candidate
        if candidate is None or candidate.setting.model_dir is None:
            raise NoCandidate(f"model {served.name!r} has no candidate to promote")
        # the version compared and measured, not whatever its folder holds by now
        answer = await reload(
            self.service, candidate.setting.model_dir, served.name, version=candidate.predictor.version
        )
        await self.drop(served)
        return answer

    def describe(self, served: ServedModel) -> dict[str, Any]:
        candidate, state = served.candidate, self._state(served.name)
        setting = candidate.setting if candidate is not None else None
        return {
            "model": served.name,
            "serving_version": served.predictor.version,
            "candidate": None
            if setting is None
            else {
                "model_dir": setting.model_dir,
                "version": candidate.predictor.version if candidate is not None else setting.version,
                "shadow_percent": setting.shadow_percent,
                "canary_percent": setting.canary_percent,
                "id": setting.id,
                "requested_by": setting.requested_by,
            },
            "row_id": state.seen_id,
            "error": state.error,
            "poll_error": self.poll_error,
            "shadow_queue": self.lane.depth,
        }

    # -- the work ------------------------------------------------------------------------------
    def _state(self, model: str) -> _Followed:
        return self._followed.setdefault(model, _Followed())

    async def _run(self, served: ServedModel, setting: CandidateSetting) -> CandidateSetting:
        """Serve `setting` as the model's candidate: same artifact, new shares; or load, check, start a batcher."""
        current = served.candidate
        if current is not None and current.setting.model_dir == setting.model_dir and setting.model_dir is not None:
            if setting.version == current.predictor.version:  # a row that changes the shares: the model stays
                served.candidate = Candidate(setting, current.batcher)
                return setting
        assert setting.model_dir is not None
        service = self.service
        try:
            predictor = await load_checked(service, Path(setting.model_dir))
        except Exception as exc:  # noqa: BLE001 - any failure leaves the model as it was
            raise CandidateFailed(f"cannot run {setting.model_dir} as a candidate: {first_line(exc, 300)}") from None
        if setting.version is not None and predictor.version != setting.version:
            raise CandidateFailed(
                f"{setting.model_dir} holds version {predictor.version}, the candidate is {setting.version}"
            )
        if list(predictor.labels) != list(served.predictor.labels):
            raise CandidateFailed(
                f"the candidate's labels {predictor.labels} are not model {served.name!r}'s {served.predictor.labels}"
            )
        s = service.settings
        batcher = MicroBatcher(
            predictor,
            max_batch_size=s.max_batch_size,
            max_queue=s.max_queue,
            on_batch=service.on_batch,
            max_explain_tokens=s.max_explain_tokens,
            explain_pass_tokens=s.explain_pass_tokens,
        )
        batcher.start()
        setting = replace(setting, version=predictor.version)
        await self._uninstall(served)
        served.candidate = Candidate(setting, batcher)
        log.info(
            "model %s: candidate %s from %s (shadow %g%%, canary %g%%)",
            served.name,
            predictor.version,
            setting.model_dir,
            setting.shadow_percent,
            setting.canary_percent,
        )
        return setting

    async def _uninstall(self, served: ServedModel) -> None:
        old, served.candidate = served.candidate, None
        if old is not None:
            await old.batcher.stop()  # canary requests already queued are answered
            release_memory()

    async def _publish(self, served: ServedModel, setting: CandidateSetting) -> CandidateSetting:
        """Record the setting for the fleet; a database fault keeps it on this replica and raises."""
        engine = self.service.engine
        if engine is None:
            return setting
        try:
            row_id = await asyncio.to_thread(record_candidate, engine, setting, requested_by=replica_name())
        except Exception as exc:  # noqa: BLE001 - this replica runs it; the others are not told
            raise CandidateFailed(
                f"this replica runs it, but it could not be recorded for the others: {type(exc).__name__}"
            ) from None
        state = self._state(served.name)
        state.seen_id, state.error, state.retry_s = row_id, None, 0.0
        setting = replace(setting, id=row_id, requested_by=replica_name())
        if served.candidate is not None:
            served.candidate = Candidate(setting, served.candidate.batcher)
        return setting

    async def _apply(self, served: ServedModel, row: CandidateSetting) -> None:
        """Run what the model's newest candidate row names, if this replica's copy of it holds its version."""
        state = self._state(served.name)
        async with state.lock:
            if state.seen_id is not None and row.id is not None and row.id < state.seen_id:
                return  # a newer row was applied meanwhile
            if row.id != state.seen_id:
                state.seen_id, state.error, state.retry_s = row.id, None, 0.0
            elif state.error is None or time.monotonic() < state.retry_at:
                return  # applied already, or waiting to try again
            if not row.active:
                await self._uninstall(served)
                return
            try:
                await self._run(served, row)
            except CandidateFailed as exc:
                await self._uninstall(served)  # never a candidate the fleet has moved on from
                state.error = exc.message
                state.retry_s = min(MAX_RETRY_S, max(self.service.settings.rollout_poll_s, state.retry_s * 2))
                state.retry_at = time.monotonic() + state.retry_s
                log.error("candidate row %s of %s: %s", row.id, served.name, exc.message)

    async def _follow(self) -> None:
        """Poll each model's newest candidate row and apply it, until cancelled."""
        interval = self.service.settings.rollout_poll_s
        await asyncio.sleep(random.uniform(0, interval))  # replicas started together do not poll together
        while True:
            for served in list(self.service.models.values()):
                try:
                    row = await query_in_thread(latest_candidate, self.service.engine, served.name)
                except Exception as exc:  # noqa: BLE001 - a database fault: keep what runs, try next time
                    if self.poll_error is None:
                        log.warning("cannot read the candidates table: %s", exc)
                    self.poll_error = first_line(exc, 200)
                    self.service.metrics.candidate_poll_failures.inc()
                    continue
                self.poll_error = None
                if row is not None:
                    await self._apply(served, row)
            await asyncio.sleep(interval)
