# SPDX-License-Identifier: Apache-2.0
"""Issue 14, "say the numbers": the pages, e-mails and authctl state the password rule, the
lockout's wait and a link's lifetime from authd's own values; the check-your-e-mail pages can
send the mail again; signing out says so; theme.title is on the form and every page has its own
<title>. Driven as an outside client against real processes."""
import math
import re
import subprocess

import pytest
import requests

from conftest import (AUTHCTL, FAST_ARGON2, LONG_LOCK, Authd, Edge, admin_pb2, csrf_of,
                      long_locks, new_session)

PASSWORD = "a long enough password"
RULE = 8  # authd/password.h PASSWORD_MIN_LEN: what authd must report, checked below
EM_DASH = "\u2014"


def get_form(s, url):
    r = s.get(url)
    assert r.status_code == 200, (r.status_code, r.text[:500])
    return r, csrf_of(r.text)


def signup(edge, s, email, count=1):
    r, csrf = get_form(s, edge.base + "/auth/signup")
    r = s.post(edge.base + "/auth/signup", data={"email": email, "csrf": csrf})
    assert r.status_code == 200, r.text[:500]
    return r, edge.wait_link("signup/confirm", count)


def make_user(edge, email):
    s = new_session()
    _, link = signup(edge, s, email)
    r, csrf = get_form(s, link)
    r = s.post(link, data={"password": PASSWORD, "password_confirmation": PASSWORD,
                           "csrf": csrf}, allow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    return s


def new_password_inputs(html):
    """The <input> tags of the new-password fields (password, password_confirmation)."""
    return re.findall(r'<input[^>]*name="password(?:_confirmation)?"[^>]*>', html)


def assert_rule_shown(html, in_error=False):
    """The page states authd's rule in words and as minlength on both new-password fields; the
    words describe the field (aria-describedby), or in error the error box does, which says the
    rule too."""
    tags = new_password_inputs(html)
    assert len(tags) == 2, html[:3000]
    for t in tags:
        assert f'minlength="{RULE}"' in t, t
    assert f"At least {RULE} characters." in html
    want = 'aria-describedby="page-error"' if in_error else 'aria-describedby="f-password-rule"'
    assert want in tags[0], tags[0]


def mail_lines(edge, subject):
    return [ln for ln in edge.log_text().splitlines()
            if "event=mail " in ln and f'subject="{subject}"' in ln]


def test_authd_reports_its_password_rule(authd):
    cfg = authd.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                     admin_pb2.AuthConfig)
    assert cfg.password_policy.min_length == RULE
    assert cfg.password_policy.max_bytes == 1024
    # Read-only: a put cannot change it, and it is not stored as if it were config.
    cfg.id = "app"
    cfg.password_policy.min_length = 3
    put = authd.call("/authd.v1.Admin/PutAuthConfig", cfg, admin_pb2.AuthConfig)
    assert put.password_policy.min_length == RULE
    again = authd.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                       admin_pb2.AuthConfig)
    assert again.password_policy.min_length == RULE and again.id == "app"


def test_password_rule_on_signup_page_and_error(edge):
    s = new_session()
    _, link = signup(edge, s, "rule1@example.com")
    r, csrf = get_form(s, link)
    assert_rule_shown(r.text)
    r = s.post(link, data={"password": "short", "password_confirmation": "short", "csrf": csrf})
    assert r.status_code == 400
    assert f"use at least {RULE} characters" in r.text, r.text[:2000]
    assert_rule_shown(r.text, in_error=True)  # the form again, with the rule


def test_password_rule_on_reset_page_and_error(edge):
    make_user(edge, "rule2@example.com")
    s = new_session()
    r, csrf = get_form(s, edge.base + "/auth/forgot-password")
    s.post(edge.base + "/auth/forgot-password", data={"email": "rule2@example.com", "csrf": csrf})
    link = edge.wait_link("reset-password")
    r, csrf = get_form(s, link)
    assert_rule_shown(r.text)
    r = s.post(link, data={"password": "1234567", "password_confirmation": "1234567",
                           "csrf": csrf})
    assert r.status_code == 400
    assert f"use at least {RULE} characters" in r.text, r.text[:2000]


def test_password_rule_on_change_page_and_error(edge):
    s = make_user(edge, "rule3@example.com")
    r, csrf = get_form(s, edge.base + "/auth/password")
    assert_rule_shown(r.text)
    r = s.post(edge.base + "/auth/password", data={
        "current_password": PASSWORD, "password": "tiny", "password_confirmation": "tiny",
        "csrf": csrf})
    assert r.status_code == 400
    assert f"use at least {RULE} characters" in r.text, r.text[:2000]


def ctl(authd, *args, stdin=None):
    return subprocess.run([AUTHCTL, "--authd", authd.target] + list(args), input=stdin,
                          capture_output=True, text=True, timeout=30)


def test_authctl_says_the_password_rule(authd):
    want = f"the password must have at least {RULE} characters"
    p = ctl(authd, "user", "create", "--email", "short@example.com", "--password-stdin",
            stdin="short\n")
    assert p.returncode == 1 and want in p.stderr, p.stderr
    p = ctl(authd, "user", "create", "--email", "ok@example.com", "--password-stdin",
            stdin=PASSWORD + "\n")
    assert p.returncode == 0, p.stderr
    uid = re.search(r"User/(\S+) created", p.stdout).group(1)
    p = ctl(authd, "user", "set-password", "--id", uid, "--password-stdin", stdin="1234\n")
    assert p.returncode == 1 and want in p.stderr, p.stderr
    p = ctl(authd, "user", "set-password", "--id", uid, "--password-stdin",
            stdin="x" * 1025 + "\n")
    assert p.returncode != 0 and "1024 bytes" in p.stderr, p.stderr  # authctl's own check


def test_lockout_page_says_how_long(edge, authd):
    long_locks(authd)  # the lock outlasts however slowly the pages are served
    make_user(edge, "locked@example.com")
    b = new_session()
    for i in range(6):
        r, csrf = get_form(b, edge.base + "/auth/login")
        b.post(edge.base + "/auth/login", data={"email": "locked@example.com",
                                                "password": f"wrong {i}", "csrf": csrf})
    r, csrf = get_form(b, edge.base + "/auth/login")
    r = b.post(edge.base + "/auth/login", data={"email": "locked@example.com",
                                                "password": PASSWORD, "csrf": csrf})
    assert r.status_code == 429
    ra = int(r.headers["Retry-After"])
    assert LONG_LOCK // 2 < ra <= LONG_LOCK, ra
    # The same number as the header, in minutes (rounded up) once it is two minutes or more.
    assert f"Try again in {math.ceil(ra / 60)} minutes." in r.text, r.text[:2000]


def test_mail_lockout_page_says_how_long(edge, authd):
    long_locks(authd)
    s = new_session()
    r, csrf = get_form(s, edge.base + "/auth/forgot-password")
    for _ in range(8):
        r = s.post(edge.base + "/auth/forgot-password",
                   data={"email": "nobody@example.com", "csrf": csrf})
        if r.status_code == 429:
            break
    assert r.status_code == 429
    ra = int(r.headers["Retry-After"])
    assert f"Try again in {math.ceil(ra / 60)} minutes." in r.text, r.text[:2000]


@pytest.fixture
def ttl_stack(tmpdir_path):
    a = Authd(tmpdir_path, FAST_ARGON2 + ["--signup-ttl", "7200", "--reset-ttl", "1800"])
    e = Edge(tmpdir_path, a)
    yield a, e
    e.stop()
    a.stop()


def test_mails_say_how_long_the_link_lives(ttl_stack):
    authd, edge = ttl_stack
    make_user(edge, "ttl@example.com")
    (line,) = mail_lines(edge, "Confirm your e-mail")
    assert "expires in 2 hours." in line, line
    s = new_session()
    r, csrf = get_form(s, edge.base + "/auth/forgot-password")
    s.post(edge.base + "/auth/forgot-password", data={"email": "ttl@example.com", "csrf": csrf})
    link = edge.wait_link("reset-password")
    (line,) = mail_lines(edge, "Reset your password")
    assert "expires in 30 minutes." in line, line
    assert link in line.split(" body=", 1)[1]


def test_console_mail_body_shows_the_link(edge):
    _, link = signup(edge, new_session(), "console@example.com")
    (line,) = mail_lines(edge, "Confirm your e-mail")
    body = line.split(" body=", 1)[1]
    assert "{link}" not in body
    assert link in body
    assert len(edge.links("signup/confirm")) == 1  # still one link per mail for scripts


def resend_form(html, action):
    m = re.search(r'<form method="post" action="' + re.escape(action) + r'">(.*?)</form>',
                  html, re.S)
    assert m, html[:3000]
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', m.group(1)))
    assert "Resend the e-mail" in m.group(1)
    return fields


def test_signup_resend(edge):
    s = new_session()
    r, link1 = signup(edge, s, "resend@example.com")
    f = resend_form(r.text, "/auth/signup")
    assert f["email"] == "resend@example.com" and f["resend"] == "1" and f["csrf"]
    r = s.post(edge.base + "/auth/signup", data=f)
    assert r.status_code == 200 and "We sent the e-mail again." in r.text
    link2 = edge.wait_link("signup/confirm", 2)
    assert link2 != link1
    # Without the CSRF token nothing is sent.
    r = s.post(edge.base + "/auth/signup", data={"email": "resend@example.com", "resend": "1"})
    assert r.status_code == 403
    # An address with an account gets the same page (only the address differs).
    make_user(edge, "has@example.com")
    s2 = new_session()
    r_new, _ = signup(edge, s2, "fresh@example.com", count=4)
    s3 = new_session()
    r_old, csrf = get_form(s3, edge.base + "/auth/signup")
    r_old = s3.post(edge.base + "/auth/signup", data={"email": "has@example.com", "csrf": csrf})
    scrub = lambda t: re.sub(r'value="[^"]{20,}"', "", t).replace("fresh@", "X@").replace(
        "has@", "X@")
    assert scrub(r_new.text) == scrub(r_old.text)


def test_reset_resend_same_for_any_address(edge, authd):
    make_user(edge, "reset-again@example.com")
    pages = {}
    for email in ("reset-again@example.com", "no-account@example.com"):
        s = new_session()
        r, csrf = get_form(s, edge.base + "/auth/forgot-password")
        r = s.post(edge.base + "/auth/forgot-password", data={"email": email, "csrf": csrf})
        f = resend_form(r.text, "/auth/forgot-password")
        assert f["email"] == email and f["resend"] == "1"
        r = s.post(edge.base + "/auth/forgot-password", data=f)
        assert r.status_code == 200 and "We sent the e-mail again." in r.text
        pages[email] = re.sub(r'value="[^"]{20,}"', "", r.text).replace(email, "X")
    assert pages["reset-again@example.com"] == pages["no-account@example.com"]
    edge.wait_link("reset-password", 2)  # two mails for the account, none for the other
    assert len(mail_lines(edge, "Reset your password")) == 2
    # Resending goes through the same limit as asking: the mail lockout ends it.
    long_locks(authd)
    s = new_session()
    r, csrf = get_form(s, edge.base + "/auth/forgot-password")
    f = {"email": "reset-again@example.com", "csrf": csrf, "resend": "1"}
    codes = [s.post(edge.base + "/auth/forgot-password", data=f).status_code for _ in range(6)]
    assert codes[-1] == 429, codes


def test_signed_out_notice(edge):
    s = make_user(edge, "bye@example.com")
    home = s.get(edge.base + "/")
    r = s.post(edge.base + "/auth/logout", data={"csrf": csrf_of(home.text)},
               allow_redirects=False)
    assert r.status_code == 303
    r = s.get(edge.base + r.headers["Location"] if r.headers["Location"].startswith("/")
              else r.headers["Location"])
    assert r.status_code == 200 and "You are signed out." in r.text
    # Only after a sign-out: the plain sign-in page does not say it.
    assert "You are signed out." not in requests.get(edge.base + "/auth/login").text


def test_theme_title_on_form_and_page_titles(tmpdir_path):
    a = Authd(tmpdir_path, FAST_ARGON2)
    e = None
    try:
        # Put before the edge starts: its first request then reads it, no cache to wait out.
        a.call("/authd.v1.Admin/PutAuthConfig", admin_pb2.AuthConfig(
            id="app", theme=admin_pb2.Theme(title="Acme <Login>", brand="Acme")),
            admin_pb2.AuthConfig)
        e = Edge(tmpdir_path, a)
        for path, heading in (("/auth/login", "Sign in"), ("/auth/signup", "Create an account"),
                              ("/auth/forgot-password", "Forgot your password?")):
            r = requests.get(e.base + path)
            assert f"<title>{heading} {EM_DASH} Acme &lt;Login&gt;</title>" in r.text, r.text[:800]
            assert '<p class="form-title">Acme &lt;Login&gt;</p>\n<h1>' in r.text
            assert 'class="brand" href="/">Acme</a>' in r.text
    finally:
        if e is not None:
            e.stop()
        a.stop()
