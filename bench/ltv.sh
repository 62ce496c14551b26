#!/usr/bin/env bash
# Cost of PAdES B-LT and B-LTA over B-T (kyso, in process, OCSP/CRL cache warm), of validating
# the B-LTA file offline, and pyHanko's times for the same operations (its CLI, one process per
# file, so Python's start-up is included) against certomancer on loopback. kyso's lines give the
# wall-clock time and kyso's own CPU time per step (which leaves out the wait for the TSA, a
# separate process, and the time other processes hold the cores), and the TSA's round trip alone,
# so that a B-LTA figure splits into the TSA's answer and kyso's work.
#   bench/ltv.sh [ITERATIONS]   (default 50)
#   KYSO_BENCH_PROFILE=dev bench/ltv.sh   to skip the release build
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/env
N=${1:-50}
PROFILE=${KYSO_BENCH_PROFILE:-release}
export PKI_STATE=$HOME/.cache/kyso-pki/bench-$$
bash .ci/certomancer.sh start >/dev/null
trap 'bash .ci/certomancer.sh stop >/dev/null 2>&1 || true' EXIT
source "$PKI_STATE/env"
D=$(mktemp -d)
for c in signer interm root; do
  curl -fsS "$KYSO_TEST_PKI_URL/_certomancer/any-cert/kyso/$c.cert.pem" -o "$D/$c.pem"
done
IN=$KYSO_SHARED/fixtures/external/pyhanko/unsigned.pdf
TSA=$KYSO_TEST_PKI_URL/kyso/tsa/tsa
flag=--release; [ "$PROFILE" = dev ] && flag=
cargo run -q $flag --example bench_ltv -- "$KYSO_TEST_PKI_KEYS/signer.key.pem" "$D/signer.pem" \
  "$D/interm.pem" "$D/root.pem" "$IN" "$TSA" "$N" | tee "$D/out"
PYH=$KYSO_TOOLS/venv/bin/pyhanko
ms() { python3 -c "import sys; print(f'{(float(sys.argv[2]) - float(sys.argv[1])) * 1000 / int(sys.argv[3]):.1f}')" "$@"; }
M=5
t0=$(date +%s.%N)
for i in $(seq $M); do
  "$PYH" sign addsig --field Sig1 --timestamp-url "$TSA" --use-pades-lta --with-validation-info \
    --trust "$D/root.pem" --trust-replace pemder --key "$KYSO_TEST_PKI_KEYS/signer.key.pem" \
    --cert "$D/signer.pem" --chain "$D/interm.pem" --no-pass "$IN" "$D/pyh-$i.pdf" >/dev/null 2>&1
done
t1=$(date +%s.%N)
for i in $(seq $M); do
  "$PYH" sign adesverify --trust "$D/root.pem" --trust-replace --executive-summary "$D/pyh-$i.pdf" >/dev/null 2>&1
done
t2=$(date +%s.%N)
echo "pyHanko B-LTA signing $(ms "$t0" "$t1" $M) ms/file, adesverify $(ms "$t1" "$t2" $M) ms/file ($M runs each, CLI processes)"
rm -rf "$D"
