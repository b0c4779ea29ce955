#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# FOR DEVELOPMENT AND TESTS ONLY. Makes a throw-away certificate authority and the certificates
# for mutual TLS between authd and its callers, with the openssl command line tool:
#
#   ca.pem, ca.key            the development CA (its key signs everything below)
#   authd.pem, authd.key      authd's server certificate: DNS:localhost, IP:127.0.0.1, IP:::1
#   edge.pem, edge.key        client certificate URI:spiffe://authd.dev/edge, CN=edge
#   authctl.pem, authctl.key  client certificate URI:spiffe://authd.dev/authctl, CN=authctl
#   service.pem, service.key  client certificate URI:spiffe://authd.dev/service, CN=service
#
# Keys are EC P-256, mode 600. A real deployment gets its certificates from its own CA (or a
# SPIFFE workload API) and never uses these: anyone holding ca.key can mint any identity.
#
# usage: deploy/dev-certs.sh DIR [--force]
#   Refuses to overwrite certificates or keys already in DIR unless --force is given.
set -euo pipefail

usage() {
    echo "usage: $0 DIR [--force]" >&2
    exit 2
}

dir=""
force=0
for a in "$@"; do
    case "$a" in
    --force) force=1 ;;
    -h | --help)
        sed -n '4,17p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*) usage ;;
    *)
        [ -z "$dir" ] || usage
        dir="$a"
        ;;
    esac
done
[ -n "$dir" ] || usage
command -v openssl >/dev/null || {
    echo "dev-certs: the openssl command is needed (Debian: apt-get install openssl)" >&2
    exit 1
}

names=(ca authd edge authctl service)
if [ "$force" -ne 1 ]; then
    for n in "${names[@]}"; do
        for ext in pem key; do
            if [ -e "$dir/$n.$ext" ]; then
                echo "dev-certs: $dir/$n.$ext exists; not overwriting (use --force)" >&2
                exit 1
            fi
        done
    done
fi

mkdir -p "$dir"
umask 077 # keys (and the scratch files) are created private
work=$(mktemp -d "${TMPDIR:-/tmp}/dev-certs.XXXXXX")
trap 'rm -rf "$work"' EXIT

days_ca=3650
days_leaf=825

newkey() { # newkey FILE: an EC P-256 private key (PKCS#8 PEM), mode 600
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
    chmod 600 "$1"
}

serial() { # a random positive 127-bit serial number
    echo "0x$(openssl rand -hex 16 | sed 's/^./7/')"
}

# The CA.
newkey "$work/ca.key"
openssl req -x509 -new -key "$work/ca.key" -sha256 -days "$days_ca" \
    -subj "/O=authd development/CN=authd development CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$work/ca.pem"

# leaf NAME SAN EKU: a certificate for NAME signed by the CA.
leaf() {
    local name=$1 san=$2 eku=$3
    newkey "$work/$name.key"
    openssl req -new -key "$work/$name.key" -subj "/O=authd development/CN=$name" \
        -out "$work/$name.csr"
    cat >"$work/$name.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = $eku
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    openssl x509 -req -in "$work/$name.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
        -set_serial "$(serial)" -sha256 -days "$days_leaf" -extfile "$work/$name.ext" \
        -out "$work/$name.pem" 2>/dev/null
}

leaf authd "DNS:localhost, IP:127.0.0.1, IP:::1" serverAuth
leaf edge "URI:spiffe://authd.dev/edge" clientAuth
leaf authctl "URI:spiffe://authd.dev/authctl" clientAuth
leaf service "URI:spiffe://authd.dev/service" clientAuth

for n in authd edge authctl service; do
    openssl verify -CAfile "$work/ca.pem" "$work/$n.pem" >/dev/null
done

for n in "${names[@]}"; do
    install -m 600 "$work/$n.key" "$dir/$n.key"
    install -m 644 "$work/$n.pem" "$dir/$n.pem"
done

echo "dev-certs: made in $dir (development only; keys are mode 600):"
for n in "${names[@]}"; do
    subject=$(openssl x509 -in "$dir/$n.pem" -noout -subject -nameopt oneline | sed 's/^subject= *//')
    san=$(openssl x509 -in "$dir/$n.pem" -noout -ext subjectAltName 2>/dev/null | sed -n '2p' |
        sed 's/^ *//')
    printf '  %-12s %-12s %s%s\n' "$n.pem" "$n.key" "$subject" "${san:+; $san}"
done
