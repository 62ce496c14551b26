#!/usr/bin/env bash
# Signing speed: kyso (in process, release build) against pyHanko 0.38 (in process, same input,
# same key, same run). Prints ms per signature for each and the ratio.
#   bench/sign.sh [ITERATIONS]   (default 500 for kyso, a tenth of that for pyHanko, at least 20)
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/env
N=${1:-500}
PN=$(( N / 10 > 20 ? N / 10 : 20 ))
IN=$KYSO_SHARED/fixtures/external/pyhanko/unsigned.pdf
K=keys-dev
for alg in rsa ec; do
  KEY=$K/chairman-$alg.key.pem; CERT=$K/chairman-$alg.pem; CHAIN=$K/intermediate-ca.pem
  cargo run -q --release --example bench_sign -- "$KEY" "$CERT" "$CHAIN" "$IN" "$N" > /tmp/kyso-bench-sign.$$
  read -r _ _ kyso_ms _ < /tmp/kyso-bench-sign.$$
  pyh_ms=$("$KYSO_TOOLS/venv/bin/python" - "$KEY" "$CERT" "$CHAIN" "$IN" "$PN" <<'PY'
import io, sys, time
from pyhanko.sign import signers
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
key, cert, chain, path, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
signer = signers.SimpleSigner.load(key, cert, ca_chain_files=(chain,))
data = open(path, 'rb').read()
meta = signers.PdfSignatureMetadata(field_name='Signature1')
def one():
    w = IncrementalPdfFileWriter(io.BytesIO(data))
    return signers.sign_pdf(w, meta, signer=signer).getvalue()
one()
t = time.perf_counter()
for _ in range(n):
    one()
print(f"{(time.perf_counter() - t) / n * 1e3:.3f}")
PY
)
  ratio=$(python3 -c "print(f'{$pyh_ms / $kyso_ms:.1f}')")
  printf '%-6s kyso %8.3f ms/signature (%d runs)   pyHanko %8.3f ms/signature (%d runs)   ratio %sx\n' \
    "$alg" "$kyso_ms" "$N" "$pyh_ms" "$PN" "$ratio"
done
rm -f /tmp/kyso-bench-sign.$$
