#!/usr/bin/env bash
# Reproduce the distilled student, stage by stage: teacher -> transfer set -> teacher logits -> student.
#
#   scripts/distill.sh [OUT_DIR]          (default runs/distill; each stage is skipped when its output exists)
#
# Sizes come from the environment; the defaults are the CPU-sized run of BENCHMARKS.md
# ("Distillation"). On a GPU: DEVICE=cuda VARIANTS=20 UNLABELLED_SENTENCES=200000 UNLABELLED_REVIEWS=50000.
# Every stage prints JSON (sizes, seconds, SHA-256 of what it wrote) into OUT_DIR/<stage>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/distill}
DATA=${DATA:-data}  # from `python -m training data download all --dir data`; the CI machine has ../shared/data
PY=${PY:-.venv/bin/python}
DEVICE=${DEVICE:-auto}
TEACHER_EPOCHS=${TEACHER_EPOCHS:-1}
VARIANTS=${VARIANTS:-8}
UNLABELLED_SENTENCES=${UNLABELLED_SENTENCES:-15000}
UNLABELLED_REVIEWS=${UNLABELLED_REVIEWS:-0}
STUDENT_EPOCHS=${STUDENT_EPOCHS:-4}
KINDS=${KINDS:-labelled,augmented,unlabelled_sentence}
INIT_SEED=${INIT_SEED:-7}  # model/default 0ca68fc882ea is the run with init seed 7 (BENCHMARKS.md "Distillation")
SST=(--data "$DATA/sst2_train.tsv" --label-map 0=negative,1=positive)
mkdir -p "$OUT"

stage() {  # stage NAME OUTPUT command...: run unless OUTPUT exists, keep its JSON and time
    local name=$1 output=$2
    shift 2
    if [[ -e $output ]]; then
        echo "== $name: $output exists, skipped"
        return
    fi
    echo "== $name"
    local start=$SECONDS
    "$@" | tee "$OUT/$name.json"
    echo "== $name: $((SECONDS - start)) s"
}

stage teacher "$OUT/teacher/teacher.json" \
    "$PY" -m training teacher-train "${SST[@]}" --out "$OUT/teacher" --epochs "$TEACHER_EPOCHS" --device "$DEVICE"
stage transfer "$OUT/transfer.jsonl" \
    "$PY" -m training transfer-set "${SST[@]}" --out "$OUT/transfer.jsonl" --variants "$VARIANTS" \
    --unlabelled "$DATA/aclImdb_v1.tar.gz" --unlabelled-sentences "$UNLABELLED_SENTENCES" \
    --unlabelled-reviews "$UNLABELLED_REVIEWS"
stage logits "$OUT/logits.safetensors" \
    "$PY" -m training teacher-logits --teacher "$OUT/teacher" --transfer "$OUT/transfer.jsonl" \
    --out "$OUT/logits.safetensors" --device "$DEVICE"
stage student "$OUT/student/metrics.json" \
    "$PY" -m training train --data "$DATA/aclImdb_v1.tar.gz" "${SST[@]}" --out "$OUT/student" \
    --average-last 2 --epochs "$STUDENT_EPOCHS" --transfer "$OUT/transfer.jsonl" \
    --teacher-logits "$OUT/logits.safetensors" --transfer-kinds "$KINDS" --distill-loss kl --temperature 2 \
    --init-seed "$INIT_SEED" --device "$DEVICE"
