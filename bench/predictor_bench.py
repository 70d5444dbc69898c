"""Compute bound and in-process Predictor throughput, by batch size, text length and precision.

    python bench/predictor_bench.py [--model DIR] [--imdb ../shared/data/aclImdb_v1.tar.gz] [--threads N]
                                    [--runtimes onnx,onnx:int8,torch,torch:bf16] [--batches 1,4,...]

Prints: the CPU's features and its GEMM rates in fp32, int8 and bf16 (the ceilings), the model's
FLOPs per token, the best reviews/s the fp32 rate allows, and measured texts/s for batch sizes 1..128
on short sentences and median-length reviews, for each runtime and precision ("runtime:precision",
fp32 when none) side by side (same run, same texts), each best figure also as a fraction of the GEMM
ceiling of its own precision.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.machine import describe  # noqa: E402
from model import load_predictor, tokenize  # noqa: E402

SHORT = [
    "A wonderful film.",
    "Dull and far too long.",
    "I did not like it at all.",
    "Great acting, weak plot.",
    "Best movie of the year!",
    "What a waste of time.",
    "Surprisingly good.",
    "Not bad, not great.",
]


def _rate(step, flops: float, seconds: float) -> float:  # type: ignore[no-untyped-def]
    for _ in range(3):
        step()
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        step()
        n += 1
    return flops * n / (time.perf_counter() - started) / 1e9


def gemm_gflops(seconds: float = 2.0, dtype: torch.dtype = torch.float32, size: int = 1024) -> float:
    """torch's GEMM rate (oneDNN / MKL) for `dtype` on size x size matrices, GFLOP/s (2 per multiply-add)."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    return _rate(lambda: a @ b, 2 * size**3, seconds)


def ort_gemm_gflops(seconds: float = 2.0, threads: int = 0, size: int = 1024, *, int8: bool = False) -> float:
    """ONNX Runtime's GEMM rate (MLAS, the kernels its LSTM runs): fp32 MatMul, or with `int8` the
    u8 x s8 -> s32 MatMulInteger of the int8 graph's DynamicQuantizeLSTM (VNNI where the CPU has it)."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if int8:
        weight = numpy_helper.from_array(rng.integers(-128, 128, (size, size), dtype=np.int8), "b")
        node, a_type, c_type = "MatMulInteger", TensorProto.UINT8, TensorProto.INT32
        a = rng.integers(0, 256, (size, size), dtype=np.uint8)
    else:
        weight = numpy_helper.from_array(rng.standard_normal((size, size), dtype=np.float32), "b")
        node, a_type, c_type = "MatMul", TensorProto.FLOAT, TensorProto.FLOAT
        a = rng.standard_normal((size, size), dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node(node, ["a", "b"], ["c"])],
        "gemm",
        [helper.make_tensor_value_info("a", a_type, [size, size])],
        [helper.make_tensor_value_info("c", c_type, [size, size])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return _rate(lambda: session.run(None, {"a": a}), 2 * size**3, seconds)


def ceilings(seconds: float, threads: int, rounds: int = 1) -> dict[str, float]:
    """GEMM ceilings in one run, best of `rounds`, keyed "runtime:precision" as the variants are: ONNX
    Runtime's fp32 and int8 (MLAS), torch's fp32 and bf16 (oneDNN / MKL)."""
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, rate in (
            ("onnx", lambda: ort_gemm_gflops(seconds, threads)),
            ("onnx:int8", lambda: ort_gemm_gflops(seconds, threads, int8=True)),
            ("torch", lambda: gemm_gflops(seconds)),
            ("torch:bf16", lambda: gemm_gflops(seconds, torch.bfloat16)),
        ):
            best[name] = max(best.get(name, 0.0), rate())
    return best


def precision_of(variant: str) -> str:
    return variant.partition(":")[2] or "fp32"


def flops_per_token(config: dict) -> float:
    """Multiply-adds x2 of the LSTM cells per token (both directions, all layers); the head is per text."""
    e, h, layers = config["embedding_dim"], config["hidden_size"], config["num_layers"]
    total = 0
    for layer in range(layers):
        inp = e if layer == 0 else 2 * h
        total += 2 * (2 * 4 * h * (inp + h))  # 2 directions, 4 gates, (input + recurrent) weights, x2 for FMA
    return float(total)


def throughput(predictor, texts: list[str], batch: int, seconds: float) -> float:  # type: ignore[no-untyped-def]
    predictor.batch_size = batch
    work = (texts * (batch // len(texts) + 1))[:batch] if len(texts) < batch else texts[:batch]
    predictor.predict(work)  # warm up
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        predictor.predict(work)
        done += len(work)
    return done / (time.perf_counter() - started)


def mix_throughput(predictor, texts: list[str], batch: int, seconds: float) -> float:  # type: ignore[no-untyped-def]
    """Texts/s over a mix of lengths, `batch` texts per call (the Predictor buckets each call by length)."""
    predictor.batch_size = batch
    predictor.predict(texts[:batch])  # warm up
    done, i, started = 0, 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        work = texts[i : i + batch] or texts[:batch]
        i = (i + batch) % len(texts)
        predictor.predict(work)
        done += len(work)
    return done / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="artifact directory (default: the shipped model)")
    parser.add_argument("--imdb", help="aclImdb folder or .tar.gz for real review texts (else synthetic)")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads of each runtime (0 = default)")
    parser.add_argument(
        "--runtimes",
        default="onnx,onnx:int8,torch,torch:bf16",
        help="comma-separated runtime[:precision] to compare (precision fp32 when none)",
    )
    parser.add_argument("--batches", default="1,4,8,16,32,64,128", help="comma-separated batch sizes")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every cell this many times, interleaved, and keep the best (a busy shared machine)",
    )
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    runtimes = [r for r in args.runtimes.split(",") if r]
    predictors, load_s = {}, {}
    for r in [*runtimes, "onnx:auto"]:  # auto: load time only (its self-check), best of 3
        times = []
        for _ in range(3):
            started = time.perf_counter()
            loaded = load_predictor(
                args.model, runtime=r.partition(":")[0], precision=precision_of(r), threads=args.threads
            )
            times.append(time.perf_counter() - started)
        load_s[r] = min(times)
        if r in runtimes:
            predictors[r] = loaded
        else:
            print(f"onnx:auto serves {loaded.precision_note}")
    print("load (artifact to ready Predictor), best of 3: " + ", ".join(f"{r} {s:.2f} s" for r, s in load_s.items()))
    config = next(iter(predictors.values())).artifact.config.to_dict()
    if args.imdb:
        from training.data import read_dataset

        test = [e.text for e in read_dataset(args.imdb, split="test")]
        reviews = test[:2000]
        mix = test[::25][:1000]  # the very reviews bench/http_bench.py sends, all lengths
    else:
        reviews = [" ".join(["the film was good and the acting was fine ."] * 25)] * 200
        mix = reviews
    lengths = sorted(len(tokenize(t)) for t in reviews)
    median = lengths[len(lengths) // 2]
    # Reviews within 10% of the median length: "a median IMDB review".
    median_reviews = [t for t in reviews if abs(len(tokenize(t)) - median) <= median // 10][:128]
    print(describe())
    ceiling = ceilings(args.seconds, args.threads, args.rounds)
    gflops = ceiling["torch"]
    print("GEMM ceilings (1024^3, GFLOP/s): " + ", ".join(f"{k} {v:.0f}" for k, v in ceiling.items()))
    fpt = flops_per_token(config)
    used = min(median, int(config["max_tokens"]))  # type: ignore[call-overload]
    bound = gflops * 1e9 / (fpt * used)
    print(f"threads {torch.get_num_threads()}; fp32 GEMM {gflops:.0f} GFLOP/s; model {fpt / 1e6:.2f} MFLOP/token;")
    print(f"median review {median} tokens -> compute bound {bound:.0f} reviews/s")
    results: dict[str, object] = {
        "gemm_gflops": gflops,
        "gemm_ceilings": ceiling,
        "load_s": load_s,
        "cpu": describe(),
        "flops_per_token": fpt,
        "median_tokens": median,
        "compute_bound_reviews_s": bound,
        "runtimes": {},
    }
    short_tokens = sum(len(tokenize(t)) for t in SHORT) / len(SHORT)
    mix_tokens = sum(min(len(tokenize(t)), config["max_tokens"]) for t in mix) / len(mix)  # type: ignore[call-overload]
    mix_bound = gflops * 1e9 / (fpt * mix_tokens)
    print(
        f"HTTP review mix: {len(mix)} test reviews, {mix_tokens:.0f} tokens read on average -> bound {mix_bound:.0f}/s"
    )
    results["mix_tokens"], results["compute_bound_mix_s"] = mix_tokens, mix_bound
    table: dict[str, dict[str, dict[int, float]]] = {
        r: {"short": {}, "median_review": {}, "review_mix": {}} for r in runtimes
    }
    for _ in range(args.rounds):
        for batch in (int(b) for b in args.batches.split(",")):
            for runtime, predictor in predictors.items():
                measured = {
                    "short": throughput(predictor, SHORT, batch, args.seconds),
                    "median_review": throughput(predictor, median_reviews, batch, args.seconds),
                    "review_mix": mix_throughput(predictor, mix, batch, args.seconds),
                }
                for kind, rate in measured.items():
                    table[runtime][kind][batch] = max(table[runtime][kind].get(batch, 0.0), rate)
    kinds = {"short": "short/s", "median_review": "median reviews/s", "review_mix": "review mix/s"}
    heads = " | ".join(f"{label} {r}" for label in kinds.values() for r in runtimes)
    print(f"| batch | {heads} |")
    print("| --- " * (1 + len(kinds) * len(runtimes)) + "|")
    for batch in table[runtimes[0]]["short"]:
        cells = [f"{table[r][kind][batch]:.0f}" for kind in kinds for r in runtimes]
        print(f"| {batch} | " + " | ".join(cells) + " |")
    for runtime, predictor in predictors.items():
        best = max(table[runtime]["median_review"].values())
        best_mix = max(table[runtime]["review_mix"].values())
        rate = ceiling.get(runtime, ceiling["torch"])
        own = rate * 1e9 / (fpt * mix_tokens)  # reviews/s its own GEMM rate allows
        print(
            f"{runtime}: best review mix/s {best_mix:.0f} = {best_mix / mix_bound:.2f} of the torch fp32 compute "
            f"bound, {best_mix / own:.2f} of its own GEMM ceiling ({rate:.0f} GFLOP/s)"
        )
        short_best = max(table[runtime]["short"].values())
        short_own = rate * 1e9 / (fpt * short_tokens)
        print(f"{runtime}: best short texts/s {short_best:.0f} = {short_best / short_own:.4f} of its own GEMM ceiling")
        predictor.batch_size = 1
        times = []
        for text in SHORT * 25:
            single = time.perf_counter()
            predictor.predict([text])
            times.append(time.perf_counter() - single)
        p50 = statistics.median(times) * 1000
        print(f"{runtime}: best median reviews/s {best:.0f} = {best / bound:.2f} of the compute bound; ", end="")
        print(f"single short text p50 {p50:.2f} ms")
        results["runtimes"][runtime] = {  # type: ignore[index]
            **table[runtime],
            "best_median_review": best,
            "best_review_mix": best_mix,
            "single_short_ms_p50": p50,
            "review_mix_fraction_of_own_ceiling": best_mix / own,
            "short_fraction_of_own_ceiling": short_best / short_own,
        }
    base = runtimes[0]
    for runtime in runtimes[1:]:
        ratios = [
            max(table[runtime][kind].values()) / max(table[base][kind].values())
            for kind in ("review_mix", "median_review", "short")
        ]
        print(
            f"{runtime} / {base}: review mix x{ratios[0]:.2f}, median reviews x{ratios[1]:.2f}, short x{ratios[2]:.2f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
