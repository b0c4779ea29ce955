# SPDX-License-Identifier: Apache-2.0
"""TOTP two-factor authentication over authd's RPCs, with oathtool (a real authenticator
implementation nobody here wrote) computing the codes."""
import concurrent.futures
import glob
import os
import subprocess
import time
import urllib.parse

import grpc
import pytest

from conftest import (AUTHD, LONG_LOCK, Authd, FAST_ARGON2, admin_pb2, common_pb2, grpc_reason,
                      grpc_trailer, lockout_set, long_locks, sessions_pb2, set_lockout, signup_pb2,
                      users_pb2, when_unlocked)

from authd.v1 import twofactor_pb2  # noqa: E402

U = "/authd.v1.Users/"
S = "/authd.v1.Sessions/"
TF = "/authd.v1.TwoFactor/"
PR = "/authd.v1.PasswordReset/"
PW = "correct horse battery"


def oath(secret, at=None, alg="sha1", digits=6, period=30):
    args = ["oathtool", f"--totp={alg}", "-d", str(digits), "-s", f"{period}s", "-b", secret]
    if at is not None:
        args += ["--now", f"@{int(at)}"]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()


def step_time(k=0, period=30):
    """A unix time inside the current step + k."""
    return (int(time.time()) // period + k) * period + 1


def err(fn, code, reason):
    with pytest.raises(grpc.RpcError) as ei:
        fn()
    assert ei.value.code() == code, (ei.value.code(), ei.value.details())
    assert grpc_reason(ei.value) == reason, (grpc_reason(ei.value), ei.value.details())
    return ei.value


def new_user(authd, email):
    return authd.call(U + "Create", users_pb2.CreateUserRequest(email=email, password=PW),
                      users_pb2.UserResponse).user


def login(authd, email, ip="127.0.0.5"):
    return authd.call(S + "Login", sessions_pb2.LoginRequest(email=email, password=PW,
                                                             client_ip=ip),
                      sessions_pb2.SessionResponse)


def enroll(authd, email, transport=""):
    """Creates a user, enables 2FA; returns (user, secret, recovery codes, last step used)."""
    u = new_user(authd, email)
    tok = login(authd, email).session_token
    b = authd.call(TF + "BeginEnrollment", twofactor_pb2.BeginEnrollmentRequest(
        session_token=tok, transport=transport), twofactor_pb2.BeginEnrollmentResponse)
    t = step_time(0)
    c = authd.call(TF + "ConfirmEnrollment", twofactor_pb2.ConfirmEnrollmentRequest(
        session_token=tok, code=oath(b.secret, t)), twofactor_pb2.RecoveryCodesResponse)
    return u, b.secret, list(c.recovery_codes), tok


def verify(authd, pending_token, code="", recovery="", ip="127.0.0.5"):
    return authd.call(S + "VerifySecondFactor", sessions_pb2.VerifySecondFactorRequest(
        session_token=pending_token, code=code, recovery_code=recovery, client_ip=ip),
        sessions_pb2.SessionResponse)


def get_session(authd, token, allow_pending=False):
    return authd.call(S + "Get", sessions_pb2.GetSessionRequest(session_token=token,
                                                                allow_pending=allow_pending),
                      sessions_pb2.SessionResponse)


def test_enrolment_uri_and_status(authd):
    new_user(authd, "ann@example.com")
    tok = login(authd, "ann@example.com").session_token
    b = authd.call(TF + "BeginEnrollment", twofactor_pb2.BeginEnrollmentRequest(session_token=tok),
                   twofactor_pb2.BeginEnrollmentResponse)
    assert len(b.secret) == 32  # 160 bits in base32
    uri = urllib.parse.urlparse(b.uri)
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    assert urllib.parse.unquote(uri.path) == "/authd:ann@example.com"
    q = dict(urllib.parse.parse_qsl(uri.query))
    assert q == {"secret": b.secret, "issuer": "authd"}
    assert (b.algorithm, b.digits, b.period) == ("SHA1", 6, 30)
    st = authd.call(TF + "Status", twofactor_pb2.StatusRequest(session_token=tok),
                    twofactor_pb2.TwoFactorStatusResponse)
    assert st.pending and not st.user.two_factor.enabled
    # Beginning again replaces the pending secret: the first one no longer confirms.
    b2 = authd.call(TF + "BeginEnrollment", twofactor_pb2.BeginEnrollmentRequest(
        session_token=tok), twofactor_pb2.BeginEnrollmentResponse)
    assert b2.secret != b.secret
    err(lambda: authd.call(TF + "ConfirmEnrollment", twofactor_pb2.ConfirmEnrollmentRequest(
        session_token=tok, code=oath(b.secret)), twofactor_pb2.RecoveryCodesResponse),
        grpc.StatusCode.UNAUTHENTICATED, "wrong_token")
    c = authd.call(TF + "ConfirmEnrollment", twofactor_pb2.ConfirmEnrollmentRequest(
        session_token=tok, code=oath(b2.secret)), twofactor_pb2.RecoveryCodesResponse)
    assert len(c.recovery_codes) == 10 and len(set(c.recovery_codes)) == 10
    assert all(len(x) == 19 and x.count("-") == 3 for x in c.recovery_codes)
    assert c.user.two_factor.enabled
    # The user resource shows 2FA on, and never the secret.
    got = authd.call(U + "Get", users_pb2.GetUserRequest(email="ann@example.com"),
                     users_pb2.UserResponse)
    assert got.user.two_factor.enabled
    assert b2.secret not in str(got) and b2.secret.encode() not in got.SerializeToString()
    err(lambda: authd.call(TF + "BeginEnrollment", twofactor_pb2.BeginEnrollmentRequest(
        session_token=tok), twofactor_pb2.BeginEnrollmentResponse),
        grpc.StatusCode.FAILED_PRECONDITION, "already_enabled")


def test_confirm_without_begin_and_unauthenticated(authd):
    new_user(authd, "bea@example.com")
    tok = login(authd, "bea@example.com").session_token
    err(lambda: authd.call(TF + "ConfirmEnrollment", twofactor_pb2.ConfirmEnrollmentRequest(
        session_token=tok, code="123456"), twofactor_pb2.RecoveryCodesResponse),
        grpc.StatusCode.FAILED_PRECONDITION, "not_requested")
    err(lambda: authd.call(TF + "BeginEnrollment", twofactor_pb2.BeginEnrollmentRequest(
        session_token="nope"), twofactor_pb2.BeginEnrollmentResponse),
        grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")


def test_login_with_totp_and_no_replay(authd):
    _, secret, _, _ = enroll(authd, "cal@example.com")
    p = login(authd, "cal@example.com")
    assert not p.session.authenticated
    assert p.session.expires_at - p.session.created_at <= 600
    # A pending session is good for nothing but the second step.
    err(lambda: get_session(authd, p.session_token), grpc.StatusCode.UNAUTHENTICATED,
        "unauthenticated")
    assert not get_session(authd, p.session_token, allow_pending=True).session.authenticated
    err(lambda: authd.call(TF + "Status", twofactor_pb2.StatusRequest(
        session_token=p.session_token), twofactor_pb2.TwoFactorStatusResponse),
        grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")
    # The enrolment used the current step: that code is spent. The next step's code passes.
    err(lambda: verify(authd, p.session_token, oath(secret, step_time(0))),
        grpc.StatusCode.UNAUTHENTICATED, "wrong_token")
    code = oath(secret, step_time(1))
    ok = verify(authd, p.session_token, code)
    assert ok.session.authenticated and list(ok.session.amr) == ["pwd", "otp"]
    assert ok.session_token != p.session_token
    assert get_session(authd, ok.session_token).user.email == "cal@example.com"
    # The pending token is gone (no fixation), and the same code never passes again.
    err(lambda: get_session(authd, p.session_token, allow_pending=True),
        grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")
    p2 = login(authd, "cal@example.com")
    err(lambda: verify(authd, p2.session_token, code), grpc.StatusCode.UNAUTHENTICATED,
        "wrong_token")


def test_window(authd):
    _, secret, _, _ = enroll(authd, "dan@example.com")
    p = login(authd, "dan@example.com")
    for k in (-2, 2):  # validPastTokensCount = 1 by default; one future step
        err(lambda: verify(authd, p.session_token, oath(secret, step_time(k))),
            grpc.StatusCode.UNAUTHENTICATED, "wrong_token")
    for bad in ["", "12345", "1234567", "abcdef", "12 456"]:
        with pytest.raises(grpc.RpcError):
            verify(authd, p.session_token, bad)


def test_concurrent_use_of_one_code_passes_once(authd):
    _, secret, _, _ = enroll(authd, "eli@example.com")
    pend = [login(authd, "eli@example.com", ip=f"10.9.0.{i}").session_token for i in range(4)]
    code = oath(secret, step_time(1))

    def go(tok):
        try:
            verify(authd, tok, code)
            return "ok"
        except grpc.RpcError as e:
            return grpc_reason(e)

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        results = list(ex.map(go, pend))
    assert results.count("ok") == 1, results
    assert results.count("wrong_token") == 3, results


def test_code_lockout_is_separate_from_passwords(authd):
    long_locks(authd)  # the lock must still be there however slow the six failures were
    _, secret, _, _ = enroll(authd, "fay@example.com")
    p = login(authd, "fay@example.com")
    for i in range(6):  # 5 free failures, then a lock
        err(lambda: verify(authd, p.session_token, "000000" if i % 2 else "999999", ip="10.8.0.1"),
            grpc.StatusCode.UNAUTHENTICATED, "wrong_token")
    e = err(lambda: verify(authd, p.session_token, oath(secret, step_time(1)), ip="10.8.0.2"),
            grpc.StatusCode.RESOURCE_EXHAUSTED, "locked")
    assert int(grpc_trailer(e, "authd-retry-after") or 0) > LONG_LOCK // 2, e.trailing_metadata()
    # The password counter is untouched: the password step still passes.
    assert not login(authd, "fay@example.com").session.authenticated


def test_code_lock_ends(authd):
    # A short lock, proven by its audit event and waited out (never raced).
    set_lockout(authd, secondFactor={"account": {"firstWait": 2}})
    u, secret, _, _ = enroll(authd, "fay@example.com")
    p = login(authd, "fay@example.com")
    for i in range(6):
        err(lambda: verify(authd, p.session_token, "000000" if i % 2 else "999999", ip="10.8.0.1"),
            grpc.StatusCode.UNAUTHENTICATED, "wrong_token")
    assert lockout_set(authd, user=u.id, reason="second_factor"), authd.log_text()
    ok = when_unlocked(lambda: verify(authd, p.session_token, oath(secret, step_time(1))))
    assert ok.session.authenticated


def test_recovery_codes(authd):
    _, secret, codes, tok = enroll(authd, "gil@example.com")
    p = login(authd, "gil@example.com")
    ok = verify(authd, p.session_token, recovery=codes[0].upper().replace("-", " "))
    assert list(ok.session.amr) == ["pwd", "mfa"]
    p2 = login(authd, "gil@example.com")
    err(lambda: verify(authd, p2.session_token, recovery=codes[0]),
        grpc.StatusCode.UNAUTHENTICATED, "wrong_token")
    st = authd.call(TF + "Status", twofactor_pb2.StatusRequest(session_token=ok.session_token),
                    twofactor_pb2.TwoFactorStatusResponse)
    assert st.recovery_codes_left == 9
    # Regenerating needs a code, and voids the old codes.
    err(lambda: authd.call(TF + "RegenerateRecoveryCodes", twofactor_pb2.SecondFactorRequest(
        session_token=ok.session_token, code="000000"), twofactor_pb2.RecoveryCodesResponse),
        grpc.StatusCode.UNAUTHENTICATED, "wrong_token")
    new = authd.call(TF + "RegenerateRecoveryCodes", twofactor_pb2.SecondFactorRequest(
        session_token=ok.session_token, recovery_code=codes[1]), twofactor_pb2.RecoveryCodesResponse)
    assert len(new.recovery_codes) == 10 and not set(new.recovery_codes) & set(codes)
    err(lambda: verify(authd, p2.session_token, recovery=codes[2]),
        grpc.StatusCode.UNAUTHENTICATED, "wrong_token")
    assert verify(authd, p2.session_token, recovery=new.recovery_codes[5]).session.authenticated


def test_disable_and_admin_reset(authd):
    u, secret, codes, tok = enroll(authd, "hal@example.com")
    err(lambda: authd.call(TF + "Disable", twofactor_pb2.SecondFactorRequest(
        session_token=tok), users_pb2.UserResponse),
        grpc.StatusCode.UNAUTHENTICATED, "second_factor_required")
    d = authd.call(TF + "Disable", twofactor_pb2.SecondFactorRequest(
        session_token=tok, code=oath(secret, step_time(1))), users_pb2.UserResponse)
    assert not d.user.two_factor.enabled
    assert login(authd, "hal@example.com").session.authenticated
    err(lambda: authd.call(TF + "Disable", twofactor_pb2.SecondFactorRequest(
        session_token=tok, code="123456"), users_pb2.UserResponse),
        grpc.StatusCode.FAILED_PRECONDITION, "not_enabled")
    # Admin reset (lost device).
    u2, _, _, _ = enroll(authd, "ida@example.com")
    r = authd.call(U + "ResetTwoFactor", users_pb2.ResetTwoFactorRequest(id=u2.id),
                   users_pb2.UserResponse)
    assert not r.user.two_factor.enabled
    assert login(authd, "ida@example.com").session.authenticated


def test_delivery_code(authd):
    # Who may ask (the edge role only) is proven by test_roles.py; here, what it answers.
    _, secret, _, _ = enroll(authd, "jon@example.com", transport="sms")
    p = login(authd, "jon@example.com")
    req = twofactor_pb2.DeliveryCodeRequest(session_token=p.session_token)
    d = authd.call(TF + "IssueDeliveryCode", req, twofactor_pb2.DeliveryCodeResponse)
    assert d.transport == "sms" and d.user.email == "jon@example.com" and len(d.code) == 6
    assert d.code in (oath(secret, step_time(0)), oath(secret, step_time(1)))
    # A user without a transport gets no delivery.
    enroll(authd, "kim@example.com")
    p2 = login(authd, "kim@example.com")
    err(lambda: authd.call(TF + "IssueDeliveryCode", twofactor_pb2.DeliveryCodeRequest(
        session_token=p2.session_token), twofactor_pb2.DeliveryCodeResponse),
        grpc.StatusCode.FAILED_PRECONDITION, "not_requested")


def test_admin_sets_transport_and_turns_two_factor_off_with_update(authd):
    """Users.Update carries Aidbox's User.twoFactor: a transport for a user with 2FA moves the
    delivery code to it (and back to the app with ""); enabled false is a reset; enabled true
    and a transport for a user without 2FA are NOT_ENABLED; a bad name INVALID_ARGUMENT."""
    u, secret, _, _ = enroll(authd, "lea@example.com")

    def update(**kw):
        return authd.call(U + "Update", users_pb2.UpdateUserRequest(id=u.id, **kw),
                          users_pb2.UserResponse).user

    def transport(v):
        return common_pb2.StringValue(value=v)

    for bad in ["s m s", "x" * 33, "sms\n", "<b>"]:
        err(lambda: update(two_factor_transport=transport(bad)),
            grpc.StatusCode.INVALID_ARGUMENT, "invalid_request")
    got = update(two_factor_transport=transport("voice"))
    assert got.two_factor.enabled and got.two_factor.transport == "voice"
    d = authd.call(TF + "IssueDeliveryCode", twofactor_pb2.DeliveryCodeRequest(
        session_token=login(authd, "lea@example.com").session_token),
        twofactor_pb2.DeliveryCodeResponse)
    assert d.transport == "voice" and d.code in (oath(secret, step_time(0)),
                                                  oath(secret, step_time(1)))
    # enabled true for a user who has it changes nothing.
    assert update(two_factor_enabled=common_pb2.BoolValue(value=True)).two_factor.enabled
    got = update(two_factor_transport=transport(""))
    assert got.two_factor.enabled and got.two_factor.transport == ""
    err(lambda: authd.call(TF + "IssueDeliveryCode", twofactor_pb2.DeliveryCodeRequest(
        session_token=login(authd, "lea@example.com").session_token),
        twofactor_pb2.DeliveryCodeResponse),
        grpc.StatusCode.FAILED_PRECONDITION, "not_requested")

    got = update(two_factor_enabled=common_pb2.BoolValue(value=False))
    assert not got.two_factor.enabled
    assert login(authd, "lea@example.com").session.authenticated
    err(lambda: update(two_factor_enabled=common_pb2.BoolValue(value=True)),
        grpc.StatusCode.FAILED_PRECONDITION, "not_enabled")
    err(lambda: update(two_factor_transport=transport("sms")),
        grpc.StatusCode.FAILED_PRECONDITION, "not_enabled")
    # "" for a user without 2FA is no change; a missing user is NOT_FOUND.
    assert not update(two_factor_transport=transport("")).two_factor.enabled
    err(lambda: authd.call(U + "Update", users_pb2.UpdateUserRequest(
        id="no-such-user", two_factor_transport=transport("sms")), users_pb2.UserResponse),
        grpc.StatusCode.NOT_FOUND, "not_found")


def test_password_reset_keeps_2fa_and_needs_a_code(authd):
    _, secret, codes, _ = enroll(authd, "lea@example.com")
    st = authd.call(PR + "Start", signup_pb2.StartResetRequest(email="lea@example.com"),
                    signup_pb2.StartResetResponse)
    g = authd.call(PR + "Get", signup_pb2.TokenRequest(token=st.token), signup_pb2.GetResetResponse)
    assert g.second_factor_required
    err(lambda: authd.call(PR + "Complete", signup_pb2.CompleteResetRequest(
        token=st.token, password="a new password 1"), signup_pb2.CompleteResetResponse),
        grpc.StatusCode.UNAUTHENTICATED, "second_factor_required")
    err(lambda: authd.call(PR + "Complete", signup_pb2.CompleteResetRequest(
        token=st.token, password="a new password 1", code="000000"),
        signup_pb2.CompleteResetResponse), grpc.StatusCode.UNAUTHENTICATED, "wrong_token")
    done = authd.call(PR + "Complete", signup_pb2.CompleteResetRequest(
        token=st.token, password="a new password 1", recovery_code=codes[3]),
        signup_pb2.CompleteResetResponse)
    assert done.user.two_factor.enabled
    p = authd.call(S + "Login", sessions_pb2.LoginRequest(email="lea@example.com",
                                                          password="a new password 1"),
                   sessions_pb2.SessionResponse)
    assert not p.session.authenticated


def test_configurable_algorithm_digits_period(authd):
    authd.call("/authd.v1.Admin/PutAuthConfig", admin_pb2.AuthConfig(
        id="app", two_factor=admin_pb2.TwoFactorConfig(
            issuer_name="Acme Co", valid_past_tokens_count=1, algorithm="SHA256", digits=8,
            period=60)), admin_pb2.AuthConfig)
    new_user(authd, "max@example.com")
    tok = login(authd, "max@example.com").session_token
    b = authd.call(TF + "BeginEnrollment", twofactor_pb2.BeginEnrollmentRequest(session_token=tok),
                   twofactor_pb2.BeginEnrollmentResponse)
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(b.uri).query))
    assert q["algorithm"] == "SHA256" and q["digits"] == "8" and q["period"] == "60"
    assert q["issuer"] == "Acme Co" and b.uri.startswith("otpauth://totp/Acme%20Co:max%40example.com?")
    code = oath(b.secret, alg="sha256", digits=8, period=60)
    assert len(code) == 8
    authd.call(TF + "ConfirmEnrollment", twofactor_pb2.ConfirmEnrollmentRequest(
        session_token=tok, code=code), twofactor_pb2.RecoveryCodesResponse)
    bad = admin_pb2.AuthConfig(id="app", two_factor=admin_pb2.TwoFactorConfig(algorithm="MD5"))
    err(lambda: authd.call("/authd.v1.Admin/PutAuthConfig", bad, admin_pb2.AuthConfig),
        grpc.StatusCode.INVALID_ARGUMENT, "invalid_request")


@pytest.mark.skipif(os.environ.get("AUTHD_TEST_STORE") == "postgres",
                    reason="reads RocksDB's files and the development key beside its directory")
def test_secret_encrypted_at_rest_and_key_handling(tmpdir_path):
    import base64
    a = Authd(tmpdir_path, FAST_ARGON2)
    try:
        _, secret, _, _ = enroll(a, "ned@example.com")
    finally:
        a.stop()
    raw = base64.b32decode(secret + "=" * (-len(secret) % 8))
    for path in glob.glob(os.path.join(a.data, "**"), recursive=True):
        if os.path.isfile(path):
            with open(path, "rb") as f:
                blob = f.read()
            assert raw not in blob and secret.encode() not in blob, path
    # The development key lives beside the data directory, never inside it.
    assert os.path.exists(a.data + ".dev-totp.key")
    assert "development_totp_key" in a.log_text()
    # Production mode refuses to start without a key.
    p = subprocess.run([AUTHD, "--listen", "127.0.0.1:0", "--data-dir", a.data, "--production"],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode != 0 and "TOTP key" in p.stderr
    # Under another key the stored secret does not open: codes fail, nothing passes by accident.
    key_file = os.path.join(tmpdir_path, "other.key")
    with open(key_file, "w") as f:
        f.write("11" * 32 + "\n")
    # (--production gives anonymous callers no role: this test calls as one, so it says so.)
    b = Authd(tmpdir_path, FAST_ARGON2 + ["--totp-key-file", key_file, "--production",
                                          "--anonymous-roles", "edge,admin,service"])
    try:
        p = login(b, "ned@example.com")
        with pytest.raises(grpc.RpcError) as ei:
            verify(b, p.session_token, oath(secret, step_time(1)))
        assert ei.value.code() == grpc.StatusCode.INTERNAL
        assert "totp_secret_unreadable" in b.log_text()
    finally:
        b.stop()


def test_code_deliveries_are_rate_limited(authd):
    long_locks(authd)
    enroll(authd, "otto@example.com", transport="sms")
    p = login(authd, "otto@example.com")
    req = twofactor_pb2.DeliveryCodeRequest(session_token=p.session_token)
    for _ in range(5):  # the enrolment sent one already; 5 free, the 6th earns a lock
        authd.call(TF + "IssueDeliveryCode", req, twofactor_pb2.DeliveryCodeResponse)
    e = err(lambda: authd.call(TF + "IssueDeliveryCode", req, twofactor_pb2.DeliveryCodeResponse),
            grpc.StatusCode.RESOURCE_EXHAUSTED, "locked")
    assert int(grpc_trailer(e, "authd-retry-after") or 0) > 0, e.trailing_metadata()


def test_enrolment_deliveries_are_rate_limited_and_say_when(authd):
    # Each enrolment by transport sends a code (an SMS costs money): the same per-user limit,
    # and its refusal names the wait like every other lock.
    long_locks(authd)
    new_user(authd, "pia@example.com")
    tok = login(authd, "pia@example.com").session_token
    req = twofactor_pb2.BeginEnrollmentRequest(session_token=tok, transport="sms")
    for _ in range(6):  # 5 free, the 6th is sent and earns the lock
        authd.call(TF + "BeginEnrollment", req, twofactor_pb2.BeginEnrollmentResponse)
    e = err(lambda: authd.call(TF + "BeginEnrollment", req, twofactor_pb2.BeginEnrollmentResponse),
            grpc.StatusCode.RESOURCE_EXHAUSTED, "locked")
    assert int(grpc_trailer(e, "authd-retry-after") or 0) > LONG_LOCK // 2, e.trailing_metadata()

