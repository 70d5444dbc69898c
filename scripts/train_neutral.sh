#!/usr/bin/env bash
# Reproduce the shipped three-label model: the distilled two-label model (scripts/distill.sh) fine-tuned
# on the VADER corpora's human ratings, negative / neutral / positive and a polarity head, with
# IMDB and SST-2 rows replayed (their own answers as soft targets) so binary accuracy holds.
#
#   scripts/train_neutral.sh [OUT_DIR [more train options]]        (default runs/neutral)
#
# DATA holds vader_icwsm2014_train.tsv (the training half of the corpora) and the IMDB / SST-2 files
# the start model names in its metrics.json (found by checksum); the CI machine has ../shared/data.
# `python -m training data download all --dir data` fetches the public sets (its vader file holds
# both halves of the corpora: keep the other half out of training to compare with BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/neutral}
shift || true
DATA=${DATA:-data}
PY=${PY:-.venv/bin/python}
# The start: the distilled two-label model 0ca68fc882ea (scripts/distill.sh writes it to runs/distill/student).
START=${START:-runs/distill/student}
if [[ ! -f $START/config.json ]]; then
    echo "error: $START: no artifact there; run scripts/distill.sh first, or set START=DIR" >&2
    exit 2
fi
"$PY" -m training train --init-from "$START" --data "$DATA/vader_icwsm2014_train.tsv" --out "$OUT" \
    --val-fraction 0.2 --epochs "${EPOCHS:-6}" --batch-size 32 --lr 1e-3 --patience 3 --encoder-lr-scale 0.3 \
    --replay "${REPLAY:-8000}" --replay-from "$DATA" --replay-val-max 2000 --threads "${THREADS:-2}" "$@"
