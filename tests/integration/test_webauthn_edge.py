# SPDX-License-Identifier: Apache-2.0
"""Passkeys and security keys through authd-edge (issue 15), against the real processes, with
softauthn.py as the browser's authenticator: the settings page (add, list, rename, remove and its
second-factor rule), the first key turning two-factor on with recovery codes shown once, a key as
the second factor of a password login (an OAuth flow resuming after it), passwordless sign-in
bound to the browser that began it, a passkey as the proof for turning 2FA off and for new
recovery codes, the JSON starts refused without the CSRF token or from another site, and a
response from a wrong origin refused by authd with a clear message.

The edge's public URL is http://localhost:<port> (WebAuthn wants a name, and authd's rpId is
"localhost"); requests go to 127.0.0.1:<port>, the same socket."""
import json
import re
import time
import urllib.parse

import grpc
import pytest

from conftest import Authd, Edge, admin_pb2, csrf_of, free_port, new_session
from softauthn import SoftAuthenticator
from test_twofactor_edge import (create_user, logout, msg_error, password_login,
                                 recovery_codes_of, signed_in_as)

PASSWORD = "a long enough password"
OAUTH = {"client_id": "web", "response_type": "code",
         "redirect_uri": "https://app.example/callback", "state": "st&ate=1",
         "scope": "openid"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """authd with AuthConfig.webauthn (rpId localhost, the edge's origin) and an edge whose
    public URL is http://localhost:<port>."""
    tmp = str(tmp_path_factory.mktemp("webauthn"))
    authd = Authd(tmp)
    edge = None
    try:
        for _ in range(5):
            port = free_port()
            try:
                edge = Edge(tmp, authd, listen=f"127.0.0.1:{port}",
                            extra=["--base-url", f"http://localhost:{port}",
                                   "--mail-provider", "console"])
                break
            except RuntimeError:
                continue
        assert edge is not None
        edge.origin = f"http://localhost:{edge.port}"
        cfg = authd.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                         admin_pb2.AuthConfig)
        cfg.webauthn.rp_id = "localhost"
        del cfg.webauthn.origins[:]
        cfg.webauthn.origins.append(edge.origin)
        authd.call("/authd.v1.Admin/PutAuthConfig", cfg, admin_pb2.AuthConfig)
        # The edge rereads the AuthConfig at most every 2 s: wait for the passkey button.
        deadline = time.time() + 15
        while "Sign in with a passkey" not in new_session().get(edge.base + "/auth/login").text:
            assert time.time() < deadline, "the login page never offered passkeys"
            time.sleep(0.2)
        yield authd, edge
    finally:
        if edge is not None:
            edge.stop()
        authd.stop()


@pytest.fixture
def keys(site):
    """site, for tests that need authd's WebAuthn service (skipped while authd has none)."""
    authd, _ = site
    from authd.v1 import webauthn_pb2
    try:
        authd.call("/authd.v1.WebAuthn/ListCredentials", webauthn_pb2.ListCredentialsRequest(),
                   webauthn_pb2.WebAuthnCredentialList)
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.UNIMPLEMENTED:
            pytest.skip("this authd has no WebAuthn service yet")
    return site


def get_ok(s, url):
    r = s.get(url)
    assert r.status_code == 200, (url, r.status_code, r.text[:800])
    return r


def begin(edge, s, path, body, csrf, headers=None):
    h = {"Content-Type": "application/json", "X-CSRF-Token": csrf, "Origin": edge.origin,
         "Sec-Fetch-Site": "same-origin"}
    h.update(headers or {})
    return s.post(edge.base + path, data=json.dumps(body), headers=h, allow_redirects=False)


def form_fields(html, action, kind=None):
    """The fields of the form posting to action (the passkey form of kind when given)."""
    for m in re.finditer(r"<form\b([^>]*)>(.*?)</form>", html, re.S):
        attrs, inner = m.group(1), m.group(2)
        if f'action="{action}"' not in attrs:
            continue
        if kind is not None and f'data-passkey="{kind}"' not in attrs:
            continue
        fields = dict(re.findall(r'<input [^>]*?name="([^"]+)"[^>]*?value="([^"]*)"', inner))
        return {k: v.replace("&amp;", "&") for k, v in fields.items()}
    raise AssertionError(f"no form to {action} ({kind}):\n{html[:3000]}")


def new_user(authd, edge, email):
    create_user(authd, email)
    s = new_session()
    r = password_login(edge, s, email)
    assert r.status_code == 303, (r.status_code, msg_error(r.text))
    return s


def register(edge, s, auth, name, passkey=True, origin=None):
    """Adds a key as the settings page's script does; returns the answer to the form POST."""
    page = get_ok(s, edge.base + "/auth/passkeys")
    fields = form_fields(page.text, "/auth/passkeys/add", "register")
    r = begin(edge, s, "/auth/passkeys/registration", {"passkey": passkey}, fields["csrf"])
    assert r.status_code == 200, (r.status_code, r.text)
    started = r.json()
    assert started["ceremony_id"] and started["expires_at"] > time.time()
    cred = auth.create(json.dumps(started["options"]), origin or edge.origin)
    fields.update(ceremony_id=started["ceremony_id"], credential=cred, name=name)
    return s.post(edge.base + "/auth/passkeys/add", data=fields, allow_redirects=False)


def step_up(edge, s, auth, page_html, action):
    """"Confirm with your passkey" on a page: a step-up assertion posted to action."""
    fields = form_fields(page_html, action, "confirm")
    r = begin(edge, s, "/auth/passkeys/assertion", {}, fields["csrf"])
    assert r.status_code == 200, (r.status_code, r.text)
    started = r.json()
    fields.update(ceremony_id=started["ceremony_id"],
                  credential=auth.get(json.dumps(started["options"]), edge.origin))
    return s.post(edge.base + action, data=fields, allow_redirects=False)


def keys_listed(edge, s):
    page = get_ok(s, edge.base + "/auth/passkeys")
    m = re.search(r'<ul id="passkeys"[^>]*>(.*?)</ul>', page.text, re.S)
    if not m:
        return []
    return re.findall(r"<li><strong>([^<]*)</strong> <span class=\"badge\">([^<]*)</span>"
                      r"<br><span class=\"muted\">Added ([^,]*), last used ([^<]*)</span>",
                      m.group(1))


# ---- refusals before authd is asked ---------------------------------------------------------

def test_json_starts_need_csrf_and_same_origin(site):
    authd, edge = site
    s = new_user(authd, edge, "csrf@example.com")
    csrf = csrf_of(get_ok(s, edge.base + "/").text)
    path = "/auth/passkeys/registration"
    r = begin(edge, s, path, {}, "")
    assert r.status_code == 403 and r.json()["error"] == "csrf", r.text
    r = begin(edge, s, path, {}, "x" * 43)
    assert r.status_code == 403 and r.json()["error"] == "csrf", r.text
    r = begin(edge, s, path, {}, csrf, {"Origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["error"] == "forbidden", r.text
    r = begin(edge, s, path, {}, csrf, {"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403 and r.json()["error"] == "forbidden", r.text
    r = begin(edge, s, path, {}, csrf, {"Content-Type": "text/plain"})
    assert r.status_code == 415, r.text
    r = s.post(edge.base + path, data=json.dumps({"pad": "x" * 40000}),
               headers={"Content-Type": "application/json", "X-CSRF-Token": csrf})
    assert r.status_code == 413, r.text
    r = begin(edge, s, path, {"passkey": "yes"}, csrf)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    r = begin(edge, s, "/auth/passkeys/assertion", {"passwordless": 1}, csrf)
    assert r.status_code == 400, r.text
    # Without a session there is nothing to register for.
    anon = new_session()
    anon_csrf = csrf_of(get_ok(anon, edge.base + "/auth/login").text)
    r = begin(edge, anon, path, {}, anon_csrf)
    assert r.status_code == 401, r.text
    # The finishing forms are ordinary CSRF-checked forms.
    r = s.post(edge.base + "/auth/passkeys/add", data={"ceremony_id": "x", "credential": "{}"},
               allow_redirects=False)
    assert r.status_code == 403, r.status_code
    r = s.post(edge.base + "/auth/login/passkey", data={"credential": "{}"},
               allow_redirects=False)
    assert r.status_code == 403, r.status_code
    # Never logged: no response JSON or ceremony in the edge's log.
    assert "clientDataJSON" not in edge.log_text()


def test_not_configured_offers_nothing(edge, authd):
    """Without AuthConfig.webauthn the pages stay as they were."""
    s = new_session()
    page = get_ok(s, edge.base + "/auth/login")
    assert "Sign in with a passkey" not in page.text
    assert 'autocomplete="username"' in page.text and "webauthn" not in page.text
    create_user(authd, "plain@example.com")
    assert password_login(edge, s, "plain@example.com").status_code == 303
    page = get_ok(s, edge.base + "/auth/passkeys")
    assert "not available on this server" in page.text
    assert "/auth/passkeys" not in get_ok(s, edge.base + "/auth/two-factor").text


# ---- the settings page ----------------------------------------------------------------------

def test_register_rename_remove(keys):
    authd, edge = keys
    email = "keys@example.com"
    s = new_user(authd, edge, email)
    st = get_ok(s, edge.base + "/auth/two-factor")
    assert 'href="/auth/passkeys"' in st.text
    page = get_ok(s, edge.base + "/auth/passkeys")
    assert "You have not added any passkey" in page.text
    assert re.search(r"<button type=\"submit\" data-passkey-go hidden>Add a passkey or security "
                     r"key</button>", page.text), page.text
    assert '<script src="/auth/static/pages.js" defer></script>' in page.text

    auth = SoftAuthenticator()
    # The first key turns two-factor on: its recovery codes are shown once.
    r = register(edge, s, auth, "Laptop")
    assert r.status_code == 200, (r.status_code, msg_error(r.text))
    assert "two-factor authentication is on" in r.text
    codes = recovery_codes_of(r.text)
    assert len(codes) >= 8, codes
    listed = keys_listed(edge, s)
    assert len(listed) == 1 and listed[0][:2] == ("Laptop", "passkey"), listed
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", listed[0][2]) and \
        listed[0][3] == "never", listed
    st = get_ok(s, edge.base + "/auth/two-factor")
    assert "Two-factor authentication is on" in st.text
    assert re.search(r'id="passkeys-count">1<', st.text), st.text

    # A second one, a security key (not discoverable): no new codes.
    key2 = SoftAuthenticator(resident=False)
    r = register(edge, s, key2, "Blue key", passkey=False)
    assert r.status_code == 303 and r.headers["Location"] == "/auth/passkeys?added=1", \
        (r.status_code, msg_error(r.text))
    listed = keys_listed(edge, s)
    assert sorted((n, k) for n, k, _, _ in listed) == [("Blue key", "security key"),
                                                       ("Laptop", "passkey")], listed

    # Rename, from the list's link.
    page = get_ok(s, edge.base + "/auth/passkeys")
    m = re.search(r'href="/auth/passkeys\?rename=([^"]+)"', page.text)
    assert m, page.text
    rn = get_ok(s, edge.base + "/auth/passkeys?rename=" + m.group(1))
    fields = form_fields(rn.text, "/auth/passkeys/rename")
    r = s.post(edge.base + "/auth/passkeys/rename", data=dict(fields, name="x" * 65),
               allow_redirects=False)
    assert r.status_code == 400 and "1 to 64 characters" in msg_error(r.text), r.status_code
    r = s.post(edge.base + "/auth/passkeys/rename", data=dict(fields, name="Work laptop"),
               allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/auth/passkeys?renamed=1"
    assert "Work laptop" in [n for n, _, _, _ in keys_listed(edge, s)]

    # Removing one of two keys right after signing in: a fresh sign-in is enough.
    page = get_ok(s, edge.base + "/auth/passkeys")
    ids = re.findall(r'<input type="hidden" name="credential_id" value="([^"]+)">', page.text)
    assert len(ids) == 2, page.text
    csrf = csrf_of(page.text)
    r = s.post(edge.base + "/auth/passkeys/remove", data={"csrf": csrf, "credential_id": ids[1]},
               allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/auth/passkeys?removed=1", \
        (r.status_code, msg_error(r.text))
    assert len(keys_listed(edge, s)) == 1

    # The last factor: a second factor always, asked for on a page of its own.
    r = s.post(edge.base + "/auth/passkeys/remove", data={"csrf": csrf, "credential_id": ids[0]},
               allow_redirects=False)
    assert r.status_code == 200, (r.status_code, msg_error(r.text))
    assert "Confirm it is you" in r.text and "It is your last key" in r.text
    assert "Confirm with your passkey" in r.text
    assert 'name="recovery_code"' in r.text and 'name="token"' not in r.text  # no TOTP
    bad = s.post(edge.base + "/auth/passkeys/remove",
                 data={"csrf": csrf, "credential_id": ids[0], "recovery_code": "wrong-code"},
                 allow_redirects=False)
    assert bad.status_code == 401, (bad.status_code, msg_error(bad.text))
    assert msg_error(bad.text)
    assert len(keys_listed(edge, s)) == 1
    r = step_up(edge, s, auth, r.text, "/auth/passkeys/remove")
    assert r.status_code == 303 and r.headers["Location"] == "/auth/passkeys?removed=1", \
        (r.status_code, msg_error(r.text))
    assert keys_listed(edge, s) == []
    assert "Two-factor authentication is off" in get_ok(s, edge.base + "/auth/two-factor").text
    # Each change was mailed to the user.
    assert edge.log_text().count("A passkey or security key was removed") >= 2


def test_wrong_origin_is_refused_by_authd(keys):
    authd, edge = keys
    s = new_user(authd, edge, "origin@example.com")
    r = register(edge, s, SoftAuthenticator(), "Phished", origin="http://evil.localhost:1")
    assert r.status_code == 400, (r.status_code, r.text[:500])
    err = msg_error(r.text)
    assert err.startswith("Your passkey or security key was refused"), err
    assert "origin" in err.lower(), err
    assert keys_listed(edge, s) == []


# ---- signing in -----------------------------------------------------------------------------

def user_with_key(site, email, auth):
    authd, edge = site
    s = new_user(authd, edge, email)
    r = register(edge, s, auth, "My key")
    assert r.status_code == 200, (r.status_code, msg_error(r.text))
    codes = recovery_codes_of(r.text)
    logout(edge, s)
    return s, codes


def test_key_as_second_factor_resumes_oauth(keys):
    authd, edge = keys
    email = "second@example.com"
    auth = SoftAuthenticator()
    s, _ = user_with_key(keys, email, auth)
    r = password_login(edge, s, email, params=OAUTH)
    assert r.status_code == 303, (r.status_code, msg_error(r.text))
    loc = r.headers["Location"]
    assert urllib.parse.urlparse(loc).path == "/auth/two-factor/verify", loc
    page = get_ok(s, edge.base + loc)
    assert "Use your passkey or security key" in page.text
    assert 'name="token"' not in page.text  # no TOTP: no code field
    assert "Use a recovery code" in page.text
    fields = form_fields(page.text, "/auth/two-factor/verify/passkey", "second-factor")
    assert fields["client_id"] == "web" and fields["state"] == "st&ate=1", fields
    r = begin(edge, s, "/auth/passkeys/assertion", {}, fields["csrf"])
    assert r.status_code == 200, r.text
    started = r.json()
    opts = started["options"]
    assert opts["allowCredentials"], opts  # the user's keys
    # A wrong response first: refused, the page again, still pending.
    fields.update(ceremony_id=started["ceremony_id"], credential='{"id":"x"}')
    bad = s.post(edge.base + "/auth/two-factor/verify/passkey", data=fields,
                 allow_redirects=False)
    assert bad.status_code in (400, 401), (bad.status_code, bad.text[:300])
    assert signed_in_as(edge, s) is None
    r = begin(edge, s, "/auth/passkeys/assertion", {}, fields["csrf"])
    started = r.json()
    fields.update(ceremony_id=started["ceremony_id"],
                  credential=auth.get(json.dumps(started["options"]), edge.origin))
    r = s.post(edge.base + "/auth/two-factor/verify/passkey", data=fields, allow_redirects=False)
    assert r.status_code == 303, (r.status_code, msg_error(r.text))
    loc = urllib.parse.urlparse(r.headers["Location"])
    assert loc.path == "/auth/authorize", r.headers["Location"]
    q = dict(urllib.parse.parse_qsl(loc.query))
    assert q["client_id"] == "web" and q["state"] == "st&ate=1", q
    assert signed_in_as(edge, s) == email
    assert "method=passkey" in edge.log_text()


def test_passwordless_only_in_the_browser_that_began_it(keys):
    authd, edge = keys
    email = "nopassword@example.com"
    auth = SoftAuthenticator()
    s, _ = user_with_key(keys, email, auth)
    page = get_ok(s, edge.base + "/auth/login")
    assert 'autocomplete="username webauthn"' in page.text
    fields = form_fields(page.text, "/auth/login/passkey", "passwordless")
    r = begin(edge, s, "/auth/passkeys/assertion", {"passwordless": True}, fields["csrf"])
    assert r.status_code == 200, r.text
    started = r.json()
    assert "ceremony_id" not in started  # kept in an HttpOnly cookie, not given to scripts
    sc = r.headers["Set-Cookie"]
    assert "asid_passkey=" in sc and "HttpOnly" in sc and "SameSite=Strict" in sc, sc
    assert started["options"].get("allowCredentials", []) == []
    cred = auth.get(json.dumps(started["options"]), edge.origin)
    # Another browser with the same response: it has no ceremony.
    other = new_session()
    ofields = form_fields(get_ok(other, edge.base + "/auth/login").text, "/auth/login/passkey",
                          "passwordless")
    r = other.post(edge.base + "/auth/login/passkey", data=dict(ofields, credential=cred),
                   allow_redirects=False)
    assert r.status_code == 400 and "expired or was not started" in msg_error(r.text)
    assert signed_in_as(edge, other) is None
    # The browser that began it.
    r = s.post(edge.base + "/auth/login/passkey", data=dict(fields, credential=cred),
               allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/", \
        (r.status_code, msg_error(r.text))
    assert signed_in_as(edge, s) == email
    assert not s.cookies.get("asid_passkey")  # spent
    # Replayed: the ceremony is gone.
    logout(edge, s)
    r = s.post(edge.base + "/auth/login/passkey", data=dict(fields, credential=cred),
               allow_redirects=False)
    assert r.status_code == 400 and signed_in_as(edge, s) is None


def test_passkey_confirms_new_codes_and_turning_off(keys):
    authd, edge = keys
    email = "stepup@example.com"
    auth = SoftAuthenticator()
    s, _ = user_with_key(keys, email, auth)
    r = password_login(edge, s, email)
    page = get_ok(s, edge.base + r.headers["Location"])
    fields = form_fields(page.text, "/auth/two-factor/verify/passkey", "second-factor")
    started = begin(edge, s, "/auth/passkeys/assertion", {}, fields["csrf"]).json()
    fields.update(ceremony_id=started["ceremony_id"],
                  credential=auth.get(json.dumps(started["options"]), edge.origin))
    assert s.post(edge.base + "/auth/two-factor/verify/passkey", data=fields,
                  allow_redirects=False).status_code == 303

    page = get_ok(s, edge.base + "/auth/two-factor/recovery-codes")
    assert "Confirm with your passkey" in page.text and 'name="token"' not in page.text
    r = step_up(edge, s, auth, page.text, "/auth/two-factor/recovery-codes")
    assert r.status_code == 200, (r.status_code, msg_error(r.text))
    assert len(recovery_codes_of(r.text)) >= 8

    page = get_ok(s, edge.base + "/auth/two-factor/disable")
    assert "Confirm with your passkey" in page.text
    r = step_up(edge, s, auth, page.text, "/auth/two-factor/disable")
    assert r.status_code == 303 and r.headers["Location"] == "/auth/two-factor", \
        (r.status_code, msg_error(r.text))
    assert "Two-factor authentication is off" in get_ok(s, edge.base + "/auth/two-factor").text


def test_keys_only_user_adds_an_app_then_chooses(keys, tmp_path):
    """A user whose first factor was a key can add an authenticator app too (authd keeps the
    recovery codes it has); the second step then offers both, the key and the code."""
    from test_twofactor_edge import Authenticator, qr_page, submit
    authd, edge = keys
    email = "both@example.com"
    auth = SoftAuthenticator()
    s = new_user(authd, edge, email)
    r = register(edge, s, auth, "Laptop")
    assert r.status_code == 200, (r.status_code, msg_error(r.text))
    codes = recovery_codes_of(r.text)
    st = get_ok(s, edge.base + "/auth/two-factor")
    assert 'href="/auth/two-factor/enable"' in st.text, st.text
    page, _, secret = qr_page(edge, s, str(tmp_path))
    app = Authenticator(secret)
    r = submit(s, edge.base, page.text, "/app/auth/two-factor/confirm", {"token": app.fresh()})
    assert r.status_code == 303 and r.headers["Location"] == "/auth/two-factor?app=1", \
        (r.status_code, msg_error(r.text))
    st = get_ok(s, edge.base + "/auth/two-factor?app=1")
    assert "Your authenticator app was added" in st.text
    assert 'href="/auth/two-factor/enable"' not in st.text
    logout(edge, s)
    r = password_login(edge, s, email)
    page = get_ok(s, edge.base + r.headers["Location"])
    form_fields(page.text, "/auth/two-factor/verify/passkey", "second-factor")
    fields = form_fields(page.text, "/auth/two-factor/verify")
    assert 'name="token"' in page.text
    r = s.post(edge.base + "/auth/two-factor/verify", data=dict(fields, token=app.fresh()),
               allow_redirects=False)
    assert r.status_code == 303 and signed_in_as(edge, s) == email, msg_error(r.text)
    # The recovery codes of the first key still work (none were replaced).
    logout(edge, s)
    r = password_login(edge, s, email)
    page = get_ok(s, edge.base + r.headers["Location"] + "&recovery=1"
                  if "?" in r.headers["Location"] else
                  edge.base + r.headers["Location"] + "?recovery=1")
    fields = form_fields(page.text, "/auth/two-factor/verify")
    r = s.post(edge.base + "/auth/two-factor/verify", data=dict(fields, recovery_code=codes[0]),
               allow_redirects=False)
    assert r.status_code == 303 and signed_in_as(edge, s) == email, msg_error(r.text)
