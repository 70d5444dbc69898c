"""BentoML (1.4) around the service's predictor: POST /v1/sentiment.

`SentimentBatch` is the batchable endpoint (`@bentoml.api(batchable=True, max_batch_size=32)`;
BentoML's adaptive batching picks the wait itself, bounded by max_latency_ms, which here is only a
ceiling past which it answers 503). Called over HTTP, a batchable endpoint takes a list: its body is
{"text": ["..."]}, one text per request here, and its answer a list of one.

`Sentiment` takes the service's body, {"text": "..."}, the way BentoML's adaptive batching guide
handles single requests: a wrapper service calling the batchable one through `bentoml.depends`
(each service in its own processes; the docs' sync endpoint with `threads`). In 1.4.40 it fails
under load (aiohttp "Server disconnected" between the two services: BentoML issue 5540, since 1.4.31).

Workers: PEERS_WORKERS for the batchable service (its docs: one per core for CPU work).

    bentoml serve bench.peers.bentoml_service:SentimentBatch --host 127.0.0.1 --port 8000
"""

from typing import Any

import bentoml

from bench.peers.common import MAX_BATCH_SIZE, answers, load, workers

NO_ACCESS_LOG: Any = {"access": {"enabled": False}}  # a log line per request would cost every server: none logs


@bentoml.service(workers=workers(), traffic={"timeout": 60}, logging=NO_ACCESS_LOG)
class SentimentBatch:
    def __init__(self) -> None:
        self.predictor = load()

    @bentoml.api(route="/v1/sentiment", batchable=True, max_batch_size=MAX_BATCH_SIZE, max_latency_ms=10_000)
    def sentiment(self, text: list[str]) -> list[dict[str, Any]]:
        return answers(self.predictor, text)


@bentoml.service(traffic={"timeout": 60}, logging=NO_ACCESS_LOG, threads=64)
class Sentiment:
    batch = bentoml.depends(SentimentBatch)

    @bentoml.api(route="/v1/sentiment")
    def sentiment(self, text: str) -> dict[str, Any]:
        return self.batch.sentiment([text])[0]  # type: ignore[no-any-return]
