# SPDX-License-Identifier: Apache-2.0
"""Two-factor authentication (TOTP) through authd-edge, against the real processes, with outside
tools as the authenticator app: rsvg-convert renders the page's QR code (inline SVG) to PNG,
zbarimg reads the otpauth:// URI from it, oathtool computes the codes.

No test sleeps through a 30 s TOTP step: authd accepts the previous step
(validPastTokensCount, default 1), the current one and one future step, but never a step that
is not newer than the last one accepted; the Authenticator below hands out, for each use, the
oldest acceptable step that is newer than the last, computed with `oathtool --now @<unix>`.
"""
import http.server
import json
import os
import re
import subprocess
import threading
import time
import urllib.parse
from html.parser import HTMLParser

import grpc
import pytest
import requests

from conftest import (AUTHCTL, LONG_LOCK, Edge, admin_pb2, csrf_of, lockout_set, long_locks,
                      new_session, sessions_pb2, set_lockout, users_pb2)
from authd.v1 import twofactor_pb2  # noqa: E402
from test_edge import authd_retry_after, retry_after

PASSWORD = "a long enough password"
PERIOD = 30
U = "/authd.v1.Users/"
S = "/authd.v1.Sessions/"
AD = "/authd.v1.Admin/"
JSON = {"Content-Type": "application/json"}
OAUTH = {"client_id": "web", "response_type": "code",
         "redirect_uri": "https://app.example/callback?x=1", "state": "st&ate=1",
         "scope": "openid profile"}


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=20).stdout


# ---- the authenticator app: oathtool ------------------------------------------------------

def oathtool(secret, unix):
    code = run(["oathtool", "--totp", "-b", secret, "--now", f"@{int(unix)}"]).strip()
    assert re.fullmatch(r"\d{6}", code), code
    return code


class Authenticator:
    """An authenticator app holding one secret. fresh() is the code to type now: the oldest of
    the steps authd accepts (previous, current, next) that is newer than the last one handed
    out; the previous step only while >= 5 s of the current one are left, so that it is still
    accepted when the request arrives. When all three are used it waits for the next step
    (bounded: one period), which no test here needs."""

    def __init__(self, secret):
        self.secret = secret
        self.last = None

    def at_step(self, step):
        return oathtool(self.secret, step * PERIOD + 1)

    def fresh(self):
        deadline = time.time() + PERIOD + 5
        while True:
            now = time.time()
            cur, left = int(now // PERIOD), PERIOD - now % PERIOD
            for step in range(cur - 1 if left >= 5 else cur, cur + 2):
                if self.last is None or step > self.last:
                    self.last = step
                    return self.at_step(step)
            assert time.time() < deadline
            time.sleep(left + 0.05)

    def wrong(self):
        """A six-digit code that is the code of no step near now."""
        cur = int(time.time() // PERIOD)
        near = {self.at_step(s) for s in range(cur - 3, cur + 4)}
        for cand in ("000000", "123456", "999999", "314159"):
            if cand not in near:
                return cand
        raise AssertionError("unreachable")


# ---- HTML -----------------------------------------------------------------------------------

class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms = []
        self._cur = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._cur = {"action": a.get("action"), "method": a.get("method"), "fields": {},
                         "types": {}}
            self.forms.append(self._cur)
        elif tag in ("input", "textarea") and self._cur is not None and a.get("name"):
            self._cur["fields"][a["name"]] = a.get("value") or ""
            self._cur["types"][a["name"]] = a.get("type", "text")

    def handle_endtag(self, tag):
        if tag == "form":
            self._cur = None


def forms(html_text):
    p = _Forms()
    p.feed(html_text)
    return p.forms


def form(html_text, action, with_field=None):
    """The form posting to action (that has with_field, when given), as a browser sees it."""
    found = [f for f in forms(html_text) if f["action"] == action
             and (with_field is None or with_field in f["fields"])]
    assert found, f"no form to {action} with {with_field}:\n{html_text[:3000]}"
    return found[0]


def submit(s, base, html_text, action, values, with_field=None, **kw):
    """Posts the form to action the way a browser does: every field of the form (hidden ones
    included), with values filled in."""
    f = form(html_text, action, with_field)
    data = dict(f["fields"])
    for k in values:
        assert k in data, f"form {action} has no field {k}: {sorted(data)}"
    data.update(values)
    return s.post(base + action, data=data, allow_redirects=False, **kw)


def get_ok(s, url, headers=None):
    r = s.get(url, allow_redirects=False, headers=headers)
    assert r.status_code == 200, (url, r.status_code, r.headers.get("Location"), r.text[:800])
    return r


def msg_error(html_text):
    m = re.search(r'<div class="msg error"[^>]*>(.*?)</div>', html_text, re.S)
    return m.group(1) if m else None


# ---- accounts and sessions ------------------------------------------------------------------

def create_user(authd, email, password=PASSWORD):
    return authd.call(U + "Create", users_pb2.CreateUserRequest(email=email, password=password),
                      users_pb2.UserResponse).user


def rpc_login(authd, email, password=PASSWORD):
    return authd.call(S + "Login", sessions_pb2.LoginRequest(email=email, password=password,
                                                             client_ip="127.0.0.1",
                                                             user_agent="pytest"),
                      sessions_pb2.SessionResponse)


def password_login(edge, s, email, password=PASSWORD, params=None):
    q = ("?" + urllib.parse.urlencode(params)) if params else ""
    r = get_ok(s, edge.base + "/auth/login" + q)
    return submit(s, edge.base, r.text, "/auth/login", {"email": email, "password": password})


def signed_in_as(edge, s):
    m = re.search(r"Signed in as <strong>([^<]*)</strong>", s.get(edge.base + "/").text)
    return m.group(1) if m else None


def logout(edge, s):
    home = get_ok(s, edge.base + "/")
    r = s.post(edge.base + "/auth/logout", data={"csrf": csrf_of(home.text)},
               allow_redirects=False)
    assert r.status_code == 303
    assert signed_in_as(edge, s) is None


def new_user(authd, edge, email):
    """A user created over gRPC and signed in on the edge (no second factor yet)."""
    create_user(authd, email)
    s = new_session()
    r = password_login(edge, s, email)
    assert r.status_code == 303 and urllib.parse.urlparse(r.headers["Location"]).path == "/", \
        (r.status_code, r.headers.get("Location"))
    assert signed_in_as(edge, s) == email
    return s


def login_pending(edge, s, email, params=None):
    """Password login of a user with 2FA: a 303 to the TOTP step and a pending asid cookie."""
    r = password_login(edge, s, email, params=params)
    assert r.status_code == 303, (r.status_code, r.text[:500])
    loc = urllib.parse.urlparse(r.headers["Location"])
    assert loc.path == "/auth/two-factor/verify", r.headers["Location"]
    assert "asid=" in r.headers.get("Set-Cookie", "")
    assert s.cookies.get("asid")
    return r


def verify(edge, s, code=None, recovery_code=None, query=""):
    """The TOTP step as a browser does it: open the page, fill in its form, post it."""
    page = get_ok(s, edge.base + "/auth/two-factor/verify" + query)
    if recovery_code is not None:
        return submit(s, edge.base, page.text, "/auth/two-factor/verify",
                      {"recovery_code": recovery_code}, with_field="recovery_code")
    return submit(s, edge.base, page.text, "/auth/two-factor/verify", {"token": code},
                  with_field="token")


def assert_pending(edge, s):
    """The browser holds a login waiting for its second factor: not signed in (the settings
    page sends it to sign in), and the TOTP step still asks for a code. (Not checked on "/",
    which forgets a session that is not signed in.)"""
    r = s.get(edge.base + "/auth/two-factor", allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"].endswith("/auth/login"), r.status_code
    r = get_ok(s, edge.base + "/auth/two-factor/verify")
    form(r.text, "/auth/two-factor/verify")


def login_2fa(edge, s, email, code):
    login_pending(edge, s, email)
    r = verify(edge, s, code)
    assert r.status_code == 303, (r.status_code, msg_error(r.text))
    assert signed_in_as(edge, s) == email


# ---- enrolment with the authenticator app (QR code -> PNG -> zbarimg) -----------------------

def decode_qr(svg, tmp, name="qr"):
    svg_path = os.path.join(tmp, name + ".svg")
    png_path = os.path.join(tmp, name + ".png")
    with open(svg_path, "w") as f:
        f.write(svg)
    run(["rsvg-convert", "--format", "png", "--output", png_path, svg_path])
    return run(["zbarimg", "--raw", "-q", png_path]).strip()


def parse_otpauth(uri):
    u = urllib.parse.urlparse(uri)
    assert u.scheme == "otpauth" and u.netloc == "totp", uri
    q = dict(urllib.parse.parse_qsl(u.query))
    return urllib.parse.unquote(u.path.lstrip("/")), q


def shown_secret(html_text):
    """The secret an enrolment page shows for manual entry (spaces removed), or None."""
    m = re.search(r'<code id="secret">([^<]*)</code>', html_text)
    return m.group(1).replace(" ", "") if m else None


def qr_page(edge, s, tmp):
    """Begins an enrolment as a browser does (the enable page's form: a POST with the CSRF
    token); returns (page, otpauth URI read from the QR code, secret)."""
    en = get_ok(s, edge.base + "/auth/two-factor/enable")
    page = submit(s, edge.base, en.text, "/app/auth/two-factor/request", {})
    assert page.status_code == 200, (page.status_code, msg_error(page.text))
    m = re.search(r'<div id="qr">\s*(<svg\b.*?</svg>)\s*</div>', page.text, re.S)
    assert m, "no inline SVG QR code in #qr:\n" + page.text[:2000]
    uri = decode_qr(m.group(1), tmp)
    label, q = parse_otpauth(uri)
    secret = q["secret"]
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret  # 160 bits, base32 without padding
    # The same secret in text for manual entry, in groups of four.
    m = re.search(r'<code id="secret">([^<]*)</code>', page.text)
    assert m, page.text[:2000]
    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{4})*", m.group(1)), m.group(1)
    assert m.group(1).replace(" ", "") == secret
    return page, uri, secret


def recovery_codes_of(html_text):
    m = re.search(r'<ol id="recovery-codes">(.*?)</ol>', html_text, re.S)
    assert m, "no recovery codes list:\n" + html_text[:2000]
    return re.findall(r"<li><code>([^<]*)</code></li>", m.group(1))


def enable_with_app(edge, s, email, tmp):
    """Turns 2FA on through the pages like a user with an authenticator app. Returns the app
    and the recovery codes."""
    st = get_ok(s, edge.base + "/auth/two-factor")
    assert "Two-factor authentication is off" in st.text
    assert 'href="/auth/two-factor/enable"' in st.text
    en = get_ok(s, edge.base + "/auth/two-factor/enable")
    start = form(en.text, "/app/auth/two-factor/request")
    assert start["method"] == "post" and start["fields"]["csrf"], start
    assert re.search(r'<button [^>]*type="submit"[^>]*>Enable using Authenticator app</button>',
                     en.text), en.text[:2000]
    page, uri, secret = qr_page(edge, s, tmp)
    label, q = parse_otpauth(uri)
    assert label == f"authd:{email}", label
    assert q.get("issuer") == "authd", q
    app = Authenticator(secret)
    r = submit(s, edge.base, page.text, "/app/auth/two-factor/confirm", {"token": app.wrong()})
    assert r.status_code == 401, (r.status_code, msg_error(r.text))
    r = submit(s, edge.base, page.text, "/app/auth/two-factor/confirm", {"token": app.fresh()})
    app.confirm_step = app.last
    assert r.status_code == 200, (r.status_code, msg_error(r.text))
    codes = recovery_codes_of(r.text)
    assert len(codes) == 10 and len(set(codes)) == 10, codes
    for c in codes:
        assert re.fullmatch(r"[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}", c), c
    st = get_ok(s, edge.base + "/auth/two-factor")
    assert "Two-factor authentication is on" in st.text
    assert 'href="/auth/two-factor/disable"' in st.text
    return app, codes


def mails(edge, to=None, subject=None):
    """The e-mails the console provider logged: (to, subject) pairs."""
    out = []
    for line in edge.log_text().splitlines():
        if "event=mail " not in line:
            continue
        mt = re.search(r'\bto=("(?:[^"\\]|\\.)*"|\S+)', line)
        ms = re.search(r'\bsubject=("(?:[^"\\]|\\.)*"|\S+)', line)
        t = mt.group(1).strip('"') if mt else None
        sj = ms.group(1).strip('"') if ms else None
        if (to is None or t == to) and (subject is None or sj == subject):
            out.append((t, sj))
    return out


def wait_mail(edge, to, subject, count=1, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(mails(edge, to, subject)) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"no mail {subject!r} to {to} in the edge log:\n"
                         + "\n".join(l for l in edge.log_text().splitlines() if "mail" in l))


# ---- tests ----------------------------------------------------------------------------------

def test_qr_page_get_changes_nothing(authd, edge, tmpdir_path):
    """GET /app/auth/two-factor/request (a link, or a cross-site navigation) only reads: without
    an enrolment in progress it offers a form that begins one (a POST with the CSRF token), and
    with one it shows that one's secret again, never a new one."""
    email = "gwen@example.com"
    s = new_user(authd, edge, email)
    url = edge.base + "/app/auth/two-factor/request"
    for _ in range(2):
        page = get_ok(s, url)
        assert shown_secret(page.text) is None and 'id="qr"' not in page.text, page.text[:2000]
        start = form(page.text, "/app/auth/two-factor/request")
        assert start["method"] == "post" and start["fields"]["csrf"], start
    # A POST without the CSRF token (a cross-site form) begins nothing either.
    r = s.post(url, data={}, allow_redirects=False)
    assert r.status_code == 403, r.status_code
    r = s.post(url, data={"csrf": "x" * 43}, allow_redirects=False)
    assert r.status_code == 403, r.status_code
    assert shown_secret(get_ok(s, url).text) is None
    # The form begins one; each GET after shows the same secret.
    page, _, secret = qr_page(edge, s, tmpdir_path)
    for _ in range(2):
        again = get_ok(s, url)
        assert shown_secret(again.text) == secret
        assert 'id="qr"' in again.text
    # That secret is the one that confirms, from the form of a page shown by a GET.
    app = Authenticator(secret)
    r = submit(s, edge.base, again.text, "/app/auth/two-factor/confirm", {"token": app.fresh()})
    assert r.status_code == 200, (r.status_code, msg_error(r.text))
    assert len(recovery_codes_of(r.text)) == 10
    # Enrolled: the page sends the user to the settings.
    r = s.get(url, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"].endswith("/auth/two-factor"), r.status_code


def test_enable_with_qr_code_then_login_needs_a_fresh_code(authd, edge, tmpdir_path):
    email = "tina@example.com"
    s = new_user(authd, edge, email)
    app, codes = enable_with_app(edge, s, email, tmpdir_path)
    wait_mail(edge, email, "Two-factor authentication was enabled")
    logout(edge, s)

    # Password only is not a session any more: a pending one that the pages do not accept.
    login_pending(edge, s, email)
    pending = s.cookies.get("asid")
    page = get_ok(s, edge.base + "/auth/two-factor/verify")
    f = form(page.text, "/auth/two-factor/verify", with_field="token")
    assert f["fields"]["csrf"]
    assert 'name="recovery_code"' not in page.text
    r = s.get(edge.base + "/auth/two-factor", allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"].endswith("/auth/login"), r.status_code
    r = requests.post(edge.base + "/app/auth/two-factor/request", json={},
                      headers={"Authorization": "Bearer " + pending})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"

    code = app.fresh()
    r = verify(edge, s, code)
    assert r.status_code == 303, (r.status_code, msg_error(r.text))
    assert urllib.parse.urlparse(r.headers["Location"]).path == "/"
    fresh_cookie = s.cookies.get("asid")
    assert fresh_cookie and fresh_cookie != pending  # a new session: no fixation
    assert signed_in_as(edge, s) == email
    # The pending token died with the step.
    bare = new_session()
    bare.cookies.set("asid", pending)
    assert signed_in_as(edge, bare) is None

    # The same code on a new login is refused: each step is accepted once.
    s2 = new_session()
    login_pending(edge, s2, email)
    r = verify(edge, s2, code)
    assert r.status_code == 401, r.status_code
    assert "Invalid or already used code" in (msg_error(r.text) or "")
    assert_pending(edge, s2)
    # The confirm step's code was used too, so is refused likewise.
    r = verify(edge, s2, app.at_step(app.confirm_step))
    assert r.status_code == 401
    # A wrong code too; a fresh one then works on this very login.
    r = verify(edge, s2, app.wrong())
    assert r.status_code == 401
    r = verify(edge, s2, app.fresh())
    assert r.status_code == 303, (r.status_code, msg_error(r.text))
    assert signed_in_as(edge, s2) == email


def test_wrong_codes_lock_the_second_step(authd, edge, tmpdir_path):
    long_locks(authd)  # the lock must still be there however slowly the pages are served
    email = "lou@example.com"
    s = new_user(authd, edge, email)
    app, _ = enable_with_app(edge, s, email, tmpdir_path)
    logout(edge, s)
    login_pending(edge, s, email)
    wrong, right = app.wrong(), app.fresh()
    for i in range(6):  # 5 free failures; the 6th earns a lock
        r = verify(edge, s, wrong)
        assert r.status_code == 401, (i, r.status_code, msg_error(r.text))
    # Locked: even the right code is refused, before it is checked.
    r = verify(edge, s, right)
    assert r.status_code == 429, (r.status_code, msg_error(r.text))
    assert msg_error(r.text)
    assert LONG_LOCK // 2 < retry_after(r) <= LONG_LOCK, r.headers
    assert_pending(edge, s)
    # The password step has a counter of its own: it still works (a new pending login).
    login_pending(edge, new_session(), email)
    assert "event=audit action=lockout" in authd.log_text()


def test_second_step_lock_ends(authd, edge, tmpdir_path):
    # A short lock, proven by its audit event and waited out: attempts while locked are refused
    # (429) and not counted, and once it ends the right code works.
    set_lockout(authd, secondFactor={"account": {"firstWait": 2}})
    email = "lou@example.com"
    s = new_user(authd, edge, email)
    app, _ = enable_with_app(edge, s, email, tmpdir_path)
    logout(edge, s)
    login_pending(edge, s, email)
    wrong = app.wrong()
    for i in range(6):
        r = verify(edge, s, wrong)
        assert r.status_code == 401, (i, r.status_code, msg_error(r.text))
    assert lockout_set(authd, reason="second_factor", target="account"), authd.log_text()
    right = app.fresh()
    deadline = time.time() + 60
    r = verify(edge, s, right)
    while r.status_code == 429:
        assert time.time() < deadline, msg_error(r.text)
        time.sleep(0.25)
        r = verify(edge, s, right)
    assert r.status_code == 303, (r.status_code, msg_error(r.text))
    assert signed_in_as(edge, s) == email


def test_recovery_codes_work_once_and_can_be_regenerated(authd, edge, tmpdir_path):
    email = "rita@example.com"
    s = new_user(authd, edge, email)
    app, codes = enable_with_app(edge, s, email, tmpdir_path)
    logout(edge, s)

    login_pending(edge, s, email)
    page = get_ok(s, edge.base + "/auth/two-factor/verify?recovery=1")
    assert 'name="recovery_code"' in page.text and 'name="token"' not in page.text
    r = verify(edge, s, recovery_code=codes[0].upper(), query="?recovery=1")
    assert r.status_code == 303, (r.status_code, msg_error(r.text))
    assert signed_in_as(edge, s) == email
    wait_mail(edge, email, "A recovery code was used to sign in")
    st = get_ok(s, edge.base + "/auth/two-factor")
    assert re.search(r'id="codes-left">9<', st.text), st.text[:2000]

    # A second use of the same code fails; a made-up one too.
    s2 = new_session()
    login_pending(edge, s2, email)
    r = verify(edge, s2, recovery_code=codes[0], query="?recovery=1")
    assert r.status_code == 401
    r = verify(edge, s2, recovery_code="aaaa-bbbb-cccc-dddd", query="?recovery=1")
    assert r.status_code == 401
    assert_pending(edge, s2)
    assert len(mails(edge, email, "A recovery code was used to sign in")) == 1

    # New codes (confirmed with a current code) replace the old ones.
    r = submit(s, edge.base, st.text, "/auth/two-factor/recovery-codes", {"token": app.wrong()})
    assert r.status_code == 401
    r = submit(s, edge.base, st.text, "/auth/two-factor/recovery-codes", {"token": app.fresh()})
    assert r.status_code == 200, (r.status_code, msg_error(r.text))
    new_codes = recovery_codes_of(r.text)
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)
    r = verify(edge, s2, recovery_code=codes[1], query="?recovery=1")
    assert r.status_code == 401
    r = verify(edge, s2, recovery_code=new_codes[0], query="?recovery=1")
    assert r.status_code == 303, (r.status_code, msg_error(r.text))
    assert signed_in_as(edge, s2) == email


def test_disable_needs_a_code_and_turns_the_step_off(authd, edge, tmpdir_path):
    email = "dora@example.com"
    s = new_user(authd, edge, email)
    app, codes = enable_with_app(edge, s, email, tmpdir_path)
    page = get_ok(s, edge.base + "/auth/two-factor/disable")
    r = submit(s, edge.base, page.text, "/auth/two-factor/disable", {"token": app.wrong()})
    assert r.status_code == 401
    assert "Two-factor authentication is on" in get_ok(s, edge.base + "/auth/two-factor").text
    assert not mails(edge, email, "Two-factor authentication was disabled")
    r = submit(s, edge.base, page.text, "/auth/two-factor/disable", {"token": app.fresh()})
    assert r.status_code == 303
    assert urllib.parse.urlparse(r.headers["Location"]).path == "/auth/two-factor"
    st = get_ok(s, edge.base + "/auth/two-factor")
    assert "Two-factor authentication is off" in st.text
    assert 'href="/auth/two-factor/enable"' in st.text
    wait_mail(edge, email, "Two-factor authentication was disabled")
    # Signing in needs only the password again.
    s2 = new_session()
    r = password_login(edge, s2, email)
    assert r.status_code == 303 and urllib.parse.urlparse(r.headers["Location"]).path == "/"
    assert signed_in_as(edge, s2) == email
    # The old secret and recovery codes are gone with it: turning 2FA on again gives new ones.
    app2, codes2 = enable_with_app(edge, s2, email, tmpdir_path)
    assert app2.secret != app.secret and not set(codes2) & set(codes)
    logout(edge, s2)
    login_pending(edge, s2, email)
    r = verify(edge, s2, recovery_code=codes[0], query="?recovery=1")
    assert r.status_code == 401
    r = verify(edge, s2, recovery_code=codes2[0], query="?recovery=1")
    assert r.status_code == 303, (r.status_code, msg_error(r.text))


def test_disable_with_a_recovery_code(authd, edge, tmpdir_path):
    email = "dirk@example.com"
    s = new_user(authd, edge, email)
    _, codes = enable_with_app(edge, s, email, tmpdir_path)
    page = get_ok(s, edge.base + "/auth/two-factor/disable?recovery=1")
    r = submit(s, edge.base, page.text, "/auth/two-factor/disable",
               {"recovery_code": "zzzz-zzzz-zzzz-zzzz"}, with_field="recovery_code")
    assert r.status_code == 401
    r = submit(s, edge.base, page.text, "/auth/two-factor/disable", {"recovery_code": codes[3]},
               with_field="recovery_code")
    assert r.status_code == 303
    assert "Two-factor authentication is off" in get_ok(s, edge.base + "/auth/two-factor").text


def test_oauth_parameters_survive_the_totp_step(authd, edge, tmpdir_path):
    email = "otto@example.com"
    s = new_user(authd, edge, email)
    app, _ = enable_with_app(edge, s, email, tmpdir_path)
    logout(edge, s)
    r = login_pending(edge, s, email, params=OAUTH)
    got = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(r.headers["Location"]).query))
    assert got == OAUTH, got
    page = get_ok(s, r.headers["Location"] if r.headers["Location"].startswith("http")
                  else edge.base + r.headers["Location"])
    r = submit(s, edge.base, page.text, "/auth/two-factor/verify", {"token": app.fresh()},
               with_field="token")
    assert r.status_code == 303, (r.status_code, msg_error(r.text))
    loc = urllib.parse.urlparse(r.headers["Location"])
    assert loc.path == "/auth/authorize", r.headers["Location"]
    assert dict(urllib.parse.parse_qsl(loc.query)) == OAUTH
    assert signed_in_as(edge, s) == email


def test_password_reset_of_a_2fa_user_needs_a_code_and_keeps_2fa(authd, edge, tmpdir_path):
    email = "rosa@example.com"
    s = new_user(authd, edge, email)
    app, codes = enable_with_app(edge, s, email, tmpdir_path)
    other = new_session()
    r = get_ok(other, edge.base + "/auth/forgot-password")
    submit(other, edge.base, r.text, "/auth/forgot-password", {"email": email})
    link = edge.wait_link("reset-password")
    page = get_ok(other, link)
    action = urllib.parse.urlparse(link).path
    f = form(page.text, action)
    assert "token" in f["fields"] and "recovery_code" in f["fields"], f
    new_pw = {"password": "rosas new password", "password_confirmation": "rosas new password"}
    r = submit(other, edge.base, page.text, action, dict(new_pw))
    assert r.status_code == 401, r.status_code
    r = submit(other, edge.base, page.text, action, dict(new_pw, token=app.wrong()))
    assert r.status_code == 401, r.status_code
    r = submit(other, edge.base, page.text, action,
               dict(new_pw, recovery_code="abcd-efgh-ijkl-mnop"))
    assert r.status_code == 401, r.status_code
    # Refused resets changed nothing.
    assert login_pending(edge, new_session(), email)
    r = submit(other, edge.base, page.text, action, dict(new_pw, token=app.fresh()))
    assert r.status_code == 303, (r.status_code, msg_error(r.text))
    assert "/auth/login" in r.headers["Location"]
    # The new password works, and still asks for the second factor.
    s2 = new_session()
    r = password_login(edge, s2, email, "rosas new password")
    assert r.status_code == 303
    assert urllib.parse.urlparse(r.headers["Location"]).path == "/auth/two-factor/verify"
    r = verify(edge, s2, app.fresh())
    assert r.status_code == 303, (r.status_code, msg_error(r.text))
    assert signed_in_as(edge, s2) == email
    assert "Two-factor authentication is on" in get_ok(s2, edge.base + "/auth/two-factor").text


def check_api_recovery_codes(body):
    """The confirm answer is {} or carries the recovery codes (shown once): then ten of them."""
    assert set(body) <= {"recovery_codes"}, body
    if "recovery_codes" in body:
        codes = body["recovery_codes"]
        assert len(codes) == 10 and len(set(codes)) == 10, codes
        for c in codes:
            assert re.fullmatch(r"[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}", c), c


def test_json_api(authd, edge, tmpdir_path):
    email = "jade@example.com"
    create_user(authd, email)
    base = edge.base + "/app/auth/two-factor"
    # No session: 401 with the error in JSON.
    for path, body in (("/request", {}), ("/confirm", {"token": "123456"})):
        r = requests.post(base + path, json=body)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized", (path, r.text)
        r = requests.post(base + path, json=body, headers={"Authorization": "Bearer nope.nope"})
        assert r.status_code == 401 and r.json()["error"] == "unauthorized", (path, r.text)
    token = rpc_login(authd, email).session_token
    bearer = {"Authorization": "Bearer " + token}
    # Confirm before any request: not_requested.
    r = requests.post(base + "/confirm", json={"token": "123456"}, headers=bearer)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "not_requested" and r.json()["error_description"]
    # Request: the otpauth URI.
    r = requests.post(base + "/request", data="{}", headers=dict(bearer, **JSON))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    uri = r.json()["uri"]
    label, q = parse_otpauth(uri)
    assert label == f"authd:{email}" and q["issuer"] == "authd"
    app = Authenticator(q["secret"])
    r = requests.post(base + "/confirm", json={"token": app.wrong()}, headers=bearer)
    assert r.status_code == 422 and r.json()["error"] == "wrong_token", r.text
    assert r.json()["error_description"]
    r = requests.post(base + "/confirm", json={"token": app.fresh()}, headers=bearer)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "error" not in body, body
    check_api_recovery_codes(body)
    wait_mail(edge, email, "Two-factor authentication was enabled")
    # Already on: both calls say so.
    r = requests.post(base + "/request", json={}, headers=bearer)
    assert r.status_code == 422 and r.json()["error"] == "already_enabled", r.text
    r = requests.post(base + "/confirm", json={"token": app.fresh()}, headers=bearer)
    assert r.status_code == 422 and r.json()["error"] == "already_enabled", r.text
    # gRPC login now answers a pending session; the edge's TOTP step completes it.
    assert not rpc_login(authd, email).session.authenticated

    # The asid cookie is a session token too (cookie auth and bearer from the cookie value).
    email2 = "jack@example.com"
    s = new_user(authd, edge, email2)
    r = s.post(base + "/request", json={})
    assert r.status_code == 200 and r.json()["uri"].startswith("otpauth://totp/"), r.text
    r = requests.post(base + "/request", json={},
                      headers={"Authorization": "Bearer " + s.cookies.get("asid")})
    assert r.status_code == 200, r.text
    app2 = Authenticator(parse_otpauth(r.json()["uri"])[1]["secret"])
    r = s.post(base + "/confirm", json={"token": app2.fresh()})
    assert r.status_code == 200, r.text
    check_api_recovery_codes(r.json())
    logout(edge, s)
    login_2fa(edge, s, email2, app2.fresh())


def test_json_api_lockout_says_when_to_retry(authd, edge):
    # Wrong codes at /confirm count towards the second-factor lockout; the locked answer is
    # 429 {"error": "locked"} with Retry-After, as authd says.
    long_locks(authd)  # still locked when authd is asked below, however slow the machine
    email = "lena@example.com"
    create_user(authd, email)
    token = rpc_login(authd, email).session_token
    bearer = {"Authorization": "Bearer " + token}
    base = edge.base + "/app/auth/two-factor"
    r = requests.post(base + "/request", json={}, headers=bearer)
    assert r.status_code == 200, r.text
    app = Authenticator(parse_otpauth(r.json()["uri"])[1]["secret"])
    wrong = app.wrong()
    codes = []
    for _ in range(12):  # 5 free failures, then locks of 1 s, 2 s...
        r = requests.post(base + "/confirm", json={"token": wrong}, headers=bearer)
        codes.append(r.status_code)
        if r.status_code != 422:
            break
    assert codes[-1] == 429 and set(codes[:-1]) == {422}, codes
    assert r.json()["error"] == "locked", r.text
    ra = retry_after(r)
    # A locked attempt is refused before the code is looked at, and not counted.
    with pytest.raises(grpc.RpcError) as e:
        authd.call("/authd.v1.TwoFactor/ConfirmEnrollment",
                   twofactor_pb2.ConfirmEnrollmentRequest(session_token=token, code=wrong),
                   twofactor_pb2.RecoveryCodesResponse)
    assert abs(ra - authd_retry_after(e.value)) <= 1, (ra, e.value.details())


class Hook:
    """A webhook receiver on a free loopback port (http.server in a thread)."""

    def __init__(self):
        self.calls = []
        self.fail = False
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                hook.calls.append({"path": self.path, "headers": self.headers, "body": body})
                code = 500 if hook.fail else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/2fa"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, count, timeout=5.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(self.calls) >= count:
                return self.calls[count - 1]
            time.sleep(0.02)
        raise AssertionError(f"the webhook got {len(self.calls)} calls, expected {count}")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


@pytest.fixture
def edge_with_hook(tmpdir_path, authd, hook):
    """An edge started after an AuthConfig with a webhook is in place."""
    cfg = admin_pb2.AuthConfig(
        id="app", two_factor=admin_pb2.TwoFactorConfig(
            webhook=admin_pb2.Webhook(endpoint=hook.url, timeout=3000,
                                      headers={"X-Hook-Key": "hook secret 42"})))
    authd.call(AD + "PutAuthConfig", cfg, admin_pb2.AuthConfig)
    e = Edge(tmpdir_path, authd)
    yield e
    e.stop()


def hook_json(call):
    assert call["path"] == "/hooks/2fa"
    assert call["headers"].get("X-Hook-Key") == "hook secret 42", call["headers"]
    assert call["headers"].get("Content-Type", "").startswith("application/json")
    return json.loads(call["body"])


def wait_for_room_in_step(seconds):
    """Waits (at most `seconds`) until at least `seconds` of the current TOTP step are left."""
    left = PERIOD - time.time() % PERIOD
    if left < seconds:
        time.sleep(left + 0.05)


def test_webhook_delivers_the_code_at_login(authd, edge_with_hook, hook):
    edge = edge_with_hook
    email = "sam@example.com"
    s = new_user(authd, edge, email)
    user_id = authd.call(U + "Get", users_pb2.GetUserRequest(email=email),
                         users_pb2.UserResponse).user.id
    # Enrolment and login in one TOTP step: a user who signs in right after enrolling.
    wait_for_room_in_step(10)
    # Enrol with a transport: the first code comes by the webhook, the answer is {}.
    r = s.post(edge.base + "/app/auth/two-factor/request", json={"transport": "sms"})
    assert r.status_code == 200 and r.json() == {}, r.text
    body = hook_json(hook.wait(1))
    assert body["user"]["id"] == user_id and body["user"]["email"] == email
    assert body["user"]["twoFactor"] == {"enabled": False, "transport": "sms"}, body
    assert re.fullmatch(r"\d{6}", body["token"]), body
    enrol_code = body["token"]
    r = s.post(edge.base + "/app/auth/two-factor/confirm", json={"token": enrol_code})
    assert r.status_code == 200, r.text
    logout(edge, s)

    # At login the verify page sends the code by the webhook; that code signs in.
    login_pending(edge, s, email)
    page = get_ok(s, edge.base + "/auth/two-factor/verify")
    assert msg_error(page.text) is None
    body = hook_json(hook.wait(2))
    assert body["user"]["twoFactor"] == {"enabled": True, "transport": "sms"}, body
    assert body["user"]["id"] == user_id and body["user"]["email"] == email
    r = submit(s, edge.base, page.text, "/auth/two-factor/verify", {"token": body["token"]},
               with_field="token")
    assert r.status_code == 303, (r.status_code, msg_error(r.text),
                                  f"code sent at login {body['token']}, at enrolment {enrol_code}")
    assert signed_in_as(edge, s) == email


def apply_manifest(authd, tmp, name, text):
    """authctl apply -f on a manifest written to tmp/name; the finished process."""
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return subprocess.run([AUTHCTL, "--authd", authd.target, "apply", "-f", path],
                          capture_output=True, text=True, timeout=30)


def test_user_manifest_moves_a_user_to_webhook_delivery(authd, edge_with_hook, hook,
                                                         tmpdir_path):
    """Aidbox's User.twoFactor in manifests: an operator moves an app user to codes by webhook
    (transport), and turns two-factor off (enabled: false); enabled: true and a transport are
    refused for a user without two-factor."""
    edge = edge_with_hook
    # The fixture's AuthConfig leaves validPastTokensCount at 0; the Authenticator may type the
    # previous step's code.
    authd.call(AD + "PutAuthConfig", admin_pb2.AuthConfig(
        id="app", two_factor=admin_pb2.TwoFactorConfig(
            valid_past_tokens_count=1,
            webhook=admin_pb2.Webhook(endpoint=hook.url, timeout=3000,
                                      headers={"X-Hook-Key": "hook secret 42"}))),
        admin_pb2.AuthConfig)
    email = "moved@example.com"
    s = new_user(authd, edge, email)
    enable_with_app(edge, s, email, tmpdir_path)
    logout(edge, s)
    user_id = authd.call(U + "Get", users_pb2.GetUserRequest(email=email),
                         users_pb2.UserResponse).user.id

    p = apply_manifest(authd, tmpdir_path, "sms.yaml",
                       f"- resourceType: User\n  email: {email}\n  twoFactor: {{transport: sms}}\n")
    assert p.returncode == 0 and f"User/{email} updated" in p.stdout, (p.stdout, p.stderr)
    p = subprocess.run([AUTHCTL, "--authd", authd.target, "user", "get", "--email", email],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and re.search(r"twoFactor:\s+enabled \(sms\)", p.stdout), p.stdout
    p = subprocess.run([AUTHCTL, "--authd", authd.target, "-o", "json", "user", "get", "--email",
                        email], capture_output=True, text=True, timeout=30)
    assert json.loads(p.stdout)["twoFactor"] == {"enabled": True, "transport": "sms"}, p.stdout
    # The same manifest again changes nothing.
    p = apply_manifest(authd, tmpdir_path, "sms.yaml",
                       f"- resourceType: User\n  email: {email}\n  twoFactor: {{transport: sms}}\n")
    assert p.returncode == 0 and f"User/{email} unchanged" in p.stdout, (p.stdout, p.stderr)

    # At login the code now comes by the webhook, to the transport the manifest set.
    login_pending(edge, s, email)
    page = get_ok(s, edge.base + "/auth/two-factor/verify")
    body = hook_json(hook.wait(1))
    assert body["user"]["id"] == user_id, body
    assert body["user"]["twoFactor"] == {"enabled": True, "transport": "sms"}, body
    r = submit(s, edge.base, page.text, "/auth/two-factor/verify", {"token": body["token"]},
               with_field="token")
    assert r.status_code == 303, (r.status_code, msg_error(r.text))
    assert signed_in_as(edge, s) == email
    logout(edge, s)

    # enabled: false is an administrator's reset: the next login has no second step.
    p = apply_manifest(authd, tmpdir_path, "off.yaml",
                       f"- resourceType: User\n  email: {email}\n  twoFactor: {{enabled: false}}\n")
    assert p.returncode == 0 and f"User/{email} updated" in p.stdout, (p.stdout, p.stderr)
    r = password_login(edge, s, email)
    assert r.status_code == 303 and urllib.parse.urlparse(r.headers["Location"]).path == "/", \
        r.headers.get("Location")
    assert "action=twofactor_disabled" in authd.log_text() and "reason=admin_reset" in \
        authd.log_text()

    # Only the user's own enrolment turns it on; a transport needs it on.
    for name, tf in [("on.yaml", "{enabled: true}"), ("tr.yaml", "{transport: voice}")]:
        p = apply_manifest(authd, tmpdir_path, name,
                           f"- resourceType: User\n  email: {email}\n  twoFactor: {tf}\n")
        assert p.returncode == 1 and "not_enabled" in p.stderr, (name, p.stdout, p.stderr)
        assert "twoFactor." in p.stderr, p.stderr
    got = authd.call(U + "Get", users_pb2.GetUserRequest(id=user_id), users_pb2.UserResponse)
    assert not got.user.two_factor.enabled and got.user.two_factor.transport == ""
    # A bad transport name and an unknown twoFactor field never reach authd.
    p = apply_manifest(authd, tmpdir_path, "bad.yaml",
                       f"- resourceType: User\n  email: {email}\n  twoFactor: {{secret: x}}\n")
    assert p.returncode == 4 and "twoFactor.secret" in p.stderr, p.stderr


def test_enable_with_transport_page_and_send_again(authd, edge_with_hook, hook):
    edge = edge_with_hook
    email = "sue@example.com"
    s = new_user(authd, edge, email)
    # The enable page offers the transport when a webhook is configured.
    page = get_ok(s, edge.base + "/auth/two-factor/enable")
    r = submit(s, edge.base, page.text, "/auth/two-factor/enable", {"transport": "sms"})
    assert r.status_code == 200, (r.status_code, msg_error(r.text))
    body = hook_json(hook.wait(1))
    assert body["user"]["twoFactor"] == {"enabled": False, "transport": "sms"}, body
    r = submit(s, edge.base, r.text, "/app/auth/two-factor/confirm", {"token": body["token"]})
    assert r.status_code == 200, (r.status_code, msg_error(r.text))
    assert len(recovery_codes_of(r.text)) == 10
    st = get_ok(s, edge.base + "/auth/two-factor")
    assert "Two-factor authentication is on" in st.text and "sms" in st.text
    logout(edge, s)

    login_pending(edge, s, email)
    hook.fail = True
    page = get_ok(s, edge.base + "/auth/two-factor/verify")
    assert "We could not send the code" in (msg_error(page.text) or ""), page.text[:2000]
    again = form(page.text, "/auth/two-factor/verify", with_field="resend")
    assert again["fields"]["resend"] == "1"
    hook.wait(2)  # the failed delivery was attempted
    assert "event=webhook" in edge.log_text()
    hook.fail = False
    r = submit(s, edge.base, page.text, "/auth/two-factor/verify", {}, with_field="resend")
    assert r.status_code == 200, r.status_code
    assert msg_error(r.text) is None
    assert "We sent you a code" in r.text
    body = hook_json(hook.wait(3))
    assert body["user"]["twoFactor"] == {"enabled": True, "transport": "sms"}, body
    assert re.fullmatch(r"\d{6}", body["token"]), body
    # Still pending until a code is entered.
    assert_pending(edge, s)


def browser_origin(edge, page):
    """The Origin header a browser sends with a form POST made from this page to its own
    origin. Per the Fetch standard ("serializing a request origin") it is "null" when the
    page's referrer policy is no-referrer, else the page's origin (loopback counts as secure)."""
    policy = page.headers.get("Referrer-Policy", "").split(",")[-1].strip().lower()
    return "null" if policy == "no-referrer" else edge.base


def test_2fa_forms_accept_the_origin_a_browser_sends(authd, edge, tmpdir_path):
    """Chromium and Firefox send Origin with every POST; a same-origin form must pass the
    edge's Origin check with what they send, and a foreign one must not."""
    email = "bea@example.com"
    s = new_user(authd, edge, email)
    page, _, secret = qr_page(edge, s, tmpdir_path)
    app = Authenticator(secret)
    code = app.fresh()
    r = submit(s, edge.base, page.text, "/app/auth/two-factor/confirm", {"token": code},
               headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    origin = browser_origin(edge, page)
    r = submit(s, edge.base, page.text, "/app/auth/two-factor/confirm", {"token": code},
               headers={"Origin": origin})
    assert r.status_code == 200, (f"Origin: {origin} (Referrer-Policy: "
                                  f"{page.headers.get('Referrer-Policy')})", r.status_code)
    logout(edge, s)
    login_pending(edge, s, email)
    page = get_ok(s, edge.base + "/auth/two-factor/verify")
    r = submit(s, edge.base, page.text, "/auth/two-factor/verify", {"token": app.fresh()},
               with_field="token", headers={"Origin": browser_origin(edge, page)})
    assert r.status_code == 303, (browser_origin(edge, page), r.status_code)


def test_no_second_factor_secrets_in_logs(authd, edge, tmpdir_path):
    email = "nell@example.com"
    s = new_user(authd, edge, email)
    app, codes = enable_with_app(edge, s, email, tmpdir_path)
    logout(edge, s)
    login_2fa(edge, s, email, app.fresh())
    logs = authd.log_text() + edge.log_text()
    assert app.secret not in logs
    for c in codes:
        assert c not in logs and c.replace("-", "") not in logs


def test_recovery_code_used_for_a_reset_is_mailed(authd, edge, tmpdir_path):
    email = "ruth@example.com"
    s = new_user(authd, edge, email)
    app, codes = enable_with_app(edge, s, email, tmpdir_path)
    other = new_session()
    r = get_ok(other, edge.base + "/auth/forgot-password")
    submit(other, edge.base, r.text, "/auth/forgot-password", {"email": email})
    link = edge.wait_link("reset-password")
    page = get_ok(other, link)
    action = urllib.parse.urlparse(link).path
    assert "A recovery code was used" not in edge.log_text()
    r = submit(other, edge.base, page.text, action,
               {"password": "ruths new password", "password_confirmation": "ruths new password",
                "recovery_code": codes[0]})
    assert r.status_code == 303, (r.status_code, msg_error(r.text))
    log = edge.log_text()
    assert "A recovery code was used" in log and f"to={email}" in log


# ---- the recovery-codes page and the QR page (issue 14 §2) ---------------------------------

DOWNLOAD = "/auth/two-factor/recovery-codes/download"
SAVED = "/auth/two-factor/recovery-codes/saved"


def enrol_to_codes_page(authd, edge, email, tmp):
    """A new user turns 2FA on through the pages; returns (session, app, codes page)."""
    s = new_user(authd, edge, email)
    page, _, secret = qr_page(edge, s, tmp)
    app = Authenticator(secret)
    r = submit(s, edge.base, page.text, "/app/auth/two-factor/confirm", {"token": app.fresh()})
    assert r.status_code == 200, (r.status_code, msg_error(r.text))
    return s, app, r


def test_recovery_codes_page_is_numbered_with_copy_download_print_and_a_button(authd, edge,
                                                                                tmpdir_path):
    s, _, r = enrol_to_codes_page(authd, edge, "olga@example.com", tmpdir_path)
    codes = recovery_codes_of(r.text)
    assert len(codes) == 10
    # Numbered: an <ol>, one code per item.
    assert '<ol id="recovery-codes">' in r.text
    # Copy and Print are buttons of the script (hidden until it runs); Download is a form.
    assert re.search(r'<button type="button"[^>]*data-copy="recovery-codes"[^>]*hidden>Copy<',
                     r.text), r.text[:3000]
    assert re.search(r'<button type="button"[^>]*data-print[^>]*hidden>Print<', r.text)
    assert '<script src="/auth/static/pages.js" defer></script>' in r.text
    dl = form(r.text, DOWNLOAD)
    assert dl["method"] == "post" and dl["fields"]["csrf"]
    # Continue is a button of a form whose checkbox is required; no link to go on.
    cont = form(r.text, SAVED)
    assert cont["types"]["saved"] == "checkbox"
    assert re.search(r'<input type="checkbox"[^>]*name="saved"[^>]*required', r.text)
    assert re.search(r'<label for="f-saved">I have saved these codes</label>', r.text)
    assert re.search(r'<button type="submit">Continue</button>', r.text)
    assert not re.search(r'<a [^>]*>Continue</a>', r.text)
    js = s.get(edge.base + "/auth/static/pages.js")
    assert js.status_code == 200 and js.headers["Content-Type"].startswith("text/javascript")
    assert "navigator.clipboard" in js.text and "window.print" in js.text
    css = s.get(edge.base + "/auth/static/style.css").text
    assert "@media print" in css


def test_recovery_codes_download_is_a_no_store_text_attachment(authd, edge, tmpdir_path):
    s, _, r = enrol_to_codes_page(authd, edge, "pia@example.com", tmpdir_path)
    codes = recovery_codes_of(r.text)
    d = submit(s, edge.base, r.text, DOWNLOAD, {})
    assert d.status_code == 200, (d.status_code, d.text[:500])
    assert d.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert d.headers["Content-Disposition"] == 'attachment; filename="recovery-codes.txt"'
    assert d.headers["Cache-Control"] == "no-store"
    assert d.text == "".join(c + "\n" for c in codes)  # one code per line, as shown
    # Without the CSRF token (a cross-site form) it is refused, and so is a foreign Origin.
    f = form(r.text, DOWNLOAD)
    r2 = s.post(edge.base + DOWNLOAD, data={"codes": f["fields"]["codes"]},
                allow_redirects=False)
    assert r2.status_code == 403 and "Content-Disposition" not in r2.headers
    r2 = s.post(edge.base + DOWNLOAD, data=f["fields"], allow_redirects=False,
                headers={"Origin": "https://evil.example"})
    assert r2.status_code == 403 and "Content-Disposition" not in r2.headers
    # It echoes recovery codes only, never markup or anything else of the poster's choosing.
    for bad in ("", "<script>alert(1)</script>", "a" * 65, " ".join(["abcd"] * 33)):
        r2 = s.post(edge.base + DOWNLOAD, data={"csrf": f["fields"]["csrf"], "codes": bad},
                    allow_redirects=False)
        assert r2.status_code == 400 and "Content-Disposition" not in r2.headers, bad
    # The edge never logs them.
    log = edge.log_text()
    for c in codes:
        assert c not in log
    assert "2fa_codes_downloaded" in log


def test_recovery_codes_continue_needs_the_saved_checkbox(authd, edge, tmpdir_path):
    s, _, r = enrol_to_codes_page(authd, edge, "quin@example.com", tmpdir_path)
    codes = recovery_codes_of(r.text)
    f = form(r.text, SAVED)
    data = {k: v for k, v in f["fields"].items() if k != "saved"}
    refused = s.post(edge.base + SAVED, data=data, allow_redirects=False)
    assert refused.status_code == 400, refused.status_code
    assert "I have saved these codes" in (msg_error(refused.text) or "")
    assert re.search(r'<input type="checkbox"[^>]*name="saved"[^>]*required aria-invalid="true" '
                     r'aria-describedby="page-error"', refused.text), refused.text[:3000]
    assert 'id="page-error"' in refused.text
    # The codes stay on the page, to be saved now.
    assert recovery_codes_of(refused.text) == codes
    ok = submit(s, edge.base, refused.text, SAVED, {"saved": "1"})
    assert ok.status_code == 303 and ok.headers["Location"].endswith("/auth/two-factor")
    # Without the CSRF token, nothing.
    r2 = s.post(edge.base + SAVED, data={"saved": "1"}, allow_redirects=False)
    assert r2.status_code == 403


def test_new_recovery_codes_page_has_the_same_controls(authd, edge, tmpdir_path):
    s, app, _ = enrol_to_codes_page(authd, edge, "rosa@example.com", tmpdir_path)
    st = get_ok(s, edge.base + "/auth/two-factor")
    r = submit(s, edge.base, st.text, "/auth/two-factor/recovery-codes", {"token": app.fresh()})
    assert r.status_code == 200, (r.status_code, msg_error(r.text))
    codes = recovery_codes_of(r.text)
    d = submit(s, edge.base, r.text, DOWNLOAD, {})
    assert d.status_code == 200 and d.text.split("\n")[:-1] == codes
    assert re.search(r'<input type="checkbox"[^>]*name="saved"[^>]*required', r.text)


def otp_params(html_text):
    m = re.search(r'<dl class="otp-params">(.*?)</dl>', html_text, re.S)
    assert m, html_text[:3000]
    return dict(re.findall(r"<dt>([^<]*)</dt><dd>([^<]*)</dd>", m.group(1)))


def test_qr_page_has_the_otpauth_link_and_cant_scan_details(authd, edge, tmpdir_path):
    s = new_user(authd, edge, "sara@example.com")
    page, uri, secret = qr_page(edge, s, tmpdir_path)
    m = re.search(r'<a class="button secondary" id="otpauth-link" href="([^"]*)">'
                  r'Open in authenticator app</a>', page.text)
    assert m, page.text[:3000]
    assert m.group(1).replace("&amp;", "&") == uri  # the QR code's URI, for a tap on a phone
    m = re.search(r'<details class="manual">\s*<summary>Can\'t scan\?</summary>(.*?)</details>',
                  page.text, re.S)
    assert m, page.text[:3000]
    inside = m.group(1)
    assert shown_secret(inside) == secret
    assert re.search(r'<button type="button"[^>]*data-copy="secret"[^>]*hidden>Copy key<', inside)
    _, q = parse_otpauth(uri)
    assert otp_params(inside) == {"Type": "Time-based (TOTP)",
                                  "Algorithm": q.get("algorithm", "SHA1"),
                                  "Digits": q.get("digits", "6"),
                                  "Period": q.get("period", "30") + " seconds"}


def test_wrong_first_code_keeps_the_qr_code_and_key(authd, edge, tmpdir_path):
    s = new_user(authd, edge, "tess@example.com")
    page, uri, secret = qr_page(edge, s, tmpdir_path)
    app = Authenticator(secret)
    r = submit(s, edge.base, page.text, "/app/auth/two-factor/confirm", {"token": app.wrong()})
    assert r.status_code == 401
    assert msg_error(r.text)
    m = re.search(r'<div id="qr">\s*(<svg\b.*?</svg>)\s*</div>', r.text, re.S)
    assert m, "the QR code is gone after a wrong code:\n" + r.text[:2000]
    assert decode_qr(m.group(1), tmpdir_path, "qr-again") == uri
    assert shown_secret(r.text) == secret
    assert 'id="otpauth-link"' in r.text
    # Still the same enrolment: the code of that key, typed on this page, turns 2FA on.
    r = submit(s, edge.base, r.text, "/app/auth/two-factor/confirm", {"token": app.fresh()})
    assert r.status_code == 200, (r.status_code, msg_error(r.text))
    assert len(recovery_codes_of(r.text)) == 10
