# SPDX-License-Identifier: Apache-2.0
"""OAuth 2.0 / OpenID Connect through the real authd and authd-edge, driven by clients nobody
here wrote: authlib's OAuth2Session (authorization URL with PKCE, token requests, refresh,
introspection, revocation), PyJWT verifying every token against the published JWKS with issuer
and audience checks, requests as the browser (login form, TOTP step, consent page), oathtool as
the authenticator app and authctl applying Aidbox's demo manifest as it is.

authd's --issuer must equal the edge's public URL, so the oauth_env fixture picks a free
loopback port first, starts authd with --issuer http://127.0.0.1:<port> and the edge on that
port.
"""
import base64
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from html.parser import HTMLParser

import grpc
import jwt
import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from conftest import (AUTHCTL, FAST_ARGON2, LONG_LOCK, REPO, Authd, Edge, common_pb2, csrf_of,
                      free_port, grpc_reason, grpc_trailer, lockout_set, long_locks, new_session,
                      sessions_pb2, set_lockout, signup_pb2, users_pb2, wait_port_file)
from authd.v1 import oauth_pb2, twofactor_pb2  # noqa: E402

PW = "a long enough password"
PERIOD = 30
U = "/authd.v1.Users/"
S = "/authd.v1.Sessions/"
TF = "/authd.v1.TwoFactor/"
CA = "/authd.v1.ClientAdmin/"
OA = "/authd.v1.OAuth/"
AIDBOX_DEMO = os.path.join(REPO, "deploy", "aidbox-demo.yaml")

# The clients of most tests (created by make_clients). Redirect URIs are never followed: the
# tests read the 302's Location, as a client's callback would.
APP, APP_SECRET, APP_CB = "app", "app-secret-0123456789abcdef", "https://app.example/callback"
SPA, SPA_CB = "spa", "http://127.0.0.1:9/spa/cb"
THIRD, THIRD_SECRET, THIRD_CB = "third", "third-secret-0123456789abc", "https://third.example/cb"
LEGACY, LEGACY_SECRET, LEGACY_CB = "legacy", "legacy-secret-0123456789ab", "https://legacy.example/cb"
SVC, SVC_SECRET = "svc", "svc-secret-0123456789abcdef"
OPAQUE, OPAQUE_SECRET = "svc-opaque", "opaque-secret-0123456789ab"


# ---- processes -----------------------------------------------------------------------------

class OAuthEnv:
    """authd and the edge with authd's issuer = the edge's URL; stop() always stops both."""

    def __init__(self, tmp, authd_extra=()):
        self.tmp = tmp
        self.authd = None
        self.edge = None
        last = None
        for _ in range(5):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            self.authd = Authd(tmp, FAST_ARGON2 + ["--issuer", base] + list(authd_extra))
            try:
                self.edge = Edge(tmp, self.authd, listen=f"127.0.0.1:{port}")
                break
            except RuntimeError as e:  # the port was taken in between: try another
                last = e
                self.authd.stop()
                self.authd = None
        if self.edge is None:
            raise RuntimeError(f"edge did not start: {last}")
        self.base = self.edge.base
        assert self.base == base

    def stop(self):
        if self.edge is not None:
            self.edge.stop()
        if self.authd is not None:
            self.authd.stop()

    def call(self, method, req, resp_cls, **kw):
        return self.authd.call(method, req, resp_cls, **kw)

    def logs(self):
        return ("---- authd\n" + self.authd.log_text()[-3000:] + "\n---- edge\n"
                + self.edge.log_text()[-3000:])


@pytest.fixture
def oauth_env():
    with tempfile.TemporaryDirectory(prefix="authd-oauth-") as tmp:
        env = OAuthEnv(tmp)
        try:
            yield env
        finally:
            env.stop()


@pytest.fixture
def env(oauth_env):
    """oauth_env with the usual clients."""
    make_clients(oauth_env)
    return oauth_env


@pytest.fixture
def env_at_once():
    """env with authd's --key-publish-delay 0: a rotated key signs at once (as every rotation did
    before publication delays), for the tests of what a rotation does to signing and verifying;
    when a key signs is test_key_publication.py's."""
    with tempfile.TemporaryDirectory(prefix="authd-oauth-") as tmp:
        e = OAuthEnv(tmp, ["--key-publish-delay", "0"])
        try:
            make_clients(e)
            yield e
        finally:
            e.stop()


# ---- clients and users ---------------------------------------------------------------------

def put_client(env, cid, secret="", first_party=True, grant_types=(), code=None, implicit=None,
               password=None, cc=None, scope=(), active=None, introspect=False):
    c = oauth_pb2.Client(id=cid, secret=secret, first_party=first_party,
                         grant_types=list(grant_types), scope=list(scope), introspect=introspect)
    for name, gs in (("authorization_code", code), ("implicit", implicit),
                     ("password", password), ("client_credentials", cc)):
        if gs is not None:
            getattr(c.auth, name).CopyFrom(oauth_pb2.GrantSettings(**gs))
    if active is not None:
        c.active.CopyFrom(common_pb2.BoolValue(value=active))
    return env.call(CA + "Put", c, oauth_pb2.ClientResponse).client


def make_clients(env):
    # A confidential first-party web app: code + PKCE (required by the client setting),
    # refresh tokens, the password grant.
    put_client(env, APP, APP_SECRET, grant_types=["authorization_code", "refresh_token",
                                                  "password"],
               code={"redirect_uri": APP_CB, "pkce": True, "refresh_token": True},
               password={"refresh_token": True}, introspect=True)
    # A public first-party single-page app: no secret, so PKCE is required.
    put_client(env, SPA, grant_types=["authorization_code", "refresh_token"],
               code={"redirect_uri": SPA_CB, "refresh_token": True})
    # A confidential third-party app: consent page.
    put_client(env, THIRD, THIRD_SECRET, first_party=False, grant_types=["authorization_code"],
               code={"redirect_uri": THIRD_CB})
    # A confidential client that does not ask for PKCE.
    put_client(env, LEGACY, LEGACY_SECRET, grant_types=["authorization_code"],
               code={"redirect_uri": LEGACY_CB, "refresh_token": True})
    # Machine clients: client_credentials only, JWT and opaque access tokens.
    put_client(env, SVC, SVC_SECRET, grant_types=["client_credentials"])
    put_client(env, OPAQUE, OPAQUE_SECRET, grant_types=["client_credentials"],
               cc={"token_format": "opaque", "access_token_expiration": 600})


def oathtool(secret, unix):
    code = subprocess.run(["oathtool", "--totp", "-b", secret, "--now", f"@{int(unix)}"],
                          check=True, capture_output=True, text=True, timeout=20).stdout.strip()
    assert re.fullmatch(r"\d{6}", code), code
    return code


class Authenticator:
    """An authenticator app (oathtool) holding one secret. fresh() is a code authd accepts now
    and has not seen: the oldest of the acceptable steps (previous while >= 5 s of the current
    step are left, current, next) newer than the last one used, so no test sleeps through a
    30 s step."""

    def __init__(self, secret, last):
        self.secret = secret
        self.last = last

    def fresh(self):
        deadline = time.time() + PERIOD + 5
        while True:
            now = time.time()
            cur, left = int(now // PERIOD), PERIOD - now % PERIOD
            for step in range(cur - 1 if left >= 5 else cur, cur + 2):
                if step > self.last:
                    self.last = step
                    return oathtool(self.secret, step * PERIOD + 1)
            assert time.time() < deadline
            time.sleep(left + 0.05)


def create_user(env, email, password=PW):
    return env.call(U + "Create", users_pb2.CreateUserRequest(email=email, password=password),
                    users_pb2.UserResponse).user


def create_2fa_user(env, email):
    """A user with TOTP enrolled over gRPC (the code from oathtool); returns (user, app)."""
    user = create_user(env, email)
    tok = env.call(S + "Login", sessions_pb2.LoginRequest(email=email, password=PW,
                                                          client_ip="127.0.0.1"),
                   sessions_pb2.SessionResponse).session_token
    b = env.call(TF + "BeginEnrollment", twofactor_pb2.BeginEnrollmentRequest(session_token=tok),
                 twofactor_pb2.BeginEnrollmentResponse)
    step = int(time.time() // PERIOD)
    env.call(TF + "ConfirmEnrollment", twofactor_pb2.ConfirmEnrollmentRequest(
        session_token=tok, code=oathtool(b.secret, step * PERIOD + 1)),
        twofactor_pb2.RecoveryCodesResponse)
    return user, Authenticator(b.secret, step)


# ---- the browser ---------------------------------------------------------------------------

class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms = []
        self._cur = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._cur = {"action": a.get("action"), "method": (a.get("method") or "get").lower(),
                         "fields": {}, "buttons": []}
            self.forms.append(self._cur)
        elif self._cur is not None and tag in ("input", "textarea") and a.get("name"):
            self._cur["fields"][a["name"]] = a.get("value") or ""
        elif self._cur is not None and tag == "button" and a.get("name"):
            self._cur["buttons"].append((a["name"], a.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._cur = None


def forms(html):
    p = _Forms()
    p.feed(html)
    return p.forms


def the_form(html, action):
    found = [f for f in forms(html) if f["action"] == action]
    assert found, f"no form to {action}:\n{html[:3000]}"
    return found[0]


def submit(s, base, html, action, values, button=None):
    """Posts the form to action as a browser does: all its fields (hidden ones too) with values
    filled in, plus the pressed button's name=value."""
    f = the_form(html, action)
    data = dict(f["fields"])
    for k in values:
        assert k in data, f"form {action} has no field {k}: {sorted(data)}"
    data.update(values)
    if button is not None:
        assert button in f["buttons"], (button, f["buttons"])
        data[button[0]] = button[1]
    return s.post(base + action, data=data, allow_redirects=False)


def on_edge(env, url):
    return url.startswith(env.base + "/") or url.startswith("/")


def absolute(env, url):
    return env.base + url if url.startswith("/") else url


def browse(env, s, url, email=None, password=PW, authenticator=None, consent=None, steps=12):
    """A browser that opens url on the edge and follows the edge's pages: it fills the login
    form (email/password), the TOTP step (authenticator) and, when consent is "allow"/"deny",
    the consent page. Returns the first answer that is neither a redirect within the edge nor
    a page it knows how to fill: a redirect off the edge (to the client's redirect URI: never
    followed), an error page, the consent page (consent=None), ..."""
    path = urllib.parse.urlparse(url).path
    r = s.get(absolute(env, url), allow_redirects=False)
    for _ in range(steps):
        if r.status_code in (301, 302, 303, 307, 308):
            loc = r.headers["Location"]
            if not on_edge(env, loc):
                return r
            path = urllib.parse.urlparse(loc).path
            r = s.get(absolute(env, loc), allow_redirects=False)
            continue
        if r.status_code != 200:
            return r
        actions = {f["action"] for f in forms(r.text)}
        if path == "/auth/login" and "/auth/login" in actions:
            assert email is not None, "the browser was sent to the login page"
            r = submit(s, env.base, r.text, "/auth/login", {"email": email, "password": password})
        elif path == "/auth/two-factor/verify" and "/auth/two-factor/verify" in actions:
            assert authenticator is not None, "the browser was sent to the TOTP step"
            f = [f for f in forms(r.text) if f["action"] == "/auth/two-factor/verify"
                 and "token" in f["fields"]]
            assert f, r.text[:2000]
            r = s.post(env.base + "/auth/two-factor/verify",
                       data=dict(f[0]["fields"], token=authenticator.fresh()),
                       allow_redirects=False)
        elif consent is not None and "/auth/consent" in actions:
            r = submit(s, env.base, r.text, "/auth/consent", {}, button=("decision", consent))
            consent = None
        else:
            return r
        path = None  # an answer to a POST: only its redirect says where the browser is
    raise AssertionError(f"more than {steps} steps; last {r.status_code} {r.headers}")


def redirect_params(r, expect_base):
    """The query (or fragment) parameters of a redirect to expect_base."""
    assert r.status_code in (302, 303), (r.status_code, r.headers.get("Location"), r.text[:1500])
    loc = r.headers["Location"]
    u = urllib.parse.urlparse(loc)
    assert f"{u.scheme}://{u.netloc}{u.path}" == expect_base, loc
    q = dict(urllib.parse.parse_qsl(u.query))
    q.update(dict(urllib.parse.parse_qsl(u.fragment)))
    return q


def oauth_session(env, cid, secret=None, redirect_uri=None, scope="openid profile email", **kw):
    return OAuth2Session(cid, secret, scope=scope, redirect_uri=redirect_uri,
                         code_challenge_method="S256",
                         token_endpoint_auth_method="client_secret_basic" if secret else "none",
                         **kw)


def code_flow(env, s, cid, secret, cb, email, authenticator=None, scope="openid profile email",
              consent=None, nonce=None):
    """The authorization-code flow with PKCE: authlib makes the URL, the browser signs in,
    authlib exchanges the code. Returns (token dict, OAuth2Session, nonce)."""
    client = oauth_session(env, cid, secret, cb, scope)
    verifier = generate_token(64)
    nonce = nonce or generate_token(20)
    url, state = client.create_authorization_url(env.base + "/auth/authorize",
                                                 code_verifier=verifier, nonce=nonce)
    r = browse(env, s, url, email=email, authenticator=authenticator, consent=consent)
    q = redirect_params(r, cb)
    assert q.get("state") == state and "code" in q, q
    tok = client.fetch_token(env.base + "/auth/token", authorization_response=r.headers["Location"],
                             state=state, code_verifier=verifier)
    return tok, client, nonce


def authorize_code(env, s, cid, cb, email=None, authenticator=None, scope="openid",
                   verifier=None, extra=None):
    """Just the code (no exchange): (code, verifier)."""
    verifier = verifier or generate_token(64)
    q = {"response_type": "code", "client_id": cid, "redirect_uri": cb, "scope": scope,
         "state": "s-" + generate_token(8), "code_challenge": s256(verifier),
         "code_challenge_method": "S256"}
    q.update(extra or {})
    r = browse(env, s, "/auth/authorize?" + urllib.parse.urlencode(q), email=email,
               authenticator=authenticator)
    got = redirect_params(r, cb)
    assert got.get("state") == q["state"] and "code" in got, got
    return got["code"], verifier


def s256(verifier):
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


# ---- token endpoint helpers (plain requests: the errors are what is tested) ----------------

def token_req(env, data, auth=None, as_json=False):
    if as_json:
        return requests.post(env.base + "/auth/token", json=data, auth=auth, timeout=20)
    return requests.post(env.base + "/auth/token", data=data, auth=auth, timeout=20)


def oauth_error(r, status, error):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = r.json()
    assert body.get("error") == error, body
    assert "access_token" not in body
    return body


def introspect(env, token, cid=APP, secret=APP_SECRET, hint=None):
    data = {"token": token}
    if hint:
        data["token_type_hint"] = hint
    r = requests.post(env.base + "/auth/introspect", data=data, auth=(cid, secret), timeout=20)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def assert_inactive(env, token, **kw):
    got = introspect(env, token, **kw)
    # RFC 7662 §2.2: nothing about an inactive token but that.
    assert got == {"active": False}, got


def userinfo(env, token):
    return requests.get(env.base + "/auth/userinfo",
                        headers={"Authorization": f"Bearer {token}"}, timeout=20)


def client_credentials(env, cid=SVC, secret=SVC_SECRET, **extra):
    r = token_req(env, dict({"grant_type": "client_credentials"}, **extra), auth=(cid, secret))
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


# ---- JWT verification against the published key set ---------------------------------------

def jwks_client(env):
    conf = requests.get(env.base + "/.well-known/openid-configuration", timeout=20).json()
    return jwt.PyJWKClient(conf["jwks_uri"], cache_jwk_set=False)


def verify_jwt(env, token, audience, required=("exp", "iat", "iss", "sub", "aud")):
    """Verifies token's signature with the key the JWKS names by kid, its issuer (the edge's
    URL), audience and expiry, as a resource server would. Returns the claims."""
    header = jwt.get_unverified_header(token)
    assert header["alg"] in ("ES256", "RS256") and header.get("kid"), header
    key = jwks_client(env).get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["ES256", "RS256"], audience=audience,
                      issuer=env.base, options={"require": list(required)})


def verify_jwcrypto(env, token, audience):
    """The same check with a second, independent JOSE implementation (jwcrypto)."""
    from jwcrypto import jwk as jwcrypto_jwk, jwt as jwcrypto_jwt
    keys = jwcrypto_jwk.JWKSet.from_json(
        requests.get(env.base + "/.well-known/jwks.json", timeout=20).text)
    t = jwcrypto_jwt.JWT(jwt=token, key=keys, algs=["ES256", "RS256"],
                         check_claims={"iss": env.base, "aud": audience, "exp": None})
    return json.loads(t.claims)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


# ================================ tests =====================================================

def test_discovery_and_jwks(oauth_env):
    env = oauth_env
    r = requests.get(env.base + "/.well-known/openid-configuration", timeout=20)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    d = r.json()
    assert d["issuer"] == env.base
    for key, path in (("authorization_endpoint", "/auth/authorize"),
                      ("token_endpoint", "/auth/token"),
                      ("userinfo_endpoint", "/auth/userinfo"),
                      ("jwks_uri", "/.well-known/jwks.json"),
                      ("introspection_endpoint", "/auth/introspect"),
                      ("revocation_endpoint", "/auth/revoke")):
        assert d[key] == env.base + path, (key, d.get(key))
    assert set(d["response_types_supported"]) >= {"code", "token"}
    assert set(d["grant_types_supported"]) >= {"authorization_code", "implicit", "password",
                                               "client_credentials", "refresh_token"}
    assert d["code_challenge_methods_supported"] == ["S256"]  # never "plain"
    assert "ES256" in d["id_token_signing_alg_values_supported"]
    assert "none" not in d["id_token_signing_alg_values_supported"]
    assert "openid" in d["scopes_supported"] and d["subject_types_supported"]
    assert set(d["token_endpoint_auth_methods_supported"]) >= {"client_secret_basic",
                                                               "client_secret_post"}
    r = requests.get(d["jwks_uri"], timeout=20)
    assert r.status_code == 200
    keys = r.json()["keys"]
    assert keys
    for k in keys:
        assert k.get("kid") and k["kty"] in ("EC", "RSA"), k
        # Public keys only.
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(k), k
    assert any(k["kty"] == "EC" and k.get("crv") == "P-256" for k in keys), keys
    # PyJWT reads the set.
    assert jwt.PyJWKSet(keys).keys


def test_authorization_code_pkce_with_totp_login(env):
    """The main journey: authlib + a browser through login and the TOTP step; every token
    verified against the JWKS; userinfo; introspection; refresh rotation and reuse detection."""
    user, app = create_2fa_user(env, "alice@example.com")
    s = new_session()
    tok, client, nonce = code_flow(env, s, APP, APP_SECRET, APP_CB, "alice@example.com", app)
    assert tok["token_type"].lower() == "bearer" and tok["expires_in"] > 0, tok
    assert tok.get("refresh_token") and tok.get("id_token"), tok
    assert set(tok["scope"].split()) == {"openid", "profile", "email"}, tok
    assert jwt.get_unverified_header(tok["access_token"])["alg"] == "ES256"

    at = verify_jwt(env, tok["access_token"], APP, required=("exp", "iat", "iss", "sub", "aud",
                                                              "jti"))
    assert at["sub"] == user.id and at["client_id"] == APP, at
    assert set(at["scope"].split()) == {"openid", "profile", "email"}, at
    assert at["sid"] and at["exp"] > at["iat"] >= time.time() - 60, at
    assert {"pwd", "otp"} <= set(at["amr"]), at

    it = verify_jwt(env, tok["id_token"], APP)
    assert it["sub"] == user.id and it["nonce"] == nonce, it
    assert it["email"] == "alice@example.com", it
    assert {"pwd", "otp"} <= set(it["amr"]), it
    assert abs(it["auth_time"] - time.time()) < 120, it
    assert verify_jwcrypto(env, tok["access_token"], APP) == at
    assert verify_jwcrypto(env, tok["id_token"], APP) == it

    # UserInfo with authlib's session (Bearer in the header).
    r = client.get(env.base + "/auth/userinfo")
    assert r.status_code == 200, r.text
    assert r.json()["sub"] == user.id and r.json()["email"] == "alice@example.com", r.json()

    # Introspection (RFC 7662) with authlib, the client authenticated by Basic.
    r = client.introspect_token(env.base + "/auth/introspect", token=tok["access_token"])
    assert r.status_code == 200, r.text
    i = r.json()
    assert i["active"] is True and i["client_id"] == APP and i["sub"] == user.id, i
    assert i["iss"] == env.base and i["exp"] == at["exp"], i
    assert set(i["scope"].split()) == {"openid", "profile", "email"}, i
    r = client.introspect_token(env.base + "/auth/introspect", token=tok["refresh_token"],
                                token_type_hint="refresh_token")
    assert r.status_code == 200 and r.json()["active"] is True, r.text

    # Refresh rotation: every use answers a new refresh token; the access token verifies.
    rt1 = tok["refresh_token"]
    tok2 = client.refresh_token(env.base + "/auth/token", refresh_token=rt1)
    rt2 = tok2["refresh_token"]
    assert rt2 and rt2 != rt1 and tok2["access_token"] != tok["access_token"], tok2
    at2 = verify_jwt(env, tok2["access_token"], APP)
    assert at2["sub"] == user.id and at2["sid"] == at["sid"], at2
    tok3 = client.refresh_token(env.base + "/auth/token", refresh_token=rt2)
    rt3 = tok3["refresh_token"]
    assert rt3 not in (rt1, rt2)

    # Reuse of a rotated refresh token: invalid_grant, and the whole family is revoked.
    with pytest.raises(OAuthError) as e:
        client.refresh_token(env.base + "/auth/token", refresh_token=rt1)
    assert e.value.error == "invalid_grant", e.value
    r = token_req(env, {"grant_type": "refresh_token", "refresh_token": rt1},
                  auth=(APP, APP_SECRET))
    oauth_error(r, 400, "invalid_grant")
    r = token_req(env, {"grant_type": "refresh_token", "refresh_token": rt3},
                  auth=(APP, APP_SECRET))
    oauth_error(r, 400, "invalid_grant")
    assert_inactive(env, rt3)
    # The family's access tokens die with it.
    for t in (tok["access_token"], tok2["access_token"], tok3["access_token"]):
        assert_inactive(env, t)


def test_public_client_pkce(env):
    """A public client (no secret): PKCE S256 is required, the verifier checked."""
    create_user(env, "bob@example.com")
    s = new_session()
    tok, client, _ = code_flow(env, s, SPA, None, SPA_CB, "bob@example.com", scope="openid")
    claims = verify_jwt(env, tok["access_token"], SPA)
    assert claims["client_id"] == SPA
    assert verify_jwt(env, tok["id_token"], SPA)["sub"] == claims["sub"]
    # A public client's refresh token is rotated too (no secret to bind it: RFC 9700 §4.14.2).
    tok2 = client.refresh_token(env.base + "/auth/token", refresh_token=tok["refresh_token"])
    assert tok2["refresh_token"] != tok["refresh_token"]

    base = {"response_type": "code", "client_id": SPA, "redirect_uri": SPA_CB,
            "scope": "openid", "state": "st-1"}
    # No code_challenge: the error goes to the (valid) redirect URI, with the state.
    r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(base), allow_redirects=False)
    q = redirect_params(r, SPA_CB)
    assert q.get("error") == "invalid_request" and q.get("state") == "st-1", q
    assert "code" not in q
    # plain is refused.
    v = generate_token(64)
    r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(
        dict(base, code_challenge=v, code_challenge_method="plain")), allow_redirects=False)
    q = redirect_params(r, SPA_CB)
    assert q.get("error") == "invalid_request" and q.get("state") == "st-1" and "code" not in q, q
    # A challenge without a method means plain (RFC 7636 §4.3): refused too.
    r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(
        dict(base, code_challenge=v)), allow_redirects=False)
    q = redirect_params(r, SPA_CB)
    assert q.get("error") == "invalid_request" and "code" not in q, q

    # Missing verifier, then a wrong one: invalid_grant (and the code is then spent or still
    # refused: the right verifier after a wrong one must not matter for the check).
    code, verifier = authorize_code(env, s, SPA, SPA_CB)
    r = token_req(env, {"grant_type": "authorization_code", "code": code,
                        "redirect_uri": SPA_CB, "client_id": SPA})
    oauth_error(r, 400, "invalid_grant")
    code, verifier = authorize_code(env, s, SPA, SPA_CB)
    r = token_req(env, {"grant_type": "authorization_code", "code": code, "redirect_uri": SPA_CB,
                        "client_id": SPA, "code_verifier": generate_token(64)})
    oauth_error(r, 400, "invalid_grant")
    # The verifier of another authorization: refused.
    code, _ = authorize_code(env, s, SPA, SPA_CB)
    r = token_req(env, {"grant_type": "authorization_code", "code": code, "redirect_uri": SPA_CB,
                        "client_id": SPA, "code_verifier": verifier})
    oauth_error(r, 400, "invalid_grant")
    # The right one, with a redirect_uri that is not the authorization's: refused.
    code, verifier = authorize_code(env, s, SPA, SPA_CB)
    r = token_req(env, {"grant_type": "authorization_code", "code": code,
                        "redirect_uri": SPA_CB + "x", "client_id": SPA,
                        "code_verifier": verifier})
    oauth_error(r, 400, "invalid_grant")


def test_confidential_client_pkce(env):
    """APP requires PKCE by setting; LEGACY does not, but a challenge it sent is enforced."""
    create_user(env, "carol@example.com")
    s = new_session()
    base = {"response_type": "code", "client_id": APP, "redirect_uri": APP_CB, "scope": "openid",
            "state": "st-2"}
    r = browse(env, s, "/auth/authorize?" + urllib.parse.urlencode(base),
               email="carol@example.com")
    q = redirect_params(r, APP_CB)
    assert q.get("error") == "invalid_request" and q.get("state") == "st-2" and "code" not in q, q

    # The request was refused before any login: the browser is not signed in yet.
    assert s.cookies.get("asid") is None
    # LEGACY without PKCE: fine (a confidential client authenticates at the token endpoint).
    q = dict(base, client_id=LEGACY, redirect_uri=LEGACY_CB)
    r = browse(env, s, "/auth/authorize?" + urllib.parse.urlencode(q), email="carol@example.com")
    got = redirect_params(r, LEGACY_CB)
    r = token_req(env, {"grant_type": "authorization_code", "code": got["code"],
                        "redirect_uri": LEGACY_CB}, auth=(LEGACY, LEGACY_SECRET))
    assert r.status_code == 200 and r.json()["access_token"], r.text
    # LEGACY with a challenge: the verifier is then required (no downgrade, RFC 9700 §2.1.1).
    code, verifier = authorize_code(env, s, LEGACY, LEGACY_CB)
    r = token_req(env, {"grant_type": "authorization_code", "code": code,
                        "redirect_uri": LEGACY_CB}, auth=(LEGACY, LEGACY_SECRET))
    oauth_error(r, 400, "invalid_grant")
    code, verifier = authorize_code(env, s, LEGACY, LEGACY_CB)
    r = token_req(env, {"grant_type": "authorization_code", "code": code,
                        "redirect_uri": LEGACY_CB, "code_verifier": verifier},
                  auth=(LEGACY, LEGACY_SECRET))
    assert r.status_code == 200, r.text
    # Client authentication in the body (client_secret_post) works the same way.
    code, verifier = authorize_code(env, s, LEGACY, LEGACY_CB)
    r = token_req(env, {"grant_type": "authorization_code", "code": code,
                        "redirect_uri": LEGACY_CB, "code_verifier": verifier,
                        "client_id": LEGACY, "client_secret": LEGACY_SECRET})
    assert r.status_code == 200, r.text
    # A code is bound to its client: another client cannot redeem it.
    code, verifier = authorize_code(env, s, LEGACY, LEGACY_CB)
    r = token_req(env, {"grant_type": "authorization_code", "code": code,
                        "redirect_uri": LEGACY_CB, "code_verifier": verifier},
                  auth=(APP, APP_SECRET))
    oauth_error(r, 400, "invalid_grant")


@pytest.mark.parametrize("uri", ["https://evil.example/callback", APP_CB + "/x", APP_CB + "?a=1",
                                 APP_CB.upper(), APP_CB + "#f", ""])
def test_wrong_redirect_uri_is_an_error_page(env, uri):
    create_user(env, "dave@example.com")
    s = new_session()
    # Signed in, so nothing but the redirect URI stands in the way.
    r = s.get(env.base + "/auth/login")
    r = submit(s, env.base, r.text, "/auth/login", {"email": "dave@example.com", "password": PW})
    assert r.status_code == 303
    q = {"response_type": "code", "client_id": APP, "scope": "openid", "state": "st",
         "code_challenge": s256("x" * 50), "code_challenge_method": "S256"}
    if uri:
        q["redirect_uri"] = uri
    r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(q), allow_redirects=False)
    if uri == "" and r.status_code in (302, 303):
        # RFC 6749 §3.1.2.3: without redirect_uri the registered one is used (one registered).
        assert redirect_params(r, APP_CB).get("code"), r.headers["Location"]
        return
    assert r.status_code == 400, (r.status_code, r.headers.get("Location"))
    assert "Location" not in r.headers
    assert r.headers["Content-Type"].startswith("text/html")
    if uri:
        assert f'href="{uri}' not in r.text


def test_unknown_client_is_an_error_page(env):
    s = new_session()
    q = {"response_type": "code", "client_id": "nobody", "redirect_uri": "https://evil.example/",
         "state": "x"}
    r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(q), allow_redirects=False)
    assert r.status_code == 400 and "Location" not in r.headers, r.headers


def test_code_reuse_revokes_what_the_first_use_issued(env):
    create_user(env, "erin@example.com")
    s = new_session()
    code, verifier = authorize_code(env, s, APP, APP_CB, email="erin@example.com")
    req = {"grant_type": "authorization_code", "code": code, "redirect_uri": APP_CB,
           "code_verifier": verifier}
    r = token_req(env, req, auth=(APP, APP_SECRET))
    assert r.status_code == 200, r.text
    first = r.json()
    assert introspect(env, first["access_token"])["active"] is True
    r = token_req(env, req, auth=(APP, APP_SECRET))
    oauth_error(r, 400, "invalid_grant")
    # RFC 6749 §4.1.2: the tokens issued for the code are revoked.
    assert_inactive(env, first["access_token"])
    assert_inactive(env, first["refresh_token"])
    r = token_req(env, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                  auth=(APP, APP_SECRET))
    oauth_error(r, 400, "invalid_grant")
    assert userinfo(env, first["access_token"]).status_code == 401


def test_concurrent_redemptions_of_one_code_and_one_refresh_token(env):
    """Single use holds under concurrency: of 8 simultaneous exchanges of one code, or
    refreshes with one refresh token, exactly one succeeds."""
    import concurrent.futures
    create_user(env, "eve@example.com")
    s = new_session()
    code, verifier = authorize_code(env, s, APP, APP_CB, email="eve@example.com")
    req = {"grant_type": "authorization_code", "code": code, "redirect_uri": APP_CB,
           "code_verifier": verifier}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        rs = list(pool.map(lambda _: token_req(env, req, auth=(APP, APP_SECRET)), range(8)))
    ok = [r for r in rs if r.status_code == 200]
    assert len(ok) == 1, [(r.status_code, r.text[:100]) for r in rs]
    assert all(r.json()["error"] == "invalid_grant" for r in rs if r.status_code != 200)
    # (The losers' reuse revoked what the winner got: RFC 6749 §4.1.2.)
    assert_inactive(env, ok[0].json()["access_token"])
    code, verifier = authorize_code(env, s, APP, APP_CB)
    r = token_req(env, {"grant_type": "authorization_code", "code": code,
                        "redirect_uri": APP_CB, "code_verifier": verifier},
                  auth=(APP, APP_SECRET))
    req = {"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"]}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        rs = list(pool.map(lambda _: token_req(env, req, auth=(APP, APP_SECRET)), range(8)))
    ok = [r for r in rs if r.status_code == 200]
    assert len(ok) == 1, [(r.status_code, r.text[:100]) for r in rs]
    assert all(r.json()["error"] == "invalid_grant" for r in rs if r.status_code != 200)


def test_expired_code():
    with tempfile.TemporaryDirectory(prefix="authd-oauth-") as tmp:
        env = OAuthEnv(tmp, authd_extra=["--code-ttl", "1"])
        try:
            make_clients(env)
            create_user(env, "exp@example.com")
            code, verifier = authorize_code(env, new_session(), APP, APP_CB,
                                            email="exp@example.com")
            time.sleep(2.2)
            r = token_req(env, {"grant_type": "authorization_code", "code": code,
                                "redirect_uri": APP_CB, "code_verifier": verifier},
                          auth=(APP, APP_SECRET))
            oauth_error(r, 400, "invalid_grant")
        finally:
            env.stop()


def test_rs256_tokens_verify_against_the_jwks():
    with tempfile.TemporaryDirectory(prefix="authd-oauth-") as tmp:
        env = OAuthEnv(tmp, authd_extra=["--token-alg", "RS256"])
        try:
            make_clients(env)
            r = token_req(env, {"grant_type": "client_credentials"}, auth=(SVC, SVC_SECRET))
            assert r.status_code == 200, r.text
            tok = r.json()["access_token"]
            assert jwt.get_unverified_header(tok)["alg"] == "RS256"
            jwks = requests.get(env.base + "/.well-known/jwks.json").json()
            kid = jwt.get_unverified_header(tok)["kid"]
            key = [k for k in jwks["keys"] if k["kid"] == kid][0]
            assert key["kty"] == "RSA" and "d" not in key
            claims = jwt.decode(tok, jwt.PyJWK(key).key, algorithms=["RS256"], audience=SVC,
                                issuer=env.base)
            assert claims["client_id"] == SVC
        finally:
            env.stop()


def test_wrong_client_secret(env):
    create_user(env, "fay@example.com")
    # Basic: 401 + WWW-Authenticate (RFC 6749 §5.2).
    r = token_req(env, {"grant_type": "client_credentials"}, auth=(SVC, "wrong"))
    oauth_error(r, 401, "invalid_client")
    assert r.headers.get("WWW-Authenticate", "").lower().startswith("basic"), r.headers
    r = token_req(env, {"grant_type": "password", "username": "fay@example.com", "password": PW},
                  auth=(APP, "wrong"))
    oauth_error(r, 401, "invalid_client")
    assert r.headers.get("WWW-Authenticate", "").lower().startswith("basic"), r.headers
    # Unknown client, Basic: the same answer.
    r = token_req(env, {"grant_type": "client_credentials"}, auth=("nobody", "x"))
    oauth_error(r, 401, "invalid_client")
    assert "WWW-Authenticate" in r.headers
    # Secret in the body: 401 invalid_client.
    r = token_req(env, {"grant_type": "client_credentials", "client_id": SVC,
                        "client_secret": "wrong"})
    oauth_error(r, 401, "invalid_client")
    # A confidential client without any secret.
    r = token_req(env, {"grant_type": "client_credentials", "client_id": SVC})
    oauth_error(r, 401, "invalid_client")
    # Introspection and revocation authenticate the client too.
    good = client_credentials(env)["access_token"]
    r = requests.post(env.base + "/auth/introspect", data={"token": good}, auth=(SVC, "wrong"))
    oauth_error(r, 401, "invalid_client")
    assert "WWW-Authenticate" in r.headers
    r = requests.post(env.base + "/auth/introspect", data={"token": good})
    assert r.status_code == 401, r.text
    r = requests.post(env.base + "/auth/revoke", data={"token": good}, auth=(SVC, "wrong"))
    oauth_error(r, 401, "invalid_client")
    assert introspect(env, good)["active"] is True


def test_client_credentials(env):
    # authlib as the client (Basic auth, form body).
    c = OAuth2Session(SVC, SVC_SECRET, token_endpoint_auth_method="client_secret_basic")
    tok = c.fetch_token(env.base + "/auth/token", grant_type="client_credentials")
    assert tok["token_type"].lower() == "bearer" and tok["expires_in"] > 0, tok
    assert "refresh_token" not in tok and "id_token" not in tok, tok
    claims = verify_jwt(env, tok["access_token"], SVC, required=("exp", "iat", "iss", "sub",
                                                                 "aud", "jti"))
    assert claims["client_id"] == SVC, claims
    i = introspect(env, tok["access_token"], SVC, SVC_SECRET)
    assert i["active"] and i["client_id"] == SVC, i
    # client_secret_post and a JSON body.
    c = OAuth2Session(SVC, SVC_SECRET, token_endpoint_auth_method="client_secret_post")
    assert c.fetch_token(env.base + "/auth/token", grant_type="client_credentials")["access_token"]
    r = token_req(env, {"grant_type": "client_credentials", "client_id": SVC,
                        "client_secret": SVC_SECRET}, as_json=True)
    assert r.status_code == 200 and r.json()["access_token"], r.text
    # RFC 6749 §5.1: token responses are never cached.
    assert r.headers.get("Cache-Control") == "no-store" and r.headers.get("Pragma") == "no-cache"
    # Basic and body at once: one method only (RFC 6749 §2.3).
    r = token_req(env, {"grant_type": "client_credentials", "client_id": SVC,
                        "client_secret": SVC_SECRET}, auth=(SVC, SVC_SECRET))
    assert r.status_code in (400, 401) and "access_token" not in r.json(), r.text
    # A public client cannot use client_credentials.
    r = token_req(env, {"grant_type": "client_credentials", "client_id": SPA})
    assert r.status_code in (400, 401) and r.json()["error"] in ("unauthorized_client",
                                                                 "invalid_client"), r.text
    # Opaque tokens (token_format: opaque): not a JWT, but introspection knows them.
    tok = client_credentials(env, OPAQUE, OPAQUE_SECRET)
    assert tok["access_token"].count(".") != 2, tok
    assert 0 < tok["expires_in"] <= 600, tok
    i = introspect(env, tok["access_token"], OPAQUE, OPAQUE_SECRET)
    assert i["active"] is True and i["client_id"] == OPAQUE, i
    assert userinfo(env, tok["access_token"]).status_code in (401, 403)


def test_password_grant_with_totp(env):
    user, app = create_2fa_user(env, "gus@example.com")
    create_user(env, "hal@example.com")
    cred = (APP, APP_SECRET)
    # Without 2FA.
    r = token_req(env, {"grant_type": "password", "username": "hal@example.com", "password": PW,
                        "scope": "openid email"}, auth=cred)
    assert r.status_code == 200, r.text
    t = r.json()
    assert t.get("refresh_token") and t.get("id_token"), t
    assert verify_jwt(env, t["id_token"], APP)["email"] == "hal@example.com"
    # Wrong password.
    r = token_req(env, {"grant_type": "password", "username": "hal@example.com",
                        "password": "not it at all"}, auth=cred)
    oauth_error(r, 400, "invalid_grant")
    # With 2FA: the password alone is not enough, a wrong code neither.
    r = token_req(env, {"grant_type": "password", "username": "gus@example.com", "password": PW},
                  auth=cred)
    oauth_error(r, 400, "invalid_grant")
    r = token_req(env, {"grant_type": "password", "username": "gus@example.com", "password": PW,
                        "totp": "000000" if oathtool(app.secret, time.time()) != "000000"
                        else "111111"}, auth=cred)
    oauth_error(r, 400, "invalid_grant")
    code = app.fresh()
    r = token_req(env, {"grant_type": "password", "username": "gus@example.com", "password": PW,
                        "totp": code, "scope": "openid"}, auth=cred)
    assert r.status_code == 200, r.text
    claims = verify_jwt(env, r.json()["access_token"], APP)
    assert claims["sub"] == user.id and {"pwd", "otp"} <= set(claims["amr"]), claims
    # The same code never passes twice (RFC 6238 §5.2).
    r = token_req(env, {"grant_type": "password", "username": "gus@example.com", "password": PW,
                        "totp": code}, auth=cred)
    oauth_error(r, 400, "invalid_grant")


def test_password_grant_lockout_says_when_to_retry(env):
    # The password grant shares the login's counters: after 5 free failures the account is
    # locked, and the 429 says for how long (Retry-After, RFC 9110 §10.2.3), as authd does.
    long_locks(env.authd)  # still locked when the gRPC call below asks, however slow
    create_user(env, "kim@example.com")
    cred = (APP, APP_SECRET)
    codes = []
    for i in range(12):
        r = token_req(env, {"grant_type": "password", "username": "kim@example.com",
                            "password": f"wrong password {i}"}, auth=cred)
        codes.append(r.status_code)
        if r.status_code != 400:
            break
    assert codes[-1] == 429 and set(codes[:-1]) == {400}, codes
    # An RFC 6749 code (the registered "try again later"), never one of our own.
    assert r.json()["error"] == "temporarily_unavailable", r.text
    ra = int(r.headers["Retry-After"])
    m = re.search(r"retry after (\d+) s", r.json().get("error_description", ""))
    assert m and 1 <= ra and abs(ra - int(m.group(1))) <= 1, (ra, r.text)
    # authd's refusal carries the code and the seconds as trailers of their own, which is
    # where the edge reads them (a refused attempt is not counted: asking changes nothing).
    with pytest.raises(grpc.RpcError) as ei:
        env.call(OA + "Token", oauth_pb2.OAuthTokenRequest(
            grant_type="password", username="kim@example.com", password=PW, client_id=APP,
            client_secret=APP_SECRET, client_ip="127.0.0.1"), oauth_pb2.OAuthTokenResponse)
    e = ei.value
    assert (grpc_reason(e), grpc_trailer(e, "authd-oauth-error")) == (
        "locked", "temporarily_unavailable"), e.trailing_metadata()
    assert abs(int(grpc_trailer(e, "authd-retry-after")) - ra) <= 1, e.trailing_metadata()
    # A refusal that is not a lockout has none.
    r = token_req(env, {"grant_type": "password", "username": "kim@example.com",
                        "password": PW}, auth=(APP, "not the secret"))
    assert r.status_code == 401 and "Retry-After" not in r.headers, (r.status_code, r.headers)


def test_disabled_grant_type(env):
    create_user(env, "ivy@example.com")
    # SVC has only client_credentials.
    r = token_req(env, {"grant_type": "password", "username": "ivy@example.com", "password": PW},
                  auth=(SVC, SVC_SECRET))
    oauth_error(r, 400, "unauthorized_client")
    # (A refresh is governed by the settings of the grant that issued the refresh token, as in
    # Aidbox, whose clients list no refresh_token grant type: SVC has none to present.)
    r = token_req(env, {"grant_type": "refresh_token", "refresh_token": "x" * 40},
                  auth=(SVC, SVC_SECRET))
    assert r.status_code == 400 and r.json()["error"] in ("invalid_grant",
                                                          "unauthorized_client"), r.text
    # APP has no client_credentials.
    r = token_req(env, {"grant_type": "client_credentials"}, auth=(APP, APP_SECRET))
    oauth_error(r, 400, "unauthorized_client")
    # Unknown grant types and none at all.
    r = token_req(env, {"grant_type": "urn:example:magic"}, auth=(APP, APP_SECRET))
    oauth_error(r, 400, "unsupported_grant_type")
    r = token_req(env, {}, auth=(APP, APP_SECRET))
    oauth_error(r, 400, "invalid_request")
    # authd's side: each refusal names its OAuth code in a trailer of its own, the status
    # message is only the description, and the two codes with enum values of their own carry
    # them as authd-error too.
    for req, code, reason, status in (
            (oauth_pb2.OAuthTokenRequest(grant_type="urn:example:magic", client_id=APP,
                                         client_secret=APP_SECRET),
             "unsupported_grant_type", "unsupported_grant_type", grpc.StatusCode.INVALID_ARGUMENT),
            (oauth_pb2.OAuthTokenRequest(grant_type="client_credentials", client_id=APP,
                                         client_secret=APP_SECRET),
             "unauthorized_client", "unauthorized_client", grpc.StatusCode.PERMISSION_DENIED),
            (oauth_pb2.OAuthTokenRequest(grant_type="refresh_token", refresh_token="x" * 40,
                                         client_id=APP, client_secret=APP_SECRET),
             "invalid_grant", "invalid_token", grpc.StatusCode.UNAUTHENTICATED)):
        with pytest.raises(grpc.RpcError) as ei:
            env.call(OA + "Token", req, oauth_pb2.OAuthTokenResponse)
        e = ei.value
        assert (e.code(), grpc_reason(e), grpc_trailer(e, "authd-oauth-error")) == (
            status, reason, code), (e.code(), e.trailing_metadata(), e.details())
        assert not e.details().startswith(code), e.details()
        assert grpc_trailer(e, "authd-retry-after") is None, e.trailing_metadata()
    # The implicit grant for a client without it: no token anywhere.
    s = new_session()
    r = browse(env, s, "/auth/authorize?" + urllib.parse.urlencode(
        {"response_type": "token", "client_id": APP, "redirect_uri": APP_CB, "state": "st"}),
        email="ivy@example.com")
    loc = r.headers.get("Location", "")
    assert "access_token" not in loc, loc
    if r.status_code in (302, 303):
        q = redirect_params(r, APP_CB)
        assert q.get("error") in ("unauthorized_client", "unsupported_response_type"), q
    else:
        assert r.status_code == 400, r.status_code


def test_inactive_client(env):
    create_user(env, "jay@example.com")
    before = client_credentials(env)["access_token"]
    put_client(env, SVC, SVC_SECRET, grant_types=["client_credentials"], active=False)
    r = token_req(env, {"grant_type": "client_credentials"}, auth=(SVC, SVC_SECRET))
    assert r.status_code in (400, 401), r.text
    assert r.json()["error"] in ("invalid_client", "unauthorized_client"), r.text
    assert "access_token" not in r.json()
    # An inactive client cannot introspect.
    r = requests.post(env.base + "/auth/introspect", data={"token": before},
                      auth=(SVC, SVC_SECRET))
    assert r.status_code in (400, 401), r.text
    # Nor start a browser flow.
    put_client(env, LEGACY, LEGACY_SECRET, grant_types=["authorization_code"],
               code={"redirect_uri": LEGACY_CB}, active=False)
    s = new_session()
    r = browse(env, s, "/auth/authorize?" + urllib.parse.urlencode(
        {"response_type": "code", "client_id": LEGACY, "redirect_uri": LEGACY_CB,
         "state": "st"}), email="jay@example.com")
    assert "code=" not in r.headers.get("Location", ""), r.headers
    # Active again: works again.
    put_client(env, SVC, SVC_SECRET, grant_types=["client_credentials"], active=True)
    assert client_credentials(env)["access_token"]


def test_tampered_and_unsigned_jwts(env):
    tok = client_credentials(env)["access_token"]
    assert introspect(env, tok, SVC, SVC_SECRET)["active"] is True
    h, p, sig = tok.split(".")
    claims = json.loads(unb64url(p))
    header = json.loads(unb64url(h))

    # A changed claim under the original signature.
    forged = dict(claims, client_id="admin", scope="admin")
    tampered = f"{h}.{b64url(json.dumps(forged).encode())}.{sig}"
    assert_inactive(env, tampered, cid=SVC, secret=SVC_SECRET)
    with pytest.raises(jwt.InvalidSignatureError):
        verify_jwt(env, tampered, SVC)
    with pytest.raises(Exception):
        verify_jwcrypto(env, tampered, SVC)
    # A flipped signature bit.
    raw = bytearray(unb64url(sig))
    raw[5] ^= 1
    bad_sig = f"{h}.{p}.{b64url(bytes(raw))}"
    assert_inactive(env, bad_sig, cid=SVC, secret=SVC_SECRET)
    with pytest.raises(jwt.InvalidSignatureError):
        verify_jwt(env, bad_sig, SVC)

    # alg none (and its case variants), with and without the signature part.
    for alg in ("none", "None", "NONE"):
        nh = b64url(json.dumps(dict(header, alg=alg)).encode())
        for t in (f"{nh}.{p}.", f"{nh}.{p}.{sig}", f"{nh}.{p}"):
            assert_inactive(env, t, cid=SVC, secret=SVC_SECRET)
            assert userinfo(env, t).status_code == 401
    with pytest.raises(jwt.PyJWTError):
        jwt.decode(f"{b64url(json.dumps(dict(header, alg='none')).encode())}.{p}.",
                   jwks_client(env).get_signing_key(header["kid"]).key, algorithms=["ES256"],
                   audience=SVC, issuer=env.base)
    # HS256 keyed with the public key (the algorithm-confusion attack).
    jwk = [k for k in requests.get(env.base + "/.well-known/jwks.json").json()["keys"]
           if k["kid"] == header["kid"]][0]
    hh = b64url(json.dumps(dict(header, alg="HS256")).encode())
    import hmac
    mac = hmac.new(json.dumps(jwk).encode(), f"{hh}.{p}".encode(), hashlib.sha256).digest()
    assert_inactive(env, f"{hh}.{p}.{b64url(mac)}", cid=SVC, secret=SVC_SECRET)
    # Garbage.
    for t in ("", "x", "a.b.c", "." * 3, "e30.e30.", tok + "x"):
        assert_inactive(env, t, cid=SVC, secret=SVC_SECRET)
    # Still good.
    assert introspect(env, tok, SVC, SVC_SECRET)["active"] is True


def test_revocation(env):
    create_user(env, "kim@example.com")
    s = new_session()
    tok, client, _ = code_flow(env, s, APP, APP_SECRET, APP_CB, "kim@example.com")
    at, rt = tok["access_token"], tok["refresh_token"]
    # Another client cannot revoke APP's token (RFC 7009 §2.1).
    requests.post(env.base + "/auth/revoke", data={"token": at}, auth=(SVC, SVC_SECRET))
    assert introspect(env, at)["active"] is True
    # authlib's revoke_token (Basic auth): 200, then inactive everywhere.
    r = client.revoke_token(env.base + "/auth/revoke", token=at, token_type_hint="access_token")
    assert r.status_code == 200, r.text
    assert_inactive(env, at)
    assert userinfo(env, at).status_code == 401
    # Revoking again, or an unknown token: still 200 (RFC 7009 §2.2).
    assert client.revoke_token(env.base + "/auth/revoke", token=at).status_code == 200
    assert client.revoke_token(env.base + "/auth/revoke", token="no-such-token").status_code == 200
    # The refresh token is still good (only the access token was revoked) ...
    tok2 = client.refresh_token(env.base + "/auth/token", refresh_token=rt)
    # ... until it is revoked.
    r = client.revoke_token(env.base + "/auth/revoke", token=tok2["refresh_token"],
                            token_type_hint="refresh_token")
    assert r.status_code == 200, r.text
    assert_inactive(env, tok2["refresh_token"])
    r = token_req(env, {"grant_type": "refresh_token", "refresh_token": tok2["refresh_token"]},
                  auth=(APP, APP_SECRET))
    oauth_error(r, 400, "invalid_grant")
    # A wrong hint does not stop it (RFC 7009 §2.1).
    t3 = client_credentials(env)["access_token"]
    r = requests.post(env.base + "/auth/revoke", data={"token": t3,
                                                       "token_type_hint": "refresh_token"},
                      auth=(SVC, SVC_SECRET))
    assert r.status_code == 200, r.text
    assert_inactive(env, t3, cid=SVC, secret=SVC_SECRET)
    # Opaque access tokens are revocable too.
    t4 = client_credentials(env, OPAQUE, OPAQUE_SECRET)["access_token"]
    r = requests.post(env.base + "/auth/revoke", data={"token": t4},
                      auth=(OPAQUE, OPAQUE_SECRET))
    assert r.status_code == 200
    assert_inactive(env, t4, cid=OPAQUE, secret=OPAQUE_SECRET)


def cache_hits(metrics_port):
    text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    m = re.search(r'^authd_token_cache_lookups_total\{result="hit"\} (\d+)$', text, re.M)
    return int(m.group(1)) if m else 0


@pytest.mark.parametrize("cache", ["8192", "0"])
def test_token_cache_serves_only_live_tokens(cache):
    """authd remembers verified JWTs (--token-cache): a token introspected again skips its
    signature check (a hit on authd's metrics; none with --token-cache 0), and yet a revoked
    token (a client's or a user's, for introspection and userinfo alike) and a deactivated
    client's token are inactive at the next call, and two tokens never answer for each other."""
    with tempfile.TemporaryDirectory(prefix="authd-oauth-") as tmp:
        mfile = os.path.join(tmp, "metrics.port")
        env = OAuthEnv(tmp, authd_extra=["--token-cache", cache, "--metrics-listen",
                                         "127.0.0.1:0", "--metrics-port-file", mfile])
        try:
            make_clients(env)
            mport = wait_port_file(mfile, env.authd.proc)
            t1 = client_credentials(env)["access_token"]
            t2 = client_credentials(env)["access_token"]
            i1 = introspect(env, t1, cid=SVC, secret=SVC_SECRET)
            hits = cache_hits(mport)
            for _ in range(3):
                assert introspect(env, t1, cid=SVC, secret=SVC_SECRET) == i1
            i2 = introspect(env, t2, cid=SVC, secret=SVC_SECRET)
            assert i1["active"] and i2["active"] and i1["jti"] != i2["jti"], (i1, i2)
            assert introspect(env, t2, cid=SVC, secret=SVC_SECRET) == i2
            if cache == "0":
                assert cache_hits(mport) == 0
            else:
                assert cache_hits(mport) >= hits + 4
            # Revoked: inactive at once; the other token lives on.
            r = requests.post(env.base + "/auth/revoke", data={"token": t1},
                              auth=(SVC, SVC_SECRET), timeout=20)
            assert r.status_code == 200, r.text
            assert_inactive(env, t1, cid=SVC, secret=SVC_SECRET)
            assert introspect(env, t2, cid=SVC, secret=SVC_SECRET)["active"] is True
            # The client deactivated: a resource server (APP may introspect any token) sees
            # its cached token inactive at once; active again, it is alive again.
            assert introspect(env, t2)["active"] is True
            put_client(env, SVC, SVC_SECRET, grant_types=["client_credentials"], active=False)
            assert_inactive(env, t2)
            put_client(env, SVC, SVC_SECRET, grant_types=["client_credentials"], active=True)
            assert introspect(env, t2)["active"] is True
            # A user's token, cached through userinfo and introspection, dies with its revocation.
            create_user(env, "cache@example.com")
            r = token_req(env, {"grant_type": "password", "username": "cache@example.com",
                                "password": PW}, auth=(APP, APP_SECRET))
            assert r.status_code == 200, r.text
            at = r.json()["access_token"]
            for _ in range(2):
                assert userinfo(env, at).status_code == 200
                assert introspect(env, at)["active"] is True
            r = requests.post(env.base + "/auth/revoke", data={"token": at},
                              auth=(APP, APP_SECRET), timeout=20)
            assert r.status_code == 200, r.text
            assert userinfo(env, at).status_code == 401
            assert_inactive(env, at)
        finally:
            env.stop()


def test_revoking_a_refresh_token_ends_the_access_tokens_of_its_grant(env):
    """RFC 7009 §2.1: a server that can revoke access tokens (authd can) SHOULD also invalidate
    the access tokens based on the same grant when a refresh token is revoked."""
    create_user(env, "kit@example.com")
    tok, client, _ = code_flow(env, new_session(), APP, APP_SECRET, APP_CB, "kit@example.com")
    tok2 = client.refresh_token(env.base + "/auth/token", refresh_token=tok["refresh_token"])
    r = client.revoke_token(env.base + "/auth/revoke", token=tok2["refresh_token"],
                            token_type_hint="refresh_token")
    assert r.status_code == 200, r.text
    assert_inactive(env, tok2["refresh_token"])
    assert_inactive(env, tok2["access_token"])
    assert_inactive(env, tok["access_token"])


def login_and_tokens(env, email):
    s = new_session()
    tok, _, _ = code_flow(env, s, APP, APP_SECRET, APP_CB, email)
    assert introspect(env, tok["access_token"])["active"] is True
    return s, tok


def test_delete_session_ends_its_tokens(env):
    create_user(env, "lee@example.com")
    s, tok = login_and_tokens(env, "lee@example.com")
    s2, other = login_and_tokens(env, "lee@example.com")  # another session of the same user
    r = s.delete(env.base + "/Session")
    assert r.status_code == 200, r.text
    assert_inactive(env, tok["access_token"])
    assert_inactive(env, tok["refresh_token"])
    r = token_req(env, {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]},
                  auth=(APP, APP_SECRET))
    oauth_error(r, 400, "invalid_grant")
    assert userinfo(env, tok["access_token"]).status_code == 401
    # The other session's tokens are untouched.
    assert introspect(env, other["access_token"])["active"] is True
    # A signed-out browser is asked to sign in again.
    r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(
        {"response_type": "code", "client_id": APP, "redirect_uri": APP_CB,
         "code_challenge": s256("v" * 50), "code_challenge_method": "S256"}),
        allow_redirects=False)
    assert r.status_code in (302, 303) and urllib.parse.urlparse(
        r.headers["Location"]).path == "/auth/login", r.headers


def test_delete_session_with_an_access_token(env):
    """DELETE /Session authorised by an OAuth access token (what an Aidbox single-page app
    holds) ends the session the token was issued under, and every token of it, as a logout
    does (tests/integration/test_spa.py has the rest of that app's journey)."""
    create_user(env, "lou@example.com")
    s, tok = login_and_tokens(env, "lou@example.com")
    r = requests.delete(env.base + "/Session",
                        headers={"Authorization": "Bearer " + tok["access_token"]})
    assert r.status_code == 200 and r.json() == {}, (r.status_code, r.text)
    assert_inactive(env, tok["access_token"])
    assert_inactive(env, tok["refresh_token"])
    assert "Signed in as" not in s.get(env.base + "/").text


def test_logout_ends_its_tokens(env):
    create_user(env, "max@example.com")
    s, tok = login_and_tokens(env, "max@example.com")
    home = s.get(env.base + "/")
    r = s.post(env.base + "/auth/logout", data={"csrf": csrf_of(home.text)},
               allow_redirects=False)
    assert r.status_code == 303
    assert_inactive(env, tok["access_token"])
    assert_inactive(env, tok["refresh_token"])


def test_scopes(env):
    create_user(env, "una@example.com")
    s = new_session()
    tok, _, _ = code_flow(env, s, APP, APP_SECRET, APP_CB, "una@example.com",
                          scope="openid email")
    # A refresh may narrow the scope (RFC 6749 §6), never widen it.
    r = token_req(env, {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"],
                        "scope": "openid email profile"}, auth=(APP, APP_SECRET))
    oauth_error(r, 400, "invalid_scope")
    r = token_req(env, {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"],
                        "scope": "openid"}, auth=(APP, APP_SECRET))
    assert r.status_code == 200 and r.json()["scope"] == "openid", r.text
    assert verify_jwt(env, r.json()["access_token"], APP)["scope"] == "openid"
    # Scopes the client may not have: refused at the token endpoint and at authorize.
    r = token_req(env, {"grant_type": "client_credentials", "scope": "admin"},
                  auth=(SVC, SVC_SECRET))
    oauth_error(r, 400, "invalid_scope")
    r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(
        {"response_type": "code", "client_id": LEGACY, "redirect_uri": LEGACY_CB,
         "scope": "openid admin", "state": "st-s"}), allow_redirects=False)
    q = redirect_params(r, LEGACY_CB)
    assert q.get("error") == "invalid_scope" and q.get("state") == "st-s" and "code" not in q, q


def test_deactivated_user_loses_tokens(env):
    u = create_user(env, "vic@example.com")
    _, tok = login_and_tokens(env, "vic@example.com")
    env.call(U + "Update", users_pb2.UpdateUserRequest(
        id=u.id, inactive=common_pb2.BoolValue(value=True)), users_pb2.UserResponse)
    assert_inactive(env, tok["access_token"])
    assert userinfo(env, tok["access_token"]).status_code == 401
    r = token_req(env, {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]},
                  auth=(APP, APP_SECRET))
    oauth_error(r, 400, "invalid_grant")
    r = token_req(env, {"grant_type": "password", "username": "vic@example.com", "password": PW},
                  auth=(APP, APP_SECRET))
    oauth_error(r, 400, "invalid_grant")


def test_userinfo_errors(env):
    r = requests.get(env.base + "/auth/userinfo")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer"), r.headers
    r = userinfo(env, "not-a-token")
    assert r.status_code == 401 and "invalid_token" in r.headers["WWW-Authenticate"], r.headers
    # A client_credentials token has no user.
    r = userinfo(env, client_credentials(env)["access_token"])
    assert r.status_code in (401, 403), r.text


def test_consent_for_a_third_party_client(env):
    user = create_user(env, "nia@example.com")
    s = new_session()
    q = {"response_type": "code", "client_id": THIRD, "redirect_uri": THIRD_CB,
         "scope": "openid email", "state": "st-c", "code_challenge": s256("c" * 60),
         "code_challenge_method": "S256"}
    url = "/auth/authorize?" + urllib.parse.urlencode(q)
    page = browse(env, s, url, email="nia@example.com")
    assert page.status_code == 200, (page.status_code, page.headers.get("Location"))
    f = the_form(page.text, "/auth/consent")
    assert f["fields"].get("csrf") and ("decision", "allow") in f["buttons"] \
        and ("decision", "deny") in f["buttons"], f
    assert THIRD in page.text and "email" in page.text
    # Without the CSRF field: refused, nothing issued.
    data = dict(f["fields"], decision="allow")
    del data["csrf"]
    r = s.post(env.base + "/auth/consent", data=data, allow_redirects=False)
    assert r.status_code in (400, 403) and "code=" not in r.headers.get("Location", ""), r.headers
    # Allow: the code.
    r = submit(s, env.base, page.text, "/auth/consent", {}, button=("decision", "allow"))
    got = redirect_params(r, THIRD_CB)
    assert got.get("code") and got.get("state") == "st-c", got
    r = token_req(env, {"grant_type": "authorization_code", "code": got["code"],
                        "redirect_uri": THIRD_CB, "code_verifier": "c" * 60},
                  auth=(THIRD, THIRD_SECRET))
    assert r.status_code == 200, r.text
    assert verify_jwt(env, r.json()["access_token"], THIRD)["sub"] == user.id
    # Once per scope set: the same scopes again go straight through ...
    r = s.get(env.base + url, allow_redirects=False)
    assert redirect_params(r, THIRD_CB).get("code"), r.headers
    # ... a new scope asks again.
    r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(
        dict(q, scope="openid email profile")), allow_redirects=False)
    assert r.status_code == 200 and the_form(r.text, "/auth/consent"), r.status_code


def test_consent_denied(env):
    """Deny on the consent page: nothing issued, and the client learns access_denied with its
    state at its (registered, valid) redirect URI (RFC 6749 §4.1.2.1, §4.2.2.1)."""
    create_user(env, "noa@example.com")
    s = new_session()
    q = {"response_type": "code", "client_id": THIRD, "redirect_uri": THIRD_CB,
         "scope": "openid email", "state": "st-d", "code_challenge": s256("d" * 60),
         "code_challenge_method": "S256"}
    page = browse(env, s, "/auth/authorize?" + urllib.parse.urlencode(q), email="noa@example.com")
    assert page.status_code == 200 and the_form(page.text, "/auth/consent")
    r = submit(s, env.base, page.text, "/auth/consent", {}, button=("decision", "deny"))
    assert "code=" not in r.headers.get("Location", ""), r.headers
    # Denying remembered nothing: the next request asks again.
    again = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(q),
                  allow_redirects=False)
    assert again.status_code == 200 and the_form(again.text, "/auth/consent"), again.status_code
    got = redirect_params(r, THIRD_CB)
    assert got.get("error") == "access_denied" and got.get("state") == "st-d", got
    assert "code" not in got and got.get("iss", env.base) == env.base, got  # RFC 9207


def test_first_party_client_gets_no_consent_page(env):
    create_user(env, "oz@example.com")
    s = new_session()
    code, _ = authorize_code(env, s, LEGACY, LEGACY_CB, email="oz@example.com",
                             scope="openid profile email")
    assert code


def test_prompt_none_without_a_session(env):
    r = requests.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(
        {"response_type": "code", "client_id": LEGACY, "redirect_uri": LEGACY_CB,
         "state": "st-n", "prompt": "none"}), allow_redirects=False)
    q = redirect_params(r, LEGACY_CB)
    assert q.get("error") == "login_required" and q.get("state") == "st-n", q


@pytest.mark.parametrize("max_age", ["1"])
def test_max_age_asks_to_sign_in_again(env, max_age):
    """OIDC Core §3.1.2.1: a sign-in older than max_age seconds is done again. (prompt=login
    and max_age=0, its equivalent, are tested in test_oidc_authz.py.)"""
    # (No second factor: a second TOTP login within the minute would wait for the next step.)
    user = create_user(env, "ray@example.com")
    s = new_session()
    authorize_code(env, s, LEGACY, LEGACY_CB, email="ray@example.com")
    q = {"response_type": "code", "client_id": LEGACY, "redirect_uri": LEGACY_CB,
         "scope": "openid", "state": "st-p", "nonce": "n-p", "max_age": max_age}
    time.sleep(2.1)  # the sign-in is now older than max_age (authd counts whole seconds)
    login_time = time.time()
    # Signed in, yet sent to the login page ...
    r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(q), allow_redirects=False)
    assert r.status_code in (302, 303), (r.status_code, r.headers.get("Location"))
    assert urllib.parse.urlparse(r.headers["Location"]).path == "/auth/login", r.headers
    # ... and after signing in again, the code, with a fresh auth_time.
    r = browse(env, s, r.headers["Location"], email="ray@example.com")
    got = redirect_params(r, LEGACY_CB)
    assert got.get("code") and got.get("state") == "st-p", got
    r = token_req(env, {"grant_type": "authorization_code", "code": got["code"],
                        "redirect_uri": LEGACY_CB}, auth=(LEGACY, LEGACY_SECRET))
    assert r.status_code == 200, r.text
    it = verify_jwt(env, r.json()["id_token"], LEGACY)
    assert it["nonce"] == "n-p" and it["sub"] == user.id, it
    assert it["auth_time"] >= int(login_time), (it, login_time)


def test_keys_rotate_old_tokens_still_verify(env_at_once):
    env = env_at_once
    t1 = client_credentials(env)["access_token"]
    kid1 = jwt.get_unverified_header(t1)["kid"]
    p = subprocess.run([AUTHCTL, "--authd", env.authd.target, "keys", "rotate"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    kid2 = p.stdout.strip()
    assert kid2 and kid2 != kid1
    t2 = client_credentials(env)["access_token"]
    assert jwt.get_unverified_header(t2)["kid"] == kid2
    # The edge caches the key set for a few seconds: wait (bounded) until it names both.
    deadline = time.time() + 10
    while True:
        kids = {k["kid"] for k in requests.get(env.base + "/.well-known/jwks.json").json()["keys"]}
        if {kid1, kid2} <= kids or time.time() > deadline:
            break
        time.sleep(0.25)
    assert {kid1, kid2} <= kids, kids
    assert verify_jwt(env, t1, SVC)["client_id"] == SVC
    assert verify_jwt(env, t2, SVC)["client_id"] == SVC
    assert introspect(env, t1, SVC, SVC_SECRET)["active"] is True
    assert introspect(env, t2, SVC, SVC_SECRET)["active"] is True
    # And after authd restarts (keys sealed at rest). It comes back on another port, which the
    # running edge does not know: ask it over gRPC.
    env.authd.restart()
    for t in (t1, t2):
        i = env.call(OA + "Introspect", oauth_pb2.IntrospectRequest(
            token=t, client_id=SVC, client_secret=SVC_SECRET), oauth_pb2.IntrospectResponse)
        assert i.active, t
    t3 = env.call(OA + "Token", oauth_pb2.OAuthTokenRequest(
        grant_type="client_credentials", client_id=SVC, client_secret=SVC_SECRET),
        oauth_pb2.OAuthTokenResponse).access_token
    assert jwt.get_unverified_header(t3)["kid"] == kid2
    j = env.call(OA + "Jwks", oauth_pb2.JwksRequest(), oauth_pb2.JwksResponse)
    assert {kid1, kid2} <= {k["kid"] for k in json.loads(j.jwks_json)["keys"]}


def test_token_signed_right_after_a_rotation_verifies(env):
    """A resource server that meets a token from the new key refetches the JWKS (PyJWKClient
    does, on an unknown kid) and must find the key there: a key signs nothing before it is
    published (the edge's key-set cache must not hide it)."""
    t1 = client_credentials(env)["access_token"]
    verify_jwt(env, t1, SVC)  # the edge has the key set cached now
    p = subprocess.run([AUTHCTL, "--authd", env.authd.target, "keys", "rotate"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    t2 = client_credentials(env)["access_token"]
    assert verify_jwt(env, t2, SVC)["client_id"] == SVC


def test_rs256_signing_key(env):
    """`authctl keys rotate --alg RS256` publishes an RSA key (the active one for RS256), and a
    token can never choose its key and algorithm: the header's alg must be the named key's.
    (That new access tokens are then RS256 is test_keys_rotate_alg_switches_..._algorithm.)"""
    es = client_credentials(env)["access_token"]
    p = subprocess.run([AUTHCTL, "--authd", env.authd.target, "keys", "rotate", "--alg", "RS256"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    kid = p.stdout.strip()
    deadline = time.time() + 10
    while True:
        keys = {k["kid"]: k for k in requests.get(
            env.base + "/.well-known/jwks.json").json()["keys"]}
        if kid in keys or time.time() > deadline:
            break
        time.sleep(0.25)
    assert keys[kid]["kty"] == "RSA" and keys[kid].get("alg", "RS256") == "RS256", keys[kid]
    assert not {"d", "p", "q"} & set(keys[kid])
    tok = client_credentials(env)["access_token"]
    assert jwt.get_unverified_header(tok)["alg"] in ("ES256", "RS256")
    assert verify_jwt(env, tok, SVC)["client_id"] == SVC
    assert verify_jwt(env, es, SVC)["client_id"] == SVC
    # An ES256 signature under a header naming the RSA key (and RS256): refused.
    h, p_, sig = es.split(".")
    hh = b64url(json.dumps({"alg": "RS256", "kid": kid, "typ": "JWT"}).encode())
    assert_inactive(env, f"{hh}.{p_}.{sig}", cid=SVC, secret=SVC_SECRET)
    hh = b64url(json.dumps({"alg": "ES256", "kid": kid, "typ": "JWT"}).encode())
    assert_inactive(env, f"{hh}.{p_}.{sig}", cid=SVC, secret=SVC_SECRET)


def test_introspection_over_rpc(env):
    """The RPC the edge uses, from grpcio: the same answers, client authentication required."""
    tok = client_credentials(env)["access_token"]
    i = env.call(OA + "Introspect", oauth_pb2.IntrospectRequest(
        token=tok, client_id=SVC, client_secret=SVC_SECRET), oauth_pb2.IntrospectResponse)
    assert i.active and i.client_id == SVC and i.iss == env.base, i
    i = env.call(OA + "Introspect", oauth_pb2.IntrospectRequest(
        token=tok + "x", client_id=SVC, client_secret=SVC_SECRET), oauth_pb2.IntrospectResponse)
    assert not i.active
    with pytest.raises(grpc.RpcError) as e:
        env.call(OA + "Introspect", oauth_pb2.IntrospectRequest(
            token=tok, client_id=SVC, client_secret="wrong"), oauth_pb2.IntrospectResponse)
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED, e.value
    j = env.call(OA + "Jwks", oauth_pb2.JwksRequest(), oauth_pb2.JwksResponse)
    assert j.issuer == env.base and json.loads(j.jwks_json)["keys"]


# ---- Aidbox's demo manifest, as it is ------------------------------------------------------

def test_aidbox_demo_manifest_implicit_flow(oauth_env):
    env = oauth_env
    p = subprocess.run([AUTHCTL, "--authd", env.authd.target, "apply", "-f", AIDBOX_DEMO],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    # A resource server that may introspect the web client's tokens.
    put_client(env, SVC, SVC_SECRET, grant_types=["client_credentials"], introspect=True)
    user = create_user(env, "pat@example.com")
    cb = "http://localhost:8080/callback"
    s = new_session()
    # Exactly Aidbox's URL: no redirect_uri (one is registered), no state.
    r = browse(env, s, "/auth/authorize?client_id=web&response_type=token", email="pat@example.com")
    assert r.status_code in (302, 303), (r.status_code, r.text[:1500])
    loc = urllib.parse.urlparse(r.headers["Location"])
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == cb and not loc.query, r.headers["Location"]
    frag = dict(urllib.parse.parse_qsl(loc.fragment))
    assert frag.get("token_type", "").lower() == "bearer" and int(frag["expires_in"]) > 0, frag
    assert "refresh_token" not in frag and "code" not in frag, frag  # no refresh in implicit
    at = frag["access_token"]
    r = userinfo(env, at)
    assert r.status_code == 200 and r.json()["sub"] == user.id, r.text
    assert r.json()["email"] == "pat@example.com"
    i = introspect(env, at, SVC, SVC_SECRET)
    assert i["active"] is True and i["client_id"] == "web" and i["sub"] == user.id, i
    if at.count(".") == 2:
        assert verify_jwt(env, at, "web")["sub"] == user.id
    # With a state, a nonce and the redirect URI: echoed in the fragment.
    r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(
        {"client_id": "web", "response_type": "token", "redirect_uri": cb, "state": "xyz"}),
        allow_redirects=False)
    frag = redirect_params(r, cb)
    assert frag.get("state") == "xyz" and frag.get("access_token"), frag
    # A public implicit client may not use the token endpoint for anything.
    r = token_req(env, {"grant_type": "client_credentials", "client_id": "web"})
    assert r.status_code in (400, 401) and "access_token" not in r.json(), r.text
    # An unregistered redirect URI: error page, no token sent anywhere.
    r = s.get(env.base + "/auth/authorize?" + urllib.parse.urlencode(
        {"client_id": "web", "response_type": "token",
         "redirect_uri": "http://localhost:8080/callback/../evil"}), allow_redirects=False)
    assert r.status_code == 400 and "Location" not in r.headers


# ---- a real relying party: Apache httpd + mod_auth_openidc (optional) ----------------------

APACHE = "/usr/sbin/apache2"
OIDC_MOD = "/usr/lib/apache2/modules/mod_auth_openidc.so"


@pytest.fixture
def rp_dir():
    # Not pytest's tmp_path: its parents are 0700, and httpd's children (User nobody when run
    # as root) must read the document root.
    with tempfile.TemporaryDirectory(prefix="authd-rp-") as d:
        os.chmod(d, 0o755)
        yield __import__("pathlib").Path(d)


def test_mod_auth_openidc_relying_party(env, rp_dir):
    """A protected page behind Debian's mod_auth_openidc, reached after a real login."""
    if not (os.path.exists(APACHE) and os.path.exists(OIDC_MOD)):
        pytest.skip("apache2 and libapache2-mod-auth-openidc are not installed (optional test)")
    tmp_path = rp_dir
    port = free_port()
    rp = f"http://127.0.0.1:{port}"
    cb = rp + "/protected/redirect_uri"
    put_client(env, "rp", "rp-secret-0123456789abcdef", grant_types=["authorization_code"],
               code={"redirect_uri": cb})
    create_user(env, "quinn@example.com")
    (tmp_path / "htdocs" / "protected").mkdir(parents=True)
    (tmp_path / "htdocs" / "protected" / "index.html").write_text("secret page\n")
    mods = "/usr/lib/apache2/modules"
    conf = tmp_path / "httpd.conf"
    conf.write_text(f"""
ServerRoot "{tmp_path}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{tmp_path}/httpd.pid"
ErrorLog "{tmp_path}/error.log"
LogLevel warn auth_openidc:info
LoadModule mpm_event_module {mods}/mod_mpm_event.so
LoadModule authn_core_module {mods}/mod_authn_core.so
LoadModule authz_core_module {mods}/mod_authz_core.so
LoadModule authz_user_module {mods}/mod_authz_user.so
LoadModule auth_openidc_module {OIDC_MOD}
DocumentRoot "{tmp_path}/htdocs"
<Directory />
  AllowOverride None
</Directory>
OIDCProviderMetadataURL {env.base}/.well-known/openid-configuration
OIDCClientID rp
OIDCClientSecret rp-secret-0123456789abcdef
OIDCRedirectURI {cb}
OIDCCryptoPassphrase integration-test-passphrase
OIDCScope "openid email"
OIDCPKCEMethod S256
OIDCSessionType client-cookie
OIDCCookieSameSite On
<Location /protected>
  AuthType openid-connect
  Require valid-user
</Location>
""")
    if os.geteuid() == 0:
        with open(conf, "a") as f:
            f.write("User nobody\nGroup nogroup\n")
        os.chmod(tmp_path, 0o755)
    out = open(tmp_path / "stderr.log", "wb")
    proc = subprocess.Popen([APACHE, "-f", str(conf), "-DFOREGROUND"], stdout=out, stderr=out)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            if proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        if proc.poll() is not None:
            log = (tmp_path / "stderr.log").read_text()
            if (tmp_path / "error.log").exists():
                log += (tmp_path / "error.log").read_text()
            pytest.skip(f"apache2 did not start unprivileged on a loopback port: {log[-500:]}")
        s = new_session()
        r = s.get(rp + "/protected/index.html", allow_redirects=False)
        assert r.status_code == 302 and r.headers["Location"].startswith(env.base), r.headers
        r = browse(env, s, r.headers["Location"], email="quinn@example.com")
        assert r.headers["Location"].startswith(cb), r.headers
        r = s.get(r.headers["Location"], allow_redirects=True)
        assert r.status_code == 200 and "secret page" in r.text, (
            r.status_code, r.text[:500], (tmp_path / "error.log").read_text()[-2000:])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()



def test_a_client_introspects_only_its_own_tokens_unless_a_resource_server(env):
    """RFC 7662 §4: without the introspect permission a client may not learn about the tokens of
    other clients; a resource server (introspect: true) may."""
    r = token_req(env, {"grant_type": "client_credentials"}, auth=(SVC, SVC_SECRET))
    tok = r.json()["access_token"]
    r = token_req(env, {"grant_type": "client_credentials"}, auth=(OPAQUE, OPAQUE_SECRET))
    other = r.json()["access_token"]
    assert introspect(env, tok, cid=SVC, secret=SVC_SECRET)["active"] is True
    assert introspect(env, other, cid=SVC, secret=SVC_SECRET) == {"active": False}
    assert introspect(env, other, cid=APP, secret=APP_SECRET)["active"] is True


def test_old_client_secret_stops_working_after_rotation(env):
    r = token_req(env, {"grant_type": "client_credentials"}, auth=(SVC, SVC_SECRET))
    assert r.status_code == 200  # the old secret is now in the verified-secret cache
    put_client(env, SVC, "a-brand-new-secret-0123456789", grant_types=["client_credentials"])
    r = token_req(env, {"grant_type": "client_credentials"}, auth=(SVC, SVC_SECRET))
    oauth_error(r, 401, "invalid_client")
    r = token_req(env, {"grant_type": "client_credentials"},
                  auth=(SVC, "a-brand-new-secret-0123456789"))
    assert r.status_code == 200, r.text


def test_client_secret_guessing_is_locked_out(env):
    # A first lock no machine can outrun: six failures however slow, then locked: further wrong
    # secrets are answered 429 with the wait (and an RFC 6749 code), while the right secret,
    # judged first, still passes (a stranger who knows the client id must not shut it out).
    long_locks(env.authd)
    for i in range(6):  # 5 free failures, the 6th earns a lock
        r = token_req(env, {"grant_type": "client_credentials"}, auth=(SVC, f"guess-{i}"))
        oauth_error(r, 401, "invalid_client")
    r = token_req(env, {"grant_type": "client_credentials"}, auth=(SVC, "guess-6"))
    oauth_error(r, 429, "temporarily_unavailable")
    # The 7th failure doubled the first lock.
    assert LONG_LOCK < int(r.headers.get("Retry-After")) <= 2 * LONG_LOCK, r.headers
    r = token_req(env, {"grant_type": "client_credentials"}, auth=(SVC, SVC_SECRET))
    assert r.status_code == 200, (r.status_code, r.text)


class FromAddress(requests.adapters.HTTPAdapter):
    """Connects from a loopback address of its own (Linux routes all of 127.0.0.0/8 to lo), so
    the edge sees another client address without any proxy header."""

    def __init__(self, source):
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        return super().init_poolmanager(*args, **kwargs)


def from_address(source):
    s = requests.Session()
    s.mount("http://", FromAddress(source))
    return s


def post_as(s, env, path, data, secret, cid=SVC):
    r = s.post(env.base + path, data=data, auth=(cid, secret), timeout=20)
    body = r.json() if r.status_code != 200 or path != "/auth/revoke" else {}
    # Every refusal names an RFC 6749 code (RFC 7662/7009 use the same): never "locked".
    if r.status_code != 200:
        assert body.get("error") in ("invalid_client", "temporarily_unavailable"), (path, r.text)
    return r, body


def assert_wait(r, body, path):
    assert (r.status_code, body.get("error")) == (429, "temporarily_unavailable"), (path, r.text)
    assert int(r.headers["Retry-After"]) > 0, (path, r.headers)


def test_a_stranger_cannot_lock_a_client_out(env):
    # Someone who knows only the client id (it is in every authorize URL) guesses its secret
    # from one address until the client and that address are locked. The locks last LONG_LOCK,
    # so they still hold however slowly this runs.
    long_locks(env.authd)
    guesser, client = from_address("127.0.0.2"), from_address("127.0.0.1")
    cc = {"grant_type": "client_credentials"}
    statuses = []
    for i in range(21):  # 20 free failures per address, 5 per client
        r, body = post_as(guesser, env, "/auth/token", cc, f"guess-{i}")
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert_wait(r, body, "/auth/token")
    # 401 invalid_client until the client is locked, then wrong secrets get the wait.
    assert statuses == [401] * 6 + [429] * 15, statuses
    assert lockout_set(env.authd, client=SVC, reason="client_secret"), env.authd.log_text()
    assert lockout_set(env.authd, ip="127.0.0.2", target="address"), env.authd.log_text()

    # The guesser's own address is refused outright, the right secret included, everywhere.
    for path, data in (("/auth/token", cc), ("/auth/introspect", {"token": "x"}),
                       ("/auth/revoke", {"token": "x"})):
        r, body = post_as(guesser, env, path, data, SVC_SECRET)
        assert_wait(r, body, path)

    # The client, from its own address, with the right secret: token, introspection and
    # revocation all work while the client is locked.
    r, body = post_as(client, env, "/auth/token", cc, SVC_SECRET)
    assert r.status_code == 200, r.text
    at = body["access_token"]
    r, body = post_as(client, env, "/auth/introspect", {"token": at}, SVC_SECRET)
    assert r.status_code == 200 and body["active"] is True, r.text
    r, body = post_as(client, env, "/auth/revoke", {"token": at}, SVC_SECRET)
    assert r.status_code == 200, r.text
    r, body = post_as(client, env, "/auth/introspect", {"token": at}, SVC_SECRET)
    assert r.status_code == 200 and body == {"active": False}, r.text

    # Wrong secrets stay refused with the wait, from the client's address too.
    for path, data in (("/auth/token", cc), ("/auth/introspect", {"token": "x"}),
                       ("/auth/revoke", {"token": "x"})):
        r, body = post_as(client, env, path, data, "another guess")
        assert_wait(r, body, path)
    # ...and the right secret still passes after them.
    r, body = post_as(client, env, "/auth/token", cc, SVC_SECRET)
    assert r.status_code == 200, r.text


def test_client_secret_lock_ends(env):
    # A short lock, proven by its audit event: the right secret passes while it lasts, and once
    # it is surely over (waited for from after the failure that set it) a wrong secret is a
    # plain 401 again.
    set_lockout(env.authd, clientSecret={"account": {"firstWait": 2}})
    for i in range(6):
        r = token_req(env, {"grant_type": "client_credentials"}, auth=(SVC, f"guess-{i}"))
        oauth_error(r, 401, "invalid_client")
    set_at = time.time()
    assert lockout_set(env.authd, client=SVC, reason="client_secret"), env.authd.log_text()
    r = token_req(env, {"grant_type": "client_credentials"}, auth=(SVC, SVC_SECRET))
    assert r.status_code == 200, r.text
    time.sleep(max(0.0, set_at + 3 - time.time()))  # the lock ended 2 s after it was set
    r = token_req(env, {"grant_type": "client_credentials"}, auth=(SVC, "guess-after"))
    oauth_error(r, 401, "invalid_client")
    r = token_req(env, {"grant_type": "client_credentials"}, auth=(SVC, SVC_SECRET))
    assert r.status_code == 200, r.text


def test_relayed_user_failures_do_not_block_the_clients_secret(env):
    # An app at 127.0.0.5 relays its users' wrong passwords (the password grant, with its right
    # secret) until the address is locked for user passwords. Client secrets are counted apart
    # (lockout.clientSecret): the app's right secret still works from there, at the token and
    # introspection endpoints, and so does another client's on the same address.
    long_locks(env.authd)
    create_user(env, "relay@example.com")
    app = from_address("127.0.0.5")
    statuses = []
    for i in range(25):  # 20 free failures per address; a fresh e-mail each, so no account lock
        r = app.post(env.base + "/auth/token", data={"grant_type": "password",
                                                     "username": f"user{i}@example.com",
                                                     "password": "wrong password"},
                     auth=(APP, APP_SECRET), timeout=20)
        statuses.append(r.status_code)
    assert statuses[:21] == [400] * 21 and statuses[21:] == [429] * 4, statuses
    # User passwords from that address are refused now, the right one included.
    r = app.post(env.base + "/auth/token", data={"grant_type": "password",
                                                 "username": "relay@example.com",
                                                 "password": PW},
                 auth=(APP, APP_SECRET), timeout=20)
    assert r.status_code == 429, r.text
    # The app's right secret is not refused: introspection and another client's token.
    at = client_credentials(env)["access_token"]
    r, body = post_as(app, env, "/auth/introspect", {"token": at}, APP_SECRET, cid=APP)
    assert r.status_code == 200 and body["active"] is True, r.text
    r, body = post_as(app, env, "/auth/token", {"grant_type": "client_credentials"}, SVC_SECRET)
    assert r.status_code == 200, r.text


def test_client_secret_failures_do_not_lock_user_logins(env):
    # A client's wrong secrets from 127.0.0.6 lock that address for client secrets; the users
    # behind the same address still sign in with their passwords at the login page.
    long_locks(env.authd)
    create_user(env, "behind@example.com")
    s = from_address("127.0.0.6")
    cc = {"grant_type": "client_credentials"}
    for i in range(22):
        r, body = post_as(s, env, "/auth/token", cc, f"guess-{i}")
    assert lockout_set(env.authd, ip="127.0.0.6", target="address",
                       reason="client_secret"), env.authd.log_text()
    r, body = post_as(s, env, "/auth/token", cc, SVC_SECRET)
    assert_wait(r, body, "/auth/token")
    r = s.get(env.base + "/auth/login", timeout=20)
    assert r.status_code == 200, r.text
    r = submit(s, env.base, r.text, "/auth/login",
               {"email": "behind@example.com", "password": PW})
    assert r.status_code in (302, 303), (r.status_code, r.text[:2000])
    assert "asid=" in r.headers.get("Set-Cookie", ""), r.headers


# ---- token formats (issue 12 item 12) and claims that follow the scopes (item 7) ----------

def rotate_keys(env, *args):
    p = subprocess.run([AUTHCTL, "--authd", env.authd.target, "keys", "rotate", *args],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def password_grant(env, email, scope, cid=APP, secret=APP_SECRET):
    r = token_req(env, {"grant_type": "password", "username": email, "password": PW,
                        "scope": scope}, auth=(cid, secret))
    assert r.status_code == 200, r.text
    return r.json()


def test_access_tokens_are_rfc9068_jwts(env):
    """RFC 9068: an access JWT says typ at+jwt and carries iss, exp, aud, sub, client_id, iat,
    jti (and scope, and auth_time/amr when a user signed in); an ID token stays typ JWT, so a
    resource server can tell one from the other. (Before: every token said typ JWT and access
    tokens had no auth_time.)"""
    user = create_user(env, "rfc9068@example.com")
    s = new_session()
    tok, _, _ = code_flow(env, s, APP, APP_SECRET, APP_CB, "rfc9068@example.com")
    h = jwt.get_unverified_header(tok["access_token"])
    assert h["typ"] == "at+jwt" and h["kid"], h
    at = verify_jwt(env, tok["access_token"], APP,
                    required=("iss", "exp", "aud", "sub", "client_id", "iat", "jti"))
    assert at["sub"] == user.id and at["client_id"] == APP and at["scope"], at
    assert abs(at["auth_time"] - time.time()) < 120 and "pwd" in at["amr"], at
    assert jwt.get_unverified_header(tok["id_token"])["typ"] == "JWT"
    # A refreshed access token is one too, with the same auth_time.
    r = token_req(env, {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]},
                  auth=(APP, APP_SECRET))
    assert r.status_code == 200, r.text
    assert jwt.get_unverified_header(r.json()["access_token"])["typ"] == "at+jwt"
    assert verify_jwt(env, r.json()["access_token"], APP)["auth_time"] == at["auth_time"]
    # A client's own token: no user, so no auth_time.
    cc = client_credentials(env)["access_token"]
    assert jwt.get_unverified_header(cc)["typ"] == "at+jwt"
    c = verify_jwt(env, cc, SVC, required=("iss", "exp", "aud", "sub", "client_id", "iat", "jti"))
    assert c["sub"] == SVC and "auth_time" not in c and "amr" not in c, c
    assert introspect(env, cc, SVC, SVC_SECRET)["active"] is True


def test_keys_rotate_alg_switches_the_access_token_algorithm(env_at_once):
    """`authctl keys rotate --alg RS256` makes RS256 the algorithm of new access tokens (before,
    authd kept signing with ES256, its --token-alg), tokens verify against the JWKS, tokens
    signed before still verify; the choice survives a restart; rotating without --alg keeps the
    algorithm, and --alg ES256 switches back."""
    env = env_at_once
    es = client_credentials(env)["access_token"]
    assert jwt.get_unverified_header(es)["alg"] == "ES256"
    kid = rotate_keys(env, "--alg", "RS256")
    rs = client_credentials(env)["access_token"]
    h = jwt.get_unverified_header(rs)
    assert h["alg"] == "RS256" and h["kid"] == kid and h["typ"] == "at+jwt", h
    key = jwks_client(env).get_signing_key(kid)
    claims = jwt.decode(rs, key.key, algorithms=["RS256"], audience=SVC, issuer=env.base)
    assert claims["client_id"] == SVC
    assert verify_jwt(env, rs, SVC)["client_id"] == SVC
    assert verify_jwt(env, es, SVC)["client_id"] == SVC  # the old token still verifies
    assert introspect(env, es, SVC, SVC_SECRET)["active"] is True
    assert introspect(env, rs, SVC, SVC_SECRET)["active"] is True
    # No --alg: a new key for the algorithm in use, which stays RS256.
    kid2 = rotate_keys(env)
    h = jwt.get_unverified_header(client_credentials(env)["access_token"])
    assert h["alg"] == "RS256" and h["kid"] == kid2, h
    # Stored, not a flag: authd restarted (default --token-alg ES256) keeps RS256.
    env.authd.restart()
    t = env.call(OA + "Token", oauth_pb2.OAuthTokenRequest(
        grant_type="client_credentials", client_id=SVC, client_secret=SVC_SECRET),
        oauth_pb2.OAuthTokenResponse).access_token
    assert jwt.get_unverified_header(t)["alg"] == "RS256"
    for old in (es, rs):
        i = env.call(OA + "Introspect", oauth_pb2.IntrospectRequest(
            token=old, client_id=SVC, client_secret=SVC_SECRET), oauth_pb2.IntrospectResponse)
        assert i.active
    kid3 = rotate_keys(env, "--alg", "ES256")
    t = env.call(OA + "Token", oauth_pb2.OAuthTokenRequest(
        grant_type="client_credentials", client_id=SVC, client_secret=SVC_SECRET),
        oauth_pb2.OAuthTokenResponse).access_token
    h = jwt.get_unverified_header(t)
    assert h["alg"] == "ES256" and h["kid"] == kid3, h


def test_id_token_alg_follows_the_client_registration(env):
    """ID tokens are RS256 for a client that registered no id_token_signed_response_alg (the
    OpenID default; before they were ES256 like the access tokens), ES256 for one that
    registered it; both keys are in the JWKS from the start and discovery lists both."""
    create_user(env, "idalg@example.com")
    conf = requests.get(env.base + "/.well-known/openid-configuration", timeout=20).json()
    assert set(conf["id_token_signing_alg_values_supported"]) == {"ES256", "RS256"}
    kinds = {k["kty"] for k in requests.get(conf["jwks_uri"], timeout=20).json()["keys"]}
    assert kinds == {"EC", "RSA"}, kinds
    t = password_grant(env, "idalg@example.com", "openid")
    assert jwt.get_unverified_header(t["id_token"])["alg"] == "RS256"
    assert jwt.get_unverified_header(t["access_token"])["alg"] == "ES256"
    assert verify_jwt(env, t["id_token"], APP)["azp"] == APP
    # Registered ES256 (through a manifest, as an administrator would).
    manifest = os.path.join(env.tmp, "es-client.yaml")
    with open(manifest, "w") as f:
        f.write("resourceType: Client\nid: es-app\nsecret: es-app-secret-0123456789\n"
                "grant_types: [password]\nid_token_signed_response_alg: ES256\n")
    p = subprocess.run([AUTHCTL, "--authd", env.authd.target, "apply", "-f", manifest],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([AUTHCTL, "--authd", env.authd.target, "-o", "json", "client", "get",
                        "--id", "es-app"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["id_token_signed_response_alg"] == "ES256", p.stdout
    t = password_grant(env, "idalg@example.com", "openid", cid="es-app",
                       secret="es-app-secret-0123456789")
    assert jwt.get_unverified_header(t["id_token"])["alg"] == "ES256"
    assert verify_jwt(env, t["id_token"], "es-app")["azp"] == "es-app"
    # Explicit RS256 over gRPC; anything else is refused.
    c = put_client(env, "rs-app", "rs-app-secret-0123456789", grant_types=["password"])
    assert c.id_token_signed_response_alg == ""
    c.id_token_signed_response_alg = "RS256"
    c.secret = "rs-app-secret-0123456789"
    assert env.call(CA + "Put", c, oauth_pb2.ClientResponse).client \
        .id_token_signed_response_alg == "RS256"
    for bad in ("HS256", "none", "es256"):
        c.id_token_signed_response_alg = bad
        with pytest.raises(grpc.RpcError) as e:
            env.call(CA + "Put", c, oauth_pb2.ClientResponse)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, bad


def test_email_claims_follow_the_email_scope(env):
    """OIDC Core §5.4: email and email_verified only with the email scope, in the ID token and
    userinfo; userinfo has no claims of its own (before: email always, and an "id")."""
    user = create_user(env, "scoped@example.com")
    t = password_grant(env, "scoped@example.com", "openid")
    it = verify_jwt(env, t["id_token"], APP)
    assert "email" not in it and "email_verified" not in it, it
    r = userinfo(env, t["access_token"])
    assert r.status_code == 200, r.text
    assert r.json() == {"sub": user.id}, r.json()
    t = password_grant(env, "scoped@example.com", "openid email")
    it = verify_jwt(env, t["id_token"], APP)
    assert it["email"] == "scoped@example.com" and it["email_verified"] is False, it
    r = userinfo(env, t["access_token"])
    assert r.json() == {"sub": user.id, "email": "scoped@example.com",
                        "email_verified": False}, r.json()


def test_email_verified_only_when_the_address_was_verified(env):
    """An account an administrator made has not verified its address unless the administrator
    says so (Users.Create/Update, `authctl user create --email-verified`, `user verify-email`,
    a manifest's emailVerified); a signup confirmed through the address has. Before, every
    ID token and userinfo answer said email_verified: true."""
    def verified(email):
        t = password_grant(env, email, "openid email")
        it = verify_jwt(env, t["id_token"], APP)
        ui = userinfo(env, t["access_token"]).json()
        assert it["email_verified"] is ui["email_verified"], (it, ui)
        return it["email_verified"]

    plain = create_user(env, "plain@example.com")
    assert plain.email_verified is False
    assert verified("plain@example.com") is False
    u = env.call(U + "Update", users_pb2.UpdateUserRequest(
        id=plain.id, email_verified=common_pb2.BoolValue(value=True)), users_pb2.UserResponse).user
    assert u.email_verified is True and verified("plain@example.com") is True
    u = env.call(U + "Update", users_pb2.UpdateUserRequest(
        id=plain.id, email_verified=common_pb2.BoolValue(value=False)), users_pb2.UserResponse).user
    assert u.email_verified is False and verified("plain@example.com") is False
    v = env.call(U + "Create", users_pb2.CreateUserRequest(
        email="vouched@example.com", password=PW, email_verified=True), users_pb2.UserResponse)
    assert v.user.email_verified is True and verified("vouched@example.com") is True

    def ctl(*args, stdin=None):
        p = subprocess.run([AUTHCTL, "--authd", env.authd.target, *args], input=stdin,
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        return p.stdout

    out = json.loads(ctl("-o", "json", "user", "create", "--email", "cli@example.com",
                         "--email-verified", "--password-stdin", stdin=PW + "\n"))
    assert out["emailVerified"] is True, out
    assert verified("cli@example.com") is True
    ctl("user", "unverify-email", "--id", out["id"])
    assert verified("cli@example.com") is False
    ctl("user", "verify-email", "--id", out["id"])
    assert verified("cli@example.com") is True
    manifest = os.path.join(env.tmp, "users.yaml")
    with open(manifest, "w") as f:
        f.write("resourceType: User\nemail: plain@example.com\nid: " + plain.id
                + "\nemailVerified: true\n---\nresourceType: User\nemail: man@example.com\n"
                "password: " + PW + "\nemailVerified: true\n")
    ctl("apply", "-f", manifest)
    assert verified("plain@example.com") is True and verified("man@example.com") is True
    got = json.loads(ctl("-o", "json", "user", "get", "--id", plain.id))
    assert got["emailVerified"] is True, got

    # A signup confirmed through the address.
    st = env.call("/authd.v1.Signup/Start", signup_pb2.StartSignupRequest(
        email="signup@example.com", client_ip="127.0.0.9"), signup_pb2.StartSignupResponse)
    done = env.call("/authd.v1.Signup/Complete", signup_pb2.CompleteSignupRequest(
        token=st.token, password=PW, client_ip="127.0.0.9"), signup_pb2.CompleteSignupResponse)
    assert done.user.email_verified is True
    assert verified("signup@example.com") is True
