# SPDX-License-Identifier: Apache-2.0
"""CORS for browser applications (issue 12 item 11): a single-page app on another origin runs
code + PKCE against the edge's token, userinfo and revocation endpoints, preflights included,
for origins its client registered (Client.allowed_origins, authd's decision through
OAuth.CheckOrigin); JWKS and discovery are public ("*"); never credentials, never "*" for the
rest; origins stored normalised, malformed ones refused by ClientAdmin.Put."""
import os
import subprocess

import grpc
import pytest
import requests

from conftest import AUTHCTL, new_session
from test_oauth import (CA, SPA, SPA_CB, authorize_code, create_user, env,  # noqa: F401
                        oauth_env, put_client)
from authd.v1 import oauth_pb2  # noqa: E402

APP_ORIGIN = "http://localhost:5173"


def put_origins(env, cid, origins, active=None):
    """The public SPA client (code + PKCE, refresh tokens) with these allowed_origins."""
    c = oauth_pb2.Client(id=cid, first_party=True, grant_types=["authorization_code",
                                                                  "refresh_token"],
                         allowed_origins=list(origins))
    c.auth.authorization_code.CopyFrom(oauth_pb2.GrantSettings(redirect_uri=SPA_CB,
                                                               refresh_token=True))
    if active is not None:
        c.active.value = active
    return env.call(CA + "Put", c, oauth_pb2.ClientResponse).client


def preflight(env, path, origin, method="POST", headers="authorization, content-type"):
    return requests.options(env.base + path, timeout=20, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers})


def assert_cors_allowed(r, origin):
    assert r.headers.get("Access-Control-Allow-Origin") == origin, r.headers
    assert "Origin" in r.headers.get("Vary", ""), r.headers
    assert "Access-Control-Allow-Credentials" not in r.headers, r.headers


def assert_no_cors(r):
    assert "Access-Control-Allow-Origin" not in r.headers, r.headers
    assert "Access-Control-Allow-Credentials" not in r.headers, r.headers


def test_single_page_app_runs_code_pkce_userinfo_refresh_revoke_cross_origin(env):
    put_origins(env, "spa-cors", [APP_ORIGIN])
    create_user(env, "cors@example.com")
    s = new_session()
    code, verifier = authorize_code(env, s, "spa-cors", SPA_CB, email="cors@example.com",
                                    scope="openid profile")
    o = {"Origin": APP_ORIGIN}

    # The token endpoint: preflight (the app sends form data, or JSON), then the exchange.
    p = preflight(env, "/auth/token", APP_ORIGIN)
    assert p.status_code == 204, (p.status_code, p.text)
    assert_cors_allowed(p, APP_ORIGIN)
    assert "POST" in p.headers["Access-Control-Allow-Methods"]
    allow_headers = p.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allow_headers and "content-type" in allow_headers
    assert int(p.headers["Access-Control-Max-Age"]) > 0
    r = requests.post(env.base + "/auth/token", headers=o, timeout=20, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": SPA_CB,
        "client_id": "spa-cors", "code_verifier": verifier})
    assert r.status_code == 200, r.text
    assert_cors_allowed(r, APP_ORIGIN)
    tok = r.json()

    # Userinfo with the access token in the Authorization header (a non-simple header: the
    # browser preflights it).
    p = preflight(env, "/auth/userinfo", APP_ORIGIN, method="GET", headers="authorization")
    assert p.status_code == 204
    assert_cors_allowed(p, APP_ORIGIN)
    assert "GET" in p.headers["Access-Control-Allow-Methods"]
    r = requests.get(env.base + "/auth/userinfo", timeout=20,
                     headers=dict(o, Authorization="Bearer " + tok["access_token"]))
    assert r.status_code == 200 and r.json()["sub"], r.text
    assert_cors_allowed(r, APP_ORIGIN)
    # An error the app must be able to read, and its WWW-Authenticate exposed.
    r = requests.get(env.base + "/auth/userinfo", headers=dict(o, Authorization="Bearer x"),
                     timeout=20)
    assert r.status_code == 401
    assert_cors_allowed(r, APP_ORIGIN)
    assert "www-authenticate" in r.headers["Access-Control-Expose-Headers"].lower()

    # Refresh, then revocation.
    r = requests.post(env.base + "/auth/token", headers=o, timeout=20, data={
        "grant_type": "refresh_token", "refresh_token": tok["refresh_token"],
        "client_id": "spa-cors"})
    assert r.status_code == 200, r.text
    assert_cors_allowed(r, APP_ORIGIN)
    p = preflight(env, "/auth/revoke", APP_ORIGIN)
    assert p.status_code == 204
    assert_cors_allowed(p, APP_ORIGIN)
    r = requests.post(env.base + "/auth/revoke", headers=o, timeout=20, data={
        "token": r.json()["refresh_token"], "client_id": "spa-cors"})
    assert r.status_code == 200, r.text
    assert_cors_allowed(r, APP_ORIGIN)


def test_unregistered_origins_get_no_cors(env):
    put_origins(env, "spa-cors", [APP_ORIGIN])
    # A registration of an inactive client counts for nothing.
    put_origins(env, "spa-off", ["https://off.example"], active=False)
    for origin in ("https://evil.example", "http://localhost:5174", "https://localhost:5173",
                   "null", "https://off.example", APP_ORIGIN + "/"):
        p = preflight(env, "/auth/token", origin)
        assert p.status_code == 204
        assert_no_cors(p)
        assert "Origin" in p.headers.get("Vary", "")
        r = requests.post(env.base + "/auth/token", headers={"Origin": origin}, timeout=20,
                          data={"grant_type": "client_credentials"})
        assert r.status_code in (400, 401), r.text
        assert_no_cors(r)
    # Introspection is for resource servers, never for browsers.
    p = preflight(env, "/auth/introspect", APP_ORIGIN)
    assert p.status_code == 405
    assert_no_cors(p)
    r = requests.post(env.base + "/auth/introspect", headers={"Origin": APP_ORIGIN},
                      data={"token": "x"}, timeout=20)
    assert_no_cors(r)


def test_public_documents_answer_any_origin_without_credentials(env):
    for path in ("/.well-known/jwks.json", "/.well-known/openid-configuration",
                 "/.well-known/oauth-authorization-server"):
        r = requests.get(env.base + path, headers={"Origin": "https://anyone.example"},
                         timeout=20)
        assert r.status_code == 200
        assert r.headers.get("Access-Control-Allow-Origin") == "*", r.headers
        assert "Access-Control-Allow-Credentials" not in r.headers
        p = preflight(env, path, "https://anyone.example", method="GET", headers="")
        assert p.status_code == 204
        assert p.headers.get("Access-Control-Allow-Origin") == "*"
        assert "Access-Control-Allow-Credentials" not in p.headers


def test_origins_are_normalised_and_malformed_ones_refused(oauth_env):
    env = oauth_env
    got = put_origins(env, "spa-n", ["HTTPS://App.Example.COM:443", "http://LOCALHOST:5173",
                                     "http://[::FFFF:7F00:1]:80", "https://a.example:8443"])
    assert list(got.allowed_origins) == ["https://app.example.com", "http://localhost:5173",
                                         "http://[::ffff:127.0.0.1]", "https://a.example:8443"]
    for bad in ("*", "null", "https://app.example.com/", "https://app.example.com/cb",
                "https://app.example.com?x", "https://user@app.example.com", "ftp://app.example",
                "app.example.com", "https://", "https://app.example.com:0",
                "https://app.example.com:65536", "https://exa mple.com", "https://bücher.example",
                "https://a..example", "https://[::1", "https://" + "a" * 250 + ".example"):
        with pytest.raises(grpc.RpcError) as ei:
            put_origins(env, "spa-bad", ["https://fine.example", bad])
        assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT, bad
        assert "allowed_origins[1]" in ei.value.details(), (bad, ei.value.details())
    with pytest.raises(grpc.RpcError) as ei:
        put_origins(env, "spa-bad", [f"https://a{i}.example" for i in range(33)])
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_authctl_manifest_carries_allowed_origins(oauth_env, tmp_path):
    env = oauth_env
    m = tmp_path / "m.yaml"
    m.write_text("- resourceType: Client\n  id: spa-m\n  grant_types: [authorization_code]\n"
                 f"  auth: {{authorization_code: {{redirect_uri: {SPA_CB}}}}}\n"
                 "  allowed_origins: [https://App.Example:443, http://localhost:5173]\n")
    p = subprocess.run([AUTHCTL, "--authd", env.authd.target, "apply", "-f", str(m)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([AUTHCTL, "--authd", env.authd.target, "client", "get", "--id", "spa-m"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "allowed_origins:" in p.stdout and "https://app.example" in p.stdout, p.stdout
    assert "http://localhost:5173" in p.stdout
    m.write_text("- resourceType: Client\n  id: spa-m\n  allowed_origins: ['https://x.example/']\n")
    p = subprocess.run([AUTHCTL, "--authd", env.authd.target, "apply", "-f", str(m)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "allowed_origins[0]" in p.stderr, (p.returncode, p.stderr)
    assert os.path.exists(str(m))
