# SPDX-License-Identifier: Apache-2.0
"""Passkeys and security keys over authd's WebAuthn RPCs (issue 15), with softauthn.py as the
authenticator and the browser: registration with attestation none and packed for every
algorithm, the options a browser gets (exclude list, resident key, user handle), credential ids
unique across users, at most 16 keys, a ceremony answered once, bound to its session and its
origin, names, removal (a fresh sign-in for a key, a second factor for the last factor, which
turns two-factor off), the first key turning two-factor on with 10 recovery codes, the status
fields every User carries, FAILED_PRECONDITION while passkeys are not configured, and the
refusals a caller without the edge role gets.

The freshness window itself (a sign-in older than reauthSeconds) needs a clock the test moves:
tests/unit/authd/test_svc_webauthn.c covers it; here a session is always fresh."""
import base64
import json
import subprocess

import grpc
import pytest

from conftest import Authd, admin_pb2, grpc_reason, sessions_pb2, users_pb2
from test_audit import audit_events, find, one
from softauthn import ALGS, SoftAuthenticator, SoftAuthnError, tamper_signature

from authd.v1 import twofactor_pb2, webauthn_pb2  # noqa: E402

U = "/authd.v1.Users/"
S = "/authd.v1.Sessions/"
TF = "/authd.v1.TwoFactor/"
W = "/authd.v1.WebAuthn/"
PW = "correct horse battery"
ORIGIN = "https://login.example.com"
RP_ID = "example.com"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def err(fn, code, reason=None):
    with pytest.raises(grpc.RpcError) as ei:
        fn()
    assert ei.value.code() == code, (ei.value.code(), ei.value.details())
    if reason is not None:
        assert grpc_reason(ei.value) == reason, (grpc_reason(ei.value), ei.value.details())
    return ei.value


def configure(authd, **fields):
    cfg = authd.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                     admin_pb2.AuthConfig)
    cfg.webauthn.rp_id = RP_ID
    del cfg.webauthn.origins[:]
    cfg.webauthn.origins.append(ORIGIN)
    for k, v in fields.items():
        setattr(cfg.webauthn, k, v)
    return authd.call("/authd.v1.Admin/PutAuthConfig", cfg, admin_pb2.AuthConfig)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    authd = Authd(str(tmp_path_factory.mktemp("webauthn_rpc")))
    try:
        configure(authd)
        yield authd
    finally:
        authd.stop()


class Person:
    """A user with a signed-in session (token)."""

    def __init__(self, authd, email):
        self.authd = authd
        self.email = email
        self.user = authd.call(U + "Create", users_pb2.CreateUserRequest(email=email, password=PW),
                               users_pb2.UserResponse).user
        self.token = self.login().session_token

    def login(self):
        return self.authd.call(S + "Login", sessions_pb2.LoginRequest(
            email=self.email, password=PW, client_ip="127.0.0.5"), sessions_pb2.SessionResponse)

    def begin(self, passkey=False, token=None):
        return self.authd.call(W + "BeginRegistration", webauthn_pb2.BeginRegistrationRequest(
            session_token=token or self.token, passkey=passkey), webauthn_pb2.CeremonyResponse)

    def finish(self, ceremony_id, response, name="", token=None):
        return self.authd.call(W + "FinishRegistration", webauthn_pb2.FinishRegistrationRequest(
            session_token=token or self.token, ceremony_id=ceremony_id, credential_json=response,
            name=name, client_ip="127.0.0.5"), webauthn_pb2.FinishRegistrationResponse)

    def register(self, auth, passkey=False, fmt="none", name="", **knobs):
        c = self.begin(passkey)
        return self.finish(c.ceremony_id, auth.create(c.options_json, ORIGIN, fmt=fmt, **knobs),
                           name)

    def keys(self):
        return list(self.authd.call(W + "ListCredentials", webauthn_pb2.ListCredentialsRequest(
            session_token=self.token), webauthn_pb2.WebAuthnCredentialList).credentials)

    def remove(self, cred_id, **proof):
        return self.authd.call(W + "RemoveCredential", webauthn_pb2.RemoveCredentialRequest(
            session_token=self.token, credential_id=cred_id, client_ip="127.0.0.5", **proof),
            webauthn_pb2.WebAuthnCredentialList)

    def rename(self, cred_id, name):
        return self.authd.call(W + "RenameCredential", webauthn_pb2.RenameCredentialRequest(
            session_token=self.token, credential_id=cred_id, name=name),
            webauthn_pb2.WebAuthnCredentialList)

    def status(self):
        return self.authd.call(U + "Get", users_pb2.GetUserRequest(id=self.user.id),
                               users_pb2.UserResponse).user.two_factor


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("fmt", ["none", "packed", "packed-x5c"])
def test_registration_every_alg_and_format(site, alg, fmt):
    p = Person(site, f"reg{-alg}-{fmt}@example.com")
    auth = SoftAuthenticator(alg=alg)
    r = p.register(auth, fmt=fmt)
    assert r.credential.kind == "hwk"
    assert r.credential.name == "Security key 1"
    assert not r.credential.discoverable
    assert list(r.credential.transports) == ["usb"]
    assert r.credential.aaguid == ""
    assert r.credential.created_at > 0 and r.credential.last_used_at == 0
    keys = p.keys()
    assert [k.id for k in keys] == [r.credential.id]
    assert [c.id for c in auth.credentials] == [unb64u(r.credential.id)]


def test_passkey_fields(site):
    p = Person(site, "passkey@example.com")
    aaguid = bytes(range(16))
    auth = SoftAuthenticator(backup_eligible=True, aaguid=aaguid)
    r = p.register(auth, passkey=True, name="Phone")
    c = r.credential
    assert c.name == "Phone"
    assert c.discoverable
    assert c.kind == "swk"
    assert c.aaguid == "00010203-0405-0607-0809-0a0b0c0d0e0f"
    assert sorted(c.transports) == ["hybrid", "internal"]
    # The next default name takes the next number of its kind.
    r2 = p.register(SoftAuthenticator(), passkey=True)
    assert r2.credential.name == "Passkey 1"
    r3 = p.register(SoftAuthenticator(), passkey=True)
    assert r3.credential.name == "Passkey 2"


def test_options_and_exclude_list(site):
    p = Person(site, "options@example.com")
    auth = SoftAuthenticator()
    first = p.register(auth)
    c = p.begin(passkey=True)
    o = json.loads(c.options_json)
    assert o["rp"] == {"id": RP_ID, "name": "authd"}
    assert unb64u(o["user"]["id"]) == p.user.id.encode()
    assert o["user"]["name"] == o["user"]["displayName"] == p.email
    assert len(unb64u(o["challenge"])) == 32
    assert [x["alg"] for x in o["pubKeyCredParams"]] == [-7, -8, -257]
    assert o["timeout"] == 300000
    assert o["attestation"] == "none"
    assert o["authenticatorSelection"] == {"residentKey": "required", "requireResidentKey": True,
                                           "userVerification": "preferred"}
    assert o["excludeCredentials"] == [{"type": "public-key", "id": first.credential.id,
                                        "transports": ["usb"]}]
    # An authenticator that holds an excluded key refuses; forced, authd refuses the same id.
    with pytest.raises(SoftAuthnError):
        auth.create(c.options_json, ORIGIN)
    again = auth.create(c.options_json, ORIGIN, strict=False,
                        cred_id=unb64u(first.credential.id))
    err(lambda: p.finish(c.ceremony_id, again), grpc.StatusCode.ALREADY_EXISTS, "already_exists")
    assert len(p.keys()) == 1


def test_credential_id_unique_across_users(site):
    a = Person(site, "dup-a@example.com")
    b = Person(site, "dup-b@example.com")
    cid = b"the same credential id, twice"
    a.register(SoftAuthenticator(), cred_id=cid)
    e = err(lambda: b.register(SoftAuthenticator(), cred_id=cid), grpc.StatusCode.ALREADY_EXISTS,
            "already_exists")
    assert "registered already" in e.details()
    assert b.keys() == []
    assert b.status().passkeys == 0


def test_first_key_turns_two_factor_on(site):
    p = Person(site, "first@example.com")
    assert not p.status().enabled
    r = p.register(SoftAuthenticator())
    assert len(r.recovery_codes) == 10
    assert len(set(r.recovery_codes)) == 10
    assert r.user.two_factor.enabled and r.user.two_factor.passkeys == 1
    assert not r.user.two_factor.totp
    st = p.status()
    assert st.enabled and st.passkeys == 1 and not st.totp
    # The second key makes no new codes; the first codes still work.
    r2 = p.register(SoftAuthenticator())
    assert list(r2.recovery_codes) == []
    assert p.status().passkeys == 2
    tf = site.call(TF + "Status", twofactor_pb2.StatusRequest(session_token=p.token),
                   twofactor_pb2.TwoFactorStatusResponse)
    assert tf.recovery_codes_left == 10
    assert tf.user.two_factor.passkeys == 2
    # A password login now waits for the second factor.
    assert not p.login().session.authenticated


def test_seventeenth_key_refused(site):
    p = Person(site, "many@example.com")
    for _ in range(15):
        p.register(SoftAuthenticator())
    late = p.begin()  # begun while there were 15
    p.register(SoftAuthenticator())
    assert len(p.keys()) == 16
    err(lambda: p.begin(), grpc.StatusCode.FAILED_PRECONDITION, "failed_precondition")
    resp = SoftAuthenticator().create(late.options_json, ORIGIN)
    err(lambda: p.finish(late.ceremony_id, resp), grpc.StatusCode.FAILED_PRECONDITION,
        "failed_precondition")
    assert len(p.keys()) == 16


def test_ceremony_answered_once(site):
    p = Person(site, "once@example.com")
    auth = SoftAuthenticator()
    c = p.begin()
    resp = auth.create(c.options_json, ORIGIN)
    p.finish(c.ceremony_id, resp)
    e = err(lambda: p.finish(c.ceremony_id, resp), grpc.StatusCode.UNAUTHENTICATED,
            "key_refused")
    assert "ceremony" in e.details()
    assert len(p.keys()) == 1


def test_refused_response_spends_the_ceremony(site):
    p = Person(site, "origin@example.com")
    auth = SoftAuthenticator()
    c = p.begin()
    wrong = auth.create(c.options_json, "https://evil.example.org")
    e = err(lambda: p.finish(c.ceremony_id, wrong), grpc.StatusCode.UNAUTHENTICATED,
            "key_refused")
    assert "origin" in e.details()
    right = SoftAuthenticator().create(c.options_json, ORIGIN)
    err(lambda: p.finish(c.ceremony_id, right), grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    # Malformed: INVALID_ARGUMENT, and spent too.
    c = p.begin()
    err(lambda: p.finish(c.ceremony_id, "{\"id\": 1}"), grpc.StatusCode.INVALID_ARGUMENT,
        "invalid_request")
    err(lambda: p.finish(c.ceremony_id, SoftAuthenticator().create(c.options_json, ORIGIN)),
        grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    # Other refusals name the check: wrong rpId, the wrong ceremony type, no user presence.
    for knobs, word in (({"rp_id": "evil.example"}, "rp"), ({"type": "webauthn.get"}, "type"),
                        ({"up": False}, "present")):
        c = p.begin()
        bad = SoftAuthenticator().create(c.options_json, ORIGIN, **knobs)
        e = err(lambda: p.finish(c.ceremony_id, bad), grpc.StatusCode.UNAUTHENTICATED,
                "key_refused")
        assert word in e.details().lower(), (knobs, e.details())
    assert p.keys() == []


def test_ceremony_bound_to_its_session(site):
    p = Person(site, "bound@example.com")
    other = p.login().session_token  # the same user, another session
    c = p.begin()
    resp = SoftAuthenticator().create(c.options_json, ORIGIN)
    err(lambda: p.finish(c.ceremony_id, resp, token=other), grpc.StatusCode.UNAUTHENTICATED,
        "key_refused")
    q = Person(site, "bound-other@example.com")
    err(lambda: q.finish(c.ceremony_id, resp), grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    # Neither spent it.
    assert p.finish(c.ceremony_id, resp).credential.id


def test_rename(site):
    p = Person(site, "rename@example.com")
    cid = p.register(SoftAuthenticator()).credential.id
    assert [k.name for k in p.rename(cid, "Blue key").credentials] == ["Blue key"]
    for bad in ("", " ", "x" * 65, "a\nb", "\u202eevil", "\x7f"):
        err(lambda: p.rename(cid, bad), grpc.StatusCode.INVALID_ARGUMENT, "invalid_request")
    assert p.rename(cid, "ключ 🔑").credentials[0].name == "ключ 🔑"
    err(lambda: p.rename(b64u(b"nope"), "x"), grpc.StatusCode.NOT_FOUND, "not_found")
    q = Person(site, "rename-other@example.com")
    err(lambda: q.rename(cid, "mine"), grpc.StatusCode.NOT_FOUND, "not_found")


def test_remove_key_fresh_and_last_factor(site):
    p = Person(site, "remove@example.com")
    codes = list(p.register(SoftAuthenticator()).recovery_codes)
    second = p.register(SoftAuthenticator()).credential.id
    first = p.keys()[0].id
    # A fresh sign-in removes a key that is not the last factor.
    left = p.remove(second)
    assert [k.id for k in left.credentials] == [first]
    # The last factor: never without a second factor.
    e = err(lambda: p.remove(first), grpc.StatusCode.UNAUTHENTICATED, "second_factor_required")
    assert "last" in e.details()
    err(lambda: p.remove(first, recovery_code="aaaa-bbbb-cccc-dddd"),
        grpc.StatusCode.UNAUTHENTICATED, "wrong_token")
    assert p.status().enabled
    left = p.remove(first, recovery_code=codes[0])
    assert list(left.credentials) == []
    st = p.status()
    assert not st.enabled and st.passkeys == 0 and not st.totp
    # Two-factor is off: no codes left, and a password login is complete.
    tf = site.call(TF + "Status", twofactor_pb2.StatusRequest(session_token=p.token),
                   twofactor_pb2.TwoFactorStatusResponse)
    assert tf.recovery_codes_left == 0
    assert p.login().session.authenticated
    # The id is free again: the index entry went with the key.
    Person(site, "remove-next@example.com").register(SoftAuthenticator(),
                                                     cred_id=unb64u(first))


def test_remove_last_key_with_a_step_up(site):
    """The key being removed may itself be the second factor: a step-up assertion."""
    p = Person(site, "stepup-remove@example.com")
    auth = SoftAuthenticator()
    cid = p.register(auth).credential.id

    def step_up():
        return site.call(W + "BeginAssertion", webauthn_pb2.BeginAssertionRequest(
            session_token=p.token, client_ip="127.0.0.5"), webauthn_pb2.CeremonyResponse)

    c = step_up()
    good = auth.get(c.options_json, ORIGIN)
    # A tampered signature is refused, naming the check, and it spends the ceremony.
    e = err(lambda: p.remove(cid, ceremony_id=c.ceremony_id,
                             credential_json=tamper_signature(good)),
            grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    assert "signature" in e.details()
    err(lambda: p.remove(cid, ceremony_id=c.ceremony_id, credential_json=good),
        grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    assert p.status().passkeys == 1
    c = step_up()
    left = p.remove(cid, ceremony_id=c.ceremony_id,
                    credential_json=auth.get(c.options_json, ORIGIN))
    assert list(left.credentials) == []
    st = p.status()
    assert not st.enabled and st.passkeys == 0


def test_status_with_totp_and_keys(site):
    p = Person(site, "both@example.com")
    b = site.call(TF + "BeginEnrollment", twofactor_pb2.BeginEnrollmentRequest(
        session_token=p.token), twofactor_pb2.BeginEnrollmentResponse)
    code = subprocess.run(["oathtool", "--totp", "-b", b.secret], capture_output=True, text=True,
                          check=True).stdout.strip()
    site.call(TF + "ConfirmEnrollment", twofactor_pb2.ConfirmEnrollmentRequest(
        session_token=p.token, code=code), twofactor_pb2.RecoveryCodesResponse)
    st = p.status()
    assert st.enabled and st.totp and st.passkeys == 0
    r = p.register(SoftAuthenticator())
    assert list(r.recovery_codes) == []  # 2FA was on already
    st = p.status()
    assert st.enabled and st.totp and st.passkeys == 1
    # Not the last factor (TOTP stays): a fresh sign-in is enough.
    p.remove(r.credential.id)
    st = p.status()
    assert st.enabled and st.totp and st.passkeys == 0


def test_users_list_and_session_answers_carry_status(site):
    p = Person(site, "answers@example.com")
    p.register(SoftAuthenticator())
    users = site.call(U + "List", users_pb2.ListUsersRequest(page_size=1000),
                      users_pb2.ListUsersResponse).users
    mine = [u for u in users if u.id == p.user.id]
    assert mine[0].two_factor.passkeys == 1 and mine[0].two_factor.enabled
    s = site.call(S + "Get", sessions_pb2.GetSessionRequest(session_token=p.token),
                  sessions_pb2.SessionResponse)
    assert s.user.two_factor.passkeys == 1


def test_not_configured(tmpdir_path):
    authd = Authd(tmpdir_path)
    try:
        p = Person(authd, "off@example.com")
        calls = [
            ("ListCredentials", webauthn_pb2.ListCredentialsRequest(session_token=p.token),
             webauthn_pb2.WebAuthnCredentialList),
            ("BeginRegistration", webauthn_pb2.BeginRegistrationRequest(session_token=p.token),
             webauthn_pb2.CeremonyResponse),
            ("FinishRegistration", webauthn_pb2.FinishRegistrationRequest(
                session_token=p.token), webauthn_pb2.FinishRegistrationResponse),
            ("BeginAssertion", webauthn_pb2.BeginAssertionRequest(), webauthn_pb2.CeremonyResponse),
            ("RenameCredential", webauthn_pb2.RenameCredentialRequest(session_token=p.token),
             webauthn_pb2.WebAuthnCredentialList),
            ("RemoveCredential", webauthn_pb2.RemoveCredentialRequest(session_token=p.token),
             webauthn_pb2.WebAuthnCredentialList),
        ]
        for method, req, cls in calls:
            e = err(lambda: authd.call(W + method, req, cls), grpc.StatusCode.FAILED_PRECONDITION,
                    "failed_precondition")
            assert e.details() == "passkeys are not configured", method
        # Turned on, the same call works; turned off again (rpId ""), refused again.
        configure(authd)
        assert p.keys() == []
        cfg = authd.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                         admin_pb2.AuthConfig)
        cfg.ClearField("webauthn")
        authd.call("/authd.v1.Admin/PutAuthConfig", cfg, admin_pb2.AuthConfig)
        err(p.keys, grpc.StatusCode.FAILED_PRECONDITION, "failed_precondition")
    finally:
        authd.stop()


def test_config_validation_and_defaults(site):
    cfg = site.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                    admin_pb2.AuthConfig)
    w = cfg.webauthn
    assert (w.rp_id, list(w.origins)) == (RP_ID, [ORIGIN])
    assert (w.user_verification, w.timeout, w.reauth_seconds, w.passwordless.value) == (
        "preferred", 300, 600, True)
    for field, value, word in (("rp_id", "Example.COM", "rpId"),
                               ("rp_id", "127.0.0.1", "rpId"),
                               ("user_verification", "discouraged", "userVerification"),
                               ("timeout", 10, "timeout"), ("reauth_seconds", 86401,
                                                            "reauthSeconds")):
        e = err(lambda: configure(site, **{field: value}), grpc.StatusCode.INVALID_ARGUMENT,
                "invalid_request")
        assert word in e.details()
    for origin in ("http://login.example.com", "https://example.org", "https://example.com/x"):
        bad = admin_pb2.AuthConfig()
        bad.CopyFrom(cfg)
        bad.webauthn.origins.append(origin)
        e = err(lambda: site.call("/authd.v1.Admin/PutAuthConfig", bad, admin_pb2.AuthConfig),
                grpc.StatusCode.INVALID_ARGUMENT, "invalid_request")
        assert "origins" in e.details()
    # Written loosely, stored as browsers send it.
    ok = admin_pb2.AuthConfig()
    ok.CopyFrom(cfg)
    del ok.webauthn.origins[:]
    ok.webauthn.origins.append("HTTPS://Login.Example.com:443")
    got = site.call("/authd.v1.Admin/PutAuthConfig", ok, admin_pb2.AuthConfig)
    assert list(got.webauthn.origins) == [ORIGIN]
    configure(site)


def test_status_fields_of_remove_by_admin_reset(site):
    p = Person(site, "reset@example.com")
    p.register(SoftAuthenticator())
    r = site.call(U + "ResetTwoFactor", users_pb2.ResetTwoFactorRequest(id=p.user.id),
                  users_pb2.UserResponse)
    assert not r.user.two_factor.enabled and r.user.two_factor.passkeys == 0
    assert p.keys() == []


def test_audit_events(site):
    """Every change is audited with who, what and the key (a prefix of its id), and no recovery
    code or credential JSON ever reaches the log."""
    p = Person(site, "audit-keys@example.com")
    auth = SoftAuthenticator()
    c = p.begin()
    response = auth.create(c.options_json, ORIGIN)
    r = p.finish(c.ceremony_id, response)
    cid = r.credential.id
    ev = one(audit_events(site), action="webauthn", outcome="success", reason="registered",
             user=p.user.id)
    assert ev["target"] == "webauthn/" + cid[:60] and ev["ip"] == "127.0.0.5"
    one(audit_events(site), action="twofactor_enabled", reason="enrolled", user=p.user.id)
    c2 = p.begin()
    wrong = SoftAuthenticator().create(c2.options_json, "https://evil.example.org")
    err(lambda: p.finish(c2.ceremony_id, wrong), grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    one(audit_events(site), action="webauthn", outcome="failure", reason="refused",
        user=p.user.id)
    p.rename(cid, "Audited")
    one(audit_events(site), action="webauthn", reason="renamed", user=p.user.id)
    p.remove(cid, recovery_code=r.recovery_codes[0])
    one(audit_events(site), action="webauthn", reason="removed", user=p.user.id)
    one(audit_events(site), action="twofactor_disabled", reason="last_key_removed",
        user=p.user.id)
    assert find(audit_events(site), action="recovery_code_used", user=p.user.id)
    log = site.log_text()
    for code in r.recovery_codes:
        assert code not in log
    assert json.loads(response)["response"]["attestationObject"] not in log
