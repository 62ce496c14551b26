#!/usr/bin/env bash
# Issuing speed, in process, on one core (release build): documents per second and CPU time per
# document for rendering only, for issuing (validation + numbering in a SQLite register file +
# rendering), for issuing followed by the official's signature and the agency seal, and for that
# with four threads sharing the register.
#   bench/issue.sh [KIND] [ITERATIONS] [STAGE ...]   (default: signature, 500, every stage)
# Stages: render, issue, ecdsa, rsa (issue + signatures with either algorithm), threads.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/env
KIND=${1:-signature}
N=${2:-500}
cargo build -q --release --example bench_issue
# One core, as the target is stated: with taskset the threads of the last stage share it.
PIN=()
if command -v taskset >/dev/null; then PIN=(taskset -c 0); fi
"${PIN[@]}" "${CARGO_TARGET_DIR:-target}/release/examples/bench_issue" "$KIND" "$N" keys-dev "${@:3}"
