#!/usr/bin/env bash
# Service throughput on this machine: a release `kyso --dev serve` on loopback and wrk (Debian's
# package) at 32 connections, for
#   - GET /v/{id}            the QR code's page           (target >= 5,000 req/s, p99 < 20 ms)
#   - POST /api/v1/verify    a one-page signed PDF         (target >= 800 req/s)
#   - issue + sign           POST /documents then POST /documents/{id}/sign with the
#                            Vice-Chairman's registered ECDSA P-256 key: capacity with 32
#                            clients in a closed loop (target >= 150 pairs/s), and latency with
#                            pairs started at RATE per second (default 150; target p99 < 50 ms;
#                            a 2xx only once recorded)
# then the server's peak resident memory (VmHWM) after all of it, and the load average.
#   [RATE=150] [NO_ARCHIVE_WORKER=1] bench/serve.sh [SECONDS]   (default 15 per measurement)
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/env
SECS=${1:-15}
command -v wrk >/dev/null || { sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo; $sudo apt-get install -y -qq wrk >/dev/null; }
cargo build -q --release --bin kyso --example bench_serve_load
BIN=$CARGO_TARGET_DIR/release/kyso
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
# The archive worker runs, as in service: each signed version is copied to the local-disk archive
# while the load runs. NO_ARCHIVE_WORKER=1 measures without it.
"$BIN" --dev --data-dir "$work/data" serve --listen 127.0.0.1:0 ${NO_ARCHIVE_WORKER:+--no-archive-worker} >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 100); do grep -q 'serving on' "$work/out" 2>/dev/null && break; sleep 0.2; done
addr=$(sed -n 's/.*serving on http:\/\/\([^ ]*\).*/\1/p' "$work/out")
[ -n "$addr" ] || { cat "$work/err" >&2; exit 1; }
base=http://$addr

# Tokens, and one document issued, signed KT. and sealed, as the pages' subject.
read -r clerk vice id < <(python3 - "$base" "$work" <<'PY'
import json, sys, urllib.request
base, work = sys.argv[1], sys.argv[2]
def call(path, body=None, headers={}, method=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
        headers={"Content-Type": "application/json", **headers})
    return urllib.request.urlopen(req)
r = call("/api/v1/session", {"username": "admin", "password": "dev-admin-password"})
h = {"Cookie": r.headers["Set-Cookie"].split(";")[0], "X-CSRF-Token": json.load(r)["csrf"]}
tok = {u: json.load(call("/api/v1/tokens", {"username": u, "label": "bench"}, h))["secret"]
       for u in ("van-thu", "pho-chu-tich", "con-dau")}
sample = json.load(open("templates/signature/sample.json"))
auth = lambda u: {"Authorization": "Bearer " + tok[u]}
doc = json.load(call("/api/v1/documents", {"kind": "signature", "data": sample}, auth("van-thu")))["id"]
call(f"/api/v1/documents/{doc}/sign", {}, auth("pho-chu-tich"))
call(f"/api/v1/documents/{doc}/sign", {}, auth("con-dau"))
pdf = call(f"/api/v1/documents/{doc}/pdf", None, auth("van-thu")).read()
open(f"{work}/signed.pdf", "wb").write(pdf)
print(tok["van-thu"], tok["pho-chu-tich"], doc)
PY
)

summary() { # wrk output -> "req/s p99"
  awk '/Requests\/sec/ {r=$2} /^ +99%/ {p=$2} END {print r, p}'
}

echo "machine: $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
read -r rps p99 < <(wrk -t2 -c32 -d"${SECS}s" --latency "$base/v/$id" | summary)
echo "GET /v/{id}:          $rps req/s, p99 $p99 (target >= 5000 req/s, p99 < 20ms)"

cat >"$work/verify.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/pdf"
local f = io.open("$work/signed.pdf", "rb")
wrk.body = f:read("*all")
f:close()
LUA
read -r rps p99 < <(wrk -t2 -c32 -d"${SECS}s" --latency -s "$work/verify.lua" "$base/api/v1/verify" | summary)
echo "POST /api/v1/verify:  $rps req/s, p99 $p99 (target >= 800 req/s)"

# The pairs' load generator is compiled (examples/bench_serve_load.rs says why and how it counts).
"$CARGO_TARGET_DIR/release/examples/bench_serve_load" "$base" "$clerk" "$vice" \
  templates/signature/sample.json "$SECS" "${RATE:-150}"
# /metrics answers loopback: how far the archive worker is behind when the load stops.
echo "archive: $(curl -s "$base/metrics" | awk '/^kyso_outbox_backlog\{state="pending"\}/ {p=$2} /^kyso_outbox_oldest_waiting_seconds/ {o=$2} END {print p+0 " signed files waiting, oldest " o+0 " s"}')"
echo "peak resident memory: $(awk '/VmHWM/ {print $2, $3}' /proc/$pid/status) (target < 200 MB)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
