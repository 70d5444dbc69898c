#!/usr/bin/env bash
# The long versions of the reliability tests: a 10-minute soak (SOAK_SECONDS, default 600) and the
# overload and kill -9 tests, with their figures printed.
#   bash bench/reliability.sh [SOAK_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK_SECONDS=${1:-600} .venv/bin/python -m pytest -q -s -p no:cacheprovider tests/e2e/test_reliability.py
