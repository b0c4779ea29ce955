# SPDX-License-Identifier: Apache-2.0
"""The soft authenticator (softauthn.py) checked against an implementation nobody here wrote:
Debian's python3-fido2 0.9 (fido2.server.Fido2Server, through fido2rp.py). No authd needed.

Every valid variant (ES256, EdDSA, RS256 x attestation none, packed self, packed x5c) must be
accepted by fido2 for registration and assertion; every hostile variant must be refused where
fido2 0.9 checks that thing. Where it does not (counter, crossOrigin, BS without BE, id !=
rawId, duplicate CBOR keys, algorithm policy), the test asserts that fido2 ACCEPTS the variant:
that proves the response is valid in every other respect, so a server that refuses it (authd
must) refuses it for the hostile thing alone.
"""
import json
import os

import pytest

import softauthn as sa
from fido2rp import Fido2RP

RP = "example.com"
ORIGIN = "https://example.com"
FORMATS = ("none", "packed", "packed-x5c")


def challenge():
    return os.urandom(32)


def register(auth, rp, fmt="none", uv_req=None, resident_key="preferred", **knobs):
    """Registers a credential of auth with rp; returns (credential id, response json)."""
    ch = challenge()
    opts = sa.creation_options(RP, ch, b"user-1", resident_key=resident_key,
                               user_verification=uv_req or "preferred")
    resp = auth.create(opts, knobs.pop("origin", ORIGIN), fmt=fmt, **knobs)
    rp.register(ch, resp, user_verification=uv_req)
    return sa.decode_response(resp)["raw_id"], resp


def reg_verdict(auth, fmt="none", uv_req=None, origin=ORIGIN, post=None, **knobs):
    rp = Fido2RP(RP)
    ch = challenge()
    opts = sa.creation_options(RP, ch, b"user-1", user_verification=uv_req or "preferred")
    resp = auth.create(opts, origin, fmt=fmt, **knobs)
    if post:
        resp = post(resp)
    return rp.verdict(rp.register, ch, resp, user_verification=uv_req)


def assertion_setup(alg=sa.ES256, fmt="none", **auth_kw):
    auth = sa.SoftAuthenticator(alg=alg, **auth_kw)
    rp = Fido2RP(RP)
    cred_id, _ = register(auth, rp, fmt=fmt)
    return auth, rp, cred_id


def get_verdict(auth, rp, cred_id, uv_req=None, origin=ORIGIN, post=None, allow=None,
                **knobs):
    ch = challenge()
    opts = sa.request_options(RP, ch, allow=[cred_id] if allow is None else allow,
                              user_verification=uv_req or "preferred")
    resp = auth.get(opts, origin, **knobs)
    if post:
        resp = post(resp)
    return rp.verdict(rp.authenticate, ch, resp, user_verification=uv_req)


# ---- every valid variant is accepted ----

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("alg", sa.ALGS)
def test_valid_registration_and_assertions_accepted(alg, fmt):
    auth = sa.SoftAuthenticator(alg=alg)
    rp = Fido2RP(RP)
    ch = challenge()
    opts = sa.creation_options(RP, ch, b"user-1", resident_key="required",
                               user_verification="required")
    resp = auth.create(opts, ORIGIN, fmt=fmt)
    ad = rp.register(ch, resp, user_verification="required")
    d = sa.decode_response(resp)
    # fido2 parsed the same credential the response names, with the right key type.
    assert ad.credential_data.credential_id == d["raw_id"]
    assert ad.credential_data.public_key.ALGORITHM == alg
    assert ad.counter == 0 and ad.is_user_present() and ad.is_user_verified()
    assert d["att_obj"]["fmt"] == ("packed" if fmt.startswith("packed") else "none")
    r = json.loads(resp)
    assert r["id"] == r["rawId"] and r["type"] == "public-key"
    assert r["clientExtensionResults"] == {"credProps": {"rk": True}}
    assert r["response"]["publicKeyAlgorithm"] == alg
    assert d["client_data"] == {"type": "webauthn.create", "challenge": sa.b64u(ch),
                                "origin": ORIGIN, "crossOrigin": False}

    # Second factor (allowCredentials) and passwordless (empty list, userHandle): both verify,
    # and the counter increments per use.
    for n, allow in ((1, [d["raw_id"]]), (2, [])):
        ch = challenge()
        got = auth.get(sa.request_options(RP, ch, allow=allow, user_verification="required"),
                       ORIGIN)
        cred = rp.authenticate(ch, got, user_verification="required")
        g = sa.decode_response(got)
        assert cred.credential_id == d["raw_id"] == g["raw_id"]
        assert g["auth"]["counter"] == n
        assert g["user_handle"] == b"user-1"
        assert g["client_data"]["type"] == "webauthn.get"


def test_exact_origin_matcher_for_localhost():
    # The crosscheck runs fido2 with authd's origin list (http://localhost:8443), which fido2's
    # own rule (https only) would refuse.
    auth = sa.SoftAuthenticator()
    rp = Fido2RP("localhost", ["http://localhost:8443"])
    ch = challenge()
    resp = auth.create(sa.creation_options("localhost", ch, b"u"), "http://localhost:8443")
    rp.register(ch, resp)
    resp = auth.create(sa.creation_options("localhost", ch, b"u"), "http://localhost:8444")
    ok, why = rp.verdict(rp.register, ch, resp)
    assert not ok and "origin" in why
    assert not Fido2RP("localhost").verdict(
        Fido2RP("localhost").register, ch,
        auth.create(sa.creation_options("localhost", ch, b"u"), "http://localhost:8443"))[0]


def test_non_resident_credential_sends_no_user_handle():
    auth = sa.SoftAuthenticator(resident=False)
    rp = Fido2RP(RP)
    cred_id, resp = register(auth, rp, resident_key="discouraged")
    assert json.loads(resp)["clientExtensionResults"]["credProps"]["rk"] is False
    ch = challenge()
    got = auth.get(sa.request_options(RP, ch, allow=[cred_id]), ORIGIN)
    rp.authenticate(ch, got)
    assert "userHandle" not in json.loads(got)["response"]
    with pytest.raises(sa.SoftAuthnError):
        auth.get(sa.request_options(RP, challenge()), ORIGIN)  # nothing discoverable


def test_backup_eligible_passkey_flags():
    auth = sa.SoftAuthenticator(backup_eligible=True)
    rp = Fido2RP(RP)
    cred_id, resp = register(auth, rp)
    flags = sa.decode_response(resp)["auth"]["flags"]
    assert flags & sa.FLAG_BE and flags & sa.FLAG_BS
    assert json.loads(resp)["authenticatorAttachment"] == "platform"


def test_authenticator_refuses_like_a_real_one():
    auth = sa.SoftAuthenticator(alg=sa.EDDSA)
    opts = sa.creation_options(RP, challenge(), b"u", algs=(sa.ES256,))
    with pytest.raises(sa.SoftAuthnError):
        auth.create(opts, ORIGIN)
    auth.create(opts, ORIGIN, strict=False)  # the hostile knob
    first = auth.credentials[0].id
    with pytest.raises(sa.SoftAuthnError):
        auth.create(sa.creation_options(RP, challenge(), b"u", exclude=[first]), ORIGIN)


# ---- hostile registrations: refused where fido2 checks ----

REG_REFUSED = {
    "wrong origin": dict(origin="https://evil.example"),
    "wrong rpId": dict(rp_id="evil.example"),
    "other challenge": dict(challenge=b"\x01" * 32),
    "type webauthn.get": dict(type="webauthn.get"),
    "UP clear": dict(up=False),
    "UV clear, required": dict(uv=False, uv_req="required"),
    "tampered signature": dict(fmt="packed", post=sa.tamper_signature),
    "tampered authData": dict(fmt="packed", post=sa.tamper_auth_data),
    "tampered authData x5c": dict(fmt="packed-x5c", post=sa.tamper_auth_data),
    "truncated attestationObject": dict(post=lambda r: sa.truncate_attestation(r, 40)),
    "truncated attestationObject, packed": dict(fmt="packed", post=sa.truncate_attestation),
    "trailing bytes": dict(post=sa.trailing_bytes),
    "unknown fmt": dict(fmt="softfmt"),
    "none with a statement": dict(post=lambda r: _set_att_stmt(r, {"alg": -7})),
    "packed alg/key mismatch": dict(fmt="packed", cose={3: sa.EDDSA}),
    "packed ES384": dict(fmt="packed", alg=sa.ES384, strict=False),
    "COSE key without alg": dict(cose={3: None}),
}


def _set_att_stmt(resp_json, stmt):
    def f(r, resp):
        att = sa.cbor.decode(sa.unb64u(resp["attestationObject"]))
        att["attStmt"] = stmt
        resp["attestationObject"] = sa.b64u(sa.cbor.encode(att))
    return sa._edit(resp_json, f)


@pytest.mark.parametrize("name", sorted(REG_REFUSED))
def test_hostile_registration_refused_by_fido2(name):
    knobs = dict(REG_REFUSED[name])
    auth = sa.SoftAuthenticator(alg=knobs.pop("alg", sa.ES256))
    ok, why = reg_verdict(auth, **knobs)
    assert not ok, name
    # ...and the same registration without the hostile knob is accepted (fmt kept).
    clean = {k: v for k, v in knobs.items() if k in ("fmt",) and v != "softfmt"}
    ok, why = reg_verdict(sa.SoftAuthenticator(), **clean)
    assert ok, why


# fido2 0.9 does not check these; it must accept them (otherwise valid), authd must not.
REG_UNCHECKED = {
    "crossOrigin true": dict(cross_origin=True),
    "BS without BE": dict(bs=True, be=False),
    "id != rawId": dict(post=sa.mismatch_id),
    "duplicate attestationObject key": dict(post=sa.duplicate_key),
    "duplicate COSE label": dict(cose_raw=sa.cose_dup_label),
    "ES384 with fmt none": dict(alg=sa.ES384, strict=False),
    "alg/kty mismatch with fmt none": dict(cose={1: 1}),  # kty OKP, alg ES256
    "UV clear, not required": dict(uv=False),
    # fido2.cbor slices a byte string shorter than its header says: cutting the last bytes of
    # the COSE key's y passes unless a packed signature covers them.
    "attestationObject short by 1 byte": dict(post=sa.truncate_attestation),
}


@pytest.mark.parametrize("name", sorted(REG_UNCHECKED))
def test_registration_variants_fido2_does_not_check(name):
    knobs = dict(REG_UNCHECKED[name])
    auth = sa.SoftAuthenticator(alg=knobs.pop("alg", sa.ES256))
    ok, why = reg_verdict(auth, **knobs)
    assert ok, why


def test_duplicate_key_helpers_really_duplicate():
    auth = sa.SoftAuthenticator()
    resp = auth.create(sa.creation_options(RP, challenge(), b"u"), ORIGIN,
                       cose_raw=sa.cose_dup_label)
    cose = sa.decode_response(resp)["auth"]["cose"]
    assert cose[0] == 0xA6  # a map of 6 pairs for an EC2 key of 5 members
    att = sa.unb64u(json.loads(sa.duplicate_key(resp))["response"]["attestationObject"])
    assert att[0] == 0xA4 and att.count(b"\x63fmt") == 2


# ---- hostile assertions ----

GET_REFUSED = {
    "wrong origin": dict(origin="https://evil.example"),
    "wrong rpId": dict(rp_id="evil.example"),
    "other challenge": dict(challenge=b"\x02" * 32),
    "type webauthn.create": dict(type="webauthn.create"),
    "UP clear": dict(up=False),
    "UV clear, required": dict(uv=False, uv_req="required"),
    "tampered signature": dict(post=sa.tamper_signature),
    "tampered authData": dict(post=sa.tamper_auth_data),
    "tampered clientDataJSON": dict(post=lambda r: sa.set_member(
        r, "response.clientDataJSON", sa.b64u(sa.unb64u(json.loads(r)["response"]
                                                        ["clientDataJSON"]) + b" "))),
    "truncated authenticatorData": dict(post=sa.truncate_attestation),
    "trailing bytes on authenticatorData": dict(post=sa.trailing_bytes),
    "signed client data with other challenge": dict(
        client_data={"challenge": sa.b64u(b"\x03" * 32)}),
}


@pytest.mark.parametrize("alg", sa.ALGS)
@pytest.mark.parametrize("name", sorted(GET_REFUSED))
def test_hostile_assertion_refused_by_fido2(name, alg):
    knobs = dict(GET_REFUSED[name])
    auth, rp, cred_id = assertion_setup(alg)
    ok, why = get_verdict(auth, rp, cred_id, **knobs)
    assert not ok, name
    ok, why = get_verdict(auth, rp, cred_id)  # the same credential, clean, still verifies
    assert ok, why


def test_unknown_credential_refused():
    auth, rp, _ = assertion_setup()
    stranger = sa.SoftAuthenticator()
    stranger.create(sa.creation_options(RP, challenge(), b"user-1"), ORIGIN)  # not registered
    ok, why = get_verdict(stranger, rp, None, allow=[])
    assert not ok and "Unknown credential" in why


def test_replayed_assertion_refused_for_a_new_challenge():
    auth, rp, cred_id = assertion_setup()
    ch = challenge()
    resp = auth.get(sa.request_options(RP, ch, allow=[cred_id]), ORIGIN)
    rp.authenticate(ch, resp)
    ok, why = rp.verdict(rp.authenticate, challenge(), resp)
    assert not ok and "challenge" in why


@pytest.mark.parametrize("alg", (sa.ES384, sa.PS256))
def test_unsupported_alg_assertion(alg):
    # Registered with fmt none fido2 takes any COSE alg; on use both fail there: ES384 has no
    # fido2 0.9 class, and its PS256 expects the maximum PSS salt length where RFC 8230 (and
    # softauthn) use 32 bytes. authd refuses both already at registration.
    auth = sa.SoftAuthenticator(alg=alg)
    rp = Fido2RP(RP)
    cred_id, _ = register(auth, rp, strict=False)
    ok, why = get_verdict(auth, rp, cred_id)
    assert not ok, why


def test_alg_kty_mismatch_refused_on_use():
    # kty OKP with alg ES256: fido2 registers it (fmt none), but ES256.verify checks crv.
    auth = sa.SoftAuthenticator()
    rp = Fido2RP(RP)
    cred_id, _ = register(auth, rp, cose={-1: 6})
    ok, why = get_verdict(auth, rp, cred_id)
    assert not ok and "curve" in why


GET_UNCHECKED = {
    "counter regression": dict(counter=0),
    "counter stays": dict(counter=1),
    "crossOrigin true": dict(cross_origin=True),
    "BS without BE": dict(bs=True, be=False),
    "id != rawId": dict(post=sa.mismatch_id),
    "another user's handle": dict(user_handle=b"user-2"),
}


@pytest.mark.parametrize("name", sorted(GET_UNCHECKED))
def test_assertion_variants_fido2_does_not_check(name):
    knobs = dict(GET_UNCHECKED[name])
    auth, rp, cred_id = assertion_setup()
    assert get_verdict(auth, rp, cred_id)[0]  # counter 1
    ok, why = get_verdict(auth, rp, cred_id, **knobs)
    assert ok, why


def test_counter_knobs():
    auth, rp, cred_id = assertion_setup()
    ch = challenge()
    g = sa.decode_response(auth.get(sa.request_options(RP, ch, allow=[cred_id]), ORIGIN))
    assert g["auth"]["counter"] == 1
    auth.set_counter(cred_id, 7)
    g = sa.decode_response(auth.get(sa.request_options(RP, ch, allow=[cred_id]), ORIGIN))
    assert g["auth"]["counter"] == 8
    g = sa.decode_response(auth.get(sa.request_options(RP, ch, allow=[cred_id]), ORIGIN,
                                    counter=3))
    assert g["auth"]["counter"] == 3
