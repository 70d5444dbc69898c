#!/usr/bin/env bash
# Build and exercise the image and the compose stack for real; print "N passed, M failed".
#
#   bash scripts/docker_ci.sh        (needs root on Debian; starts its own Docker engine)
#
# Steps: start an engine, lint the Dockerfile, build the image and check it runs as non-root,
# bring the stack up and wait for /readyz, predict (single and batch), check the request log
# survives down/up on the named volume, retrain inside the image and check the service then
# serves the new model version, tear everything down.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ENGINE=${LOCAL_DOCKER_ENGINE:-$ROOT/../shared/tools/local-docker-engine.sh}
export CI_PORT=${CI_PORT:-18000}
export COMPOSE_PROJECT_NAME=sentimentci
URL=http://127.0.0.1:$CI_PORT
ADMIN=ci-admin-key-123
PASSED=0
FAILED=0
COMPOSE=(docker compose -f docker-compose.yml -f compose.ci.yml)

pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
finish() {
  "${COMPOSE[@]}" --profile train down -v --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$ROOT/train-data/ci"
  bash "$ENGINE" down >/dev/null 2>&1 || true
  echo "docker: $PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}
wait_ready() {
  for _ in $(seq 120); do
    curl -fsS "$URL/readyz" >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# 1. the engine
if ! exports=$(bash "$ENGINE" up); then
  echo "FAIL: the Docker engine could not start on this machine (see the lines above); nothing was tested"
  echo "docker: 0 passed, 1 failed"
  exit 1
fi
eval "$exports"
pass "docker engine up ($(docker version --format '{{.Server.Version}}'))"
trap 'finish; exit $?' EXIT

# lint
if hadolint Dockerfile; then pass "hadolint: no findings"; else fail "hadolint"; fi

# 2. the image, built from the stand-in base, runs as non-root
if docker build --network host --build-arg BASE_IMAGE="$LOCAL_BASE_IMAGE" --build-arg TORCH_INDEX_URL= \
    -t sentiment-service:latest . >/tmp/docker-build.log 2>&1; then
  pass "image built ($(docker image inspect sentiment-service:latest --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}'))"
else
  tail -30 /tmp/docker-build.log; fail "image build"; exit 1
fi
uid=$(docker run --rm --network host sentiment-service:latest id -u)
if [ "$uid" != "0" ] && [ -n "$uid" ]; then pass "runs as non-root (uid $uid)"; else fail "runs as root"; fi

# 3. compose up, ready
"${COMPOSE[@]}" up -d >/tmp/compose-up.log 2>&1 || { cat /tmp/compose-up.log; fail "compose up"; exit 1; }
if wait_ready; then pass "stack ready on $URL"; else "${COMPOSE[@]}" logs api | tail -30; fail "not ready"; exit 1; fi

# 4. predictions
single=$(curl -fsS "$URL/v1/sentiment" -H 'Content-Type: application/json' -H 'X-Request-ID: ci-single-1' \
  -d '{"text": "A wonderful, moving film with superb acting."}')
if [ "$(echo "$single" | json 'd["label"]')" = "positive" ]; then pass "single prediction: positive"; else fail "single: $single"; fi
batch=$(curl -fsS "$URL/v1/sentiment/batch" -H 'Content-Type: application/json' \
  -d '{"texts": ["Dull, boring and a waste of time.", "", "Loved every minute."]}')
if [ "$(echo "$batch" | json '",".join(r.get("label", r.get("error", {}).get("code", "?")) for r in d["results"])')" \
    = "negative,invalid_text,positive" ]; then pass "batch prediction with a per-item error"; else fail "batch: $batch"; fi
version_before=$(echo "$single" | json 'd["model_version"]')

# 5. the log survives down / up on the named volume
"${COMPOSE[@]}" down >/dev/null 2>&1
"${COMPOSE[@]}" up -d >/dev/null 2>&1
wait_ready || fail "not ready after restart"
rows=$(curl -fsS "$URL/v1/requests?limit=100" -H "X-API-Key: $ADMIN")
if echo "$rows" | json '[r["request_id"] for r in d["rows"]]' | grep -q ci-single-1; then
  pass "request log kept across down/up ($(echo "$rows" | json 'd["count"]') rows)"
else
  fail "request log lost: $rows"
fi

# 6. retrain inside the image, then serve the new model
mkdir -p train-data/ci
python3 - <<'PY'
import random
random.seed(1)
pos, neg, filler = ["great", "wonderful", "superb"], ["awful", "boring", "dull"], ["the", "film", "was", "plot", "and"]
with open("train-data/ci/tiny.csv", "w") as f:
    f.write("text,label\n")
    for i in range(200):
        words = [random.choice(filler) for _ in range(6)] + [random.choice(pos if i % 2 else neg)]
        f.write(f"{' '.join(words)},{'positive' if i % 2 else 'negative'}\n")
PY
if "${COMPOSE[@]}" --profile train run --rm train --data /input/ci/tiny.csv --out /models/current --epochs 2 \
    --embedding-dim 128 --hidden-size 16 --min-freq 1 >/tmp/compose-train.log 2>&1; then
  pass "retrained inside the image"
else
  tail -20 /tmp/compose-train.log; fail "retrain"
fi
SENTIMENT_MODEL_DIR=/models/current "${COMPOSE[@]}" up -d api >/dev/null 2>&1
wait_ready || fail "not ready on the retrained model"
version_after=$(curl -fsS "$URL/v1/model" | json 'd["version"]')
if [ -n "$version_after" ] && [ "$version_after" != "$version_before" ]; then
  pass "serves the retrained model ($version_before -> $version_after)"
else
  fail "model version unchanged ($version_before -> $version_after)"
fi

# 7. SIGTERM drains and exits 0
"${COMPOSE[@]}" stop api >/dev/null 2>&1
code=$(docker inspect "$("${COMPOSE[@]}" ps -aq api)" --format '{{.State.ExitCode}}')
if [ "$code" = "0" ]; then pass "docker stop: clean exit"; else fail "exit code $code after docker stop"; fi
# finish (trap) tears down the stack and the engine and prints the closing line
