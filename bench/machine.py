"""What a benchmark ran on: the CPU's vector and matrix features, printed with every figure."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from model.precision import cpu_flags as all_cpu_flags  # noqa: E402

WATCHED = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_bf16", "amx_int8", "amx_tile")


def cpu_flags() -> list[str]:
    """The features of WATCHED this CPU has (from /proc/cpuinfo; empty where there is none)."""
    flags = all_cpu_flags()
    return [f for f in WATCHED if f in flags]


def describe() -> str:
    """One line: cores and CPU features, e.g. "2 cores; avx2 fma avx512f"."""
    return f"{os.cpu_count()} cores; {' '.join(cpu_flags()) or 'no AVX2'}"


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size of process `pid` (this one by default) in MB, from /proc (Linux only)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status (Linux only)")
