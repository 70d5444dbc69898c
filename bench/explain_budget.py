"""Does the explanation budget hold? Measured through `POST /v1/sentiment/batch` with explain.

    python bench/explain_budget.py [--model DIR] [--imdb ../shared/data/aclImdb_v1.tar.gz]

Builds the app in process (the shipped model unless --model, default settings: a 30 s request
timeout, the budget measured). Prints the measured forward rate and the budget, then times three
requests of long texts (IMDB test reviews the model reads as 290-300 tokens, else a synthetic
text): the issue's probe (256 texts: refused up front, 413), the largest batch that fits the
budget (answered inside the timeout, or the budget is wrong), and one text past it (413).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def long_texts(imdb: str | None, want: int) -> list[str]:
    if imdb is None:
        return [" ".join(["a", "good", "film", "but", "the", "plot", "was", "dull", "."] * 33)] * want
    texts = []
    with tarfile.open(imdb) as archive:
        for member in archive:
            if member.name.startswith("aclImdb/test/pos/") and member.isfile():
                texts.append(archive.extractfile(member).read().decode())  # type: ignore[union-attr]
                if len(texts) >= 20 * want:
                    break
    return texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="artifact directory (default: the shipped model)")
    parser.add_argument("--imdb", help="aclImdb_v1.tar.gz: real reviews instead of a synthetic text")
    args = parser.parse_args()
    flags = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    print(next((line for line in flags.splitlines() if line.startswith("Model name")), "cpu: ?"))

    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.config import Settings

    with tempfile.TemporaryDirectory() as tmp:
        values: dict[str, object] = {"database_url": f"sqlite:///{tmp}/log.db"}
        if args.model:
            values["model_dir"] = args.model
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        with TestClient(create_app(settings)) as client:
            runtime = client.app.state.service  # type: ignore[attr-defined]
            predictor = runtime.predictor
            texts = [t for t in long_texts(args.imdb, 256) if 290 <= len(predictor.encode(t).ids) <= 300]
            texts = (texts * 256)[:256]
            budget = runtime.explain_budget.budget(predictor)
            per_text = runtime.explain_budget.work(predictor, texts[:1])
            print(
                f"forward rate: {budget.rate:,.0f} tokens/s; budget {budget.tokens:,} tokens per request "
                f"(timeout {settings.request_timeout_s:g} s x 0.5); one {len(predictor.encode(texts[0]).ids)}-token "
                f"text: {per_text:,}"
            )
            fits = 1
            while runtime.explain_budget.work(predictor, texts[: fits + 1]) <= budget.tokens:
                fits += 1
            for label, batch in (
                ("probe, 256 texts", texts),
                (f"largest that fits, {fits}", texts[:fits]),
                (f"one past it, {fits + 1}", texts[: fits + 1]),
            ):
                started = time.perf_counter()
                answer = client.post("/v1/sentiment/batch", json={"texts": batch, "explain": True})
                took = time.perf_counter() - started
                code = answer.json().get("error", {}).get("code", "") if answer.status_code != 200 else ""
                print(f"{label:>26}: {answer.status_code} {code:<24} {took:8.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
