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
from test_oauth import (LEGACY, LEGACY_CB, LEGACY_SECRET, APP, APP_CB, browse, create_user,
                        forms, redirect_params, token_req, verify_jwt)
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
