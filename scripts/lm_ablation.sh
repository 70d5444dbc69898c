#!/usr/bin/env bash
# One fine-tuning run per pre-training lever, in parallel, on IMDB train + SST-2 (validation only;
# the test set is never read). Made for a GPU machine (--device auto falls back to the CPU, where
# each run takes ~25 min). Usage: scripts/lm_ablation.sh IMDB SST2 W2V_DIR LM_DIR LM_EMB_DIR OUT [WAVE]
# WAVE 1 (default): the pre-training levers; WAVE 2: fine-tuning recipes on top of them.
set -uo pipefail
imdb=$1 sst=$2 w2v=$3 lm=$4 lmemb=$5 out=$6 wave=${7:-1}
py=${PYTHON:-python3}
mkdir -p "$out"
run() {  # name, then extra flags
    local name=$1; shift
    $py -m training train --data "$imdb" --data "$sst" --label-map 0=negative,1=positive \
        --out "$out/$name" --average-last 2 --device auto "$@" >"$out/$name.json" 2>"$out/$name.log"
}
export -f run; export imdb sst out py
wave1() {
    cat <<JOBS
lm --init-vectors $lm
lm_lr1e-3 --init-vectors $lm --lr 1e-3
lm_seed14 --init-vectors $lm --seed 14
lm_lr1e-3_seed14 --init-vectors $lm --lr 1e-3 --seed 14
lm_3epochs --init-vectors $lm --epochs 3
lm_embedding_only --init-vectors $lmemb
w2v --init-vectors $w2v
w2v_seed14 --init-vectors $w2v --seed 14
none_seed14 --init-vectors none --seed 14
JOBS
}
wave2() {
    cat <<JOBS
w2v_cal --init-vectors $w2v
w2v_cal_seed14 --init-vectors $w2v --seed 14
lm_ulmfit --init-vectors $lm --epochs 5 --freeze-epochs 1 --encoder-lr-scale 0.5
lm_ulmfit_seed14 --init-vectors $lm --epochs 5 --freeze-epochs 1 --encoder-lr-scale 0.5 --seed 14
lm_freeze --init-vectors $lm --epochs 5 --freeze-epochs 1
lm_lrscale0.3 --init-vectors $lm --encoder-lr-scale 0.3
w2v_edrop0.25 --init-vectors $w2v --embedding-dropout 0.25
w2v_edrop0.25_seed14 --init-vectors $w2v --embedding-dropout 0.25 --seed 14
w2v_wd0.1 --init-vectors $w2v --weight-decay 0.1
w2v_800tokens --init-vectors $w2v --max-tokens 800 --head-tokens 200
w2v_dropout0.3 --init-vectors $w2v --dropout 0.3
JOBS
}
wave3() {
    cat <<JOBS
w2v_cal_seed15 --init-vectors $w2v --seed 15
w2v_do0.3_seed14 --init-vectors $w2v --dropout 0.3 --seed 14
w2v_do0.3_seed15 --init-vectors $w2v --dropout 0.3 --seed 15
w2v_wd0.1_seed14 --init-vectors $w2v --weight-decay 0.1 --seed 14
w2v_do0.3_wd0.1 --init-vectors $w2v --dropout 0.3 --weight-decay 0.1
w2v_do0.3_wd0.1_seed14 --init-vectors $w2v --dropout 0.3 --weight-decay 0.1 --seed 14
w2v_do0.3_wd0.1_seed15 --init-vectors $w2v --dropout 0.3 --weight-decay 0.1 --seed 15
w2v_do0.2_wd0.1 --init-vectors $w2v --dropout 0.2 --weight-decay 0.1
w2v_do0.3_wd0.1_avg3 --init-vectors $w2v --dropout 0.3 --weight-decay 0.1 --average-last 3
w2v_do0.3_wd0.1_800 --init-vectors $w2v --dropout 0.3 --weight-decay 0.1 --max-tokens 800 --head-tokens 200
w2v_nocal --init-vectors $w2v --no-calibrate
JOBS
}
wave4() {
    cat <<JOBS
w2v_do0.2_wd0.1_seed14 --init-vectors $w2v --dropout 0.2 --weight-decay 0.1 --seed 14
w2v_do0.2_wd0.1_seed15 --init-vectors $w2v --dropout 0.2 --weight-decay 0.1 --seed 15
w2v_do0.2 --init-vectors $w2v --dropout 0.2
w2v_do0.2_seed14 --init-vectors $w2v --dropout 0.2 --seed 14
w2v_do0.2_seed15 --init-vectors $w2v --dropout 0.2 --seed 15
JOBS
}
wave5() {  # on top of the shipped recipe (dropout 0.2, calibration)
    cat <<JOBS
do0.2_800 --init-vectors $w2v --dropout 0.2 --max-tokens 800 --head-tokens 200
do0.2_800_seed14 --init-vectors $w2v --dropout 0.2 --max-tokens 800 --head-tokens 200 --seed 14
do0.2_800_seed15 --init-vectors $w2v --dropout 0.2 --max-tokens 800 --head-tokens 200 --seed 15
do0.2_avg3 --init-vectors $w2v --dropout 0.2 --average-last 3
do0.2_avg3_seed14 --init-vectors $w2v --dropout 0.2 --average-last 3 --seed 14
do0.2_avg3_seed15 --init-vectors $w2v --dropout 0.2 --average-last 3 --seed 15
do0.2_800_avg3 --init-vectors $w2v --dropout 0.2 --max-tokens 800 --head-tokens 200 --average-last 3
do0.2_800_avg3_seed14 --init-vectors $w2v --dropout 0.2 --max-tokens 800 --head-tokens 200 --average-last 3 --seed 14
do0.2_800_avg3_seed15 --init-vectors $w2v --dropout 0.2 --max-tokens 800 --head-tokens 200 --average-last 3 --seed 15
JOBS
}
"wave$wave" | xargs -P "${PARALLEL:-5}" -I{} bash -c 'run {}'
for f in "$out"/*.json; do
    $py -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[1].rsplit("/",1)[-1][:-5].ljust(22), "best_epoch", d["best_epoch"], "val", {k: round(v*100,2) for k,v in d["validation_accuracy_by_source"].items()}, d["training_time_s"], "s")' "$f" || tail -3 "${f%.json}.log"
    grep -h "calibration on validation" "${f%.json}.log" || true
done
