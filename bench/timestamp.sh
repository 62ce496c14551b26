#!/usr/bin/env bash
# Cost of a PAdES B-T signature (signature timestamp from certomancer's TSA on loopback) against a
# B-B one: same key (RSA 2048, RSASSA-PSS), same input, in process. Prints ms per signature, the
# difference and the file sizes. certomancer is started for the run and stopped at the end.
#   bench/timestamp.sh [ITERATIONS]   (default 100)
#   KYSO_BENCH_PROFILE=dev bench/timestamp.sh   to skip the release build (ring is optimised in
#                                               dev too; kyso's own code is not)
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/env
N=${1:-100}
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
flag=--release; [ "$PROFILE" = dev ] && flag=
cargo run -q $flag --example bench_timestamp -- "$KYSO_TEST_PKI_KEYS/signer.key.pem" "$D/signer.pem" \
  "$D/interm.pem" "$D/root.pem" "$IN" "$KYSO_TEST_PKI_URL/kyso/tsa/tsa" "$N" > "$D/out"
read -r _ _ bb bb_size < <(grep '^B-B' "$D/out")
read -r _ _ bt bt_size < <(grep '^B-T' "$D/out")
printf 'B-B %8.3f ms/signature (%s bytes)   B-T %8.3f ms/signature (%s bytes)   timestamp adds %.3f ms (%d runs, %s build)\n' \
  "$bb" "$bb_size" "$bt" "$bt_size" "$(python3 -c "print($bt - $bb)")" "$N" "$PROFILE"
rm -rf "$D"
