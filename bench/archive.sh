#!/usr/bin/env bash
# Archive throughput of 1-page signed PDFs (release build): to the local store, then to Garage on
# loopback (a private instance started and stopped here). For each: documents per second and the
# p50/p99 latency of one upload, the rate of recording documents in the outbox, and the drain
# rate of a backlog.
#   bench/archive.sh [UPLOADS] [BACKLOG]   (defaults 1000 and 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/env
UPLOADS=${1:-1000}
BACKLOG=${2:-10000}
DOC=$KYSO_SHARED/fixtures/external/pyhanko/valid-bb.pdf
for v in $(env | sed -n 's/^\(KYSO_ARCHIVE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
cargo build -q --release --example bench_archive
BIN=$CARGO_TARGET_DIR/release/examples/bench_archive

echo "== local store (fsync on $(df --output=source "${TMPDIR:-/tmp}" | tail -1))"
KYSO_ARCHIVE_BACKEND=local "$BIN" "$DOC" "$UPLOADS" "$BACKLOG"

echo "== Garage $("$KYSO_TOOLS/garage/bin/garage" --version 2>/dev/null | head -1 | awk '{print $2}') on loopback"
bash .ci/garage.sh install >/dev/null
export GARAGE_STATE=$(mktemp -d)/garage
trap 'bash .ci/garage.sh stop >/dev/null 2>&1 || true' EXIT
bash .ci/garage.sh start >/dev/null
# shellcheck disable=SC1091
source "$GARAGE_STATE/env"
"$BIN" "$DOC" "$UPLOADS" "$BACKLOG"
