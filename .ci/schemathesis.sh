#!/usr/bin/env bash
# The API fuzzer: schemathesis (from PyPI, in its own cached venv) against a running
# `kyso --dev serve` on a fresh data directory, over every operation of /api/openapi.json with
# an admin API token, bounded in examples and time. A 5xx, an undocumented status, a response
# of the wrong media type or one that breaks its schema fails the run.
#
#   .ci/schemathesis.sh [KYSO_BINARY]   (default: $CARGO_TARGET_DIR/debug/kyso)
set -euo pipefail
cd "$(dirname "$0")/.."
KYSO_TOOLS=${KYSO_TOOLS:-$HOME/.cache/kyso-tools}
VENV=$KYSO_TOOLS/st-venv
ST_VERSION=4.32.5
BIN=${1:-${CARGO_TARGET_DIR:-$HOME/.cache/kyso-target}/debug/kyso}
[ -x "$BIN" ] || { echo "schemathesis.sh: no kyso binary at $BIN (build it first)" >&2; exit 1; }

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
if ! "$VENV/bin/pip" show schemathesis 2>/dev/null | grep -q "^Version: $ST_VERSION\$"; then
  "$VENV/bin/pip" install -q "schemathesis==$ST_VERSION"
fi

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
KYSO_BASE_URL=http://kyso.test "$BIN" --dev --data-dir "$work/data" serve --listen 127.0.0.1:0 \
  >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 100); do
  grep -q 'serving on' "$work/out" 2>/dev/null && break
  sleep 0.2
done
addr=$(sed -n 's/.*serving on http:\/\/\([^ ]*\).*/\1/p' "$work/out")
[ -n "$addr" ] || { cat "$work/err" >&2; echo "schemathesis.sh: the server did not start" >&2; exit 1; }
base=http://$addr

token=$("$VENV/bin/python" - "$base" <<'PY'
import json, sys, urllib.request
base = sys.argv[1]
def call(path, body, headers):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **headers})
    return urllib.request.urlopen(req)
r = call("/api/v1/session", {"username": "admin", "password": "dev-admin-password"}, {})
cookie = r.headers["Set-Cookie"].split(";")[0]
csrf = json.load(r)["csrf"]
h = {"Cookie": cookie, "X-CSRF-Token": csrf}
# Tokens the fuzzer may revoke at random: its own comes after them, at an id it is unlikely
# to pick, so that the rest of the run is not answered 401.
for i in range(300):
    call("/api/v1/tokens", {"username": "van-thu", "label": f"decoy {i}"}, h)
r = call("/api/v1/tokens", {"username": "admin", "label": "schemathesis"}, h)
print(json.load(r)["secret"])
PY
)

"$VENV/bin/schemathesis" run "$base/api/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "${ST_MAX_EXAMPLES:-25}" \
  --max-time "${ST_MAX_TIME:-300}" \
  --workers 2 \
  --generation-deterministic \
  --no-color \
  --include-path-regex '^/api/v1/'
