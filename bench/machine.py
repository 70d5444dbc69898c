"""What a benchmark ran on: the CPU's vector and matrix features, printed with every figure."""

from __future__ import annotations

import os
from pathlib import Path

WATCHED = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_bf16", "amx_int8", "amx_tile")


def cpu_flags() -> list[str]:
    """The features of WATCHED this CPU has (from /proc/cpuinfo; empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return [f for f in WATCHED if f in flags]


def describe() -> str:
    """One line: cores and CPU features, e.g. "2 cores; avx2 fma avx512f"."""
    return f"{os.cpu_count()} cores; {' '.join(cpu_flags()) or 'no AVX2'}"
