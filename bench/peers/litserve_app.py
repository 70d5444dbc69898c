"""LitServe (0.2.x) around the service's predictor: POST /v1/sentiment {"text": ...}.

Dynamic batching on the LitAPI (max_batch_size=32, batch_timeout=5 ms: the issue's setting), the
CPU accelerator, PEERS_WORKERS inference workers and as many API server processes (LitServe's
default), and fast_queue (ZeroMQ), which LitServe's docs recommend above 100 requests/s.
"""

from __future__ import annotations

from typing import Any

import litserve as ls

from bench.peers.common import BATCH_TIMEOUT_S, MAX_BATCH_SIZE, answers, arguments, load, workers


class SentimentAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        self.predictor = load()

    def decode_request(self, request):  # type: ignore[no-untyped-def]  # unannotated: LitServe reads the JSON body
        return str(request["text"])

    def batch(self, inputs: list[str]) -> list[str]:
        return list(inputs)

    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        return answers(self.predictor, texts)

    def unbatch(self, output: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return output

    def encode_response(self, output):  # type: ignore[no-untyped-def]  # unannotated: LitServe's JSON response
        return output


if __name__ == "__main__":
    args = arguments(__doc__.splitlines()[0])
    api = SentimentAPI(max_batch_size=MAX_BATCH_SIZE, batch_timeout=BATCH_TIMEOUT_S, api_path="/v1/sentiment")
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=workers(), fast_queue=True)
    server.run(host="127.0.0.1", port=args.port, log_level="warning", generate_client_file=False)
