"""Bulk scoring and distributed training benchmarks (BENCHMARKS.md, "Bulk scoring and distributed training").

    flock /tmp/bench.lock .venv/bin/python bench/bulk_bench.py score --imdb ../shared/data/aclImdb_v1.tar.gz \\
        --sst2 ../shared/data/sst2_train.tsv
    flock /tmp/bench.lock .venv/bin/python bench/bulk_bench.py ray --imdb ... --sst2 ... --actors 1,2
    flock /tmp/bench.lock .venv/bin/python bench/bulk_bench.py rss --gb 1
    flock /tmp/bench.lock .venv/bin/python bench/bulk_bench.py ddp --sst2 ../shared/data/sst2_train.tsv --procs 1,2

score: texts/s of `python -m model score` (score_file) on SST-2 sentences and IMDB reviews, one
process with the runtime's intra-op threads against worker processes of one thread each, repeated
and interleaved. ray: texts/s of `score_dataset` with N actors (1 CPU each) on a local Ray
instance of as many CPUs as the machine has (actor start-up included, Ray start-up not). rss:
peak RSS of scoring a generated CSV of the given size (long texts, so the model's cost per byte
is small) against one an eighth that size: constant memory shows as equal peaks. ddp: seconds of
`torchrun --nproc-per-node N -m training train` (1 thread per process) on SST-2 sentences.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# ../shared/data beside the checkout (or beside the folder of worktrees)
DATA = next(
    (p / "shared" / "data" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared" / "data").is_dir()), Path()
)


def _sst2(path: str, n: int) -> list[str]:
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    # whole-ish sentences: the longer phrases (the short ones are sub-phrases)
    texts = sorted((r["sentence"] for r in rows), key=len)[-n * 3 :]
    random.Random(0).shuffle(texts)
    return texts[:n]


def _imdb(path: str, n: int) -> list[str]:
    from training.data import iter_imdb

    texts = [t for _, t in iter_imdb(Path(path), split="test", kinds=("pos", "neg"))]
    random.Random(0).shuffle(texts)
    return texts[:n]


def _write(path: Path, texts: list[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows(enumerate(texts))
    return path


def bench_score(args: argparse.Namespace) -> None:
    from model.scoring import ScoreOptions, score_file

    workloads = {"SST-2 sentences": _sst2(args.sst2, args.sentences), "IMDB reviews": _imdb(args.imdb, args.reviews)}
    configs = [("1 process, runtime threads = cores", 1, 0), ("1 process, 1 thread", 1, 1)]
    configs.append((f"{os.cpu_count()} processes x 1 thread", os.cpu_count() or 1, 1))
    with tempfile.TemporaryDirectory() as tmp:
        for name, texts in workloads.items():
            source = _write(Path(tmp) / "in.csv", texts)
            rates: dict[str, list[float]] = {c[0]: [] for c in configs}
            for _ in range(args.repeats):
                for label, workers, threads in configs:
                    started = time.perf_counter()
                    score_file(ScoreOptions(source=source, out=Path(tmp) / "out.parquet", workers=workers,
                                            threads=threads, overwrite=True, progress=False))  # fmt: skip
                    rates[label].append(len(texts) / (time.perf_counter() - started))
            for label, values in rates.items():
                print(json.dumps({"workload": name, "texts": len(texts), "config": label,
                                  "texts_per_s": round(statistics.median(values), 1),
                                  "runs": [round(v, 1) for v in values]}))  # fmt: skip


def bench_ray(args: argparse.Namespace) -> None:
    import ray

    from model.scoring import score_dataset

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    workloads = {"SST-2 sentences": _sst2(args.sst2, args.sentences), "IMDB reviews": _imdb(args.imdb, args.reviews)}
    actors = [int(a) for a in args.actors.split(",")]
    for name, texts in workloads.items():
        ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(texts)], override_num_blocks=32)
        ds = ds.materialize()
        rates: dict[int, list[float]] = {a: [] for a in actors}
        for _ in range(args.repeats):
            for n in actors:
                started = time.perf_counter()
                count = score_dataset(ds, concurrency=n, batch_size=args.batch_size).materialize().count()
                rates[n].append(count / (time.perf_counter() - started))
        for n, values in rates.items():
            print(json.dumps({"workload": name, "texts": len(texts), "actors": n,
                              "texts_per_s": round(statistics.median(values), 1),
                              "runs": [round(v, 1) for v in values]}))  # fmt: skip
    ray.shutdown()


def bench_rss(args: argparse.Namespace) -> None:
    words = "the film was not good but the acting saved it and i would watch it again maybe".split()
    rng = random.Random(0)
    # ~90 kB a row: far past the model's 600 tokens, so scoring a GB takes minutes, not hours
    rows = [" ".join(rng.choice(words) for _ in range(20000)) for _ in range(50)]
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for size in (args.gb / 8, args.gb):
            source = Path(tmp) / "big.csv"
            with source.open("w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["id", "text"])
                i = 0
                while handle.tell() < size * 1e9:
                    writer.writerows((i + k, rows[(i + k) % len(rows)]) for k in range(100))
                    i += 100
            for workers in args.workers.split(","):
                out = str(Path(tmp) / "out.parquet")
                command = [sys.executable, "-m", "model", "score", "--in", str(source), "--out", out,
                           "--overwrite", "--no-progress", "--workers", workers]  # fmt: skip
                started = time.perf_counter()
                run = subprocess.run(["/usr/bin/time", "-f", "%M", *command], cwd=ROOT, capture_output=True, text=True)
                seconds = time.perf_counter() - started
                peak_kb = int(run.stderr.strip().splitlines()[-1])
                print(json.dumps({"input_gb": round(source.stat().st_size / 1e9, 2), "rows": i, "workers": int(workers),
                                  "rc": run.returncode, "seconds": round(seconds, 1),
                                  "peak_rss_mb_largest_process": round(peak_kb / 1024)}))  # fmt: skip


def bench_ddp(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with open(args.sst2, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
        random.Random(0).shuffle(rows)
        data = Path(tmp) / "sst2.csv"
        with data.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows((r["sentence"], r["label"]) for r in rows[: args.examples])
        results: dict[int, list[dict]] = {int(n): [] for n in args.procs.split(",")}
        for _ in range(args.repeats):
            for n in results:
                out = Path(tmp) / f"art{n}"
                command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n),
                           "-m", "training", "train", "--data", str(data), "--out", str(out), "--threads", "1",
                           "--epochs", str(args.epochs), "--patience", "9", "--label-map", "0=negative,1=positive",
                           "--no-calibrate"]  # fmt: skip
                started = time.perf_counter()
                subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
                wall = time.perf_counter() - started
                metrics = json.loads((out / "metrics.json").read_text())
                epochs = metrics["history"]
                results[n].append({"wall_s": round(wall, 1), "training_time_s": metrics["training_time_s"],
                                   "train_loop_s": round(sum(e["train_s"] for e in epochs), 1),
                                   "val_accuracy": round(metrics["validation"]["accuracy"], 4)})  # fmt: skip
        for n, runs in results.items():
            print(json.dumps({"processes": n, "examples": args.examples, "epochs": args.epochs,
                              "median_training_time_s": statistics.median(r["training_time_s"] for r in runs),
                              "median_train_loop_s": statistics.median(r["train_loop_s"] for r in runs),
                              "runs": runs}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("score", "ray"):
        sub = commands.add_parser(name)
        sub.add_argument("--imdb", default=str(DATA / "aclImdb_v1.tar.gz"))
        sub.add_argument("--sst2", default=str(DATA / "sst2_train.tsv"))
        sub.add_argument("--sentences", type=int, default=20000, help="SST-2 sentences scored")
        sub.add_argument("--reviews", type=int, default=2000, help="IMDB reviews scored")
        sub.add_argument("--repeats", type=int, default=3)
        if name == "ray":
            sub.add_argument("--actors", default="1,2", help="actor counts to compare, e.g. 1,2,4,8,16")
            sub.add_argument("--batch-size", type=int, default=1024)
    rss = commands.add_parser("rss")
    rss.add_argument("--gb", type=float, default=1.0, help="size of the larger generated input")
    rss.add_argument("--workers", default="1,2", help="worker counts to measure")
    rss.add_argument("--tmp", default=None, help="where the generated input goes")
    ddp = commands.add_parser("ddp")
    ddp.add_argument("--sst2", default=str(DATA / "sst2_train.tsv"))
    ddp.add_argument("--examples", type=int, default=20000)
    ddp.add_argument("--epochs", type=int, default=1)
    ddp.add_argument("--procs", default="1,2", help="process counts to compare, e.g. 1,2,4")
    ddp.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    {"score": bench_score, "ray": bench_ray, "rss": bench_rss, "ddp": bench_ddp}[args.command](args)


if __name__ == "__main__":
    main()
