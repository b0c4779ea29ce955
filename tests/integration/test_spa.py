# SPDX-License-Identifier: Apache-2.0
"""Aidbox's single-page app through the real authd and authd-edge: an app that holds an OAuth
access token, never an asid session token, enrols its user in two-factor authentication with
the JSON API and logs out with DELETE /Session, `Authorization: Bearer <access token>` on each
call (the edge passes the bearer on; authd tells a session token from an access token, which
stands for the session it was issued under).

Codes come from oathtool; the demo manifest is deploy/aidbox-demo.yaml, unchanged.
"""
import subprocess
import time
import urllib.parse

import pytest
import requests

from conftest import AUTHCTL, common_pb2, new_session, users_pb2
from test_oauth import (APP, APP_SECRET, OPAQUE, OPAQUE_SECRET, PW, SVC, SVC_SECRET, U,
                        AIDBOX_DEMO, assert_inactive, browse, client_credentials, create_user,
                        env, introspect, oauth_env, oathtool, put_client, token_req)  # noqa: F401

API = "/app/auth/two-factor/"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def api(base, token, what, body=None):
    return requests.post(base + API + what, json={} if body is None else body,
                         headers=bearer(token), timeout=20)


def api_error(r, status, error):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.json().get("error") == error, r.text


def secret_of(uri):
    u = urllib.parse.urlparse(uri)
    assert u.scheme == "otpauth" and u.netloc == "totp", uri
    return urllib.parse.parse_qs(u.query)["secret"][0]


def wrong_code(secret):
    near = {oathtool(secret, time.time() + k * 30) for k in range(-3, 4)}
    return next(c for c in ("000000", "123456", "999999", "314159") if c not in near)


def signed_in(env, s):
    return "Signed in as" in s.get(env.base + "/", timeout=20).text


def test_single_page_app_enrols_and_logs_out_with_its_access_token(oauth_env):
    """The whole journey of Aidbox's demo app: implicit flow for `web`, then the JSON API with
    the access token alone."""
    env = oauth_env
    p = subprocess.run([AUTHCTL, "--authd", env.authd.target, "apply", "-f", AIDBOX_DEMO],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    put_client(env, SVC, SVC_SECRET, grant_types=["client_credentials"], introspect=True)
    create_user(env, "spa@example.com")
    s = new_session()
    r = browse(env, s, "/auth/authorize?client_id=web&response_type=token",
               email="spa@example.com")
    assert r.status_code in (302, 303), (r.status_code, r.text[:1000])
    frag = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(r.headers["Location"]).fragment))
    at = frag["access_token"]
    assert introspect(env, at, SVC, SVC_SECRET)["active"] is True
    assert signed_in(env, s)

    # Enrolment: the otpauth URI, a wrong code, the right one, then "already enabled".
    r = api(env.base, at, "request")
    assert r.status_code == 200, r.text
    uri = r.json()["uri"]
    secret = secret_of(uri)
    api_error(api(env.base, at, "confirm", {"token": wrong_code(secret)}), 422, "wrong_token")
    r = api(env.base, at, "confirm", {"token": oathtool(secret, time.time())})
    assert r.status_code == 200, r.text
    codes = r.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10, codes
    api_error(api(env.base, at, "request"), 422, "already_enabled")
    got = env.call(U + "Get", users_pb2.GetUserRequest(email="spa@example.com"),
                   users_pb2.UserResponse).user
    assert got.two_factor.enabled

    # Logout with the token: its session ends, and with it the token and the browser's cookie.
    r = requests.delete(env.base + "/Session", headers=bearer(at), timeout=20)
    assert r.status_code == 200 and r.json() == {}, r.text
    assert_inactive(env, at, cid=SVC, secret=SVC_SECRET)
    api_error(api(env.base, at, "request"), 401, "unauthorized")
    assert not signed_in(env, s)
    r = requests.delete(env.base + "/Session", headers=bearer(at), timeout=20)
    assert r.status_code == 401, r.text
    assert "event=audit action=token_revoked" in env.authd.log_text()


def password_tokens(env, email, cid=APP, secret=APP_SECRET):
    r = token_req(env, {"grant_type": "password", "username": email, "password": PW,
                        "scope": "openid"}, auth=(cid, secret))
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("fmt", ["jwt", "opaque"])
def test_access_token_kinds_on_the_json_api(env, fmt):
    """A user's JWT and opaque access tokens both act for their user; the logout with one ends
    its session (its refresh token too) and no other."""
    cid, secret = APP, APP_SECRET
    if fmt == "opaque":
        cid, secret = "opaque-user-app", "opaque-user-app-secret-0123"
        put_client(env, cid, secret, grant_types=["password", "refresh_token"],
                   password={"token_format": "opaque", "refresh_token": True})
    create_user(env, f"{fmt}@example.com")
    tok = password_tokens(env, f"{fmt}@example.com", cid, secret)
    other = password_tokens(env, f"{fmt}@example.com", cid, secret)
    at = tok["access_token"]
    assert (at.count(".") == 2) == (fmt == "jwt"), at
    r = api(env.base, at, "request")
    assert r.status_code == 200 and r.json()["uri"].startswith("otpauth://totp/"), r.text

    r = requests.delete(env.base + "/Session", headers=bearer(at), timeout=20)
    assert r.status_code == 200, r.text
    assert_inactive(env, at)
    assert_inactive(env, tok["refresh_token"])
    assert introspect(env, other["access_token"])["active"] is True
    # The other session still acts for the user (the enrolment begun above is still pending).
    r = api(env.base, other["access_token"], "request")
    assert r.status_code == 200, r.text


def test_tokens_that_act_for_no_one_get_401(env):
    """A client's own token, a revoked, an expired or a garbage token, and the token of a
    deactivated user: 401 on the JSON API and on DELETE /Session, and nothing changes."""
    u = create_user(env, "nobody@example.com")

    def refused(token):
        for what in ("request", "confirm"):
            r = api(env.base, token, what, {"token": "123456"} if what == "confirm" else None)
            api_error(r, 401, "unauthorized")
        r = requests.delete(env.base + "/Session", headers=bearer(token), timeout=20)
        assert r.status_code == 401, r.text

    refused(client_credentials(env)["access_token"])
    refused(client_credentials(env, OPAQUE, OPAQUE_SECRET)["access_token"])
    refused("not-a-token")
    refused("a.b.c")

    tok = password_tokens(env, "nobody@example.com")
    r = requests.post(env.base + "/auth/revoke", data={"token": tok["access_token"]},
                      auth=(APP, APP_SECRET), timeout=20)
    assert r.status_code == 200, r.text
    refused(tok["access_token"])

    tok = password_tokens(env, "nobody@example.com")
    env.call(U + "Update", users_pb2.UpdateUserRequest(
        id=u.id, inactive=common_pb2.BoolValue(value=True)), users_pb2.UserResponse)
    refused(tok["access_token"])
    env.call(U + "Update", users_pb2.UpdateUserRequest(
        id=u.id, inactive=common_pb2.BoolValue(value=False)), users_pb2.UserResponse)

    # Expiry: a one-second token, waited out (the test only needs it to be over, however long
    # the machine takes).
    put_client(env, "short", "short-secret-0123456789abcd", grant_types=["password"],
               password={"access_token_expiration": 1})
    tok = password_tokens(env, "nobody@example.com", "short", "short-secret-0123456789abcd")
    time.sleep(2.1)
    refused(tok["access_token"])
    got = env.call(U + "Get", users_pb2.GetUserRequest(id=u.id), users_pb2.UserResponse).user
    assert not got.two_factor.enabled
