# SPDX-License-Identifier: Apache-2.0
"""The browser flows of authd-edge, driven by an HTTP client (requests) against real processes."""
import re
import urllib.parse

import grpc
import pytest
import requests

from conftest import LONG_LOCK, csrf_of, grpc_trailer, long_locks, new_session, sessions_pb2

PASSWORD = "a long enough password"


def get_form(s, url, **kw):
    r = s.get(url, **kw)
    assert r.status_code == 200, (r.status_code, r.text[:500])
    return r, csrf_of(r.text)


def signup(edge, s, email, params=None, count=1):
    q = ("?" + urllib.parse.urlencode(params)) if params else ""
    r, csrf = get_form(s, edge.base + "/auth/signup" + q)
    data = {"email": email, "csrf": csrf}
    data.update(params or {})
    r = s.post(edge.base + "/auth/signup", data=data, allow_redirects=False)
    assert r.status_code == 200, r.text[:500]
    assert "check your e-mail" in r.text.lower()
    return edge.wait_link("signup/confirm", count)


def confirm(edge, s, link, password=PASSWORD):
    r, csrf = get_form(s, link)
    return s.post(link, data={"password": password, "password_confirmation": password,
                              "csrf": csrf}, allow_redirects=False)


def login(edge, s, email, password=PASSWORD, params=None):
    q = ("?" + urllib.parse.urlencode(params)) if params else ""
    r, csrf = get_form(s, edge.base + "/auth/login" + q)
    data = {"email": email, "password": password, "csrf": csrf}
    data.update(params or {})
    return s.post(edge.base + "/auth/login", data=data, allow_redirects=False)


def test_health_endpoints(edge):
    assert requests.get(edge.base + "/healthz").status_code == 200
    r = requests.get(edge.base + "/readyz")
    assert r.status_code == 200


def test_readyz_fails_when_authd_is_down(edge, authd):
    authd.stop()
    assert requests.get(edge.base + "/readyz", timeout=20).status_code == 503
    assert requests.get(edge.base + "/healthz").status_code == 200
    authd.start()  # the fixture stops it again


def test_signup_confirm_logout_login(edge):
    s = new_session()
    link = signup(edge, s, "Walt@Example.com")
    assert link.startswith(edge.base + "/auth/signup/confirm/")
    r, _ = get_form(s, link)
    assert "walt@example.com" in r.text
    r = confirm(edge, s, link)
    assert r.status_code == 303 and r.headers["Location"].endswith("/")
    cookie = r.headers["Set-Cookie"]
    assert "asid=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    home = s.get(edge.base + "/")
    assert "walt@example.com" in home.text
    # Log out (with the CSRF token from the landing page).
    r = s.post(edge.base + "/auth/logout", data={"csrf": csrf_of(home.text)}, allow_redirects=False)
    assert r.status_code == 303
    assert "walt@example.com" not in s.get(edge.base + "/").text
    # Log in again.
    r = login(edge, s, "walt@example.com")
    assert r.status_code == 303
    assert "walt@example.com" in s.get(edge.base + "/").text


def test_carried_oauth_parameters(edge):
    params = {"client_id": "web", "response_type": "code",
              "redirect_uri": "https://app.example/callback?x=1", "state": "st&ate=1"}
    s = new_session()
    r = s.get(edge.base + "/auth/signup?" + urllib.parse.urlencode(params))
    assert 'value="https://app.example/callback?x=1"' in r.text
    link = signup(edge, s, "xena@example.com", params)
    r = confirm(edge, s, link)
    assert r.status_code == 303
    loc = urllib.parse.urlparse(r.headers["Location"])
    assert loc.path == "/auth/authorize"
    got = dict(urllib.parse.parse_qsl(loc.query))
    for k, v in params.items():
        assert got[k] == v
    # The same through the login form, in a fresh browser.
    s2 = new_session()
    r = login(edge, s2, "xena@example.com", params=params)
    assert r.status_code == 303
    loc = urllib.parse.urlparse(r.headers["Location"])
    assert loc.path == "/auth/authorize"
    got = dict(urllib.parse.parse_qsl(loc.query))
    for k, v in params.items():
        assert got[k] == v


def test_login_errors_do_not_reveal_accounts(edge):
    s = new_session()
    confirm(edge, s, signup(edge, s, "yara@example.com"))
    s2 = new_session()
    r1 = login(edge, s2, "yara@example.com", "wrong password here")
    r2 = login(edge, s2, "nobody-here@example.com", "wrong password here")
    assert r1.status_code == r2.status_code == 401
    assert "Invalid e-mail or password" in r1.text
    strip = lambda t: re.sub(r'name="csrf" value="[^"]*"', "", t).replace(
        "yara@example.com", "X").replace("nobody-here@example.com", "X")
    assert strip(r1.text) == strip(r2.text)
    assert "asid=" not in r1.headers.get("Set-Cookie", "")


def test_signup_of_existing_account_looks_the_same(edge):
    s = new_session()
    confirm(edge, s, signup(edge, s, "zack@example.com"))
    s2 = new_session()
    r, csrf = get_form(s2, edge.base + "/auth/signup")
    r = s2.post(edge.base + "/auth/signup", data={"email": "zack@example.com", "csrf": csrf})
    assert r.status_code == 200 and "check your e-mail" in r.text.lower()
    # No second confirmation link was sent; an "already have an account" mail was.
    assert len(edge.links("signup/confirm")) == 1
    assert "already" in edge.log_text().lower()


def test_post_without_csrf_is_refused(edge):
    s = new_session()
    r = s.post(edge.base + "/auth/signup", data={"email": "amy@example.com"})
    assert r.status_code == 403
    get_form(s, edge.base + "/auth/login")
    r = s.post(edge.base + "/auth/login", data={"email": "amy@example.com", "password": "x",
                                                "csrf": "not-the-cookie-value"})
    assert r.status_code == 403
    # A foreign Origin is refused even with a valid token.
    r, csrf = get_form(s, edge.base + "/auth/signup")
    r = s.post(edge.base + "/auth/signup", data={"email": "amy@example.com", "csrf": csrf},
               headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert edge.links("signup/confirm") == []


def test_confirmation_link_single_use(edge):
    s = new_session()
    link = signup(edge, s, "ben@example.com")
    assert confirm(edge, s, link).status_code == 303
    s2 = new_session()
    r = s2.get(link)
    assert r.status_code == 400
    assert "invalid" in r.text.lower()
    # A tampered link too.
    r = s2.get(link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB"))
    assert r.status_code == 400


def test_password_mismatch_and_weak_password(edge):
    s = new_session()
    link = signup(edge, s, "cleo@example.com")
    r, csrf = get_form(s, link)
    r = s.post(link, data={"password": PASSWORD, "password_confirmation": PASSWORD + "x",
                           "csrf": csrf})
    assert r.status_code == 400 and "match" in r.text.lower()
    r = s.post(link, data={"password": "short", "password_confirmation": "short", "csrf": csrf})
    assert r.status_code == 400
    # The link still works after those errors.
    assert confirm(edge, s, link).status_code == 303


def test_forgot_and_reset_password(edge):
    s = new_session()
    confirm(edge, s, signup(edge, s, "dana@example.com"))
    r, csrf = get_form(new_session(), edge.base + "/auth/login")
    assert "/auth/forgot-password" in r.text
    other = new_session()
    r, csrf = get_form(other, edge.base + "/auth/forgot-password")
    r = other.post(edge.base + "/auth/forgot-password", data={"email": "dana@example.com",
                                                              "csrf": csrf})
    assert r.status_code == 200
    page_known = r.text
    r = other.post(edge.base + "/auth/forgot-password", data={"email": "ghost@example.com",
                                                              "csrf": csrf})
    assert r.text.replace("ghost@example.com", "X") == page_known.replace("dana@example.com", "X")
    link = edge.wait_link("reset-password")
    assert len(edge.links("reset-password")) == 1
    r, csrf = get_form(other, link)
    r = other.post(link, data={"password": "the new password", "password_confirmation":
                               "the new password", "csrf": csrf}, allow_redirects=False)
    assert r.status_code == 303 and "/auth/login" in r.headers["Location"]
    # The old browser session ended; the old password no longer works; the new one does.
    assert "dana@example.com" not in s.get(edge.base + "/").text
    assert login(edge, new_session(), "dana@example.com").status_code == 401
    assert login(edge, new_session(), "dana@example.com", "the new password").status_code == 303
    assert other.get(link).status_code == 400


def test_change_password(edge):
    s = new_session()
    confirm(edge, s, signup(edge, s, "eve@example.com"))
    s2 = new_session()
    assert login(edge, s2, "eve@example.com").status_code == 303
    r, csrf = get_form(s, edge.base + "/auth/password")
    r = s.post(edge.base + "/auth/password", data={
        "current_password": "not it at all", "password": "eves new password",
        "password_confirmation": "eves new password", "csrf": csrf})
    assert r.status_code == 401
    r = s.post(edge.base + "/auth/password", data={
        "current_password": PASSWORD, "password": "eves new password",
        "password_confirmation": "eves new password", "csrf": csrf})
    assert r.status_code == 200 and "changed" in r.text.lower()
    assert "eve@example.com" in s.get(edge.base + "/").text       # this session lives on
    assert "eve@example.com" not in s2.get(edge.base + "/").text  # the other one ended
    assert login(edge, new_session(), "eve@example.com", "eves new password").status_code == 303


def test_change_password_needs_a_session(edge):
    r = requests.get(edge.base + "/auth/password", allow_redirects=False)
    assert r.status_code == 303 and "/auth/login" in r.headers["Location"]


def test_html_escaping_of_user_input(edge):
    s = new_session()
    r = s.get(edge.base + "/auth/login?client_id=%22%3E%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<script>alert(1)</script>" not in r.text
    assert "&lt;script&gt;" in r.text or "&quot;&gt;&lt;script" in r.text


def test_security_headers(edge):
    r = requests.get(edge.base + "/auth/login")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in r.headers["Cache-Control"]
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def test_malformed_requests(edge):
    s = new_session()
    r, csrf = get_form(s, edge.base + "/auth/signup")
    r = s.post(edge.base + "/auth/signup", data="email=%G1&csrf=" + csrf,
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400
    r = s.post(edge.base + "/auth/signup", data="email=a%00b&csrf=" + csrf,
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400
    r = s.post(edge.base + "/auth/signup", data="x=" + "a" * 200000,
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    r = requests.get(edge.base + "/auth/nothing-here")
    assert r.status_code == 404
    r = requests.get(edge.base + "/auth/login", headers={"X-Big": "a" * 100000})
    assert r.status_code in (413, 431, 400)
    assert requests.get(edge.base + "/healthz").status_code == 200


def test_theme_applied(edge, authd):
    from conftest import admin_pb2
    authd.call("/authd.v1.Admin/PutAuthConfig", admin_pb2.AuthConfig(
        id="app", asid_cookie_max_age=7200,
        theme=admin_pb2.Theme(title="Acme <Login>", brand="Acme & Co",
                              style_url="https://cdn.example/acme.css",
                              forgot_password_url="https://help.example/forgot")),
        admin_pb2.AuthConfig)
    import time
    time.sleep(2.5)  # the edge refreshes its AuthConfig cache at most every 2 s
    r = requests.get(edge.base + "/auth/login")
    assert "<title>Sign in \u2014 Acme &lt;Login&gt;</title>" in r.text  # each page its own
    assert "Acme &amp; Co" in r.text
    assert 'href="https://cdn.example/acme.css"' in r.text
    assert 'href="https://help.example/forgot"' in r.text
    s = new_session()
    link = signup(edge, s, "fay@example.com")
    r = confirm(edge, s, link)
    assert "Max-Age=7200" in r.headers["Set-Cookie"]


def retry_after(r):
    """The Retry-After of a 429 (RFC 9110 §10.2.3: delay-seconds) as an int; it must be there."""
    v = r.headers.get("Retry-After")
    assert v is not None and v.isdigit() and int(v) > 0, (r.status_code, dict(r.headers))
    return int(v)


def authd_retry_after(e):
    """The seconds authd's lockout carries in its authd-retry-after trailer."""
    v = grpc_trailer(e, "authd-retry-after")
    assert v is not None and v.isdigit(), e.trailing_metadata()
    return int(v)


def test_login_lockout_is_429(edge, authd):
    long_locks(authd)  # the lock must still be there however slowly the pages are served
    s = new_session()
    confirm(edge, s, signup(edge, s, "gabe@example.com"))
    b = new_session()
    for i in range(6):
        r = login(edge, b, "gabe@example.com", f"wrong password {i}")
        assert r.status_code == 401 and "Retry-After" not in r.headers
    # The 6th failure locked the account: even the right password is refused.
    r = login(edge, b, "gabe@example.com")
    assert r.status_code == 429
    assert "try again in " in r.text.lower()  # the wait itself: test_words.py
    assert "asid=" not in r.headers.get("Set-Cookie", "")
    # Retry-After says how long, as authd does (a refused attempt is not counted, so asking
    # authd directly changes nothing).
    ra = retry_after(r)
    assert LONG_LOCK // 2 < ra <= LONG_LOCK, ra
    with pytest.raises(grpc.RpcError) as e:
        authd.call("/authd.v1.Sessions/Login",
                   sessions_pb2.LoginRequest(email="gabe@example.com", password=PASSWORD,
                                             client_ip="127.0.0.1"),
                   sessions_pb2.SessionResponse)
    assert abs(ra - authd_retry_after(e.value)) <= 1, (ra, e.value.details())


def test_forgot_password_mail_limit_says_when_to_retry(edge, authd):
    # Reset e-mails are limited per address (5, then a lock): the 429 page says when to come
    # back. (The lock is LONG_LOCK here, not the default minute, so that no slow machine sees
    # it end before the 429.)
    long_locks(authd)
    s = new_session()
    r, csrf = get_form(s, edge.base + "/auth/forgot-password")
    codes = []
    for _ in range(8):
        r = s.post(edge.base + "/auth/forgot-password",
                   data={"email": "ivy@example.com", "csrf": csrf})
        codes.append(r.status_code)
        if r.status_code == 429:
            break
    assert codes[-1] == 429 and set(codes[:-1]) == {200}, codes
    assert LONG_LOCK // 2 < retry_after(r) <= LONG_LOCK, r.headers["Retry-After"]


def test_expired_confirmation_link_refused(tmpdir_path):
    import time
    from conftest import Authd, Edge, FAST_ARGON2
    a = Authd(tmpdir_path, FAST_ARGON2 + ["--signup-ttl", "1"])
    e = None
    try:
        e = Edge(tmpdir_path, a)
        s = new_session()
        link = signup(e, s, "hugo@example.com")
        time.sleep(2.2)
        r = s.get(link)
        assert r.status_code == 400 and "expired" in r.text.lower()
        r = s.post(link, data={"password": PASSWORD, "password_confirmation": PASSWORD,
                               "csrf": csrf_of(s.get(e.base + "/auth/login").text)},
                   allow_redirects=False)
        assert r.status_code == 400
        assert "asid=" not in r.headers.get("Set-Cookie", "")
    finally:
        if e:
            e.stop()
        a.stop()


def test_forwarded_for_uses_the_address_our_proxy_wrote(tmpdir_path, authd):
    from conftest import Edge
    long_locks(authd)  # the 21st failure's lock must outlast the 22nd request
    e = Edge(tmpdir_path, authd, ["--trust-proxy"])
    try:
        s = new_session()
        codes = []
        for i in range(22):
            # The client forges the first entry; the proxy appends the real address last.
            r0, csrf = get_form(s, e.base + "/auth/login")
            r = s.post(e.base + "/auth/login", data={"email": f"nobody{i}@example.com",
                                                       "password": "wrong password", "csrf": csrf},
                       headers={"X-Forwarded-For": f"203.0.113.{i}, 198.51.100.7"},
                       allow_redirects=False)
            codes.append(r.status_code)
        assert codes[:20] == [401] * 20 and codes[-1] == 429, codes
        assert "ip=198.51.100.7" in authd.log_text()
        assert "203.0.113.5" not in authd.log_text()
    finally:
        e.stop()


def test_a_busy_port_stops_the_edge_and_the_metrics_endpoint(tmpdir_path, authd):
    # Both HTTP listeners share common/net.c; a port in use must end start-up with an error
    # (it once left the edge running on a stale descriptor, reporting port 0).
    import socket
    import subprocess
    from conftest import AUTHD, EDGE
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        addr = f"127.0.0.1:{busy.getsockname()[1]}"
        r = subprocess.run([EDGE, "--listen", addr, "--authd", authd.target],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode != 0 and "event=listen_failed" in r.stderr, r.stderr[-500:]
        r = subprocess.run([AUTHD, "--listen", "127.0.0.1:0", "--data-dir",
                            f"{tmpdir_path}/busy-metrics", "--metrics-listen", addr],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode != 0 and "event=metrics_listen_failed" in r.stderr, r.stderr[-500:]
