#!/usr/bin/env bash
# Garage (S3-compatible object store) for kyso's archive tests and benchmarks.
#
#   .ci/garage.sh install   build garage 2.x once into $KYSO_TOOLS/garage (reused when present)
#   .ci/garage.sh start     start a single-node instance on free loopback ports, with a bucket and
#                           a key; writes the connection settings to $GARAGE_STATE/env
#   .ci/garage.sh env       print the connection settings (shell `export` lines)
#   .ci/garage.sh stop      stop the instance and remove its data
#   .ci/garage.sh pause     stop the server process only (data and settings kept)
#   .ci/garage.sh resume    start the server again on the same ports with the same data
#
# The state directory ($GARAGE_STATE, default $HOME/.cache/kyso-garage/run) holds the config, the
# data, the pid, the log and the env file of KYSO_ARCHIVE_* settings (.ci/run points the tests at
# it with KYSO_TEST_GARAGE_ENV; `source` it to run kyso against this instance).
set -euo pipefail

KYSO_TOOLS=${KYSO_TOOLS:-$HOME/.cache/kyso-tools}
GARAGE_ROOT=${GARAGE_ROOT:-$KYSO_TOOLS/garage}
GARAGE_BIN=${GARAGE_BIN:-$GARAGE_ROOT/bin/garage}
GARAGE_STATE=${GARAGE_STATE:-$HOME/.cache/kyso-garage/run}
BUCKET=${GARAGE_BUCKET:-kyso-archive}
KEY_NAME=${GARAGE_KEY_NAME:-kyso-test}
REGION=garage

die() { echo "garage.sh: $*" >&2; exit 1; }

install() {
  if [ -x "$GARAGE_BIN" ] && "$GARAGE_BIN" --version >/dev/null 2>&1; then
    echo "garage already installed: $("$GARAGE_BIN" --version 2>/dev/null | head -n1)"
    return 0
  fi
  mkdir -p "$GARAGE_ROOT"
  # Its own target dir, so it never contends with kyso's build cache.
  CARGO_TARGET_DIR="$KYSO_TOOLS/garage-build" \
    cargo install garage --locked --version '^2' --root "$GARAGE_ROOT"
  rm -rf "$KYSO_TOOLS/garage-build"
  "$GARAGE_BIN" --version | head -n1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

running() {
  [ -f "$GARAGE_STATE/pid" ] && kill -0 "$(cat "$GARAGE_STATE/pid")" 2>/dev/null
}

g() { "$GARAGE_BIN" -c "$GARAGE_STATE/garage.toml" "$@"; }

launch() {
  # The server is started in its own session so that a test's process group kill never reaches it.
  setsid "$GARAGE_BIN" -c "$GARAGE_STATE/garage.toml" server >>"$GARAGE_STATE/server.log" 2>&1 < /dev/null &
  echo $! >"$GARAGE_STATE/pid"
  for _ in $(seq 1 100); do
    if g status >/dev/null 2>&1; then return 0; fi
    running || die "server exited; see $GARAGE_STATE/server.log"
    sleep 0.1
  done
  die "server did not answer within 10 s; see $GARAGE_STATE/server.log"
}

wait_s3() {
  local port=$1
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  die "S3 port $port did not open"
}

start() {
  [ -x "$GARAGE_BIN" ] || die "not installed; run: $0 install"
  if running; then echo "garage already running (pid $(cat "$GARAGE_STATE/pid"))"; cat "$GARAGE_STATE/env"; return 0; fi
  rm -rf "$GARAGE_STATE"; mkdir -p "$GARAGE_STATE/meta" "$GARAGE_STATE/data"
  local rpc s3 admin
  rpc=$(free_port); s3=$(free_port); admin=$(free_port)
  cat >"$GARAGE_STATE/garage.toml" <<TOML
metadata_dir = "$GARAGE_STATE/meta"
data_dir = "$GARAGE_STATE/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$(openssl rand -hex 32)"

[s3_api]
s3_region = "$REGION"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin"
admin_token = "$(openssl rand -hex 32)"
TOML
  echo "$s3" >"$GARAGE_STATE/s3_port"
  launch
  local node; node=$(g node id -q 2>/dev/null | cut -d@ -f1)
  [ -n "$node" ] || die "could not read the node id"
  g layout assign -z dc1 -c 1G "$node" >/dev/null
  g layout apply --version 1 >/dev/null
  g bucket create "$BUCKET" >/dev/null
  local out; out=$(g key create "$KEY_NAME")
  local key_id secret
  key_id=$(printf '%s\n' "$out" | sed -n 's/^Key ID:[[:space:]]*//p' | head -n1)
  secret=$(printf '%s\n' "$out" | sed -n 's/^Secret key:[[:space:]]*//p' | head -n1)
  [ -n "$key_id" ] && [ -n "$secret" ] || die "could not parse the key: $out"
  g bucket allow --read --write --owner "$BUCKET" --key "$KEY_NAME" >/dev/null
  wait_s3 "$s3"
  umask 077
  cat >"$GARAGE_STATE/env" <<ENV
export KYSO_ARCHIVE_BACKEND=s3
export KYSO_ARCHIVE_ENDPOINT=http://127.0.0.1:$s3
export KYSO_ARCHIVE_REGION=$REGION
export KYSO_ARCHIVE_BUCKET=$BUCKET
export KYSO_ARCHIVE_PATH_STYLE=true
export KYSO_ARCHIVE_ACCESS_KEY_ID=$key_id
export KYSO_ARCHIVE_SECRET_ACCESS_KEY=$secret
ENV
  echo "garage running (pid $(cat "$GARAGE_STATE/pid")), S3 on 127.0.0.1:$s3, bucket $BUCKET"
  echo "settings: $GARAGE_STATE/env"
}

stop_server() {
  if running; then
    local pid; pid=$(cat "$GARAGE_STATE/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$GARAGE_STATE/pid"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  env) [ -f "$GARAGE_STATE/env" ] || die "not started"; cat "$GARAGE_STATE/env" ;;
  pause) stop_server ;;
  resume)
    running && exit 0
    [ -f "$GARAGE_STATE/garage.toml" ] || die "not started"
    launch; wait_s3 "$(cat "$GARAGE_STATE/s3_port")" ;;
  stop) stop_server; rm -rf "$GARAGE_STATE" ;;
  *) echo "usage: $0 install|start|env|pause|resume|stop" >&2; exit 2 ;;
esac
