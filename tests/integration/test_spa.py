# SPDX-License-Identifier: Apache-2.0
"""Aidbox's single-page app through the real authd and authd-edge: an app that holds an OAuth
access token, never an asid session token, enrols its user in two-factor authentication with
the JSON API and logs out with DELETE /Session, `Authorization: Bearer <access token>` on each
call (the edge passes the bearer on; authd tells a session token from an access token, which
stands for the session it was issued under).

Only a first-party client's token (as the demo's `web`) stands for the session: a third-party
app's token and the tokens of a deactivated client are refused there (401 / UNAUTHENTICATED).

Codes come from oathtool; the demo manifest is deploy/aidbox-demo.yaml, unchanged.
"""
import subprocess
import time
import urllib.parse

import grpc
import pytest
import requests

from conftest import AUTHCTL, common_pb2, new_session, sessions_pb2, users_pb2
from authd.v1 import twofactor_pb2  # noqa: E402
from test_oauth import (APP, APP_CB, APP_SECRET, OPAQUE, OPAQUE_SECRET, PW, S, SVC, SVC_SECRET,
                        TF, THIRD, THIRD_CB, THIRD_SECRET, U, AIDBOX_DEMO, Authenticator,
                        assert_inactive, browse, client_credentials, code_flow, create_user, env,
                        introspect, oauth_env, oathtool, put_client, token_req,
                        userinfo)  # noqa: F401

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


def unauthenticated(env, method, req, resp_cls):
    """The gRPC call is refused as UNAUTHENTICATED."""
    with pytest.raises(grpc.RpcError) as e:
        env.call(method, req, resp_cls)
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED, (e.value.code(), e.value.details())


def two_factor_on(env, email):
    return env.call(U + "Get", users_pb2.GetUserRequest(email=email),
                    users_pb2.UserResponse).user.two_factor.enabled


def test_third_party_token_is_no_session(env):
    """A third-party app's access token (the user consented to openid only) is an OAuth token for
    userinfo, never the user's session: the 2FA JSON API, DELETE /Session and the bearer_token of
    Sessions and TwoFactor refuse it (401 / UNAUTHENTICATED) and change nothing, while a
    first-party app's token from the same browser session does all of it."""
    email = "tess@example.com"
    create_user(env, email)
    s = new_session()
    tp, _, _ = code_flow(env, s, THIRD, THIRD_SECRET, THIRD_CB, email, scope="openid",
                         consent="allow")
    tp_at = tp["access_token"]
    assert tp["scope"] == "openid", tp
    assert userinfo(env, tp_at).status_code == 200  # what the user consented to still works
    api_error(api(env.base, tp_at, "request"), 401, "unauthorized")

    # A pending enrolment (begun by the browser session itself): the third party cannot finish
    # it, even with the right code.
    b = env.call(TF + "BeginEnrollment",
                 twofactor_pb2.BeginEnrollmentRequest(session_token=s.cookies["asid"]),
                 twofactor_pb2.BeginEnrollmentResponse)
    auth = Authenticator(b.secret, int(time.time() // 30) - 2)
    api_error(api(env.base, tp_at, "confirm", {"token": auth.fresh()}), 401, "unauthorized")
    assert not two_factor_on(env, email)
    unauthenticated(env, TF + "Status", twofactor_pb2.StatusRequest(bearer_token=tp_at),
                    twofactor_pb2.TwoFactorStatusResponse)
    unauthenticated(env, S + "Get", sessions_pb2.GetSessionRequest(bearer_token=tp_at),
                    sessions_pb2.SessionResponse)
    unauthenticated(env, S + "Revoke", sessions_pb2.RevokeSessionRequest(bearer_token=tp_at),
                    common_pb2.Empty)
    r = requests.delete(env.base + "/Session", headers=bearer(tp_at), timeout=20)
    assert r.status_code == 401, r.text
    assert signed_in(env, s)

    # The first-party app of the same browser session acts for the user.
    fp, _, _ = code_flow(env, s, APP, APP_SECRET, APP_CB, email, scope="openid")
    fp_at = fp["access_token"]
    r = api(env.base, fp_at, "request")
    assert r.status_code == 200, r.text
    if secret_of(r.json()["uri"]) != b.secret:  # a new enrolment replaced the pending one
        auth = Authenticator(secret_of(r.json()["uri"]), auth.last)
    r = api(env.base, fp_at, "confirm", {"token": auth.fresh()})
    assert r.status_code == 200 and len(r.json()["recovery_codes"]) == 10, r.text
    assert two_factor_on(env, email)

    # 2FA on: the third party can neither turn it off nor get new recovery codes, with a right
    # code in hand.
    unauthenticated(env, TF + "Disable", twofactor_pb2.SecondFactorRequest(
        bearer_token=tp_at, code=auth.fresh()), users_pb2.UserResponse)
    unauthenticated(env, TF + "RegenerateRecoveryCodes", twofactor_pb2.SecondFactorRequest(
        bearer_token=tp_at, code=auth.fresh()), twofactor_pb2.RecoveryCodesResponse)
    assert two_factor_on(env, email)
    st = env.call(TF + "Status", twofactor_pb2.StatusRequest(bearer_token=fp_at),
                  twofactor_pb2.TwoFactorStatusResponse)
    assert st.user.two_factor.enabled
    r = requests.delete(env.base + "/Session", headers=bearer(tp_at), timeout=20)
    assert r.status_code == 401, r.text
    assert signed_in(env, s)
    r = requests.delete(env.base + "/Session", headers=bearer(fp_at), timeout=20)
    assert r.status_code == 200, r.text
    assert not signed_in(env, s)


@pytest.mark.parametrize("fmt", ["jwt", "opaque"])
def test_deactivated_client_tokens_are_inactive(env, fmt):
    """ClientAdmin.Put(active=false): the client's user tokens stop working everywhere (userinfo,
    introspection, the bearer of the JSON API and the RPCs, refresh) while it stays inactive."""
    cid, secret = f"dead-{fmt}", f"dead-{fmt}-secret-0123456789ab"
    email = f"dora-{fmt}@example.com"

    def put(active):
        put_client(env, cid, secret, grant_types=["password", "refresh_token"],
                   password={"token_format": fmt, "refresh_token": True}, active=active)

    put(True)
    create_user(env, email)
    tok = password_tokens(env, email, cid, secret)
    at = tok["access_token"]
    assert userinfo(env, at).status_code == 200
    assert introspect(env, at)["active"] is True  # APP is a resource server (introspect=True)
    assert api(env.base, at, "request").status_code == 200

    put(False)
    r = userinfo(env, at)
    assert r.status_code == 401 and "invalid_token" in r.headers.get("WWW-Authenticate", ""), \
        (r.status_code, r.headers, r.text)
    assert_inactive(env, at)
    assert_inactive(env, tok["refresh_token"], hint="refresh_token")
    api_error(api(env.base, at, "request"), 401, "unauthorized")
    unauthenticated(env, S + "Get", sessions_pb2.GetSessionRequest(bearer_token=at),
                    sessions_pb2.SessionResponse)
    r = requests.delete(env.base + "/Session", headers=bearer(at), timeout=20)
    assert r.status_code == 401, r.text
    r = token_req(env, {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]},
                  auth=(cid, secret))
    assert r.status_code in (400, 401) and "access_token" not in r.json(), r.text

    # Deactivation suspends: active again, the unexpired tokens work again (as a client's own
    # client_credentials tokens do); deleting the client ends them for good.
    put(True)
    assert userinfo(env, at).status_code == 200
    assert introspect(env, at)["active"] is True
