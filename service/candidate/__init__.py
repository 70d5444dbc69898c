"""Shadow and canary candidates: a second version of a model scored on live traffic before it answers
(shadow), then answering a sticky share (canary), compared on the log and promoted by a rollout."""

from service.candidate.candidates import Candidate, CandidateFailed, Candidates, NoCandidate
from service.candidate.shadow import ShadowLane
from service.candidate.share import in_share

__all__ = ["Candidate", "CandidateFailed", "Candidates", "NoCandidate", "ShadowLane", "in_share"]
