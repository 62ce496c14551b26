#!/usr/bin/env bash
# Runs every test of kyso, after installing once what the tests need (cached under
# $HOME/.cache, reused on later runs):
#   - pdfsig, qpdf and pyHanko (in a venv), the independent judges of what kyso signs;
#   - poppler-utils (pdftotext, pdffonts, pdftoppm) and zbar-tools (zbarimg), which check issued
#     PDFs: their text layer, embedded fonts, rendering against tests/reference/ and the QR code;
#   - chromium and chromium-driver (Debian's), the real browser of the pages' test
#     (tests/service/browser.rs drives it headless through WebDriver);
#   - Garage, the S3 server of the archive tests, built once into $KYSO_TOOLS/garage (about 10
#     minutes on 2 cores the first time), started on loopback for this run and stopped at the end;
#   - certomancer 0.16 (in the same venv), the test PKI of tests/pki/certomancer.yml with a live
#     TSA, OCSP responder and CRLs, started on a free loopback port for this run and stopped at
#     the end; the tests find it through KYSO_TEST_PKI_URL and its keys in KYSO_TEST_PKI_KEYS.
# Extra arguments go to `cargo test` (e.g. `./test.sh --release`, `./test.sh --test verify`).
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=.ci/env
source .ci/env

bash "$KYSO_SHARED/tools/install-verifiers.sh" >/dev/null

need=()
command -v pdftoppm >/dev/null || need+=(poppler-utils)
command -v zbarimg >/dev/null || need+=(zbar-tools)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

bash .ci/garage.sh install
# One shared instance per run, in a state directory of its own so that two runs never share one.
export GARAGE_STATE=${GARAGE_STATE:-$HOME/.cache/kyso-garage/test-$$}
bash .ci/garage.sh start >/dev/null
export PKI_STATE=${PKI_STATE:-$HOME/.cache/kyso-pki/test-$$}
trap 'bash .ci/garage.sh stop >/dev/null 2>&1 || true; bash .ci/certomancer.sh stop >/dev/null 2>&1 || true' EXIT
export KYSO_TEST_GARAGE_ENV=$GARAGE_STATE/env
bash .ci/certomancer.sh start >/dev/null
# shellcheck source=/dev/null
source "$PKI_STATE/env"

cargo test --locked "$@"
