# SPDX-License-Identifier: Apache-2.0
"""Users whose codes come by webhook (a two-factor transport such as "sms"), through every page
that asks for a second factor: login, password reset (from the e-mailed link), turning 2FA off
and new recovery codes. Each page sends the code (authd decides: TwoFactor.IssueDeliveryCode
with the session or the reset token), says so in the transport's words (never "authenticator
app"), always offers "Send again", and shows the wait when authd rations deliveries. A delivery
never spends a step: a code sent first still works after "Send again".

A GET sends the code by itself only on the user's own navigation (Sec-Fetch-Site same-origin
or none); a mail scanner's prefetch or another site's link (no header, cross-site, same-site)
gets the page with "Send me a code" and costs nothing.

The webhook receiver and the page helpers are test_twofactor_edge.py's.
"""
import re
import urllib.parse

import pytest

from conftest import Edge, admin_pb2, new_session, set_lockout, users_pb2
from test_twofactor_edge import (AD, U, Hook, form, get_ok, hook_json, login_pending, logout,
                                 msg_error, new_user, password_login, recovery_codes_of,
                                 signed_in_as, submit, wait_for_room_in_step)

SMS_WORDS = "to your phone by SMS"
# What a browser sends on a navigation from our own pages, and on a typed URL, a bookmark or a
# link opened from a mail client (requests sends no Sec-Fetch-* header: a scanner's GET).
OWN = {"Sec-Fetch-Site": "same-origin"}
TYPED = {"Sec-Fetch-Site": "none"}
FOREIGN = ({}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"})


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def put_config(authd, hook, **two_factor):
    authd.call(AD + "PutAuthConfig", admin_pb2.AuthConfig(
        id="app", two_factor=admin_pb2.TwoFactorConfig(
            valid_past_tokens_count=1,
            webhook=admin_pb2.Webhook(endpoint=hook.url, timeout=3000,
                                      headers={"X-Hook-Key": "hook secret 42"}),
            **two_factor)), admin_pb2.AuthConfig)


@pytest.fixture
def edge_hook(tmpdir_path, authd, hook):
    put_config(authd, hook)
    e = Edge(tmpdir_path, authd)
    yield e
    e.stop()


def sms_user(authd, edge, hook, email):
    """A user enrolled with transport sms through the enable page; signed in (session)."""
    s = new_user(authd, edge, email)
    page = get_ok(s, edge.base + "/auth/two-factor/enable")
    r = submit(s, edge.base, page.text, "/auth/two-factor/enable", {"transport": "sms"})
    assert r.status_code == 200, (r.status_code, msg_error(r.text))
    n = len(hook.calls)
    body = hook_json(hook.wait(n))
    r = submit(s, edge.base, r.text, "/app/auth/two-factor/confirm", {"token": body["token"]})
    assert r.status_code == 200, (r.status_code, msg_error(r.text))
    assert len(recovery_codes_of(r.text)) == 10
    return s


def user_id(authd, email):
    return authd.call(U + "Get", users_pb2.GetUserRequest(email=email),
                      users_pb2.UserResponse).user.id


def assert_webhook_words(html):
    """The page speaks of the code that was sent, never of an authenticator app."""
    assert SMS_WORDS in html, html[:3000]
    assert "authenticator app" not in html, html[:3000]


def resend_form(html, action):
    f = form(html, action, with_field="resend")
    assert f["fields"]["resend"] == "1"
    return f


def next_code(hook, count):
    """The code of the count-th webhook call, after checking its body."""
    body = hook_json(hook.wait(count))
    assert body["user"]["twoFactor"]["transport"] == "sms", body
    assert re.fullmatch(r"\d{6}", body["token"]), body
    return body


def test_login_says_sms_and_send_again_keeps_the_first_code(authd, edge_hook, hook):
    edge = edge_hook
    email = "login-sms@example.com"
    s = sms_user(authd, edge, hook, email)
    logout(edge, s)
    wait_for_room_in_step(10)  # both deliveries in one TOTP step: the same code twice
    n = len(hook.calls)
    login_pending(edge, s, email)
    page = get_ok(s, edge.base + "/auth/two-factor/verify")
    first = next_code(hook, n + 1)
    assert first["user"]["id"] == user_id(authd, email)
    assert_webhook_words(page.text)
    assert "We sent you a code " + SMS_WORDS in page.text
    # "Send again" is offered although the first delivery went through.
    resend_form(page.text, "/auth/two-factor/verify")
    r = submit(s, edge.base, page.text, "/auth/two-factor/verify", {}, with_field="resend")
    assert r.status_code == 200, r.status_code
    assert_webhook_words(r.text)
    next_code(hook, n + 2)
    # Sending again spent nothing: the first code still signs in.
    r = submit(s, edge.base, r.text, "/auth/two-factor/verify", {"token": first["token"]},
               with_field="token")
    assert r.status_code == 303, (r.status_code, msg_error(r.text))
    assert signed_in_as(edge, s) == email


def test_password_reset_sends_the_code(authd, edge_hook, hook):
    edge = edge_hook
    email = "reset-sms@example.com"
    sms_user(authd, edge, hook, email)
    other = new_session()
    r = get_ok(other, edge.base + "/auth/forgot-password")
    submit(other, edge.base, r.text, "/auth/forgot-password", {"email": email})
    link = edge.wait_link("reset-password")
    action = urllib.parse.urlparse(link).path
    n = len(hook.calls)
    page = get_ok(other, link, TYPED)
    body = next_code(hook, n + 1)
    assert body["user"]["id"] == user_id(authd, email)
    assert_webhook_words(page.text)
    resend_form(page.text, action)
    new_pw = {"password": "a new sms password", "password_confirmation": "a new sms password"}
    # A wrong code is refused in the transport's words, and sends nothing.
    r = submit(other, edge.base, page.text, action, dict(new_pw, token="000000"
                                                         if body["token"] != "000000"
                                                         else "111111"), with_field="password")
    assert r.status_code == 401, r.status_code
    assert "the code we sent you" in (msg_error(r.text) or ""), msg_error(r.text)
    assert "authenticator app" not in r.text
    assert len(hook.calls) == n + 1
    # Send again, then the first code still resets the password.
    r = submit(other, edge.base, page.text, action, {}, with_field="resend")
    assert r.status_code == 200, r.status_code
    next_code(hook, n + 2)
    r = submit(other, edge.base, page.text, action, dict(new_pw, token=body["token"]),
               with_field="password")
    assert r.status_code == 303, (r.status_code, msg_error(r.text))
    # The link is used: opening it again sends no code.
    r = other.get(link, allow_redirects=False)
    assert r.status_code != 200 or "Link not valid" in r.text
    assert len(hook.calls) == n + 2
    s2 = new_session()
    r = password_login(edge, s2, email, "a new sms password")
    assert urllib.parse.urlparse(r.headers["Location"]).path == "/auth/two-factor/verify"


def test_disable_sends_the_code(authd, edge_hook, hook):
    edge = edge_hook
    email = "disable-sms@example.com"
    s = sms_user(authd, edge, hook, email)
    n = len(hook.calls)
    page = get_ok(s, edge.base + "/auth/two-factor/disable", OWN)
    body = next_code(hook, n + 1)
    assert_webhook_words(page.text)
    resend_form(page.text, "/auth/two-factor/disable")
    r = submit(s, edge.base, page.text, "/auth/two-factor/disable", {"token": body["token"]},
               with_field="token")
    assert r.status_code == 303, (r.status_code, msg_error(r.text))
    st = get_ok(s, edge.base + "/auth/two-factor")
    assert "Two-factor authentication is off" in st.text
    # Off: the page sends nothing any more.
    r = s.get(edge.base + "/auth/two-factor/disable", allow_redirects=False)
    assert r.status_code == 303
    assert len(hook.calls) == n + 1


def test_new_recovery_codes_send_the_code(authd, edge_hook, hook):
    edge = edge_hook
    email = "regen-sms@example.com"
    s = sms_user(authd, edge, hook, email)
    st = get_ok(s, edge.base + "/auth/two-factor")
    assert "authenticator app" not in st.text, st.text
    assert 'href="/auth/two-factor/recovery-codes"' in st.text
    n = len(hook.calls)
    page = get_ok(s, edge.base + "/auth/two-factor/recovery-codes", OWN)
    body = next_code(hook, n + 1)
    assert_webhook_words(page.text)
    resend_form(page.text, "/auth/two-factor/recovery-codes")
    r = submit(s, edge.base, page.text, "/auth/two-factor/recovery-codes",
               {"token": body["token"]}, with_field="token")
    assert r.status_code == 200, (r.status_code, msg_error(r.text))
    assert len(recovery_codes_of(r.text)) == 10


def assert_offers_the_button(html, action):
    """A page that sent nothing: it says so, and "Send me a code" posts resend=1 back."""
    assert "We sent you a code" not in html, html[:3000]
    assert "Press Send me a code and we will send you a code " + SMS_WORDS in html, html[:3000]
    f = resend_form(html, action)
    assert ">Send me a code<" in html, html[:3000]
    return f


@pytest.mark.parametrize("path", ["/auth/two-factor/disable", "/auth/two-factor/recovery-codes"])
def test_code_pages_send_nothing_on_a_foreign_get(authd, edge_hook, hook, path):
    edge = edge_hook
    email = "foreign-get%s@example.com" % path.rsplit("/", 1)[1]
    s = sms_user(authd, edge, hook, email)
    n = len(hook.calls)
    for headers in FOREIGN:
        page = get_ok(s, edge.base + path, headers)
        assert_offers_the_button(page.text, path)
    assert len(hook.calls) == n
    # The button sends the code (a CSRF-protected POST), and that code is accepted.
    r = submit(s, edge.base, page.text, path, {}, with_field="resend")
    assert r.status_code == 200, r.status_code
    assert "We sent you a code " + SMS_WORDS in r.text
    body = next_code(hook, n + 1)
    resend_form(r.text, path)
    assert ">Send again<" in r.text
    r = submit(s, edge.base, r.text, path, {"token": body["token"]}, with_field="token")
    assert r.status_code in (200, 303), (r.status_code, msg_error(r.text))
    # Without the CSRF token the button is refused and sends nothing.
    bad = s.post(edge.base + path, data={"resend": "1"}, allow_redirects=False)
    assert bad.status_code in (303, 403), bad.status_code
    assert len(hook.calls) == n + 1


def test_reset_link_sends_nothing_when_prefetched(authd, edge_hook, hook):
    edge = edge_hook
    email = "reset-prefetch@example.com"
    sms_user(authd, edge, hook, email)
    other = new_session()
    r = get_ok(other, edge.base + "/auth/forgot-password")
    submit(other, edge.base, r.text, "/auth/forgot-password", {"email": email})
    link = edge.wait_link("reset-password")
    action = urllib.parse.urlparse(link).path
    n = len(hook.calls)
    scanner = new_session()
    for headers in FOREIGN:
        page = get_ok(scanner, link, headers)
        assert_offers_the_button(page.text, action)
    assert len(hook.calls) == n
    # The user opens it later: the button sends the code, which resets the password.
    page = get_ok(other, link, {})
    r = submit(other, edge.base, page.text, action, {}, with_field="resend")
    assert r.status_code == 200, r.status_code
    body = next_code(hook, n + 1)
    new_pw = {"password": "a prefetched password", "password_confirmation":
              "a prefetched password"}
    r = submit(other, edge.base, r.text, action, dict(new_pw, token=body["token"]),
               with_field="password")
    assert r.status_code == 303, (r.status_code, msg_error(r.text))


def test_locked_code_step_says_wrong_codes_not_rationing(authd, edge_hook, hook):
    edge = edge_hook
    email = "locked-sms@example.com"
    s = sms_user(authd, edge, hook, email)
    set_lockout(authd, secondFactor={"account": {"freeFailures": 2, "firstWait": 600,
                                                 "maxWait": 1200, "window": 3600}})
    path = "/auth/two-factor/disable"
    n = len(hook.calls)
    page = get_ok(s, edge.base + path, OWN)
    good = next_code(hook, n + 1)["token"]
    wrong = "000000" if good != "000000" else "111111"
    r = None
    for _ in range(8):
        r = submit(s, edge.base, page.text, path, {"token": wrong}, with_field="token")
        if r.status_code == 429:
            break
        assert r.status_code == 401, (r.status_code, msg_error(r.text))
    assert r.status_code == 429, r.status_code
    n = len(hook.calls)
    # Opening the page again sends nothing and says why, not "a code was sent a moment ago".
    page = get_ok(s, edge.base + path, OWN)
    assert len(hook.calls) == n
    assert "A code was sent to you a moment ago" not in page.text
    m = re.search(r"Too many wrong codes\. Try again in (\d+) seconds?\.", page.text)
    assert m and 0 < int(m.group(1)) <= 600, page.text[:3000]
    # "Send again" says the same, with the wait in Retry-After.
    r = submit(s, edge.base, page.text, path, {}, with_field="resend")
    assert r.status_code == 429, r.status_code
    assert "Too many wrong codes. Try again in" in r.text
    assert 0 < int(r.headers["Retry-After"]) <= 600
    assert len(hook.calls) == n


def test_send_again_shows_the_wait_when_rationed(authd, edge_hook, hook):
    edge = edge_hook
    email = "rationed-sms@example.com"
    s = sms_user(authd, edge, hook, email)
    set_lockout(authd, delivery={"account": {"freeFailures": 2, "firstWait": 600,
                                             "maxWait": 1200, "window": 3600}})
    logout(edge, s)
    login_pending(edge, s, email)
    page = get_ok(s, edge.base + "/auth/two-factor/verify")
    r = None
    for _ in range(6):
        r = submit(s, edge.base, page.text, "/auth/two-factor/verify", {}, with_field="resend")
        if r.status_code == 429:
            break
        assert r.status_code == 200, r.status_code
    assert r.status_code == 429, r.status_code
    wait = int(r.headers["Retry-After"])
    assert 0 < wait <= 600, wait
    m = re.search(r'id="resend-wait">You can ask for a new code in (\d+) seconds?\.', r.text)
    assert m and int(m.group(1)) == wait, r.text[:3000]
    # Still a page to type the code on, in the transport's words, with "Send again".
    assert_webhook_words(r.text)
    resend_form(r.text, "/auth/two-factor/verify")
    form(r.text, "/auth/two-factor/verify", with_field="token")


def test_app_user_pages_say_app_and_send_nothing(authd, edge_hook, hook, tmpdir_path):
    from test_twofactor_edge import enable_with_app, verify
    edge = edge_hook
    email = "app-user@example.com"
    s = new_user(authd, edge, email)
    app, _ = enable_with_app(edge, s, email, tmpdir_path)
    n = len(hook.calls)
    for path in ("/auth/two-factor/disable", "/auth/two-factor/recovery-codes"):
        page = get_ok(s, edge.base + path)
        assert "authenticator app" in page.text and "We sent" not in page.text
        assert not [f for f in re.findall(r'name="resend"', page.text)], path
    logout(edge, s)
    login_pending(edge, s, email)
    page = get_ok(s, edge.base + "/auth/two-factor/verify")
    assert "Enter the code from your authenticator app" in page.text
    assert "We sent" not in page.text and 'name="resend"' not in page.text
    assert len(hook.calls) == n
    r = verify(edge, s, app.fresh())
    assert r.status_code == 303, (r.status_code, msg_error(r.text))


def test_enrolment_offers_the_configured_transports(authd, hook, tmpdir_path):
    """twoFactor.transports (set by a manifest, as an operator does) becomes radio choices on
    the enable page; authd refuses any other; the chosen one rides in the webhook body."""
    import os
    import subprocess
    from conftest import AUTHCTL
    path = os.path.join(tmpdir_path, "cfg.yaml")
    with open(path, "w") as f:
        f.write("resourceType: AuthConfig\nid: app\ntwoFactor:\n  validPastTokensCount: 1\n"
                "  transports: [sms, voice]\n"
                f"  webhook:\n    endpoint: {hook.url}\n    timeout: 3000\n"
                "    headers: {X-Hook-Key: hook secret 42}\n")
    p = subprocess.run([AUTHCTL, "--authd", authd.target, "apply", "-f", path],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, (p.stdout, p.stderr)
    got = authd.call(AD + "GetAuthConfig", admin_pb2.GetAuthConfigRequest(), admin_pb2.AuthConfig)
    assert list(got.two_factor.transports) == ["sms", "voice"]
    edge = Edge(tmpdir_path, authd)
    try:
        email = "voice@example.com"
        s = new_user(authd, edge, email)
        page = get_ok(s, edge.base + "/auth/two-factor/enable")
        radios = re.findall(r'<input type="radio" name="transport" value="([^"]*)"', page.text)
        assert radios == ["sms", "voice"], page.text[:3000]
        assert not re.search(r'<input type="text"[^>]*name="transport"', page.text)
        # A name the operator did not offer is refused by authd (the edge only carries it).
        r = submit(s, edge.base, page.text, "/auth/two-factor/enable", {"transport": "pigeon"})
        assert r.status_code == 400 and "Choose one of the ways offered" in (msg_error(r.text)
                                                                           or ""), r.text[:2000]
        assert len(hook.calls) == 0
        r = submit(s, edge.base, page.text, "/auth/two-factor/enable", {"transport": "voice"})
        assert r.status_code == 200, (r.status_code, msg_error(r.text))
        body = hook_json(hook.wait(1))
        assert body["transport"] == "voice", body
        assert body["user"]["twoFactor"] == {"enabled": False, "transport": "voice"}, body
        assert set(body) == {"user", "token", "transport"}, body
        r = submit(s, edge.base, r.text, "/app/auth/two-factor/confirm", {"token": body["token"]})
        assert r.status_code == 200, (r.status_code, msg_error(r.text))
        # The code pages now speak of a voice call.
        page = get_ok(s, edge.base + "/auth/two-factor/disable", OWN)
        assert "to your phone by a voice call" in page.text
        assert "authenticator app" not in page.text
        assert hook_json(hook.wait(2))["transport"] == "voice"
    finally:
        edge.stop()


def test_enrolment_send_again_keeps_the_first_code(authd, edge_hook, hook):
    """"Send again" on the enrolment's code page sends the pending enrolment's code again (no
    new secret): the first code still turns two-factor on; the words are the transport's."""
    edge = edge_hook
    s = new_user(authd, edge, "enrol-again@example.com")
    page = get_ok(s, edge.base + "/auth/two-factor/enable")
    r = submit(s, edge.base, page.text, "/auth/two-factor/enable", {"transport": "sms"})
    assert r.status_code == 200, (r.status_code, msg_error(r.text))
    first = next_code(hook, 1)
    assert "We sent you a code " + SMS_WORDS in r.text, r.text[:3000]
    resend_form(r.text, "/auth/two-factor/enable")
    again = submit(s, edge.base, r.text, "/auth/two-factor/enable", {}, with_field="resend")
    assert again.status_code == 200, (again.status_code, msg_error(again.text))
    assert "We sent you a code " + SMS_WORDS in again.text
    next_code(hook, 2)
    r = submit(s, edge.base, again.text, "/app/auth/two-factor/confirm",
               {"token": first["token"]})
    assert r.status_code == 200, (r.status_code, msg_error(r.text))
    assert len(recovery_codes_of(r.text)) == 10
