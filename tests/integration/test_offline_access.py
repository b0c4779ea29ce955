# SPDX-License-Identifier: Apache-2.0
"""offline_access (OpenID Connect Core §11) and the lifetimes refresh tokens advertise, through
the real authd and authd-edge: authlib's OAuth2Session makes the authorization URL and redeems
the code, requests plays the browser (login, consent page, sign-out, password change).

- A refresh token issued for offline_access (the client's registered scopes list it, the request
  asks for it, the user approved it on the consent page, first-party client or not) survives the
  browser's sign-out, and so do its successors; a password change revokes it.
- Any other refresh token dies with the browser session, and what it advertises
  (`refresh_expires_in`, introspection's `exp`) is the session's end when that comes first.
- A client that may not have offline_access gets the request ignored (OIDC Core §11): a code for
  the other scopes and a session-bound refresh token, not an error.
The clock-driven side (alive one second before the advertised end, dead at it) is in
tests/unit/authd/test_svc_oauth.c with authd's fake clock.
"""
import urllib.parse

from conftest import csrf_of, new_session, sessions_pb2
from test_oauth import (APP, APP_CB, APP_SECRET, PW, S, browse, code_flow,  # noqa: F401
                        create_user, env, introspect, oauth_env, oauth_error, put_client, s256,
                        the_form, token_req, userinfo)

OFF, OFF_SECRET, OFF_CB = "offline-app", "offline-secret-0123456789ab", "https://offline.example/cb"
REFRESH_TTL = 30 * 86400  # authd's default refresh_token_expiration
SESSION_TTL = 12 * 3600   # authd's default session lifetime


def offline_client(env):
    put_client(env, OFF, OFF_SECRET, grant_types=["authorization_code", "refresh_token"],
               code={"redirect_uri": OFF_CB, "refresh_token": True},
               scope=["openid", "profile", "email", "offline_access"], introspect=True)


def session_expiry(env, s):
    """When the browser session of s ends (unix seconds), as authd stores it."""
    got = env.call(S + "Get", sessions_pb2.GetSessionRequest(session_token=s.cookies["asid"]),
                   sessions_pb2.SessionResponse)
    return got.session.expires_at


def refresh(env, rt, cid=OFF, secret=OFF_SECRET):
    return token_req(env, {"grant_type": "refresh_token", "refresh_token": rt},
                     auth=(cid, secret))


def logout(env, s):
    home = s.get(env.base + "/")
    r = s.post(env.base + "/auth/logout", data={"csrf": csrf_of(home.text)},
               allow_redirects=False)
    assert r.status_code == 303, r.status_code
    assert "asid" not in s.cookies or "Signed in as" not in s.get(env.base + "/").text


def test_offline_token_survives_logout(env):
    offline_client(env)
    user = create_user(env, "olive@example.com")
    s = new_session()
    # First party, but a refresh token that outlives the session needs the user's approval.
    q = {"response_type": "code", "client_id": OFF, "redirect_uri": OFF_CB,
         "scope": "openid offline_access", "state": "st-o", "code_challenge": s256("o" * 60),
         "code_challenge_method": "S256"}
    page = browse(env, s, "/auth/authorize?" + urllib.parse.urlencode(q),
                  email="olive@example.com")
    assert page.status_code == 200 and the_form(page.text, "/auth/consent"), page.status_code
    assert "offline_access" in page.text
    tok, _, _ = code_flow(env, s, OFF, OFF_SECRET, OFF_CB, "olive@example.com",
                          scope="openid offline_access", consent="allow")
    assert tok["scope"] == "openid offline_access", tok
    assert tok["refresh_expires_in"] == REFRESH_TTL, tok
    got = introspect(env, tok["refresh_token"], cid=OFF, secret=OFF_SECRET, hint="refresh_token")
    assert got["active"] is True and got["exp"] - got["iat"] == REFRESH_TTL, got

    logout(env, s)
    # The access token came from the browser session: it ended with it. The refresh token not.
    assert introspect(env, tok["access_token"], cid=OFF, secret=OFF_SECRET) == {"active": False}
    assert introspect(env, tok["refresh_token"], cid=OFF, secret=OFF_SECRET,
                      hint="refresh_token")["active"] is True
    r = refresh(env, tok["refresh_token"])
    assert r.status_code == 200, r.text
    t2 = r.json()
    assert t2["refresh_expires_in"] == REFRESH_TTL and t2["scope"] == "openid offline_access", t2
    assert userinfo(env, t2["access_token"]).json()["sub"] == user.id
    got = introspect(env, t2["access_token"], cid=OFF, secret=OFF_SECRET)
    assert got["active"] is True and got["sub"] == user.id and got["username"], got
    r = refresh(env, t2["refresh_token"])
    assert r.status_code == 200, r.text
    # Rotation keeps reuse detection: the used token kills the family.
    oauth_error(refresh(env, tok["refresh_token"]), 400, "invalid_grant")
    oauth_error(refresh(env, r.json()["refresh_token"]), 400, "invalid_grant")


def test_session_bound_refresh_token_dies_with_the_session_and_says_so(env):
    offline_client(env)
    create_user(env, "sam@example.com")
    s = new_session()
    tok, _, _ = code_flow(env, s, OFF, OFF_SECRET, OFF_CB, "sam@example.com", scope="openid")
    end = session_expiry(env, s)
    got = introspect(env, tok["refresh_token"], cid=OFF, secret=OFF_SECRET, hint="refresh_token")
    # It dies with the session: it never claims to live longer.
    assert got["active"] is True and got["exp"] == end, (got, end)
    assert tok["refresh_expires_in"] == got["exp"] - got["iat"], (tok, got)
    assert 0 < tok["refresh_expires_in"] <= SESSION_TTL, tok
    logout(env, s)
    assert introspect(env, tok["refresh_token"], cid=OFF, secret=OFF_SECRET,
                      hint="refresh_token") == {"active": False}
    oauth_error(refresh(env, tok["refresh_token"]), 400, "invalid_grant")


def test_offline_access_ignored_for_a_client_not_allowed_it(env):
    """APP's registration lists no offline_access: the request for it is ignored (OIDC Core §11),
    not refused, and the refresh token is a session-bound one that says so."""
    create_user(env, "nell@example.com")
    s = new_session()
    tok, _, _ = code_flow(env, s, APP, APP_SECRET, APP_CB, "nell@example.com",
                          scope="openid offline_access")
    assert tok["scope"] == "openid", tok
    got = introspect(env, tok["refresh_token"], hint="refresh_token")
    assert got["exp"] == session_expiry(env, s), got
    assert tok["refresh_expires_in"] == got["exp"] - got["iat"], (tok, got)
    logout(env, s)
    oauth_error(refresh(env, tok["refresh_token"], APP, APP_SECRET), 400, "invalid_grant")


def test_password_change_revokes_offline_tokens(env):
    offline_client(env)
    create_user(env, "pat@example.com")
    s = new_session()
    tok, _, _ = code_flow(env, s, OFF, OFF_SECRET, OFF_CB, "pat@example.com",
                          scope="openid offline_access", consent="allow")
    r = refresh(env, tok["refresh_token"])
    assert r.status_code == 200, r.text
    t2 = r.json()
    page = s.get(env.base + "/auth/password")
    assert page.status_code == 200
    r = s.post(env.base + "/auth/password", data={
        "current_password": PW, "password": "pats brand new password",
        "password_confirmation": "pats brand new password", "csrf": csrf_of(page.text)})
    assert r.status_code == 200 and "changed" in r.text.lower(), r.status_code
    assert "pat@example.com" in s.get(env.base + "/").text  # this browser session lives on
    assert introspect(env, t2["refresh_token"], cid=OFF, secret=OFF_SECRET,
                      hint="refresh_token") == {"active": False}
    assert introspect(env, t2["access_token"], cid=OFF, secret=OFF_SECRET) == {"active": False}
    oauth_error(refresh(env, t2["refresh_token"]), 400, "invalid_grant")


def test_password_grant_offline_access_needs_a_first_party_client(env):
    """The password grant has no consent step: a third-party client registered with
    offline_access gets the request ignored (OIDC Core §11: offline access needs the user's
    consent), a session-bound refresh token and a scope that says so; a first-party client (the
    user's own app) still gets the offline token."""
    create_user(env, "penny@example.com")
    cid, secret = "pw-app", "pw-app-secret-0123456789abcd"
    for first_party in (False, True):
        put_client(env, cid, secret, first_party=first_party,
                   grant_types=["password", "refresh_token"], password={"refresh_token": True},
                   scope=["openid", "profile", "email", "offline_access"])
        r = token_req(env, {"grant_type": "password", "username": "penny@example.com",
                            "password": PW, "scope": "openid offline_access"},
                      auth=(cid, secret))
        assert r.status_code == 200, r.text
        tok = r.json()
        got = introspect(env, tok["refresh_token"], hint="refresh_token")
        assert tok["refresh_expires_in"] == got["exp"] - got["iat"], (tok, got)
        if first_party:
            assert tok["scope"] == "openid offline_access", tok
            assert tok["refresh_expires_in"] == REFRESH_TTL, tok
            assert not got.get("sid"), got
        else:
            assert tok["scope"] == "openid", tok
            assert tok["refresh_expires_in"] <= SESSION_TTL, tok
            assert got.get("sid"), got
