#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sets up and runs the whole system locally: installs packages, builds, starts authd on an
# embedded RocksDB under ./data, applies deploy/demo.yaml, and serves the edge on
# http://localhost:8080 (e-mails, with their links, are printed to this terminal). The pages are
# at localhost rather than 127.0.0.1 because passkeys (WebAuthn) need a name: the manifest's
# AuthConfig.webauthn has rpId "localhost" and the edge's origin.
# Ctrl-C stops both processes.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

AUTHD_PORT=${AUTHD_PORT:-50051}
EDGE_PORT=${EDGE_PORT:-8080}
mkdir -p data
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait || true
}
trap cleanup EXIT INT TERM

rm -f data/authd.port
./build/authd/authd --listen "127.0.0.1:${AUTHD_PORT}" --data-dir ./data --port-file data/authd.port \
  --issuer "http://localhost:${EDGE_PORT}" &
pids+=($!)
for _ in $(seq 100); do [ -s data/authd.port ] && break; sleep 0.1; done
[ -s data/authd.port ] || { echo "authd did not start" >&2; exit 1; }

sed "s#http://localhost:8080#http://localhost:${EDGE_PORT}#g" deploy/demo.yaml |
  ./build/ctl/authctl --authd "127.0.0.1:${AUTHD_PORT}" apply -f -

./build/edge/authd-edge --listen "127.0.0.1:${EDGE_PORT}" --authd "127.0.0.1:${AUTHD_PORT}" \
  --base-url "http://localhost:${EDGE_PORT}" &
pids+=($!)
echo
echo "authd-edge: http://localhost:${EDGE_PORT}/auth/login  (demo user: demo@example.com / demo-password-123)"
echo "Press Ctrl-C to stop."
wait
