# SPDX-License-Identifier: Apache-2.0
"""Remembered browsers ("Don't ask again on this browser for N days", authd/device.h): over
authd's RPCs (Sessions.Login's device_token, VerifySecondFactor's remember_browser, TwoFactor's
ListDevices/ForgetDevice, Users' ListDevices/RevokeDevices), through the edge as a browser does
it (the checkbox, the cookie, the settings page, signing out everywhere), and with authctl.
Runs on RocksDB, and on PostgreSQL with AUTHD_TEST_STORE=postgres."""
import re
import subprocess
import time

import grpc
import pytest

from conftest import (AUTHCTL, long_locks, Authd, Edge, FAST_ARGON2, admin_pb2, common_pb2, csrf_of,
                      grpc_reason, new_session, sessions_pb2, signup_pb2, users_pb2)
from authd.v1 import twofactor_pb2  # noqa: E402
from test_twofactor_rpc import enroll, err, oath, step_time

U = "/authd.v1.Users/"
S = "/authd.v1.Sessions/"
TF = "/authd.v1.TwoFactor/"
PR = "/authd.v1.PasswordReset/"
PW = "correct horse battery"
UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0.0.0 Safari/537.36")


def set_days(authd, days):
    cfg = authd.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                     admin_pb2.AuthConfig)
    cfg.two_factor.remember_browser_days = days
    authd.call("/authd.v1.Admin/PutAuthConfig", cfg, admin_pb2.AuthConfig)


def login(authd, email, device="", password=PW):
    return authd.call(S + "Login", sessions_pb2.LoginRequest(
        email=email, password=password, client_ip="127.0.0.7", device_token=device),
        sessions_pb2.SessionResponse)


def verify(authd, pending, code="", remember=True, recovery=""):
    return authd.call(S + "VerifySecondFactor", sessions_pb2.VerifySecondFactorRequest(
        session_token=pending, code=code, recovery_code=recovery, client_ip="127.0.0.7",
        user_agent=UA, remember_browser=remember), sessions_pb2.SessionResponse)


def remembered(authd, email):
    """A user with 2FA whose browser was remembered at a login: (user, secret, recovery codes,
    device token, the authenticated session token)."""
    u, secret, codes, _ = enroll(authd, email)
    p = login(authd, email)
    assert not p.session.authenticated
    ok = verify(authd, p.session_token, oath(secret, step_time(1)))
    assert ok.session.authenticated and ok.device_token, ok
    CODES[email] = codes
    return u, secret, codes, ok.device_token, ok.session_token


def skips(authd, email, device):
    """1 when a login with the right password and this device token skips the second factor."""
    r = login(authd, email, device)
    if r.session.authenticated:
        assert r.remembered and list(r.session.amr) == ["pwd", "mfa"], r
        return True
    assert not r.remembered
    return False


def my_devices(authd, session_token):
    return list(authd.call(TF + "ListDevices", twofactor_pb2.StatusRequest(
        session_token=session_token), common_pb2.DeviceList).devices)


def admin_devices(authd, uid):
    return list(authd.call(U + "ListDevices", users_pb2.ListUserDevicesRequest(id=uid),
                           common_pb2.DeviceList).devices)


def test_off_by_default(authd):
    u, secret, _, _ = enroll(authd, "off@example.com")
    p = login(authd, "off@example.com")
    ok = verify(authd, p.session_token, oath(secret, step_time(1)))
    assert ok.session.authenticated and ok.device_token == ""
    assert admin_devices(authd, u.id) == []
    # rememberBrowserDays outside 0..365 is refused.
    cfg = authd.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                     admin_pb2.AuthConfig)
    cfg.two_factor.remember_browser_days = 366
    err(lambda: authd.call("/authd.v1.Admin/PutAuthConfig", cfg, admin_pb2.AuthConfig),
        grpc.StatusCode.INVALID_ARGUMENT, "invalid_request")


def test_skip_within_the_days_and_listed(authd):
    set_days(authd, 30)
    u, _, _, dev, sess = remembered(authd, "amy@example.com")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}", dev)
    before = time.time()
    assert skips(authd, "amy@example.com", dev)
    # The device as the user and the administrator see it: labelled, dated, never the token.
    mine = my_devices(authd, sess)
    assert len(mine) == 1 and mine == admin_devices(authd, u.id)
    d = mine[0]
    assert d.label == "Chrome on Linux" and d.user_id == u.id and d.id == dev.split(".")[0]
    assert 30 * 86400 - 60 <= d.expires_at - d.created_at <= 30 * 86400
    assert d.last_used_at >= int(before) - 1
    assert dev.split(".")[1] not in str(mine)
    # Without the device token, or with a garbled one, the second factor is asked again.
    assert not skips(authd, "amy@example.com", "")
    assert not skips(authd, "amy@example.com", dev[:-1] + ("A" if dev[-1] != "A" else "B"))
    assert not skips(authd, "amy@example.com", "garbage")


def test_a_stolen_device_token_without_the_password_is_useless(authd):
    set_days(authd, 30)
    dev = remembered(authd, "ben2@example.com")[3]
    err(lambda: login(authd, "ben2@example.com", dev, password="wrong password!"),
        grpc.StatusCode.UNAUTHENTICATED, "invalid_credentials")
    err(lambda: login(authd, "nobody@example.com", dev),
        grpc.StatusCode.UNAUTHENTICATED, "invalid_credentials")
    assert skips(authd, "ben2@example.com", dev)


def test_a_device_of_user_a_does_not_help_user_b(authd):
    set_days(authd, 30)
    dev_a = remembered(authd, "ann@example.com")[3]
    enroll(authd, "bob@example.com")
    assert not skips(authd, "bob@example.com", dev_a)
    # ... and A's device is left as it was, still A's.
    assert skips(authd, "ann@example.com", dev_a)


def test_a_remembered_browser_passes_the_code_lockout_not_the_password_lockout(authd):
    """README: whoever guesses codes has the password but not the browser; the owner's
    remembered browser still gets in, while a login without it meets the code lock. The
    password lockout applies to every login, remembered or not."""
    set_days(authd, 30)
    long_locks(authd)  # the locks must still be there however slow the failures were
    _, secret, _, dev, _ = remembered(authd, "lock@example.com")
    p = login(authd, "lock@example.com")
    for i in range(6):  # 5 free failures, then a lock
        err(lambda: verify(authd, p.session_token, "000000" if i % 2 else "999999",
                           remember=False),
            grpc.StatusCode.UNAUTHENTICATED, "wrong_token")
    p2 = login(authd, "lock@example.com")
    err(lambda: verify(authd, p2.session_token, oath(secret, step_time(2)), remember=False),
        grpc.StatusCode.RESOURCE_EXHAUSTED, "locked")
    assert skips(authd, "lock@example.com", dev)
    for _ in range(6):
        try:
            login(authd, "lock@example.com", dev, password="wrong password!")
        except grpc.RpcError:
            pass
    err(lambda: login(authd, "lock@example.com", dev), grpc.StatusCode.RESOURCE_EXHAUSTED,
        "locked")


def test_user_without_2fa_is_not_affected(authd):
    set_days(authd, 30)
    dev = remembered(authd, "cat@example.com")[3]
    authd.call(U + "Create", users_pb2.CreateUserRequest(email="dan@example.com", password=PW),
               users_pb2.UserResponse)
    r = login(authd, "dan@example.com", dev)
    assert r.session.authenticated and not r.remembered and list(r.session.amr) == ["pwd"]


def test_expiry(tmpdir_path):
    a = Authd(tmpdir_path, FAST_ARGON2 + ["--remember-ttl", "1"])
    try:
        set_days(a, 30)
        u, _, _, dev, sess = remembered(a, "eve@example.com")
        d = my_devices(a, sess)[0]
        assert d.expires_at - d.created_at == 1
        time.sleep(2.2)  # past the 1-second lifetime: nothing races here
        assert not skips(a, "eve@example.com", dev)
        assert my_devices(a, sess) == [] and admin_devices(a, u.id) == []
    finally:
        a.stop()


def test_revoked_when_the_password_changes(authd):
    set_days(authd, 30)
    dev, sess = remembered(authd, "fay@example.com")[3:]
    authd.call(S + "ChangePassword", sessions_pb2.ChangePasswordRequest(
        session_token=sess, current_password=PW, new_password=PW + " 2"), common_pb2.Empty)
    assert not skips_with(authd, "fay@example.com", dev, PW + " 2")


def skips_with(authd, email, dev, password):
    r = login(authd, email, dev, password=password)
    return r.session.authenticated


def test_revoked_by_a_password_reset(authd):
    set_days(authd, 30)
    _, _, codes, dev, _ = remembered(authd, "gus@example.com")
    st = authd.call(PR + "Start", signup_pb2.StartResetRequest(email="gus@example.com"),
                    signup_pb2.StartResetResponse)
    authd.call(PR + "Complete", signup_pb2.CompleteResetRequest(
        token=st.token, password=PW + " new", recovery_code=codes[0]),
        signup_pb2.CompleteResetResponse)
    assert not skips_with(authd, "gus@example.com", dev, PW + " new")


def test_revoked_when_2fa_is_turned_off(authd):
    set_days(authd, 30)
    u, secret, codes, dev, sess = remembered(authd, "hal@example.com")
    authd.call(TF + "Disable", twofactor_pb2.SecondFactorRequest(
        session_token=sess, recovery_code=codes[0]), users_pb2.UserResponse)
    assert admin_devices(authd, u.id) == []
    # Turned on again: the old browser is not remembered any more.
    b = authd.call(TF + "BeginEnrollment", twofactor_pb2.BeginEnrollmentRequest(
        session_token=sess), twofactor_pb2.BeginEnrollmentResponse)
    authd.call(TF + "ConfirmEnrollment", twofactor_pb2.ConfirmEnrollmentRequest(
        session_token=sess, code=oath(b.secret, step_time(1))),
        twofactor_pb2.RecoveryCodesResponse)
    assert not skips(authd, "hal@example.com", dev)


def test_revoked_by_an_admin_2fa_reset(authd):
    set_days(authd, 30)
    u, _, _, dev, _ = remembered(authd, "ida@example.com")
    authd.call(U + "ResetTwoFactor", users_pb2.ResetTwoFactorRequest(id=u.id),
               users_pb2.UserResponse)
    assert admin_devices(authd, u.id) == []
    assert not login(authd, "ida@example.com", dev).remembered


def test_revoked_by_signing_out_everywhere(authd):
    set_days(authd, 30)
    u, _, _, dev, sess = remembered(authd, "jon@example.com")
    other = login(authd, "jon@example.com", dev).session_token
    authd.call(S + "Revoke", sessions_pb2.RevokeSessionRequest(session_token=sess,
                                                               everywhere=True), common_pb2.Empty)
    for t in (sess, other):
        err(lambda: authd.call(S + "Get", sessions_pb2.GetSessionRequest(session_token=t),
                               sessions_pb2.SessionResponse),
            grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")
    assert admin_devices(authd, u.id) == []
    assert not skips(authd, "jon@example.com", dev)
    # A plain sign-out ends one session and keeps the remembered browsers.
    dev2, sess2 = remembered_again(authd, "jon@example.com")
    authd.call(S + "Revoke", sessions_pb2.RevokeSessionRequest(session_token=sess2),
               common_pb2.Empty)
    assert skips(authd, "jon@example.com", dev2)



def test_a_pending_session_cannot_sign_out_everywhere(authd):
    """The password alone (a pending session: second factor not given) must not end the owner's
    sessions, offline tokens and remembered browsers; it may only end itself."""
    set_days(authd, 30)
    u, secret, _, dev, sess = remembered(authd, "kim@example.com")
    p = login(authd, "kim@example.com")
    assert not p.session.authenticated
    e = err(lambda: authd.call(S + "Revoke", sessions_pb2.RevokeSessionRequest(
        session_token=p.session_token, everywhere=True), common_pb2.Empty),
        grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")
    assert "signed-in session" in e.details()
    # The owner's session and remembered browser are untouched.
    assert authd.call(S + "Get", sessions_pb2.GetSessionRequest(session_token=sess),
                      sessions_pb2.SessionResponse).session.authenticated
    assert len(admin_devices(authd, u.id)) == 1
    assert skips(authd, "kim@example.com", dev)
    # A plain sign-out of the pending session stays allowed: it ends that session only.
    authd.call(S + "Revoke", sessions_pb2.RevokeSessionRequest(session_token=p.session_token),
               common_pb2.Empty)
    err(lambda: verify(authd, p.session_token, oath(secret, step_time(2))),
        grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")
    assert authd.call(S + "Get", sessions_pb2.GetSessionRequest(session_token=sess),
                      sessions_pb2.SessionResponse).session.authenticated

def remembered_again(authd, email):
    """Remembers another browser of a user remembered() made, with one of its recovery codes
    (the TOTP steps near now are spent)."""
    p = login(authd, email)
    ok = verify(authd, p.session_token, recovery=CODES[email].pop())
    assert ok.session.authenticated and ok.device_token, ok
    return ok.device_token, ok.session_token


CODES = {}  # each remembered() user's recovery codes not used yet


def test_user_forgets_one_or_all(authd):
    set_days(authd, 30)
    u, _, _, dev1, sess = remembered(authd, "kim@example.com")
    dev2, _ = remembered_again(authd, "kim@example.com")
    assert len(my_devices(authd, sess)) == 2
    left = authd.call(TF + "ForgetDevice", twofactor_pb2.ForgetDeviceRequest(
        session_token=sess, device_id=dev1.split(".")[0]), common_pb2.DeviceList)
    assert [d.id for d in left.devices] == [dev2.split(".")[0]]
    assert not skips(authd, "kim@example.com", dev1)
    assert skips(authd, "kim@example.com", dev2)
    # Another user's device id is not theirs to forget: NOT_FOUND, and it stays.
    dev_o = remembered(authd, "lou@example.com")[3]
    err(lambda: authd.call(TF + "ForgetDevice", twofactor_pb2.ForgetDeviceRequest(
        session_token=sess, device_id=dev_o.split(".")[0]), common_pb2.DeviceList),
        grpc.StatusCode.NOT_FOUND, "not_found")
    assert skips(authd, "lou@example.com", dev_o)
    left = authd.call(TF + "ForgetDevice", twofactor_pb2.ForgetDeviceRequest(
        session_token=sess, all=True), common_pb2.DeviceList)
    assert list(left.devices) == []
    assert not skips(authd, "kim@example.com", dev2)


def test_admin_revokes_over_rpc(authd):
    set_days(authd, 30)
    u, _, _, dev1, _ = remembered(authd, "max@example.com")
    dev2, _ = remembered_again(authd, "max@example.com")
    r = authd.call(U + "RevokeDevices", users_pb2.RevokeDevicesRequest(
        device_id=dev1.split(".")[0]), users_pb2.RevokeDevicesResponse)
    assert r.revoked == 1
    assert not skips(authd, "max@example.com", dev1)
    assert skips(authd, "max@example.com", dev2)
    r = authd.call(U + "RevokeDevices", users_pb2.RevokeDevicesRequest(id=u.id),
                   users_pb2.RevokeDevicesResponse)
    assert r.revoked == 1 and admin_devices(authd, u.id) == []
    assert not skips(authd, "max@example.com", dev2)
    e = err(lambda: authd.call(U + "RevokeDevices", users_pb2.RevokeDevicesRequest(
        device_id="nope"), users_pb2.RevokeDevicesResponse), grpc.StatusCode.NOT_FOUND,
        "not_found")
    assert "device nope not found" in e.details()
    err(lambda: authd.call(U + "ListDevices", users_pb2.ListUserDevicesRequest(id="u-404"),
                           common_pb2.DeviceList), grpc.StatusCode.NOT_FOUND, "not_found")


def ctl(authd, *args):
    return subprocess.run([AUTHCTL, "--authd", authd.target] + list(args), capture_output=True,
                          text=True, timeout=30)


def test_authctl_devices(authd):
    set_days(authd, 30)
    u, _, _, dev1, _ = remembered(authd, "ned@example.com")
    dev2, _ = remembered_again(authd, "ned@example.com")
    p = ctl(authd, "user", "devices", "--email", "ned@example.com")
    assert p.returncode == 0, p.stderr
    assert dev1.split(".")[0] in p.stdout and "Chrome on Linux" in p.stdout
    assert dev1.split(".")[1] not in p.stdout
    p = ctl(authd, "device", "revoke", "--id", dev1.split(".")[0])
    assert p.returncode == 0, p.stderr
    assert not skips(authd, "ned@example.com", dev1)
    p = ctl(authd, "-o", "json", "user", "devices", "--id", u.id)
    assert p.returncode == 0 and dev2.split(".")[0] in p.stdout and dev1.split(".")[0] \
        not in p.stdout
    p = ctl(authd, "user", "forget-devices", "--email", "ned@example.com")
    assert p.returncode == 0 and "1 remembered browser forgotten" in p.stdout, p.stdout
    assert not skips(authd, "ned@example.com", dev2)
    assert "no remembered browsers" in ctl(authd, "user", "devices", "--id", u.id).stdout
    # Errors name the thing; help works without authd.
    p = ctl(authd, "device", "revoke", "--id", "d-404")
    assert p.returncode == 1 and "device d-404 not found" in p.stderr, p.stderr
    p = ctl(authd, "user", "devices", "--email", "nobody@example.com")
    assert p.returncode == 1 and "user nobody@example.com not found" in p.stderr, p.stderr
    p = ctl(authd, "device", "revoke")
    assert p.returncode == 2 and "needs --id" in p.stderr
    p = subprocess.run([AUTHCTL, "--authd", "127.0.0.1:1", "device", "--help"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.startswith("usage: authctl device revoke")


# ---- through the edge, as a browser -------------------------------------------------------

def form_post(s, base, page, action, fields):
    data = {"csrf": csrf_of(page)}
    data.update(fields)
    return s.post(base + action, data=data, allow_redirects=False)


def browser_login(edge, s, email, password=PW):
    page = s.get(edge.base + "/auth/login").text
    return form_post(s, edge.base, page, "/auth/login", {"email": email, "password": password})


def test_edge_checkbox_cookie_and_skip(authd, edge):
    u, secret, codes, _ = enroll(authd, "oli@example.com")
    s = new_session()
    s.headers["User-Agent"] = UA
    # Off by default: no checkbox.
    r = browser_login(edge, s, "oli@example.com")
    assert r.headers["Location"].startswith("/auth/two-factor/verify")
    page = s.get(edge.base + "/auth/two-factor/verify").text
    assert 'name="remember"' not in page
    set_days(authd, 7)
    page = wait_page_with(edge, s, "/auth/two-factor/verify", 'name="remember"')
    assert "Don't ask again on this browser for 7 days" in page.replace("&#39;", "'")
    r = form_post(s, edge.base, page, "/auth/two-factor/verify",
                  {"token": oath(secret, step_time(1)), "remember": "1"})
    assert r.status_code == 303, r.text
    cookie = [c for c in r.raw.headers.getlist("Set-Cookie") if c.startswith("asid_device=")]
    assert len(cookie) == 1, r.raw.headers.getlist("Set-Cookie")
    attrs = [a.strip().lower() for a in cookie[0].split(";")]
    assert "httponly" in attrs and "samesite=lax" in attrs and "max-age=604800" in attrs
    assert "secure" not in attrs  # plain http here; over TLS the edge adds Secure
    # Sign out (a plain one keeps the browser remembered), sign in: no code asked.
    page = s.get(edge.base + "/").text
    form_post(s, edge.base, page, "/auth/logout", {})
    r = browser_login(edge, s, "oli@example.com")
    assert r.status_code == 303 and r.headers["Location"] == "/", r.headers.get("Location")
    assert "Signed in as" in s.get(edge.base + "/").text
    # A wrong password with the cookie: refused as ever.
    s.cookies.set("asid", None)
    r = browser_login(edge, s, "oli@example.com", password="wrong password!")
    assert r.status_code in (401, 400), r.status_code
    # Another browser without the cookie is asked for a code.
    s2 = new_session()
    r = browser_login(edge, s2, "oli@example.com")
    assert r.headers["Location"].startswith("/auth/two-factor/verify")


def wait_page_with(edge, s, path, needle, timeout=10.0):
    """The page once it shows needle: the edge's AuthConfig copy follows a change within its
    refresh interval (event: the page itself; bounded, not a timed assertion)."""
    deadline = time.time() + timeout
    while True:
        text = s.get(edge.base + path).text
        if needle in text or time.time() > deadline:
            return text
        time.sleep(0.2)


def test_edge_settings_list_revoke_and_sign_out_everywhere(authd, edge):
    set_days(authd, 7)
    u, secret, codes, _ = enroll(authd, "pia@example.com")
    s = new_session()
    s.headers["User-Agent"] = UA
    browser_login(edge, s, "pia@example.com")
    page = wait_page_with(edge, s, "/auth/two-factor/verify", 'name="remember"')
    r = form_post(s, edge.base, page, "/auth/two-factor/verify",
                  {"token": oath(secret, step_time(1)), "remember": "1"})
    assert r.status_code == 303
    dev = s.cookies.get("asid_device")
    assert dev
    page = s.get(edge.base + "/auth/two-factor").text
    assert "Remembered browsers" in page and "Chrome on Linux" in page
    assert dev.split(".")[0] in page and dev.split(".")[1] not in page
    r = form_post(s, edge.base, page, "/auth/two-factor/devices/forget",
                  {"device_id": dev.split(".")[0]})
    assert r.status_code == 303 and r.headers["Location"] == "/auth/two-factor"
    page = s.get(edge.base + "/auth/two-factor").text
    assert "No browser is remembered" in page
    assert not skips(authd, "pia@example.com", dev)
    # Remember again, then "Sign out everywhere" forgets it and ends the other sessions.
    other = login(authd, "pia@example.com")  # pending elsewhere
    s.cookies.set("asid", None)
    browser_login(edge, s, "pia@example.com")
    page = s.get(edge.base + "/auth/two-factor/verify?recovery=1").text
    r = form_post(s, edge.base, page, "/auth/two-factor/verify",
                  {"recovery_code": codes[0], "remember": "1"})
    assert r.status_code == 303, r.text
    dev2 = s.cookies.get("asid_device")
    assert dev2 and dev2 != dev and skips(authd, "pia@example.com", dev2)
    page = s.get(edge.base + "/").text
    assert "Sign out everywhere" in page
    r = form_post(s, edge.base, page, "/auth/logout", {"everywhere": "1"})
    assert r.status_code == 303
    assert not skips(authd, "pia@example.com", dev2)
    err(lambda: authd.call(S + "Get", sessions_pb2.GetSessionRequest(
        session_token=other.session_token, allow_pending=True), sessions_pb2.SessionResponse),
        grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")
    assert admin_devices(authd, u.id) == []


def test_edge_sign_out_everywhere_needs_a_live_session(authd, edge):
    """"Sign out everywhere" that authd refused (the browser's session pending, or ended
    already) must not say "signed out": it says the session had ended and to sign in first. A
    plain sign-out of such a session still counts as done."""
    set_days(authd, 30)
    u, _, _, dev, sess = remembered(authd, "quin@example.com")
    # A browser with the password only: its session waits for the second factor.
    s = new_session()
    s.headers["User-Agent"] = UA
    r = browser_login(edge, s, "quin@example.com")
    assert r.headers["Location"].startswith("/auth/two-factor/verify"), r.headers
    page = s.get(edge.base + "/auth/two-factor/verify").text
    r = form_post(s, edge.base, page, "/auth/logout", {"everywhere": "1"})
    assert r.status_code == 401, (r.status_code, r.headers.get("Location"))
    assert "session had ended" in r.text and 'href="/auth/login"' in r.text, r.text
    assert "You are signed out" not in r.text
    assert not s.cookies.get("asid")
    # Nothing of the owner's ended.
    assert authd.call(S + "Get", sessions_pb2.GetSessionRequest(session_token=sess),
                      sessions_pb2.SessionResponse).session.authenticated
    assert skips(authd, "quin@example.com", dev)
    # A signed-in browser (remembered) whose session ended elsewhere meanwhile.
    s.cookies.set("asid_device", dev)
    r = browser_login(edge, s, "quin@example.com")
    assert r.headers["Location"] == "/", r.headers
    home = s.get(edge.base + "/").text
    assert "Sign out everywhere" in home
    authd.call(S + "Revoke", sessions_pb2.RevokeSessionRequest(
        session_token=s.cookies.get("asid")), common_pb2.Empty)
    r = form_post(s, edge.base, home, "/auth/logout", {"everywhere": "1"})
    assert r.status_code == 401 and "session had ended" in r.text, r.status_code
    assert s.cookies.get("asid_device") == dev  # authd forgot nothing: the browser keeps it
    assert skips(authd, "quin@example.com", dev)
    # A plain sign-out of an ended session: done, as ever.
    r = browser_login(edge, s, "quin@example.com")
    home = s.get(edge.base + "/").text
    authd.call(S + "Revoke", sessions_pb2.RevokeSessionRequest(
        session_token=s.cookies.get("asid")), common_pb2.Empty)
    r = form_post(s, edge.base, home, "/auth/logout", {})
    assert r.status_code == 303 and r.headers["Location"] == "/auth/login?signed_out=1"
