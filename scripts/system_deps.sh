#!/usr/bin/env bash
# Install the Debian packages the test suite needs, only where they are missing (idempotent).
#   bash scripts/system_deps.sh          (run by `make test` before pytest)
# Each entry of PACKAGES is "package|check": the package is installed when the check command fails.
# To add one, append a line; keep the check cheap and without side effects.
set -euo pipefail

PACKAGES=(
  # PostgreSQL 15 server binaries: the request-log tests start a real server (tests/support/pgserver.py).
  # (Where a release has no postgresql-15, its default "postgresql" is installed; pgserver finds any version.)
  "postgresql-15|test -x ${SENTIMENT_PG_BIN:-/usr/lib/postgresql/15/bin}/initdb || compgen -G '/usr/lib/postgresql/*/bin/initdb'"
  # HAProxy: the native proxy test puts it in front of 3 replicas (tests/e2e/test_replicas.py, bench/fleet.py).
  "haproxy|command -v haproxy"
  # Headless Chromium: the console's browser test drives it with Playwright (tests/e2e/test_console_browser.py).
  "chromium|test -x /usr/bin/chromium"
  "wrk|command -v wrk"  # bench/http_bench.py and bench/replicas_bench.py drive load with it
)

missing=()
for entry in "${PACKAGES[@]}"; do
  package="${entry%%|*}"
  check="${entry#*|}"
  if bash -c "$check" >/dev/null 2>&1; then
    echo "system_deps: $package present ($check)"
  else
    echo "system_deps: $package missing ($check fails)"
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "system_deps: not root and no password-less sudo: install them yourself: apt-get install -y ${missing[*]}" >&2
  echo "system_deps: (tests that need them are skipped outside CI; with CI=true they fail)" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system_deps: no apt-get here: install ${missing[*]} with your package manager" >&2
  exit 0
fi

install() {
  echo "system_deps: apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "$@"
}
if ! install "${missing[@]}"; then
  echo "system_deps: apt-get update, then again"
  "${sudo[@]}" apt-get update -q
  # Debian releases other than bookworm carry another major version: fall back to the default one.
  install "${missing[@]}" || install "${missing[@]/postgresql-15/postgresql}"
fi
