#!/usr/bin/env bash
# The live test PKI of kyso's timestamp and long-term tests: certomancer 0.16 serving
# tests/pki/certomancer.yml (TSA, OCSP responder, CRLs, certificate repositories) on loopback.
#
#   .ci/certomancer.sh install   pip-install certomancer[web-api] into the verifiers' venv (cached)
#   .ci/certomancer.sh start     generate the keys once (cached in $PKI_KEYS), start the animator on
#                                a free loopback port; writes KYSO_TEST_PKI_URL=… to $PKI_STATE/env
#   .ci/certomancer.sh stop      stop it and remove its state directory
#
# certomancer reads its keys from files; they are generated here with openssl, never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
KYSO_TOOLS=${KYSO_TOOLS:-$HOME/.cache/kyso-tools}
VENV=$KYSO_TOOLS/venv
PKI_KEYS=${PKI_KEYS:-$HOME/.cache/kyso-pki/keys}
PKI_STATE=${PKI_STATE:-$HOME/.cache/kyso-pki/run}
CONFIG=tests/pki/certomancer.yml

die() { echo "certomancer.sh: $*" >&2; exit 1; }

install() {
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  if ! "$VENV/bin/pip" show certomancer 2>/dev/null | grep -q '^Version: 0.16.0$'; then
    "$VENV/bin/pip" install -q 'certomancer[web-api]==0.16.0'
  fi
}

keys() {
  mkdir -p "$PKI_KEYS"
  # Every key the config's keyset names; RSA 2048 as Circular 15/2025 requires at least.
  for k in $(sed -n 's/^ *\([a-z-]*\): {path: \1\.key\.pem}$/\1/p' "$CONFIG"); do
    [ -s "$PKI_KEYS/$k.key.pem" ] && continue
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI_KEYS/$k.key.pem.tmp" 2>/dev/null
    mv "$PKI_KEYS/$k.key.pem.tmp" "$PKI_KEYS/$k.key.pem"
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start() {
  install
  keys
  mkdir -p "$PKI_STATE"
  cp "$CONFIG" "$PKI_STATE/certomancer.yml"
  ln -sfn "$PKI_KEYS" "$PKI_STATE/keys"
  local port url
  port=$(free_port)
  url=http://127.0.0.1:$port
  # Its own session, so that a test's process-group kill never reaches it; no descriptor of
  # ours stays open in it, so a caller reading this script's output is not kept waiting.
  (cd "$PKI_STATE" && exec setsid "$VENV/bin/certomancer" --config certomancer.yml \
      --service-url-prefix "$url" animate --port "$port") >>"$PKI_STATE/server.log" 2>&1 </dev/null &
  echo $! >"$PKI_STATE/pid"
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "$url/kyso/certs/root/ca.crt" 2>/dev/null; then
      printf "export KYSO_TEST_PKI_URL=%s\nexport KYSO_TEST_PKI_KEYS=%s\n" "$url" "$PKI_KEYS" >"$PKI_STATE/env"
      echo "$url"
      return 0
    fi
    kill -0 "$(cat "$PKI_STATE/pid")" 2>/dev/null || die "certomancer exited; see $PKI_STATE/server.log"
    sleep 0.1
  done
  die "certomancer did not answer within 10 s; see $PKI_STATE/server.log"
}

stop() {
  if [ -f "$PKI_STATE/pid" ]; then
    kill "$(cat "$PKI_STATE/pid")" 2>/dev/null || true
  fi
  rm -rf "$PKI_STATE"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) die "usage: $0 install|start|stop" ;;
esac
