# SPDX-License-Identifier: Apache-2.0
"""Signing in with passkeys and security keys over authd's RPCs (issue 15), with softauthn.py as
the browser's authenticator: a key as the second factor after the password (amr), a user with
TOTP and a key using either, passwordless sign-in with a resident key (amr; user verification
required), passwordless turned off, a ceremony answered once (replayed, refused, or another
session's), a remembered browser after a key, a signature counter going back (refused,
audited, counted), the second-factor lockout shared by codes and keys both ways,
TwoFactor.Disable with a step-up assertion, and the ID token's amr and acr after a key
sign-in."""
import base64
import json
import os
import subprocess
import time
import urllib.parse

import grpc
import pytest
import requests

from conftest import (FAST_ARGON2, LONG_LOCK, Authd, admin_pb2, common_pb2, grpc_reason,
                      lockout_set, sessions_pb2, set_lockout, users_pb2, wait_port_file)
from softauthn import SoftAuthenticator, tamper_signature, unb64u

from authd.v1 import oauth_pb2, twofactor_pb2, webauthn_pb2  # noqa: E402

U = "/authd.v1.Users/"
S = "/authd.v1.Sessions/"
TF = "/authd.v1.TwoFactor/"
W = "/authd.v1.WebAuthn/"
O = "/authd.v1.OAuth/"
PW = "correct horse battery"
ORIGIN = "https://localhost"
APP, APP_SECRET, APP_CB = "keys-app", "keys-app-secret-0123456789abcdef", "https://app.example/cb"


@pytest.fixture
def authd(tmpdir_path):
    """authd with passkeys configured (rpId localhost, origin https://localhost) and its metrics
    endpoint (.metrics_port)."""
    port_file = os.path.join(tmpdir_path, "metrics.port")
    a = Authd(tmpdir_path, FAST_ARGON2 + ["--metrics-listen", "127.0.0.1:0",
                                          "--metrics-port-file", port_file])
    try:
        a.metrics_port = wait_port_file(port_file, a.proc)
        configure(a)
        yield a
    finally:
        a.stop()


def configure(authd, passwordless=True):
    cfg = authd.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                     admin_pb2.AuthConfig)
    cfg.webauthn.rp_id = "localhost"
    del cfg.webauthn.origins[:]
    cfg.webauthn.origins.append(ORIGIN)
    cfg.webauthn.passwordless.value = passwordless
    authd.call("/authd.v1.Admin/PutAuthConfig", cfg, admin_pb2.AuthConfig)


def refused(fn, code, reason=None):
    with pytest.raises(grpc.RpcError) as ei:
        fn()
    assert ei.value.code() == code, (ei.value.code(), ei.value.details())
    if reason is not None:
        assert grpc_reason(ei.value) == reason, (grpc_reason(ei.value), ei.value.details())
    return ei.value


def new_user(authd, email):
    return authd.call(U + "Create", users_pb2.CreateUserRequest(email=email, password=PW),
                      users_pb2.UserResponse).user


def login(authd, email, ip="127.0.0.5"):
    return authd.call(S + "Login", sessions_pb2.LoginRequest(email=email, password=PW,
                                                             client_ip=ip),
                      sessions_pb2.SessionResponse)


def register(authd, token, auth, passkey=True, name="my key"):
    """Adds a key made by auth to the signed-in session's user; returns its credential."""
    b = authd.call(W + "BeginRegistration", webauthn_pb2.BeginRegistrationRequest(
        session_token=token, passkey=passkey), webauthn_pb2.CeremonyResponse)
    resp = auth.create(b.options_json, ORIGIN)
    f = authd.call(W + "FinishRegistration", webauthn_pb2.FinishRegistrationRequest(
        session_token=token, ceremony_id=b.ceremony_id, credential_json=resp, name=name,
        client_ip="127.0.0.5"), webauthn_pb2.FinishRegistrationResponse)
    return f.credential


def user_with_key(authd, email, **kw):
    """A user with one key (2FA on by it); returns (user, authenticator, credential)."""
    u = new_user(authd, email)
    auth = SoftAuthenticator(**kw)
    cred = register(authd, login(authd, email).session_token, auth)
    return u, auth, cred


def begin(authd, session_token="", bearer_token=""):
    return authd.call(W + "BeginAssertion", webauthn_pb2.BeginAssertionRequest(
        session_token=session_token, bearer_token=bearer_token, client_ip="127.0.0.5"),
        webauthn_pb2.CeremonyResponse)


def finish(authd, ceremony_id, credential_json, session_token="", ip="127.0.0.5",
           remember=False):
    return authd.call(W + "FinishAssertion", webauthn_pb2.FinishAssertionRequest(
        session_token=session_token, ceremony_id=ceremony_id, credential_json=credential_json,
        client_ip=ip, user_agent="pytest", remember_browser=remember),
        sessions_pb2.SessionResponse)


def key_login(authd, email, auth, ip="127.0.0.5", **knobs):
    """Password, then the key: the SessionResponse."""
    pending = login(authd, email, ip).session_token
    c = begin(authd, pending)
    return finish(authd, c.ceremony_id, auth.get(c.options_json, ORIGIN, **knobs), pending, ip)


def audit_lines(authd, **fields):
    return [line for line in authd.log_text().splitlines()
            if "event=audit" in line and all(f"{k}={v}" in line.split()
                                              for k, v in fields.items())]


def metric(authd, name):
    text = requests.get(f"http://127.0.0.1:{authd.metrics_port}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def oath(secret, at):
    return subprocess.run(["oathtool", "--totp=sha1", "-d", "6", "-s", "30s", "-b", secret,
                           "--now", f"@{int(at)}"],
                          capture_output=True, text=True, check=True).stdout.strip()


def enroll_totp(authd, token):
    """TOTP for the signed-in user; returns the secret and the unix time of the step used."""
    b = authd.call(TF + "BeginEnrollment", twofactor_pb2.BeginEnrollmentRequest(
        session_token=token), twofactor_pb2.BeginEnrollmentResponse)
    t = time.time()
    authd.call(TF + "ConfirmEnrollment", twofactor_pb2.ConfirmEnrollmentRequest(
        session_token=token, code=oath(b.secret, t)), twofactor_pb2.RecoveryCodesResponse)
    return b.secret, t


def verify(authd, pending, code, ip="127.0.0.5"):
    return authd.call(S + "VerifySecondFactor", sessions_pb2.VerifySecondFactorRequest(
        session_token=pending, code=code, client_ip=ip), sessions_pb2.SessionResponse)


def test_key_after_the_password(authd):
    u, auth, cred = user_with_key(authd, "hwk@example.com")
    assert cred.kind == "hwk"
    pending = login(authd, "hwk@example.com")
    assert not pending.session.authenticated
    c = begin(authd, pending.session_token)
    opts = json.loads(c.options_json)
    assert opts["rpId"] == "localhost" and opts["userVerification"] == "preferred"
    assert [d["id"] for d in opts["allowCredentials"]] == [cred.id]
    assert opts["allowCredentials"][0]["type"] == "public-key"
    assert base64.urlsafe_b64decode(opts["challenge"] + "==") and c.expires_at > time.time()
    r = finish(authd, c.ceremony_id, auth.get(c.options_json, ORIGIN), pending.session_token)
    assert r.session.authenticated and list(r.session.amr) == ["pwd", "hwk", "mfa"]
    assert r.user.id == u.id and r.session_token
    # The new session works; the pending one served once and is gone.
    authd.call(S + "Get", sessions_pb2.GetSessionRequest(session_token=r.session_token),
               sessions_pb2.SessionResponse)
    refused(lambda: authd.call(S + "Get", sessions_pb2.GetSessionRequest(
        session_token=pending.session_token, allow_pending=True), sessions_pb2.SessionResponse),
        grpc.StatusCode.UNAUTHENTICATED)
    assert audit_lines(authd, action="login", outcome="success", reason="webauthn",
                       user=u.id)
    assert audit_lines(authd, action="second_factor", outcome="success", reason="webauthn",
                       user=u.id)
    # The key's last use is recorded.
    creds = authd.call(W + "ListCredentials", webauthn_pb2.ListCredentialsRequest(
        session_token=r.session_token), webauthn_pb2.WebAuthnCredentialList).credentials
    assert creds[0].last_used_at > 0


def test_key_remembers_the_browser(authd):
    cfg = authd.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                     admin_pb2.AuthConfig)
    cfg.two_factor.remember_browser_days = 30
    authd.call("/authd.v1.Admin/PutAuthConfig", cfg, admin_pb2.AuthConfig)
    u, auth, cred = user_with_key(authd, "remember@example.com")
    pending = login(authd, "remember@example.com").session_token
    c = begin(authd, pending)
    r = finish(authd, c.ceremony_id, auth.get(c.options_json, ORIGIN), pending, remember=True)
    assert r.device_token
    # The remembered browser skips the key at the next password sign-in.
    again = authd.call(S + "Login", sessions_pb2.LoginRequest(
        email="remember@example.com", password=PW, client_ip="127.0.0.5",
        device_token=r.device_token), sessions_pb2.SessionResponse)
    assert again.session.authenticated and again.remembered
    # Passwordless has no password step to skip: nothing is remembered.
    c = begin(authd)
    assert not finish(authd, c.ceremony_id, auth.get(c.options_json, ORIGIN),
                      remember=True).device_token


def test_no_key_no_ceremony(authd):
    new_user(authd, "nokey@example.com")
    tok = login(authd, "nokey@example.com").session_token
    secret, _ = enroll_totp(authd, tok)
    pending = login(authd, "nokey@example.com").session_token
    refused(lambda: begin(authd, pending), grpc.StatusCode.FAILED_PRECONDITION)


def test_totp_or_key(authd):
    u = new_user(authd, "both@example.com")
    tok = login(authd, "both@example.com").session_token
    secret, t0 = enroll_totp(authd, tok)
    auth = SoftAuthenticator(backup_eligible=True)  # a synced passkey: swk
    cred = register(authd, tok, auth)  # the session that enrolled TOTP adds a key
    assert cred.kind == "swk"
    r = key_login(authd, "both@example.com", auth)
    assert list(r.session.amr) == ["pwd", "swk", "mfa"]
    r = verify(authd, login(authd, "both@example.com").session_token, oath(secret, t0 + 30))
    assert list(r.session.amr) == ["pwd", "otp"]
    st = authd.call(TF + "Status", twofactor_pb2.StatusRequest(session_token=r.session_token),
                    twofactor_pb2.TwoFactorStatusResponse).user.two_factor
    assert st.enabled and st.totp and st.passkeys == 1


def test_passwordless(authd):
    u, auth, cred = user_with_key(authd, "pk@example.com")
    c = begin(authd)
    opts = json.loads(c.options_json)
    assert opts["allowCredentials"] == [] and opts["userVerification"] == "required"
    r = finish(authd, c.ceremony_id, auth.get(c.options_json, ORIGIN))
    assert r.session.authenticated and r.user.id == u.id
    assert list(r.session.amr) == ["hwk", "mfa"]
    assert audit_lines(authd, action="login", outcome="success", reason="passkey", user=u.id)
    # Without user verification the key alone is not enough.
    c = begin(authd)
    e = refused(lambda: finish(authd, c.ceremony_id, auth.get(c.options_json, ORIGIN, uv=False)),
                grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    assert "verif" in e.details().lower(), e.details()
    # A userHandle naming nobody is refused and counted on the address.
    c = begin(authd)
    refused(lambda: finish(authd, c.ceremony_id, auth.get(
        c.options_json, ORIGIN, user_handle=b"no-such-user")), grpc.StatusCode.UNAUTHENTICATED,
        "key_refused")
    assert audit_lines(authd, action="login", outcome="failure", reason="unknown_key")


def test_passwordless_off(authd):
    u, auth, cred = user_with_key(authd, "off@example.com")
    c = begin(authd)
    configure(authd, passwordless=False)
    resp = auth.get(c.options_json, ORIGIN)
    # AuthConfig is reread within a second (--refresh-ms).
    deadline = time.time() + 10
    while True:
        try:
            begin(authd)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
            break
        assert time.time() < deadline, "passwordless stayed on"
        time.sleep(0.2)
    refused(lambda: finish(authd, c.ceremony_id, resp), grpc.StatusCode.FAILED_PRECONDITION)
    # The key still works after the password.
    assert list(key_login(authd, "off@example.com", auth).session.amr) == ["pwd", "hwk", "mfa"]


def test_ceremony_single_use(authd):
    u, auth, cred = user_with_key(authd, "once@example.com")
    # Passwordless: the same answer twice.
    c = begin(authd)
    resp = auth.get(c.options_json, ORIGIN)
    finish(authd, c.ceremony_id, resp)
    refused(lambda: finish(authd, c.ceremony_id, resp), grpc.StatusCode.UNAUTHENTICATED,
            "key_refused")
    # Second factor: an answer for an earlier login, replayed on a new one.
    pending = login(authd, "once@example.com").session_token
    c = begin(authd, pending)
    old = auth.get(c.options_json, ORIGIN)
    finish(authd, c.ceremony_id, old, pending)
    pending2 = login(authd, "once@example.com").session_token
    refused(lambda: finish(authd, c.ceremony_id, old, pending2), grpc.StatusCode.UNAUTHENTICATED,
            "key_refused")
    # A refused answer spends its ceremony too: the right one after it is refused.
    c = begin(authd, pending2)
    refused(lambda: finish(authd, c.ceremony_id, tamper_signature(
        auth.get(c.options_json, ORIGIN)), pending2), grpc.StatusCode.UNAUTHENTICATED,
        "key_refused")
    refused(lambda: finish(authd, c.ceremony_id, auth.get(c.options_json, ORIGIN), pending2),
            grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    c = begin(authd, pending2)
    assert finish(authd, c.ceremony_id, auth.get(c.options_json, ORIGIN), pending2).session_token


def test_ceremony_of_another_session(authd):
    u, auth, cred = user_with_key(authd, "other@example.com")
    a = login(authd, "other@example.com").session_token
    b = login(authd, "other@example.com").session_token
    c = begin(authd, a)
    refused(lambda: finish(authd, c.ceremony_id, auth.get(c.options_json, ORIGIN), b),
            grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    # A login ceremony is no passwordless one either.
    c = begin(authd, a)
    refused(lambda: finish(authd, c.ceremony_id, auth.get(c.options_json, ORIGIN)),
            grpc.StatusCode.UNAUTHENTICATED, "key_refused")


def test_counter_regression(authd):
    u, auth, cred = user_with_key(authd, "clone@example.com")
    key_login(authd, "clone@example.com", auth)  # counter 1 stored
    key_login(authd, "clone@example.com", auth)  # counter 2 stored
    before = metric(authd, "authd_webauthn_counter_regressions_total")
    auth.set_counter(unb64u(cred.id), 1)  # a clone that signs with an older counter: 2 again
    e = refused(lambda: key_login(authd, "clone@example.com", auth),
                grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    assert "counter" in e.details(), e.details()
    assert audit_lines(authd, action="second_factor", outcome="failure", reason="possible_clone",
                       user=u.id)
    assert metric(authd, "authd_webauthn_counter_regressions_total") == before + 1
    # The genuine key, ahead of it, still signs in.
    auth.set_counter(unb64u(cred.id), 10)
    key_login(authd, "clone@example.com", auth)


def small_lockout(authd):
    rule = {"freeFailures": 2, "firstWait": LONG_LOCK, "maxWait": 4 * LONG_LOCK,
            "window": 4 * LONG_LOCK}
    set_lockout(authd, secondFactor={"account": rule})


def locked_after_failures(authd, user_id, attempt):
    for _ in range(6):
        try:
            attempt()
        except grpc.RpcError as e:
            if grpc_reason(e) == "locked":
                break
        if lockout_set(authd, user=user_id, reason="second_factor"):
            break
    assert lockout_set(authd, user=user_id, reason="second_factor")


def test_wrong_codes_lock_keys(authd):
    small_lockout(authd)
    u, auth, cred = user_with_key(authd, "codes@example.com")
    tok = key_login(authd, "codes@example.com", auth, ip="127.0.0.21").session_token
    secret, t0 = enroll_totp(authd, tok)
    pending = login(authd, "codes@example.com", "127.0.0.21").session_token
    wrong = "000000" if oath(secret, time.time()) != "000000" else "111111"
    locked_after_failures(authd, u.id, lambda: verify(authd, pending, wrong, "127.0.0.21"))
    c = begin(authd, pending)
    refused(lambda: finish(authd, c.ceremony_id, auth.get(c.options_json, ORIGIN), pending,
                           "127.0.0.21"), grpc.StatusCode.RESOURCE_EXHAUSTED, "locked")
    # Passwordless too: the same user's lock.
    c = begin(authd)
    refused(lambda: finish(authd, c.ceremony_id, auth.get(c.options_json, ORIGIN), "",
                           "127.0.0.21"), grpc.StatusCode.RESOURCE_EXHAUSTED, "locked")


def test_wrong_keys_lock_codes(authd):
    small_lockout(authd)
    u, auth, cred = user_with_key(authd, "keys@example.com")
    tok = key_login(authd, "keys@example.com", auth, ip="127.0.0.22").session_token
    secret, t0 = enroll_totp(authd, tok)
    pending = login(authd, "keys@example.com", "127.0.0.22").session_token

    def wrong_key():
        c = begin(authd, pending)
        finish(authd, c.ceremony_id, tamper_signature(auth.get(c.options_json, ORIGIN)),
               pending, "127.0.0.22")
    locked_after_failures(authd, u.id, wrong_key)
    assert audit_lines(authd, action="second_factor", outcome="failure", reason="key_refused",
                       user=u.id)
    refused(lambda: verify(authd, pending, oath(secret, time.time() + 30), "127.0.0.22"),
            grpc.StatusCode.RESOURCE_EXHAUSTED, "locked")


def test_disable_with_a_step_up(authd):
    u, auth, cred = user_with_key(authd, "stepup@example.com")
    tok = key_login(authd, "stepup@example.com", auth).session_token
    c = begin(authd, tok)
    assert [d["id"] for d in json.loads(c.options_json)["allowCredentials"]] == [cred.id]
    # The step-up answer is no login second factor, and the reverse.
    pending = login(authd, "stepup@example.com").session_token
    refused(lambda: finish(authd, c.ceremony_id, auth.get(c.options_json, ORIGIN), pending),
            grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    c = begin(authd, tok)
    r = authd.call(TF + "Disable", twofactor_pb2.SecondFactorRequest(
        session_token=tok, ceremony_id=c.ceremony_id,
        credential_json=auth.get(c.options_json, ORIGIN), client_ip="127.0.0.5"),
        users_pb2.UserResponse)
    assert not r.user.two_factor.enabled and r.user.two_factor.passkeys == 0
    creds = authd.call(W + "ListCredentials", webauthn_pb2.ListCredentialsRequest(
        session_token=tok), webauthn_pb2.WebAuthnCredentialList).credentials
    assert list(creds) == []
    # 2FA off: the password alone signs in, and the key no longer does.
    assert login(authd, "stepup@example.com").session.authenticated
    c = begin(authd)
    refused(lambda: finish(authd, c.ceremony_id, auth.get(c.options_json, ORIGIN)),
            grpc.StatusCode.UNAUTHENTICATED)


def test_regenerate_with_a_step_up(authd):
    u, auth, cred = user_with_key(authd, "regen@example.com")
    tok = key_login(authd, "regen@example.com", auth).session_token
    c = begin(authd, tok)
    r = authd.call(TF + "RegenerateRecoveryCodes", twofactor_pb2.SecondFactorRequest(
        session_token=tok, ceremony_id=c.ceremony_id,
        credential_json=auth.get(c.options_json, ORIGIN), client_ip="127.0.0.5"),
        twofactor_pb2.RecoveryCodesResponse)
    assert len(r.recovery_codes) == 10


def claims(jwt):
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def id_token(authd, session_token, acr_values=""):
    a = authd.call(O + "Authorize", oauth_pb2.AuthorizeRequest(
        session_token=session_token, max_age=-1,
        params=common_pb2.ClientContext(client_id=APP, response_type="code",
                                        redirect_uri=APP_CB, scope="openid", state="st",
                                        nonce="n-key", acr_values=acr_values)),
        oauth_pb2.AuthorizeResponse)
    if a.next != oauth_pb2.AuthorizeResponse.REDIRECT or a.error:
        return a
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(a.redirect_url).query))["code"]
    t = authd.call(O + "Token", oauth_pb2.OAuthTokenRequest(
        grant_type="authorization_code", client_id=APP, client_secret=APP_SECRET, code=code,
        redirect_uri=APP_CB, client_ip="127.0.0.5"), oauth_pb2.OAuthTokenResponse)
    return claims(t.id_token)


def test_oauth_acr_and_amr(authd):
    authd.call("/authd.v1.ClientAdmin/Put", oauth_pb2.Client(
        id=APP, secret=APP_SECRET, first_party=True, grant_types=["authorization_code"],
        scope=["openid"], auth=oauth_pb2.ClientAuth(
            authorization_code=oauth_pb2.GrantSettings(redirect_uri=APP_CB))),
        oauth_pb2.ClientResponse)
    u, auth, cred = user_with_key(authd, "oidc@example.com")
    tok = key_login(authd, "oidc@example.com", auth).session_token
    c = id_token(authd, tok)
    assert c["sub"] == u.id and c["amr"] == ["pwd", "hwk", "mfa"] and c["acr"] == "phrh"
    c = id_token(authd, tok, acr_values="phr")
    assert c["acr"] == "phr"
    # Passwordless with a synced passkey: swk, phr; phrh is not met by it.
    u2, auth2, cred2 = user_with_key(authd, "oidc2@example.com", backup_eligible=True)
    cer = begin(authd)
    tok2 = finish(authd, cer.ceremony_id, auth2.get(cer.options_json, ORIGIN)).session_token
    c = id_token(authd, tok2)
    assert c["amr"] == ["swk", "mfa"] and c["acr"] == "phr"
    a = id_token(authd, tok2, acr_values="phrh")
    assert a.next == oauth_pb2.AuthorizeResponse.LOGIN and a.auth_after
    # A password and TOTP session has no acr, and acr_values=phr asks it to sign in again.
    new_user(authd, "pwd@example.com")
    tok3 = login(authd, "pwd@example.com").session_token
    assert "acr" not in id_token(authd, tok3)
    assert id_token(authd, tok3, acr_values="phr").next == oauth_pb2.AuthorizeResponse.LOGIN
