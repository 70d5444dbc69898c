#!/usr/bin/env bash
# Train a Chinese sentiment model (issue 22): words read by zh-jieba-v1, word vectors pre-trained on
# the training split's own text (word2vec, ~50 s), then the BiLSTM from them, calibrated on the
# validation split that train carves (--val-fraction 0.1 --seed 13, the same rows that
# `python bench/baselines.py --zh FILE --val-fraction 0.1` scores its TF-IDF baseline on).
#
#   scripts/train_zh.sh [OUT_DIR [more train options]]        (default runs/zh)
#
# ZH: a TSV with `label` (negative / positive) and `text` (default ../shared/data/zh_shopping_reviews_train.tsv).
# The vectors see only the training split's text, never the validation rows.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/zh}
shift || true
PY=${PY:-.venv/bin/python}
ZH=${ZH:-../shared/data/zh_shopping_reviews_train.tsv}
TOKENIZER=${TOKENIZER:-zh-jieba-v1}
VECTORS=${VECTORS:-$OUT.vectors}
export PYTHONHASHSEED=${PYTHONHASHSEED:-0}  # word2vec seeds each word's vector from Python's str hash
if [[ ! -f $ZH ]]; then
    echo "error: $ZH: no such file; set ZH=FILE (label, text)" >&2
    exit 2
fi
"$PY" - "$ZH" "$VECTORS" "$TOKENIZER" <<'PY'
import json
import sys

from model.tokenizers import get_tokenizer
from training.data import read_dataset
from training.splits import split_examples
from training.vectors import pretrain_word2vec

data, out, tokenizer = sys.argv[1:4]
train, _, _ = split_examples(read_dataset(data), 0.1, 13)  # train's own split: validation text unseen
tokenize = get_tokenizer(tokenizer).tokenize
info = pretrain_word2vec([tokenize(e.text) for e in train], out, dim=128, epochs=15, workers=1)
print(json.dumps({"vectors": out, "tokenizer": tokenizer, **info}))
PY
"$PY" -m training train --data "$ZH" --out "$OUT" --tokenizer "$TOKENIZER" --language zh --init-vectors "$VECTORS" \
    --val-fraction 0.1 --seed 13 --epochs "${EPOCHS:-5}" --threads "${THREADS:-1}" "$@"
