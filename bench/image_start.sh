#!/usr/bin/env bash
# Start-to-ready time of the two images: `docker run` until GET /readyz answers 200, N times each.
#
#   eval "$(../shared/tools/local-docker-engine.sh up)"   # or any Docker engine
#   flock /tmp/bench.lock bash bench/image_start.sh [runs]  (builds nothing: build both images first)
#
# Host networking, a fresh container each run (the default SQLite log on its anonymous volume).
set -euo pipefail
RUNS=${1:-5}
PORT=${PORT:-18950}
for image in sentiment-service:latest sentiment-service:train; do
  times=()
  for _ in $(seq "$RUNS"); do
    start=$(date +%s.%N)
    id=$(docker run -d --network host -e SENTIMENT_HOST=127.0.0.1 -e SENTIMENT_PORT="$PORT" "$image")
    until curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null; do sleep 0.05; done
    end=$(date +%s.%N)
    rss=$(docker stats --no-stream --format '{{.MemUsage}}' "$id" | cut -d/ -f1)
    docker rm -f -v "$id" >/dev/null
    times+=("$(echo "$end - $start" | bc)")
  done
  sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
  size=$(docker image inspect "$image" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')
  printf '%-26s %8s  start-to-ready median %.2f s  (runs: %s)  memory when ready: %s\n' \
    "$image" "$size" "$median" "$sorted" "$rss"
done
