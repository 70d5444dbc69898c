"""The ONNX graph of this checkout against the one at another git revision: same texts, interleaved.

    python bench/graph_bench.py --against 3ea6335 --imdb ../shared/data/aclImdb_v1.tar.gz [--rounds 6]

Builds both graphs (model/onnx_backend.py as it is here and as it was at `--against`) from the shipped
English model, in fp32 and int8, checks their probabilities agree, then prints the best texts/s of
`Predictor.predict` over the rounds for 512 IMDB test reviews and 512 short sentences (length-bucketed
passes of 64), and for reviews and short texts one per pass ("alone"), with the CPU's features. Only
ratios within one run are meaningful.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.machine import describe  # noqa: E402
from bench.predictor_bench import SHORT  # noqa: E402
from model import load_predictor  # noqa: E402
from model.onnx_backend import OnnxNetwork  # noqa: E402
from training.data import read_dataset  # noqa: E402


def backend_at(revision: str, folder: Path) -> type:
    """OnnxNetwork as model/onnx_backend.py defines it at `revision` (imported from a copy of that file)."""
    source = subprocess.run(
        ["git", "show", f"{revision}:model/onnx_backend.py"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    path = folder / "onnx_backend_then.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("onnx_backend_then", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.OnnxNetwork  # type: ignore[no-any-return]


def imdb_reviews(archive: Path, n: int) -> list[str]:
    """The first `n` IMDB test reviews in `read_dataset`'s (sorted) order."""
    return [example.text for example in read_dataset(archive, split="test")[:n]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", required=True, help="the git revision whose graph is the baseline")
    parser.add_argument("--imdb", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=1.5, help="per cell and round")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(describe())
    predictor = load_predictor(runtime="onnx")
    weights, config = predictor.artifact.weights, predictor.artifact.config
    reviews = imdb_reviews(args.imdb, 512)
    sets = {"reviews": reviews, "short": SHORT * 64, "reviews alone": reviews, "short alone": SHORT * 4}
    with tempfile.TemporaryDirectory() as folder:
        then = backend_at(args.against, Path(folder))
        networks = {
            f"{name} {precision}": backend(
                weights, config.num_layers, config.hidden_size, threads=args.threads, precision=precision
            )
            for precision in ("fp32", "int8")
            for name, backend in ((args.against, then), ("here", OnnxNetwork))
        }
    ids = [predictor.encode(t).ids for t in sets["reviews"][:256]]
    for precision in ("fp32", "int8"):
        predictor._forward = networks[f"{args.against} {precision}"]
        before = predictor.scores(ids)
        predictor._forward = networks[f"here {precision}"]
        print(f"{precision}: largest probability difference {np.abs(before - predictor.scores(ids)).max():.2g}")

    def rate(texts: list[str], alone: bool) -> float:
        predictor.predict(texts[:64])
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < args.seconds:
            if alone:  # one text per pass, as a lone request at c=1 runs
                for text in texts[:32]:
                    predictor.predict([text])
                done += 32
            else:
                predictor.predict(texts)
                done += len(texts)
        return done / (time.perf_counter() - started)

    best: dict[tuple[str, str], float] = {}
    for _ in range(args.rounds):
        for key, network in networks.items():
            predictor._forward = network
            for kind, texts in sets.items():
                best[key, kind] = max(best.get((key, kind), 0.0), rate(texts, kind.endswith("alone")))
    for kind in sets:
        cells = ", ".join(f"{key} {best[key, kind]:,.0f}" for key in networks)
        ratios = ", ".join(
            f"{p}: here/then x{best[f'here {p}', kind] / best[f'{args.against} {p}', kind]:.2f}"
            for p in ("fp32", "int8")
        )
        int8 = ", ".join(
            f"int8/fp32 {n} x{best[f'{n} int8', kind] / best[f'{n} fp32', kind]:.2f}" for n in (args.against, "here")
        )
        print(f"{kind} texts/s (best of {args.rounds}): {cells}; {ratios}; {int8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
