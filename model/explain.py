"""Token attributions: which words drove a prediction, with offsets into the original text.

Two methods, compared in BENCHMARKS.md ("Explanations"):

- `occlusion` (served): the drop in the predicted label's probability when one token is left
  out of the text. All variants of a text are ordinary rows of one batched forward pass, so it
  runs on either runtime (ONNX Runtime in the service) and splits into chunks that a micro-batch
  can carry next to plain predictions (`OcclusionPlan`).
- `integrated_gradients`: Captum's `LayerIntegratedGradients` on the embedding layer, from an
  all-padding (zero-vector) baseline to the text, toward the predicted label's probability.
  Needs torch and captum (`pip install captum`).

A weight is in units of the predicted label's probability: positive pushes toward the label,
negative against it, so weights compare within a text. Tokens the model does not read (the
middle of a text longer than `max_tokens`) get weight 0 and `read=False`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from model.offsets import TokenSpan

if TYPE_CHECKING:
    from model.predictor import Prediction, Predictor

METHODS = ("occlusion", "integrated_gradients")


@dataclass(frozen=True)
class TokenWeight:
    text: str  # the token as the model reads it
    start: int  # original_text[start:end] is where the writer typed it
    end: int
    weight: float  # toward (+) or against (-) the predicted label
    read: bool = True  # False: beyond the model's `max_tokens`, not read, weight 0


@dataclass(frozen=True)
class Explanation:
    prediction: Prediction
    method: str
    tokens: list[TokenWeight]


class OcclusionPlan:
    """The rows one occlusion explanation needs: the text as the model reads it, then the same
    with each read token left out in turn. Run `rows` in any batches, then `finish`."""

    method = "occlusion"

    def __init__(self, predictor: Predictor, text: str) -> None:
        config = predictor.artifact.config
        self.predictor = predictor
        self.spans = predictor.tokenizer.tokenize_with_offsets(text)
        self.read = config.read(range(len(self.spans)))  # indices of the tokens the model reads
        ids = predictor.artifact.vocab.encode([self.spans[i].text for i in self.read])
        self.ids = ids
        self.rows: list[list[int]] = [ids] + [ids[:k] + ids[k + 1 :] for k in range(len(ids))]

    def finish(self, scores: np.ndarray) -> Explanation:
        """Build the explanation from the rows' (len(rows), num_labels + 1) `Predictor.scores`."""
        from model.predictor import Encoded

        (prediction,) = self.predictor.predictions_from([Encoded(self.ids, len(self.spans))], scores[:1])
        best = self.predictor.labels.index(prediction.label)
        drops = scores[0, best] - scores[1:, best]
        return Explanation(prediction, self.method, _weights(self.spans, self.read, drops.tolist()))


def _weights(spans: Sequence[TokenSpan], read: Sequence[int], values: Sequence[float]) -> list[TokenWeight]:
    weight = dict(zip(read, values, strict=True))
    return [TokenWeight(s.text, s.start, s.end, float(weight.get(i, 0.0)), i in weight) for i, s in enumerate(spans)]


def occlusion(predictor: Predictor, texts: Sequence[str]) -> list[Explanation]:
    plans = [OcclusionPlan(predictor, t) for t in texts]
    rows = [row for plan in plans for row in plan.rows]
    scores = predictor.scores(rows)
    explanations, at = [], 0
    for plan in plans:
        explanations.append(plan.finish(scores[at : at + len(plan.rows)]))
        at += len(plan.rows)
    return explanations


def integrated_gradients(predictor: Predictor, texts: Sequence[str], *, steps: int = 32) -> list[Explanation]:
    """Layer integrated gradients on the embedding (torch network, Captum), one text at a time."""
    import torch
    from captum.attr import LayerIntegratedGradients

    from model.predictor import Encoded

    config = predictor.artifact.config
    network = predictor.artifact.network

    def probability(ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return torch.softmax(network(ids, lengths), dim=-1)

    method = LayerIntegratedGradients(probability, network.embedding)
    explanations = []
    for text in texts:
        spans = predictor.tokenizer.tokenize_with_offsets(text)
        read = config.read(range(len(spans)))
        ids = predictor.artifact.vocab.encode([spans[i].text for i in read])
        (prediction,) = predictor.predict_encoded([Encoded(ids, len(spans))])
        values: list[float] = []
        if ids:
            target = predictor.labels.index(prediction.label)
            x = torch.tensor([ids])
            lengths = torch.tensor([len(ids)])
            baseline = torch.zeros_like(x)  # padding: its embedding row is the zero vector
            attributions = method.attribute(
                x, baselines=baseline, target=target, additional_forward_args=(lengths,), n_steps=steps
            )
            values = attributions.sum(dim=-1)[0].detach().double().tolist()  # (T,)
        explanations.append(Explanation(prediction, "integrated_gradients", _weights(spans, read, values)))
    return explanations
