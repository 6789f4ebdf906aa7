#!/usr/bin/env bash
# Bounded schemathesis run over the API's OpenAPI spec: every operation, server-error and
# response-schema checks, against the real app (uvicorn on a free loopback port, the shipped
# bundle, a temporary SQLite file, an API key passed as a header). Fails on any 5xx or any
# response that does not match the spec. The server is stopped and its files removed on exit.
#
#   bash .ci/schemathesis.sh                 # ~2 minutes
#   ST_MAX_TIME=30 ST_MAX_EXAMPLES=10 bash .ci/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_EXAMPLES="${ST_MAX_EXAMPLES:-25}"   # per operation and phase
MAX_TIME="${ST_MAX_TIME:-90}"           # seconds for the whole run (fuzzing repeats until spent)
SEED="${ST_SEED:-13}"
KEY="schemathesis-key"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:${port}"

BIOMETRICS_DATABASE_URL="sqlite:///${work}/fuzz.db" \
BIOMETRICS_BUNDLE_PATH="bundles/sample.pt" \
BIOMETRICS_API_KEYS="{\"${KEY}\": \"fuzz\"}" \
BIOMETRICS_USER_ID_SECRET="schemathesis-user-id-secret-0123456789" \
OMP_NUM_THREADS=1 \
  python -m uvicorn serving.app:app --host 127.0.0.1 --port "$port" --log-level warning \
  >"$work/server.log" 2>&1 &
server_pid=$!

get() { python -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"; }
for _ in $(seq 300); do
  get "$base/readyz" >/dev/null 2>&1 && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "schemathesis: the API did not start:" >&2; cat "$work/server.log" >&2; exit 1
  fi
  sleep 0.2
done
get "$base/readyz" >/dev/null

status=0
# From the temporary folder: schemathesis keeps its example database (.schemathesis/) there.
(cd "$work" && schemathesis run "$base/openapi.json" \
  --checks not_a_server_error,response_schema_conformance \
  --header "X-API-Key: ${KEY}" \
  --max-examples "$MAX_EXAMPLES" --max-time "$MAX_TIME" --seed "$SEED" \
  --workers 1 --request-timeout 20 --suppress-health-check all \
  --report junit --report-dir "$work/report" \
  --warnings off) || status=$?

# Belt and braces: the server's own count of 5xx answers (schemathesis stops shrinking early).
fivexx="$(get "$base/metrics" | python -c '
import re, sys
n = 0
for line in sys.stdin:
    m = re.match(r"^\w*requests_total\{([^}]*)\}\s+([0-9.e+]+)", line)
    if m and re.search(r"status=\"5\d\d\"", m.group(1)):
        n += int(float(m.group(2)))
print(n)')"
if [[ "$fivexx" != "0" ]]; then
  echo "schemathesis: the server answered ${fivexx} request(s) with a 5xx" >&2
  status=1
fi
if [[ $status -ne 0 ]]; then
  echo "--- server log (last 80 lines) ---" >&2
  tail -n 80 "$work/server.log" >&2
fi
exit $status
