#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs every Debian 12 package that building, running and testing authd needs.
# Used by both README commands and by .ci/run; safe to run again (apt is idempotent).
set -euo pipefail

PKGS=(
  # toolchain
  build-essential cmake pkg-config git clang-format
  # the fuzz targets (tests/fuzz): clang with the libFuzzer and sanitizer runtimes
  clang libclang-rt-14-dev
  # the stack
  libgrpc-dev protobuf-compiler protobuf-c-compiler libprotobuf-c-dev libprotobuf-dev
  libmicrohttpd-dev librocksdb-dev libssl-dev libqrencode-dev libargon2-dev libsodium-dev libcbor-dev
  libjansson-dev libcurl4-openssl-dev libyaml-dev libcmocka-dev libcjose-dev
  # the PostgreSQL store (storage/store_postgres.c: libpq) and the throwaway test clusters
  # (tests/integration/pgcluster.py runs Debian's server binaries as the postgres user)
  libpq-dev postgresql-15 postgresql-client-15
  # integration tests as an outside client
  python3 python3-grpcio python3-protobuf python3-requests python3-pytest python3-aiosmtpd python3-fido2
  # mTLS tests: the openssl tool (deploy/dev-certs.sh) and an expired certificate (certs.py)
  openssl python3-cryptography
  oathtool zbar-tools librsvg2-bin
  # OAuth / OpenID Connect clients nobody here wrote (tests/integration/test_oauth.py) and an
  # HTTP load generator (tests/bench/bench_oauth.py)
  python3-authlib python3-jwt python3-jwcrypto wrk
  # an HTTP/2 load generator driving gRPC with prebuilt request frames (tests/bench/h2bench.py)
  nghttp2-client
  # a real relying party: Apache with mod_auth_openidc in front of a protected page
  apache2 libapache2-mod-auth-openidc
  # metrics tests: scrapes parsed by the Prometheus project's own parser
  python3-prometheus-client
  # deploy/ tests: HAProxy in front of several edges; systemd-analyze verifies the units
  haproxy systemd
  # end-to-end tests: a real browser driven by playwright-core (npm), never a downloaded browser
  nodejs npm chromium
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PKGS[@]}"; do
  # A Node.js from elsewhere (e.g. NodeSource) bundles npm and conflicts with Debian's npm.
  if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
