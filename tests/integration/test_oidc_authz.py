# SPDX-License-Identifier: Apache-2.0
"""The authorization endpoint beyond GET, and the OpenID Connect requests that change what it
does, through the real authd and authd-edge: POST /auth/authorize (OIDC Core §3.1.2.1),
`request` / `request_uri` refused as OIDC Core §6 says, prompt=login / max_age=0 asking a
signed-in browser for its password again, and the ID token's auth_time after that.

The browser is requests (it sends its cookies everywhere; the edge's answer to the POST is a
303 to the GET precisely because real browsers hold back SameSite=Lax cookies on a cross-site
POST). The ID tokens are verified with PyJWT against the published key set.
"""
import time
import urllib.parse

import requests

from conftest import new_session
from test_oauth import (LEGACY, LEGACY_CB, LEGACY_SECRET, APP, PW, browse, create_2fa_user,
                        create_user, forms, redirect_params, submit, token_req, verify_jwt)
from test_oauth import env, oauth_env  # noqa: F401  (fixtures)


def signed_in(env, email):
    """A browser session signed in to the edge (through the code flow of LEGACY)."""
    s = new_session()
    q = {"response_type": "code", "client_id": LEGACY, "redirect_uri": LEGACY_CB,
         "scope": "openid", "state": "first"}
    r = browse(env, s, "/auth/authorize?" + urllib.parse.urlencode(q), email=email)
    assert redirect_params(r, LEGACY_CB).get("code"), r.headers
    return s


def legacy_request(**extra):
    q = {"response_type": "code", "client_id": LEGACY, "redirect_uri": LEGACY_CB,
         "scope": "openid", "state": "st-x", "nonce": "n-x"}
    q.update(extra)
    return q


def post_authorize(env, s, data):
    """POSTs the authorization request as a relying party's page does and follows the 303 to
    the edge's GET (only that one: the client's redirect is never followed)."""
    r = s.post(env.base + "/auth/authorize", data=data, allow_redirects=False)
    assert r.status_code == 303, (r.status_code, r.text[:500])
    loc = r.headers["Location"]
    assert loc.startswith("/auth/authorize?"), loc
    return s.get(env.base + loc, allow_redirects=False)


def id_token_of(env, code):
    r = token_req(env, {"grant_type": "authorization_code", "code": code,
                        "redirect_uri": LEGACY_CB}, auth=(LEGACY, LEGACY_SECRET))
    assert r.status_code == 200, r.text
    return verify_jwt(env, r.json()["id_token"], LEGACY)


# ---- POST /auth/authorize ------------------------------------------------------------------

def test_authorize_by_post_end_to_end(env):
    """OIDC Core §3.1.2.1: the authorization request as a form POST, sent without any CSRF
    token (the relying party's page posts it), leads to the code as the GET does."""
    create_user(env, "post@example.com")
    s = new_session()
    q = legacy_request(state="st-post")
    r = s.post(env.base + "/auth/authorize", data=q, allow_redirects=False,
               headers={"Origin": "https://rp.example"})
    assert r.status_code == 303, (r.status_code, r.text[:500])
    loc = r.headers["Location"]
    assert loc.startswith("/auth/authorize?"), loc
    assert dict(urllib.parse.parse_qsl(urllib.parse.urlparse(loc).query)) == q, loc
    r = browse(env, s, loc, email="post@example.com")
    got = redirect_params(r, LEGACY_CB)
    assert got.get("code") and got.get("state") == "st-post", got
    it = id_token_of(env, got["code"])
    assert it["nonce"] == "n-x", it
    # Signed in now: the same POST gets the code without a page.
    got = redirect_params(post_authorize(env, s, legacy_request(state="again")), LEGACY_CB)
    assert got.get("code") and got.get("state") == "again", got


def test_authorize_post_refuses_ambiguity(env):
    """A parameter twice in the body, or parameters both in the query and the body: refused on
    our own page, never redirected."""
    s = new_session()
    r = s.post(env.base + "/auth/authorize",
               data=[("client_id", LEGACY), ("client_id", APP), ("response_type", "code")],
               allow_redirects=False)
    assert r.status_code == 400 and "Location" not in r.headers, r.status_code
    r = s.post(env.base + "/auth/authorize?client_id=" + APP, data=legacy_request(),
               allow_redirects=False)
    assert r.status_code == 400 and "Location" not in r.headers, r.status_code


# ---- request and request_uri ---------------------------------------------------------------

def test_request_object_and_uri_are_refused(env):
    """OIDC Core §6.1/§6.2: not ignored but answered request_not_supported /
    request_uri_not_supported at the client's redirect URI, with its state and iss."""
    for name, err in (("request", "request_not_supported"),
                      ("request_uri", "request_uri_not_supported")):
        value = "eyJhbGciOiJub25lIn0.e30." if name == "request" else "https://rp.example/r/1"
        r = requests.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(
            legacy_request(state="st-" + name, **{name: value})), allow_redirects=False)
        got = redirect_params(r, LEGACY_CB)
        assert got.get("error") == err and got.get("state") == "st-" + name, got
        assert "code" not in got and got.get("iss") == env.base, got
        # By POST too.
        r = post_authorize(env, new_session(), legacy_request(state="p-" + name, **{name: value}))
        got = redirect_params(r, LEGACY_CB)
        assert got.get("error") == err and got.get("state") == "p-" + name, got
    # With a redirect_uri the client did not register: our error page, no redirect.
    r = requests.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(
        legacy_request(redirect_uri="https://evil.example/cb", request="x.y.z")),
        allow_redirects=False)
    assert r.status_code == 400 and "Location" not in r.headers, r.status_code


# ---- prompt=login, max_age=0 ---------------------------------------------------------------

def password_page(env, s, q):
    """Asks for q with the signed-in browser s; asserts the password form is shown (the login
    page, not a redirect through it). Returns that page's response."""
    r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(q), allow_redirects=False)
    assert r.status_code in (302, 303), (r.status_code, r.headers.get("Location"), r.text[:500])
    loc = r.headers["Location"]
    assert urllib.parse.urlparse(loc).path == "/auth/login", loc
    page = s.get(env.base + loc, allow_redirects=False)
    assert page.status_code == 200, (page.status_code, page.headers.get("Location"))
    login = [f for f in forms(page.text) if f["action"] == "/auth/login"]
    assert login and "password" in login[0]["fields"], page.text[:1500]
    return loc


def test_prompt_login_asks_for_the_password_again(env):
    """prompt=login: a browser signed in this very second is asked for its password again,
    and the code comes only after that sign-in, with an auth_time from it."""
    user = create_user(env, "pl@example.com")
    s = signed_in(env, "pl@example.com")
    before = int(time.time())
    loc = password_page(env, s, legacy_request(prompt="login", state="st-pl"))
    r = browse(env, s, loc, email="pl@example.com")
    got = redirect_params(r, LEGACY_CB)
    assert got.get("code") and got.get("state") == "st-pl", got
    it = id_token_of(env, got["code"])
    assert it["sub"] == user.id and it["nonce"] == "n-x", it
    assert it["auth_time"] >= before - 1, (it, before)


def test_max_age_zero_asks_for_the_password_again(env):
    """max_age=0 is prompt=login (OIDC Core §3.1.2.1), and the ID token carries auth_time."""
    create_user(env, "ma0@example.com")
    s = signed_in(env, "ma0@example.com")
    before = int(time.time())
    loc = password_page(env, s, legacy_request(max_age="0", state="st-ma0"))
    # Coming back without signing in (the carried marker, but the old session): asked again.
    back = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(loc).query))
    back.pop("prompt", None)
    assert back.get("auth_after"), loc
    again = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(back),
                  allow_redirects=False)
    assert urllib.parse.urlparse(again.headers.get("Location", "")).path == "/auth/login", \
        again.headers
    r = browse(env, s, loc, email="ma0@example.com")
    got = redirect_params(r, LEGACY_CB)
    assert got.get("code") and got.get("state") == "st-ma0", got
    it = id_token_of(env, got["code"])
    assert isinstance(it.get("auth_time"), int) and it["auth_time"] >= before - 1, it


def test_prompt_login_with_two_factor(env):
    """prompt=login for a user with TOTP: password and code again, and the marker that comes
    back from the login survives the TOTP step."""
    user, app = create_2fa_user(env, "pl2@example.com")
    s = new_session()
    q = legacy_request(state="first")
    r = browse(env, s, "/auth/authorize?" + urllib.parse.urlencode(q), email="pl2@example.com",
               authenticator=app)
    assert redirect_params(r, LEGACY_CB).get("code"), r.headers
    loc = password_page(env, s, legacy_request(prompt="login", state="st-pl2"))
    page = s.get(env.base + loc, allow_redirects=False)
    r = submit(s, env.base, page.text, "/auth/login", {"email": "pl2@example.com",
                                                       "password": PW})
    step = r.headers.get("Location", "")
    assert urllib.parse.urlparse(step).path == "/auth/two-factor/verify", (r.status_code, step)
    assert "auth_after=" in step, step
    page = s.get(env.base + step, allow_redirects=False)
    f = [f for f in forms(page.text) if f["action"] == "/auth/two-factor/verify"
         and "token" in f["fields"]]
    assert f, page.text[:1500]
    r = s.post(env.base + "/auth/two-factor/verify", data=dict(f[0]["fields"], token=app.fresh()),
               allow_redirects=False)
    back = r.headers.get("Location", "")
    assert back.startswith("/auth/authorize?") and "auth_after=" in back, (r.status_code, back)
    r = s.get(env.base + back, allow_redirects=False)
    got = redirect_params(r, LEGACY_CB)
    assert got.get("code") and got.get("state") == "st-pl2", got
    assert id_token_of(env, got["code"])["sub"] == user.id


def test_prompt_none(env):
    """prompt=none never shows a page: login_required at the client when no one is signed in
    (what exists), and the request with a live session still gets its code."""
    create_user(env, "pn@example.com")
    r = requests.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(
        legacy_request(prompt="none", state="st-none")), allow_redirects=False)
    got = redirect_params(r, LEGACY_CB)
    assert got.get("error") == "login_required" and got.get("state") == "st-none", got
    s = signed_in(env, "pn@example.com")
    r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(
        legacy_request(prompt="none", state="st-none2")), allow_redirects=False)
    got = redirect_params(r, LEGACY_CB)
    assert got.get("code") and got.get("state") == "st-none2", got


# ---- discovery -----------------------------------------------------------------------------

def test_discovery_documents(env):
    """OpenID Connect Discovery and RFC 8414: both documents, the same issuer and members, with
    what strict clients look for (claims, RFC 9207 iss, no request objects, end_session)."""
    oidc = requests.get(env.base + "/.well-known/openid-configuration", timeout=20)
    oauth = requests.get(env.base + "/.well-known/oauth-authorization-server", timeout=20)
    for r in (oidc, oauth):
        assert r.status_code == 200, r.status_code
        assert r.headers["Content-Type"].startswith("application/json"), r.headers
    d, o = oidc.json(), oauth.json()
    assert d == o, (d, o)
    assert d["issuer"] == env.base
    for k, path in (("authorization_endpoint", "/auth/authorize"),
                    ("token_endpoint", "/auth/token"), ("jwks_uri", "/.well-known/jwks.json"),
                    ("end_session_endpoint", "/auth/end-session")):
        assert d[k] == env.base + path, (k, d.get(k))
    assert d["authorization_response_iss_parameter_supported"] is True
    assert d["request_parameter_supported"] is False
    assert d["request_uri_parameter_supported"] is False
    for c in ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "sid", "email",
              "email_verified"):
        assert c in d["claims_supported"], (c, d["claims_supported"])
    assert "code" in d["response_types_supported"] and "S256" in \
        d["code_challenge_methods_supported"], d


# ---- RP-initiated logout -------------------------------------------------------------------

RP, RP_SECRET, RP_CB = "rp", "rp-secret-0123456789abcdef", "https://rp.example/cb"
RP_BYE = "https://rp.example/signed-out"
OTHER_BYE = "https://rp.example/elsewhere"


def rp_client(env, access_ttl=0):
    from test_oauth import CA, oauth_pb2
    c = oauth_pb2.Client(id=RP, secret=RP_SECRET, first_party=True,
                         grant_types=["authorization_code"],
                         post_logout_redirect_uris=[RP_BYE, "https://rp.example/bye2"])
    c.auth.authorization_code.CopyFrom(oauth_pb2.GrantSettings(
        redirect_uri=RP_CB, access_token_expiration=access_ttl))
    got = env.call(CA + "Put", c, oauth_pb2.ClientResponse).client
    assert list(got.post_logout_redirect_uris) == [RP_BYE, "https://rp.example/bye2"], got


def rp_sign_in(env, s, email):
    """The code flow of RP in browser s: (id_token, access_token)."""
    q = {"response_type": "code", "client_id": RP, "redirect_uri": RP_CB, "scope": "openid",
         "state": "in", "nonce": "n"}
    r = browse(env, s, "/auth/authorize?" + urllib.parse.urlencode(q), email=email)
    code = redirect_params(r, RP_CB)["code"]
    r = token_req(env, {"grant_type": "authorization_code", "code": code, "redirect_uri": RP_CB},
                  auth=(RP, RP_SECRET))
    assert r.status_code == 200, r.text
    return r.json()["id_token"], r.json()["access_token"]


def active(env, access_token):
    r = requests.post(env.base + "/auth/introspect", data={"token": access_token},
                      auth=(RP, RP_SECRET), timeout=20)
    assert r.status_code == 200, r.text
    return r.json()["active"]


def end_session(s, env, **params):
    return s.get(env.base + "/auth/end-session?" + urllib.parse.urlencode(params),
                 allow_redirects=False)


def signed_in_browser(env, s):
    """1 when the browser's cookie still opens a session: the login page sends it on."""
    r = s.get(env.base + "/auth/login?client_id=" + RP, allow_redirects=False)
    return r.status_code in (302, 303)


def test_rp_logout_with_hint_and_registered_uri(env):
    """A valid id_token_hint naming the browser's session and a registered
    post_logout_redirect_uri: the session ends at once and the browser goes there with state."""
    rp_client(env)
    create_user(env, "bye@example.com")
    s = new_session()
    idt, at = rp_sign_in(env, s, "bye@example.com")
    assert active(env, at) and signed_in_browser(env, s)
    r = end_session(s, env, id_token_hint=idt, post_logout_redirect_uri=RP_BYE, state="st-bye")
    assert r.status_code in (302, 303), (r.status_code, r.text[:800])
    assert r.headers["Location"] == RP_BYE + "?state=st-bye", r.headers["Location"]
    assert "asid=;" in r.headers.get("Set-Cookie", "") or "Max-Age=0" in \
        r.headers.get("Set-Cookie", ""), r.headers
    assert not active(env, at), "the session's tokens outlived the logout"
    assert not signed_in_browser(env, s)


def test_rp_logout_by_post_and_expired_hint(env):
    """The endpoint takes a form POST too (a 303 to the same GET), and an expired ID token is
    still a valid hint (RP-Initiated Logout §2)."""
    rp_client(env, access_ttl=1)
    create_user(env, "old@example.com")
    s = new_session()
    idt, at = rp_sign_in(env, s, "old@example.com")
    time.sleep(2.1)  # the ID token lives access_ttl = 1 s
    import jwt as pyjwt
    try:
        verify_jwt(env, idt, RP)
        raise AssertionError("the ID token should have expired")
    except pyjwt.ExpiredSignatureError:
        pass
    r = s.post(env.base + "/auth/end-session", data={
        "id_token_hint": idt, "post_logout_redirect_uri": RP_BYE, "state": "p"},
        allow_redirects=False, headers={"Origin": "https://rp.example"})
    assert r.status_code == 303 and r.headers["Location"].startswith("/auth/end-session?"), \
        (r.status_code, r.headers)
    r = s.get(env.base + r.headers["Location"], allow_redirects=False)
    assert r.headers.get("Location") == RP_BYE + "?state=p", (r.status_code, r.text[:800])
    assert not signed_in_browser(env, s)


def test_rp_logout_unregistered_uri_refused(env):
    """A post_logout_redirect_uri the client did not register is never redirected to, and the
    request ends nothing."""
    rp_client(env)
    create_user(env, "stay@example.com")
    s = new_session()
    idt, at = rp_sign_in(env, s, "stay@example.com")
    for uri in (OTHER_BYE, RP_BYE + "/", "https://evil.example/"):
        r = end_session(s, env, id_token_hint=idt, post_logout_redirect_uri=uri, state="x")
        assert r.status_code == 400 and "Location" not in r.headers, (uri, r.status_code)
        r = end_session(s, env, client_id=RP, post_logout_redirect_uri=uri)
        assert r.status_code == 400 and "Location" not in r.headers, (uri, r.status_code)
    # Without a client to match it against, no URI is taken either.
    r = end_session(s, env, post_logout_redirect_uri=RP_BYE)
    assert r.status_code == 400 and "Location" not in r.headers, r.status_code
    assert active(env, at) and signed_in_browser(env, s)


def test_rp_logout_without_hint_asks_first(env):
    """Without a hint the user confirms (a CSRF-protected POST) before the session ends; the
    GET itself ends nothing, and a forged confirmation is refused."""
    rp_client(env)
    create_user(env, "ask@example.com")
    s = new_session()
    idt, at = rp_sign_in(env, s, "ask@example.com")
    r = end_session(s, env, client_id=RP, post_logout_redirect_uri=RP_BYE, state="st-ask")
    assert r.status_code == 200, (r.status_code, r.headers.get("Location"))
    assert active(env, at) and signed_in_browser(env, s), "a GET ended the session"
    form = [f for f in forms(r.text) if f["action"] == "/auth/end-session/confirm"]
    assert form and form[0]["method"] == "post" and "csrf" in form[0]["fields"], r.text[:1500]
    # The same POST from another site (no CSRF token): refused, nothing ended.
    forged = dict(form[0]["fields"])
    forged.pop("csrf")
    bad = s.post(env.base + "/auth/end-session/confirm", data=forged, allow_redirects=False)
    assert bad.status_code == 403 and active(env, at), bad.status_code
    ok = s.post(env.base + "/auth/end-session/confirm", data=form[0]["fields"],
                allow_redirects=False)
    assert ok.status_code == 303 and ok.headers["Location"] == RP_BYE + "?state=st-ask", \
        (ok.status_code, ok.headers.get("Location"))
    assert not active(env, at) and not signed_in_browser(env, s)


def test_rp_logout_hint_of_another_session_or_forged(env):
    """A hint naming another session (another browser's ID token) does not end this one without
    asking; a forged or foreign token is refused."""
    rp_client(env)
    create_user(env, "a@example.com")
    create_user(env, "b@example.com")
    sa, sb = new_session(), new_session()
    idt_a, at_a = rp_sign_in(env, sa, "a@example.com")
    idt_b, at_b = rp_sign_in(env, sb, "b@example.com")
    r = end_session(sa, env, id_token_hint=idt_b, post_logout_redirect_uri=RP_BYE)
    assert r.status_code == 200 and "/auth/end-session/confirm" in r.text, r.status_code
    assert active(env, at_a) and active(env, at_b)
    head, body, sig = idt_a.split(".")
    forged = head + "." + body + "." + ("A" if sig[0] != "A" else "B") + sig[1:]
    for bad in (forged, at_a, "not-a-token"):
        r = end_session(sa, env, id_token_hint=bad, post_logout_redirect_uri=RP_BYE)
        assert r.status_code == 400 and "Location" not in r.headers, r.status_code
    assert active(env, at_a)
    # No browser session at all: nothing to end, the registered URI is still honoured.
    r = end_session(new_session(), env, client_id=RP, post_logout_redirect_uri=RP_BYE, state="z")
    assert r.headers.get("Location") == RP_BYE + "?state=z", r.status_code


def test_manifest_post_logout_redirect_uris(env, tmp_path):
    """authctl apply takes post_logout_redirect_uris, client get prints them, authd refuses a
    bad one."""
    import subprocess
    from conftest import AUTHCTL
    m = tmp_path / "c.yaml"
    m.write_text("- resourceType: Client\n  id: mrp\n  grant_types: [authorization_code]\n"
                 "  auth: {authorization_code: {redirect_uri: 'https://m.example/cb'}}\n"
                 "  post_logout_redirect_uris: ['https://m.example/bye']\n")
    ctl = [AUTHCTL, "--authd", env.authd.target]
    p = subprocess.run(ctl + ["apply", "-f", str(m)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    p = subprocess.run(ctl + ["client", "get", "--id", "mrp"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0 and "post_logout_redirect_uris" in p.stdout \
        and "https://m.example/bye" in p.stdout, p.stdout
    m.write_text("- resourceType: Client\n  id: mrp\n"
                 "  post_logout_redirect_uris: ['https://m.example/bye#frag']\n")
    p = subprocess.run(ctl + ["apply", "-f", str(m)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "post_logout_redirect_uris" in p.stderr, (p.returncode, p.stderr)


# ---- redirect_uri in OpenID requests, response_mode ----------------------------------------

def test_openid_request_needs_redirect_uri(env):
    """OIDC Core §3.1.2.1: redirect_uri is REQUIRED in an OpenID request: without it, our error
    page (400, no redirect), even for a client with one registered URI and a signed-in browser.
    A plain OAuth request (no openid scope) keeps RFC 6749's single-URI default."""
    create_user(env, "nouri@example.com")
    s = signed_in(env, "nouri@example.com")
    q = legacy_request(state="st-nouri")
    del q["redirect_uri"]
    for scope in ("openid", "profile openid", "openid email"):
        r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(dict(q, scope=scope)),
                  allow_redirects=False)
        assert r.status_code == 400 and "Location" not in r.headers, (scope, r.status_code,
                                                                      r.headers.get("Location"))
        assert "invalid_request" in r.text and "redirect_uri" in r.text, r.text[:2000]
    # Without openid the registered URI is the default, as before.
    r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(dict(q, scope="profile")),
              allow_redirects=False)
    got = redirect_params(r, LEGACY_CB)
    assert got.get("code") and got.get("state") == "st-nouri", got
    # "openid" counts only as a whole scope token: "openidx" is an unknown scope, answered at
    # the registered URI.
    r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(
        dict(q, scope="openidx profile")), allow_redirects=False)
    assert redirect_params(r, LEGACY_CB).get("error") == "invalid_scope", r.headers


def test_response_modes(env):
    """response_mode: query is the code flow's (accepted), fragment the implicit flow's; any
    other (form_post, fragment for code, query for token, nonsense) is refused invalid_request
    at the verified redirect URI, never silently ignored; discovery lists what is supported."""
    create_user(env, "modes@example.com")
    s = signed_in(env, "modes@example.com")
    r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(
        legacy_request(state="st-q", response_mode="query")), allow_redirects=False)
    got = redirect_params(r, LEGACY_CB)
    assert got.get("code") and got.get("state") == "st-q", got
    for mode in ("form_post", "fragment", "query.jwt", "bogus"):
        r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(
            legacy_request(state="st-" + mode, response_mode=mode)), allow_redirects=False)
        got = redirect_params(r, LEGACY_CB)
        assert got.get("error") == "invalid_request" and "code" not in got, (mode, got)
        assert got.get("state") == "st-" + mode and "response_mode" in got.get(
            "error_description", ""), (mode, got)
        # By POST too.
        r = post_authorize(env, s, legacy_request(state="p-" + mode, response_mode=mode))
        got = redirect_params(r, LEGACY_CB)
        assert got.get("error") == "invalid_request" and "code" not in got, (mode, got)
    # With a redirect_uri the client did not register: our error page, no redirect.
    r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(
        legacy_request(redirect_uri="https://evil.example/cb", response_mode="form_post")),
        allow_redirects=False)
    assert r.status_code == 400 and "Location" not in r.headers, r.status_code
    # Given twice: refused.
    r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(legacy_request())
              + "&response_mode=query&response_mode=query", allow_redirects=False)
    assert r.status_code == 400 and "Location" not in r.headers, r.status_code
    d = requests.get(env.base + "/.well-known/openid-configuration", timeout=20).json()
    assert sorted(d["response_modes_supported"]) == ["fragment", "query"], d
