#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpora of the WebAuthn fuzz targets (tests/fuzz/corpus/webauthn_*) with the
soft authenticator of the integration tests (tests/integration/softauthn.py), so the seeds come
from an encoder that is not the one under test. The relying party, challenge and assertion keys
are the fixed ones of fuzz_webauthn_registration.c and fuzz_webauthn_assertion.c; the keys are
derived from fixed strings (test-only, they protect nothing) and their COSE encodings are printed
so that the C targets can embed them.
    /usr/bin/python3 tests/fuzz/webauthn_seeds.py
"""
import hashlib
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "integration"))

from cryptography.hazmat.primitives.asymmetric import ec, ed25519  # noqa: E402
from fido2 import cbor  # noqa: E402

import softauthn as sa  # noqa: E402

RP_ID = "example.com"
ORIGIN = "https://example.com"
CHALLENGE = bytes(range(32))
USER = b"fuzz-user-0001"


def write(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def fixed_keys():
    d = int.from_bytes(hashlib.sha256(b"authd fuzz es256").digest(), "big")
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256's order
    es = ec.derive_private_key(d % n, ec.SECP256R1())
    ed = ed25519.Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(b"authd fuzz ed25519").digest())
    return es, ed


def main():
    opts = sa.creation_options(RP_ID, CHALLENGE, USER)
    req = sa.request_options(RP_ID, CHALLENGE)
    for alg, fmt, name in ((sa.ES256, "none", "none_es256"),
                           (sa.EDDSA, "packed", "packed_self_eddsa"),
                           (sa.RS256, "packed", "packed_self_rs256"),
                           (sa.ES256, "packed-x5c", "packed_x5c_es256")):
        auth = sa.SoftAuthenticator(alg=alg, backup_eligible=(alg == sa.EDDSA))
        reg = auth.create(opts, ORIGIN, fmt=fmt)
        write("webauthn_registration", name, reg)
        write("webauthn_authdata", "reg_" + name, sa.decode_response(reg)["auth_data"])
    auth = sa.SoftAuthenticator(alg=sa.ES256)
    reg = auth.create(opts, ORIGIN, extensions={"credProtect": 2})
    write("webauthn_registration", "extensions_es256", reg)
    write("webauthn_authdata", "reg_extensions", sa.decode_response(reg)["auth_data"])
    write("webauthn_registration", "hostile_duplicate_key", sa.duplicate_key(reg))
    write("webauthn_registration", "hostile_cross_origin",
          auth.create(opts, ORIGIN, cross_origin=True))
    write("webauthn_registration", "hostile_dup_cose_label",
          auth.create(opts, ORIGIN, cose_raw=sa.cose_dup_label))

    es, ed = fixed_keys()
    for alg, key, name in ((sa.ES256, es, "es256"), (sa.EDDSA, ed, "eddsa")):
        auth = sa.SoftAuthenticator(alg=alg)
        auth.create(opts, ORIGIN)
        cred = auth.credentials[-1]
        cred.key = key
        print(f"{name} COSE key: {cbor.encode(cred.cose_key()).hex()}")
        res = auth.get(req, ORIGIN)
        write("webauthn_assertion", name, res)
        write("webauthn_authdata", "assert_" + name, sa.decode_response(res)["auth_data"])
        write("webauthn_assertion", name + "_tampered", sa.tamper_signature(res))
        res = auth.get(req, ORIGIN, extensions={"credProtect": 2})
        write("webauthn_assertion", name + "_extensions", res)


if __name__ == "__main__":
    main()
