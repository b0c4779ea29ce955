# SPDX-License-Identifier: Apache-2.0
"""authd's WebAuthn ceremonies cross-checked against Debian's python3-fido2 0.9 (fido2rp.py), with
the soft authenticator (softauthn.py) making valid and hostile responses.

Every response goes to both: authd through the WebAuthn RPCs (BeginRegistration /
FinishRegistration with a signed-in session; Sessions.Login -> pending session ->
BeginAssertion / FinishAssertion for the second factor; BeginAssertion without a session for a
passwordless sign-in) and fido2's Fido2Server begun with authd's own challenge and user
verification requirement. They must agree: both accept or both refuse. Where fido2 0.9 checks
nothing (counter, crossOrigin, BS without BE, id != rawId, duplicate CBOR keys, algorithm
policy, userHandle; see fido2rp.py) fido2 must accept (the response is valid in every other
respect) and authd must refuse. authd-specific checks: challenges single use and bound to their
session, a counter that goes backwards refused and audited, unknown credentials and another
user's credential refused, a credential id never registered to a second user.

Skips (only) when authd answers UNIMPLEMENTED for the WebAuthn service.
"""
import json
import os
import tempfile

import grpc
import pytest

import softauthn as sa
from conftest import (FAST_ARGON2, Authd, admin_pb2, grpc_reason, sessions_pb2, set_lockout,
                      users_pb2)
from fido2rp import Fido2RP
from test_audit import parse_logfmt

from authd.v1 import webauthn_pb2  # noqa: E402

W = "/authd.v1.WebAuthn/"
U = "/authd.v1.Users/"
S = "/authd.v1.Sessions/"
RP_ID = "localhost"
ORIGIN = "http://localhost:8443"
PW = "webauthn crosscheck password"


def configure(authd, **webauthn):
    cfg = authd.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                     admin_pb2.AuthConfig)
    cfg.webauthn.rp_id = RP_ID
    del cfg.webauthn.origins[:]
    cfg.webauthn.origins.append(ORIGIN)
    for k, v in webauthn.items():
        setattr(cfg.webauthn, k, v)
    authd.call("/authd.v1.Admin/PutAuthConfig", cfg, admin_pb2.AuthConfig)


def verdict(call):
    """(True, answer) or (False, "CODE reason: details")."""
    try:
        return True, call()
    except grpc.RpcError as e:
        return False, f"{e.code().name} {grpc_reason(e)}: {e.details()}"


def uv_required(opts):
    """The user verification requirement authd announced, as fido2 takes it."""
    uv = opts.get("userVerification") or (opts.get("authenticatorSelection") or {}).get(
        "userVerification")
    return "required" if uv == "required" else None


class Ceremony:
    def __init__(self, cer):
        self.id = cer.ceremony_id
        self.json = cer.options_json
        opts = json.loads(cer.options_json)
        self.opts = opts.get("publicKey", opts)
        self.challenge = sa.unb64u(self.opts["challenge"])
        self.uv = uv_required(self.opts)


class Env:
    def __init__(self, authd):
        self.authd = authd
        self.n = 0
        self.fido = Fido2RP(RP_ID, [ORIGIN])  # every credential authd accepted, for passwordless
        self.assertions = True  # BeginAssertion / FinishAssertion are served

    def need_assertions(self):
        if not self.assertions:
            pytest.skip("authd answers UNIMPLEMENTED for WebAuthn assertions")

    def call(self, method, req, cls):
        return self.authd.call(method, req, cls)

    def user(self):
        """A new user, signed in (no second factor yet): (email, user, session token)."""
        self.n += 1
        email = f"wa{self.n}.{os.getpid()}@example.com"
        u = self.call(U + "Create", users_pb2.CreateUserRequest(email=email, password=PW),
                      users_pb2.UserResponse).user
        return email, u, self.login(email).session_token

    def login(self, email):
        return self.call(S + "Login", sessions_pb2.LoginRequest(
            email=email, password=PW, client_ip="127.0.0.7"), sessions_pb2.SessionResponse)

    def pending(self, email):
        r = self.login(email)
        assert not r.session.authenticated, "2FA should be on: the login must wait for a key"
        return r.session_token

    def begin_reg(self, tok, passkey=False):
        return Ceremony(self.call(W + "BeginRegistration", webauthn_pb2.BeginRegistrationRequest(
            session_token=tok, passkey=passkey), webauthn_pb2.CeremonyResponse))

    def finish_reg(self, tok, cer, resp, name=""):
        return self.call(W + "FinishRegistration", webauthn_pb2.FinishRegistrationRequest(
            session_token=tok, ceremony_id=cer.id, credential_json=resp, name=name,
            client_ip="127.0.0.7"), webauthn_pb2.FinishRegistrationResponse)

    def creds(self, tok):
        return list(self.call(W + "ListCredentials", webauthn_pb2.ListCredentialsRequest(
            session_token=tok), webauthn_pb2.WebAuthnCredentialList).credentials)

    def begin_assert(self, tok=""):
        self.need_assertions()
        return Ceremony(self.call(W + "BeginAssertion", webauthn_pb2.BeginAssertionRequest(
            session_token=tok, client_ip="127.0.0.7"), webauthn_pb2.CeremonyResponse))

    def finish_assert(self, cer, resp, tok=""):
        return self.call(W + "FinishAssertion", webauthn_pb2.FinishAssertionRequest(
            session_token=tok, ceremony_id=cer.id, credential_json=resp, client_ip="127.0.0.7",
            user_agent="softauthn"), sessions_pb2.SessionResponse)

    def register(self, auth, tok, passkey=False, fmt="none", **knobs):
        """A registration both authd and fido2 accept: (credential id, fido2 credential data)."""
        cer = self.begin_reg(tok, passkey)
        resp = auth.create(cer.json, ORIGIN, fmt=fmt, **knobs)
        cd = self.fido.register(cer.challenge, resp, user_verification=cer.uv).credential_data
        self.finish_reg(tok, cer, resp)
        return sa.decode_response(resp)["raw_id"], cd

    def audit(self):
        return [parse_logfmt(line) for line in self.authd.log_text().splitlines()
                if " event=audit " in line]


@pytest.fixture(scope="module")
def env():
    with tempfile.TemporaryDirectory(prefix="authd-webauthn-") as tmp:
        authd = Authd(tmp, FAST_ARGON2)
        try:
            try:
                authd.call(W + "ListCredentials", webauthn_pb2.ListCredentialsRequest(),
                           webauthn_pb2.WebAuthnCredentialList)
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.UNIMPLEMENTED:
                    pytest.skip("authd serves no WebAuthn service (UNIMPLEMENTED)")
            configure(authd)
            e = Env(authd)
            try:
                e.begin_assert()
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.UNIMPLEMENTED:
                    raise
                e.assertions = False
            # Many refused assertions on purpose: no lock may end the module early.
            many = {"freeFailures": 1000}
            set_lockout(authd, secondFactor={"account": many, "address": many},
                        password={"account": many, "address": many})
            yield e
        finally:
            authd.stop()


def _set_att_stmt(resp_json, stmt):
    def f(r, resp):
        att = sa.cbor.decode(sa.unb64u(resp["attestationObject"]))
        att["attStmt"] = stmt
        resp["attestationObject"] = sa.b64u(sa.cbor.encode(att))
    return sa._edit(resp_json, f)


# ---- registration ----

# name: (alg, fmt, knobs, post, expect); expect "agree" (both must give the same verdict),
# "refuse" (both must refuse), "authd" (fido2 0.9 does not check it and accepts; authd refuses).
REG = {
    "wrong origin": (sa.ES256, "none", dict(origin="http://localhost:8444"), None, "refuse"),
    "wrong origin scheme": (sa.ES256, "none", dict(origin="https://localhost:8443"), None,
                            "refuse"),
    "wrong rpId": (sa.ES256, "none", dict(rp_id="evil.example"), None, "refuse"),
    "other challenge": (sa.ES256, "none", dict(challenge=b"\x01" * 32), None, "refuse"),
    "type webauthn.get": (sa.ES256, "none", dict(type="webauthn.get"), None, "refuse"),
    "UP clear": (sa.ES256, "none", dict(up=False), None, "refuse"),
    "UV clear": (sa.ES256, "none", dict(uv=False), None, "agree"),
    "tampered signature": (sa.ES256, "packed", {}, sa.tamper_signature, "refuse"),
    "tampered authData": (sa.ES256, "packed", {}, sa.tamper_auth_data, "refuse"),
    "tampered authData x5c": (sa.ES256, "packed-x5c", {}, sa.tamper_auth_data, "refuse"),
    "tampered signature EdDSA": (sa.EDDSA, "packed", {}, sa.tamper_signature, "refuse"),
    "tampered signature RS256": (sa.RS256, "packed", {}, sa.tamper_signature, "refuse"),
    "truncated attestationObject": (sa.ES256, "none", {},
                                    lambda r: sa.truncate_attestation(r, 40), "refuse"),
    "truncated attestationObject, packed": (sa.ES256, "packed", {}, sa.truncate_attestation,
                                            "refuse"),
    "trailing bytes": (sa.ES256, "none", {}, sa.trailing_bytes, "refuse"),
    "unknown fmt": (sa.ES256, "softfmt", {}, None, "refuse"),
    "none with a statement": (sa.ES256, "none", {}, lambda r: _set_att_stmt(r, {"alg": -7}),
                              "refuse"),
    "packed alg/key mismatch": (sa.ES256, "packed", dict(cose={3: sa.EDDSA}), None, "refuse"),
    "packed ES384": (sa.ES384, "packed", dict(strict=False), None, "refuse"),
    "COSE key without alg": (sa.ES256, "none", dict(cose={3: None}), None, "refuse"),
    # fido2 0.9 does not check these:
    "crossOrigin true": (sa.ES256, "none", dict(cross_origin=True), None, "authd"),
    "BS without BE": (sa.ES256, "none", dict(bs=True, be=False), None, "authd"),
    "id != rawId": (sa.ES256, "none", {}, sa.mismatch_id, "authd"),
    "duplicate attestationObject key": (sa.ES256, "none", {}, sa.duplicate_key, "authd"),
    "duplicate COSE label": (sa.ES256, "none", dict(cose_raw=sa.cose_dup_label), None, "authd"),
    "ES384 with fmt none": (sa.ES384, "none", dict(strict=False), None, "authd"),
    "PS256 with fmt none": (sa.PS256, "none", dict(strict=False), None, "authd"),
    "kty OKP with alg ES256": (sa.ES256, "none", dict(cose={1: 1}), None, "authd"),
    "attestationObject short by 1 byte": (sa.ES256, "none", {}, sa.truncate_attestation,
                                          "authd"),
}


@pytest.mark.parametrize("name", list(REG))
def test_registration_variant(env, name):
    alg, fmt, knobs, post, expect = REG[name]
    knobs = dict(knobs)
    _, _, tok = env.user()
    cer = env.begin_reg(tok)
    resp = sa.SoftAuthenticator(alg=alg).create(cer.json, knobs.pop("origin", ORIGIN), fmt=fmt,
                                                **knobs)
    if post:
        resp = post(resp)
    fido = Fido2RP(RP_ID, [ORIGIN])
    fok, fwhy = fido.verdict(fido.register, cer.challenge, resp, user_verification=cer.uv)
    aok, awhy = verdict(lambda: env.finish_reg(tok, cer, resp))
    if expect == "agree":
        assert aok == fok, f"authd: {awhy}; fido2: {fwhy}"
    elif expect == "refuse":
        assert not fok, "fido2 accepted"
        assert not aok, "authd accepted what fido2 refuses: " + str(fwhy)
    else:
        assert fok, f"fido2 refused ({fwhy}): the variant is not valid otherwise"
        assert not aok, "authd accepted"
    # A refused registration leaves no key behind.
    assert len(env.creds(tok)) == (1 if aok else 0)


@pytest.mark.parametrize("fmt", ("none", "packed", "packed-x5c"))
@pytest.mark.parametrize("alg", sa.ALGS)
def test_valid_key_registers_and_signs_in(env, alg, fmt):
    """Both accept the registration, then a second-factor login and (a passkey) a passwordless
    one; the credential as authd lists it matches what the authenticator made."""
    passkey = fmt != "packed-x5c"  # a security key (residentKey discouraged) for one format
    auth = sa.SoftAuthenticator(alg=alg, backup_eligible=(fmt == "packed"))
    email, user, tok = env.user()
    cer = env.begin_reg(tok, passkey=passkey)
    assert cer.opts["rp"]["id"] == RP_ID and cer.opts["challenge"]
    assert {p["alg"] for p in cer.opts["pubKeyCredParams"]} >= {-7, -8, -257}
    resp = auth.create(cer.json, ORIGIN, fmt=fmt)
    env.fido.register(cer.challenge, resp, user_verification=cer.uv)
    fin = env.finish_reg(tok, cer, resp, name="my key")
    assert len(fin.recovery_codes) > 0  # the first key turned two-factor on
    cred_id = sa.decode_response(resp)["raw_id"]
    (c,) = env.creds(tok)
    assert c.id == sa.b64u(cred_id) and c.name == "my key" and c.last_used_at == 0
    assert c.discoverable == passkey
    assert c.kind == ("swk" if auth.backup_eligible else "hwk")
    assert list(c.transports) == auth.transports

    # Second factor after the password.
    for _ in range(2):
        pending = env.pending(email)
        cer = env.begin_assert(pending)
        assert [sa.unb64u(d["id"]) for d in cer.opts["allowCredentials"]] == [cred_id]
        got = auth.get(cer.json, ORIGIN)
        env.fido.authenticate(cer.challenge, got, user_verification=cer.uv)
        s = env.finish_assert(cer, got, pending)
        assert s.session.authenticated and s.session.user_id == user.id
        assert s.session_token and s.session_token != pending
        assert set(s.session.amr) == {"pwd", c.kind, "mfa"}
    assert env.creds(tok)[0].last_used_at > 0

    if passkey:
        cer = env.begin_assert()
        assert cer.opts.get("allowCredentials", []) == [] and cer.uv == "required"
        got = auth.get(cer.json, ORIGIN)
        assert sa.decode_response(got)["user_handle"]
        env.fido.authenticate(cer.challenge, got, user_verification=cer.uv)
        s = env.finish_assert(cer, got)
        assert s.session.authenticated and s.session.user_id == user.id
        assert set(s.session.amr) == {c.kind, "mfa"}


# ---- assertions (second factor) ----

GET = {
    "wrong origin": (dict(origin="http://localhost:8444"), None, "refuse"),
    "wrong rpId": (dict(rp_id="evil.example"), None, "refuse"),
    "other challenge": (dict(challenge=b"\x02" * 32), None, "refuse"),
    "type webauthn.create": (dict(type="webauthn.create"), None, "refuse"),
    "UP clear": (dict(up=False), None, "refuse"),
    "UV clear": (dict(uv=False), None, "agree"),
    "tampered signature": ({}, sa.tamper_signature, "refuse"),
    "tampered authData": ({}, sa.tamper_auth_data, "refuse"),
    "tampered clientDataJSON": ({}, lambda r: sa.set_member(
        r, "response.clientDataJSON", sa.b64u(sa.unb64u(json.loads(r)["response"]
                                                        ["clientDataJSON"]) + b" ")), "refuse"),
    "truncated authenticatorData": ({}, sa.truncate_attestation, "refuse"),
    "trailing bytes on authenticatorData": ({}, sa.trailing_bytes, "refuse"),
    "signed client data with other challenge": (
        dict(client_data={"challenge": sa.b64u(b"\x03" * 32)}), None, "refuse"),
    # fido2 0.9 does not check these:
    "crossOrigin true": (dict(cross_origin=True), None, "authd"),
    "BS without BE": (dict(bs=True, be=False), None, "authd"),
    "id != rawId": ({}, sa.mismatch_id, "authd"),
    "counter regression": (dict(counter=0), None, "authd"),
    "counter stays": (dict(counter=1), None, "authd"),
}


@pytest.mark.parametrize("alg", sa.ALGS)
@pytest.mark.parametrize("name", list(GET))
def test_assertion_variant(env, name, alg):
    knobs, post, expect = GET[name]
    knobs = dict(knobs)
    auth = sa.SoftAuthenticator(alg=alg)
    email, user, tok = env.user()
    cred_id, cd = env.register(auth, tok)
    fido = Fido2RP(RP_ID, [ORIGIN])

    def attempt():
        pending = env.pending(email)
        cer = env.begin_assert(pending)
        return pending, cer, auth.get(cer.json, ORIGIN)

    # A clean sign-in first (the stored counter becomes 1), then the variant, then clean again:
    # the variant is refused for itself, and refusing it broke nothing.
    pending, cer, got = attempt()
    assert verdict(lambda: fido.authenticate(cer.challenge, got, cer.uv, [cd]))[0]
    assert verdict(lambda: env.finish_assert(cer, got, pending))[0]

    pending = env.pending(email)
    cer = env.begin_assert(pending)
    got = auth.get(cer.json, knobs.pop("origin", ORIGIN), **knobs)
    if post:
        got = post(got)
    fok, fwhy = fido.verdict(fido.authenticate, cer.challenge, got, cer.uv, [cd])
    aok, awhy = verdict(lambda: env.finish_assert(cer, got, pending))
    if expect == "agree":
        assert aok == fok, f"authd: {awhy}; fido2: {fwhy}"
    elif expect == "refuse":
        assert not fok, "fido2 accepted"
        assert not aok, "authd accepted what fido2 refuses: " + str(fwhy)
    else:
        assert fok, f"fido2 refused ({fwhy}): the variant is not valid otherwise"
        assert not aok, "authd accepted"
    if not aok:
        assert not verdict(lambda: env.call(S + "Get", sessions_pb2.GetSessionRequest(
            session_token=pending), sessions_pb2.SessionResponse))[0], "still pending"

    # (A variant that set the counter back does not set back the authenticator itself.)
    auth.set_counter(cred_id, max(auth.credential(cred_id).counter, 1))
    pending, cer, got = attempt()
    assert verdict(lambda: fido.authenticate(cer.challenge, got, cer.uv, [cd]))[0]
    ok, why = verdict(lambda: env.finish_assert(cer, got, pending))
    assert ok, why


def test_unknown_and_foreign_credentials_refused(env):
    email, _, tok = env.user()
    auth = sa.SoftAuthenticator()
    cred_id, cd = env.register(auth, tok)
    # A key registered nowhere, and a key of another user: fido2 (with this user's keys) and
    # authd both refuse either as this user's second factor.
    stranger = sa.SoftAuthenticator()
    stranger.create(env.begin_reg(tok).json, ORIGIN)  # made, never finished
    other = sa.SoftAuthenticator()
    _, _, tok2 = env.user()
    env.register(other, tok2)
    fido = Fido2RP(RP_ID, [ORIGIN])
    for who in (stranger, other):
        pending = env.pending(email)
        cer = env.begin_assert(pending)
        got = who.get(cer.json, ORIGIN, credential=who.credentials[-1].id)
        fok, fwhy = fido.verdict(fido.authenticate, cer.challenge, got, cer.uv, [cd])
        assert not fok and "Unknown credential" in fwhy
        aok, awhy = verdict(lambda: env.finish_assert(cer, got, pending))
        assert not aok


# ---- passwordless ----

def test_passwordless_variants(env):
    email, user, tok = env.user()
    auth = sa.SoftAuthenticator(backup_eligible=True)
    cred_id, cd = env.register(auth, tok, passkey=True)
    _, user2, tok2 = env.user()
    cer2 = env.begin_reg(tok2, passkey=True)
    handle2 = sa.unb64u(cer2.opts["user"]["id"])
    fido = Fido2RP(RP_ID, [ORIGIN])

    def run(expect, post=None, **knobs):
        cer = env.begin_assert()
        got = auth.get(cer.json, knobs.pop("origin", ORIGIN), **knobs)
        if post:
            got = post(got)
        fok, fwhy = fido.verdict(fido.authenticate, cer.challenge, got, cer.uv, [cd])
        aok, answer = verdict(lambda: env.finish_assert(cer, got))
        if expect == "accept":
            assert fok and aok, (fwhy, answer)
            assert answer.session.user_id == user.id
        elif expect == "refuse":
            assert not fok and not aok, (fwhy, answer)
        else:
            assert fok, fwhy
            assert not aok, "authd accepted"

    run("accept")
    run("refuse", uv=False)  # passwordless always requires user verification
    run("refuse", origin="http://localhost:8444")
    run("refuse", post=sa.tamper_signature)
    run("authd", user_handle=handle2)  # the key is not user2's
    run("authd", user_handle=b"no such user handle")
    run("authd", user_handle=b"")  # no userHandle: the user is not identified
    run("accept")


def test_passwordless_off(env):
    cfg = env.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                   admin_pb2.AuthConfig)
    cfg.webauthn.passwordless.value = False
    env.call("/authd.v1.Admin/PutAuthConfig", cfg, admin_pb2.AuthConfig)
    try:
        ok, why = verdict(lambda: env.begin_assert())
        assert not ok and why.startswith("FAILED_PRECONDITION"), why
    finally:
        cfg = env.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                       admin_pb2.AuthConfig)
        cfg.webauthn.ClearField("passwordless")
        env.call("/authd.v1.Admin/PutAuthConfig", cfg, admin_pb2.AuthConfig)
    assert verdict(lambda: env.begin_assert())[0]


# ---- authd-specific ----

def test_challenges_single_use_and_bound(env):
    email, _, tok = env.user()
    auth = sa.SoftAuthenticator()
    # Registration: the same response twice, and a response to one ceremony given with another.
    cer = env.begin_reg(tok)
    resp = auth.create(cer.json, ORIGIN)
    env.finish_reg(tok, cer, resp)
    assert not verdict(lambda: env.finish_reg(tok, cer, resp))[0]
    cer2 = env.begin_reg(tok)
    resp2 = sa.SoftAuthenticator().create(cer.json, ORIGIN)  # answers the used challenge
    fido = Fido2RP(RP_ID, [ORIGIN])
    assert not fido.verdict(fido.register, cer2.challenge, resp2)[0]
    assert not verdict(lambda: env.finish_reg(tok, cer2, resp2))[0]
    # Another user's session cannot finish this user's ceremony.
    _, _, tok_b = env.user()
    cer3 = env.begin_reg(tok)
    resp3 = sa.SoftAuthenticator().create(cer3.json, ORIGIN)
    assert not verdict(lambda: env.finish_reg(tok_b, cer3, resp3))[0]
    assert len(env.creds(tok_b)) == 0 and len(env.creds(tok)) == 1

    # Assertion: a used response again (with a new pending login, its own ceremony, or the old
    # ceremony id) is refused.
    pending = env.pending(email)
    cer = env.begin_assert(pending)
    got = auth.get(cer.json, ORIGIN)
    assert verdict(lambda: env.finish_assert(cer, got, pending))[0]
    pending2 = env.pending(email)
    assert not verdict(lambda: env.finish_assert(cer, got, pending2))[0]
    cer4 = env.begin_assert(pending2)
    assert not verdict(lambda: env.finish_assert(cer4, got, pending2))[0]
    # A pending login cannot use the ceremony of another pending login.
    pending3 = env.pending(email)
    cer5 = env.begin_assert(pending3)
    got5 = auth.get(cer5.json, ORIGIN)
    pending4 = env.pending(email)
    assert not verdict(lambda: env.finish_assert(cer5, got5, pending4))[0]
    # ...and the right one still signs in afterwards.
    cer6 = env.begin_assert(pending4)
    assert verdict(lambda: env.finish_assert(cer6, auth.get(cer6.json, ORIGIN), pending4))[0]


def test_refused_answer_spends_its_ceremony(env):
    """A ceremony is single use also when its answer was refused: the right answer after a wrong
    one is refused too (no second try on one challenge), and a new ceremony works."""
    email, _, tok = env.user()
    auth = sa.SoftAuthenticator(alg=sa.EDDSA)
    cer = env.begin_reg(tok, passkey=True)
    assert not verdict(lambda: env.finish_reg(tok, cer, auth.create(
        cer.json, ORIGIN, cross_origin=True)))[0]
    assert not verdict(lambda: env.finish_reg(tok, cer, auth.create(cer.json, ORIGIN)))[0]
    assert env.creds(tok) == []
    env.register(auth, tok, passkey=True)

    for passwordless in (False, True):
        pending = "" if passwordless else env.pending(email)
        cer = env.begin_assert(pending)
        assert not verdict(lambda: env.finish_assert(
            cer, auth.get(cer.json, ORIGIN, up=False), pending))[0]
        assert not verdict(lambda: env.finish_assert(cer, auth.get(cer.json, ORIGIN), pending))[0]
        cer = env.begin_assert(pending)
        ok, why = verdict(lambda: env.finish_assert(cer, auth.get(cer.json, ORIGIN), pending))
        assert ok, why


def test_passwordless_replay_without_counter_refused(env):
    """An authenticator without a counter (always 0) gives no counter to catch a replay: only
    the single-use ceremony does. The same answer on the same ceremony twice signs in once."""
    _, user, tok = env.user()
    auth = sa.SoftAuthenticator(backup_eligible=True)
    env.register(auth, tok, passkey=True, counter=0)
    cer = env.begin_assert()
    got = auth.get(cer.json, ORIGIN, counter=0)
    ok, s = verdict(lambda: env.finish_assert(cer, got))
    assert ok and s.session.user_id == user.id, s
    ok, why = verdict(lambda: env.finish_assert(cer, got))
    assert not ok, "a replayed passwordless answer signed in again"


def _clone_events(env, user_id):
    return [e for e in env.audit() if e.get("user") == user_id
            and e.get("reason") == "possible_clone"]


def test_counter_regression_refused_and_audited(env):
    email, user, tok = env.user()
    auth = sa.SoftAuthenticator()
    cred_id, cd = env.register(auth, tok)
    for _ in range(3):  # the stored counter becomes 3
        pending = env.pending(email)
        cer = env.begin_assert(pending)
        env.finish_assert(cer, auth.get(cer.json, ORIGIN), pending)
    # Other refusals are no clone warning.
    pending = env.pending(email)
    cer = env.begin_assert(pending)
    assert not verdict(lambda: env.finish_assert(
        cer, sa.tamper_signature(auth.get(cer.json, ORIGIN)), pending))[0]
    assert _clone_events(env, user.id) == []
    # A clone: the counter of an earlier state, correctly signed.
    pending = env.pending(email)
    cer = env.begin_assert(pending)
    got = auth.get(cer.json, ORIGIN, counter=2)
    assert Fido2RP.verdict(env.fido.authenticate, cer.challenge, got, cer.uv, [cd])[0]
    ok, why = verdict(lambda: env.finish_assert(cer, got, pending))
    assert not ok, "a counter going backwards was accepted"
    events = _clone_events(env, user.id)
    assert events, "no audit event for the counter regression"
    assert events[-1]["action"] == "second_factor" and events[-1]["outcome"] == "failure", \
        events[-1]
    assert len(events) == 1


def test_zero_counter_authenticator_accepted(env):
    # Many passkey providers always send 0: a stored 0 and a new 0 is no regression.
    email, _, tok = env.user()
    auth = sa.SoftAuthenticator(backup_eligible=True)
    env.register(auth, tok, counter=0)
    for _ in range(2):
        pending = env.pending(email)
        cer = env.begin_assert(pending)
        ok, why = verdict(lambda: env.finish_assert(cer, auth.get(cer.json, ORIGIN, counter=0),
                                                    pending))
        assert ok, why


def test_credential_id_of_two_users_refused(env):
    email1, _, tok1 = env.user()
    auth1 = sa.SoftAuthenticator()
    cred_id, _ = env.register(auth1, tok1)
    _, _, tok2 = env.user()
    cer = env.begin_reg(tok2)
    resp = sa.SoftAuthenticator().create(cer.json, ORIGIN, cred_id=cred_id)  # another key
    fido = Fido2RP(RP_ID, [ORIGIN])
    assert fido.verdict(fido.register, cer.challenge, resp, user_verification=cer.uv)[0]
    ok, why = verdict(lambda: env.finish_reg(tok2, cer, resp))
    assert not ok, "a credential id already registered to another user was accepted"
    assert env.creds(tok2) == []
    # The first user's key still works, and is still that user's only.
    pending = env.pending(email1)
    cer = env.begin_assert(pending)
    assert verdict(lambda: env.finish_assert(cer, auth1.get(cer.json, ORIGIN), pending))[0]
    # The same user registering the same id twice is refused too (one record per id).
    cer = env.begin_reg(tok1)
    resp = sa.SoftAuthenticator().create(cer.json, ORIGIN, cred_id=cred_id)
    assert not verdict(lambda: env.finish_reg(tok1, cer, resp))[0]
    assert len(env.creds(tok1)) == 1


def test_user_verification_required_by_config(env):
    configure(env.authd, user_verification="required")
    try:
        email, _, tok = env.user()
        auth = sa.SoftAuthenticator()
        cred_id, cd = env.register(auth, tok)
        pending = env.pending(email)
        cer = env.begin_assert(pending)
        assert cer.uv == "required"
        got = auth.get(cer.json, ORIGIN, uv=False)
        fok, _ = Fido2RP.verdict(env.fido.authenticate, cer.challenge, got, cer.uv, [cd])
        aok, _ = verdict(lambda: env.finish_assert(cer, got, pending))
        assert not fok and not aok
    finally:
        configure(env.authd, user_verification="")
