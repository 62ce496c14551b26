#!/usr/bin/env bash
# Issuing speed, in process, one thread (release build): documents per second and CPU time per
# document for rendering only, for issuing (validation + numbering in a SQLite register file +
# rendering), and for issuing followed by the official's signature and the agency seal.
#   bench/issue.sh [KIND] [ITERATIONS]   (default: signature, 500)
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/env
KIND=${1:-signature}
N=${2:-500}
cargo run -q --release --example bench_issue -- "$KIND" "$N" keys-dev
