#!/usr/bin/env bash
# Build and exercise the image and the compose stack for real; print "N passed, M failed".
#
#   bash scripts/docker_ci.sh        (needs root on Debian; starts its own Docker engine)
#
# Steps: start an engine, lint the Dockerfiles, build the two images (serve: no torch; train) and
# check the serving one runs as non-root, has no torch, serves on ONNX Runtime, refuses
# SENTIMENT_RUNTIME=torch clearly and runs on a read-only root filesystem; bring the stack up and
# wait for /readyz, predict (single and batch), check the request log survives down/up on the
# named volume, retrain inside the train image and check the service then serves the new model
# version; then the scale stack (docker-compose.scale.yml: PostgreSQL, 3 replicas, HAProxy):
# requests through the proxy land in PostgreSQL, one replica is killed and the service keeps
# answering; tear everything down.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ENGINE=${LOCAL_DOCKER_ENGINE:-$ROOT/../shared/tools/local-docker-engine.sh}
export CI_PORT=${CI_PORT:-18000}
export COMPOSE_PROJECT_NAME=sentimentci
export SCALE_PORT=${SCALE_PORT:-18080} SCALE_STATS_PORT=${SCALE_STATS_PORT:-18404}
URL=http://127.0.0.1:$CI_PORT
ADMIN=ci-admin-key-123
PASSED=0
FAILED=0
COMPOSE=(docker compose -f docker-compose.yml -f compose.ci.yml)
# The scale stack runs on its own bridge network (Docker's DNS finds the replicas); only the
# proxy's ports are published, on loopback. The database password is made up per run.
SCALE=(env POSTGRES_PASSWORD="ci$(date +%s%N | sha256sum | head -c 24)" SENTIMENT_PUBLISH_PORT="$SCALE_PORT"
  SENTIMENT_STATS_PORT="$SCALE_STATS_PORT" docker compose -p sentimentscaleci -f docker-compose.scale.yml -f compose.scale.ci.yml)
SCALE_URL=http://127.0.0.1:$SCALE_PORT

pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
finish() {
  "${COMPOSE[@]}" --profile train down -v --remove-orphans >/dev/null 2>&1 || true
  "${SCALE[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  docker rm -f sentimentci-readonly >/dev/null 2>&1 || true
  rm -rf "$ROOT/train-data/ci"
  bash "$ENGINE" down >/dev/null 2>&1 || true
  echo "docker: $PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}
wait_ready() {  # [url]
  for _ in $(seq 120); do
    curl -fsS "${1:-$URL}/readyz" >/dev/null 2>&1 && return 0
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
if hadolint --failure-threshold warning docker/ci/postgres.Dockerfile docker/ci/haproxy.Dockerfile; then
  pass "hadolint: CI stand-in Dockerfiles"
else
  fail "hadolint: CI stand-in Dockerfiles"
fi

# 2. the two images, built from the stand-in base: serve (the default target) and train
size() { docker image inspect "$1" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}'; }
base_mb=$(size "$LOCAL_BASE_IMAGE")
for target in serve train; do
  tag=sentiment-service:$([ "$target" = serve ] && echo latest || echo train)
  if docker build --network host --target "$target" --build-arg BASE_IMAGE="$LOCAL_BASE_IMAGE" \
      --build-arg TORCH_INDEX_URL= -t "$tag" . >"/tmp/docker-build-$target.log" 2>&1; then
    pass "image $tag built ($(size "$tag"); the stand-in base is $base_mb of it)"
  else
    tail -30 "/tmp/docker-build-$target.log"; fail "image build ($target)"; exit 1
  fi
done
uid=$(docker run --rm --network host sentiment-service:latest id -u)
if [ "$uid" != "0" ] && [ -n "$uid" ]; then pass "runs as non-root (uid $uid)"; else fail "runs as root"; fi

# 2b. the serving image: no torch, ONNX Runtime picked, torch refused with a clear error
if docker run --rm --network host sentiment-service:latest python -c "import torch" >/dev/null 2>&1; then
  fail "the serving image contains torch"
else
  pass "the serving image has no torch"
fi
runtime=$(docker run --rm --network host sentiment-service:latest python -c \
  "from service.config import Settings; from service.state import load_configured_predictor as l; print(l(Settings()).runtime)")
if [ "$runtime" = "onnx" ]; then pass "the serving image runs on onnx"; else fail "runtime: $runtime"; fi
out=$(docker run --rm --network host -e SENTIMENT_RUNTIME=torch -e SENTIMENT_PORT=$((CI_PORT + 7)) \
  sentiment-service:latest 2>&1); code=$?
if [ "$code" = "2" ] && echo "$out" | grep -q "runtime 'torch' needs the package 'torch', which is not installed" && ! echo "$out" | grep -q Traceback; then
  pass "SENTIMENT_RUNTIME=torch in the serving image: exit 2, $(echo "$out" | tail -n1 | cut -c1-110)..."
else
  echo "$out" | tail -5; fail "SENTIMENT_RUNTIME=torch in the serving image (exit $code)"
fi
if docker run --rm --network host sentiment-service:train python -c "import torch, gensim, matplotlib" \
    && docker run --rm --network host sentiment-service:train python -m training --help >/dev/null; then
  pass "the train image has torch and runs python -m training"
else
  fail "the train image"
fi

# 2c. read-only root filesystem with a tmpfs on /tmp (as deploy/deployment.yaml runs it)
RO_URL=http://127.0.0.1:$((CI_PORT + 8))
docker run -d --name sentimentci-readonly --network host --read-only --tmpfs /tmp \
  -e SENTIMENT_HOST=127.0.0.1 -e SENTIMENT_PORT=$((CI_PORT + 8)) sentiment-service:latest >/dev/null
if wait_ready "$RO_URL" && curl -fsS "$RO_URL/v1/sentiment" -H 'Content-Type: application/json' \
    -d '{"text": "Great fun."}' | grep -q '"label"'; then
  pass "serves with a read-only root filesystem"
else
  docker logs sentimentci-readonly 2>&1 | tail -10; fail "read-only root filesystem"
fi
docker rm -f sentimentci-readonly >/dev/null 2>&1

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
options=$(curl -fsS "$URL/v1/sentiment" -H 'Content-Type: application/json' \
  -d '{"text": "Superb acting. The ending was awful.", "explain": true, "sentences": true}')
if [ "$(echo "$options" | json 'str(len(d["sentences"])) + " " + d["explanation"]["method"]')" = "2 occlusion" ]; then
  pass "explain + sentences in the serving image (occlusion, 2 sentences)"
else
  fail "explain/sentences: $options"
fi
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
"${COMPOSE[@]}" --profile train down -v --remove-orphans >/dev/null 2>&1

# 8. the scale stack: PostgreSQL, 3 api replicas, HAProxy (stand-ins for the official images)
if ! "${SCALE[@]}" build db proxy >/tmp/compose-scale-build.log 2>&1; then
  tail -20 /tmp/compose-scale-build.log; fail "scale stack: stand-in images"; exit 1
fi
if docker run --rm --network host -v "$ROOT/docker/haproxy/haproxy.cfg:/cfg:ro" sentiment-ci/haproxy:2.6 \
    haproxy -c -f /cfg >/tmp/haproxy-check.log 2>&1; then
  pass "docker/haproxy/haproxy.cfg is valid (haproxy -c)"
else
  cat /tmp/haproxy-check.log; fail "haproxy -c"
fi
started=$(date +%s)
if ! "${SCALE[@]}" up -d >/tmp/compose-scale-up.log 2>&1; then
  tail -20 /tmp/compose-scale-up.log; "${SCALE[@]}" logs --tail 20; fail "scale stack up"; exit 1
fi
if wait_ready "$SCALE_URL"; then
  pass "scale stack ready through the proxy in $(($(date +%s) - started)) s"
else
  "${SCALE[@]}" logs --tail 20; fail "scale stack not ready"; exit 1
fi
migrate_exit=$(docker inspect "$("${SCALE[@]}" ps -aq migrate)" --format '{{.State.ExitCode}}')
replicas=$("${SCALE[@]}" ps -q api | wc -l)
if [ "$migrate_exit" = "0" ] && [ "$replicas" -ge 3 ]; then
  pass "migration ran once (exit 0) before $replicas api replicas"
else
  fail "migrate exit $migrate_exit, $replicas replicas"
fi
stats() { curl -fsS "http://127.0.0.1:$SCALE_STATS_PORT/stats;csv"; }  # HAProxy's counters, one line per server
for _ in $(seq 60); do  # every replica passed HAProxy's check
  [ "$(stats | awk -F, '$1 == "api" && $18 == "UP"' | wc -l)" -ge "$replicas" ] && break
  sleep 0.5
done
psql() { "${SCALE[@]}" exec -T db psql -U sentiment -d sentiment -tAc "$1"; }
# N requests through the proxy; print how many were not 200.
through_proxy() {  # prefix count
  local bad=0
  for i in $(seq "$2"); do
    code=$(curl -sS -o /dev/null -w '%{http_code}' -m 30 "$SCALE_URL/v1/sentiment" -H 'Content-Type: application/json' \
      -H "X-Request-ID: $1-$i" -d '{"text": "A wonderful, moving film with superb acting."}')
    [ "$code" = "200" ] || bad=$((bad + 1))
  done
  echo "$bad"
}
rows_of() {  # prefix expected: wait for the async writer's flush
  for _ in $(seq 50); do
    n=$(psql "SELECT count(*) FROM request_log WHERE request_id LIKE '$1-%' AND status = 200")
    [ "$n" -ge "$2" ] && break
    sleep 0.2
  done
  echo "$n"
}
bad=$(through_proxy ci-scale 30)
rows=$(rows_of ci-scale 30)
if [ "$bad" = "0" ] && [ "$rows" = "30" ]; then
  pass "30 requests through the proxy: all 200, 30 rows in PostgreSQL"
else
  fail "through the proxy: $bad not 200, $rows rows in PostgreSQL"
fi
# HAProxy's own counters: which replicas served (sessions per server of backend "api")
served=$(stats | awk -F, '$1 == "api" && $2 != "BACKEND" && $8 > 0' | wc -l)
if [ "$served" -ge 2 ]; then pass "the proxy spread them over $served replicas"; else fail "only $served replica(s) served"; fi

# 9. one replica killed: the proxy routes around it
victim=$("${SCALE[@]}" ps -q api | head -n1)
docker kill "$victim" >/dev/null
bad=$(through_proxy ci-kill 30)
rows=$(rows_of ci-kill 30)
if [ "$bad" = "0" ] && [ "$rows" = "30" ]; then
  pass "replica killed: 30 more requests all 200, 30 rows in PostgreSQL"
else
  fail "after the kill: $bad not 200, $rows rows in PostgreSQL"
fi
down=$(stats | awk -F, '$1 == "api" && $18 ~ /^DOWN/' | wc -l)
if [ "$down" -ge 1 ]; then pass "HAProxy marked the killed replica down"; else fail "no replica marked down"; fi
# finish (trap) tears down the stacks and the engine and prints the closing line
