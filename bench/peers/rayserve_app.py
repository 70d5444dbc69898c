"""Ray Serve (2.x) around the service's predictor: POST /v1/sentiment {"text": ...}.

A local Ray cluster of its own on loopback (`address="local"`, no dashboard, no usage stats), the
HTTP proxy on 127.0.0.1:PORT, PEERS_WORKERS replicas of one CPU each, `@serve.batch(max_batch_size=32,
batch_wait_timeout_s=0.005)`, and max_ongoing_requests raised from its default (5) to 64 so that a
replica can hold a full batch (the default would cap batches at 5 texts). Runs until SIGTERM.
"""

import os
import signal
import sys
import time
from typing import Any

import ray
from ray import serve
from starlette.requests import Request

from bench.peers.common import BATCH_TIMEOUT_S, MAX_BATCH_SIZE, answers, arguments, load, workers


@serve.deployment(
    num_replicas=workers(),
    max_ongoing_requests=64,
    ray_actor_options={"num_cpus": 1},
    logging_config={"enable_access_log": False},
)
class Sentiment:
    def __init__(self) -> None:
        self.predictor = load()

    @serve.batch(max_batch_size=MAX_BATCH_SIZE, batch_wait_timeout_s=BATCH_TIMEOUT_S)
    async def classify(self, texts: list[str]) -> list[dict[str, Any]]:
        return answers(self.predictor, texts)

    async def __call__(self, request: Request) -> dict[str, Any]:
        body = await request.json()
        return await self.classify(str(body["text"]))  # type: ignore[no-any-return]


def stop(*_: object) -> None:
    serve.shutdown()
    ray.shutdown()
    sys.exit(0)


if __name__ == "__main__":
    args = arguments(__doc__.splitlines()[0])
    ray.init(
        address="local",
        num_cpus=os.cpu_count(),
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        logging_level="warning",
        log_to_driver=False,
    )
    signal.signal(signal.SIGTERM, stop)
    serve.start(http_options={"host": "127.0.0.1", "port": args.port})
    serve.run(Sentiment.bind(), route_prefix="/v1/sentiment", blocking=False)
    while True:
        time.sleep(3600)
