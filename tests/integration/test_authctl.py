# SPDX-License-Identifier: Apache-2.0
"""authctl against a real authd: manifests, user and client administration, signing-key
rotation, with exit codes."""
import base64
import hashlib
import hmac
import json
import os
import re
import struct
import subprocess
import time

import grpc
import pytest

from conftest import (AUTHCTL, REPO, admin_pb2, grpc_reason, grpc_trailer, long_locks,
                      users_pb2)
from authd.v1 import oauth_pb2, sessions_pb2, twofactor_pb2

DEMO = os.path.join(REPO, "deploy", "demo.yaml")
AIDBOX_DEMO = os.path.join(REPO, "deploy", "aidbox-demo.yaml")
DEMO_CLIENT_SECRET = "demo-client-secret-123"  # deploy/demo.yaml's public demo value


def ctl(authd, *args, stdin=None):
    return subprocess.run([AUTHCTL, "--authd", authd.target] + list(args), input=stdin,
                          capture_output=True, text=True, timeout=30)


def get_client(authd, cid):
    return authd.call("/authd.v1.ClientAdmin/Get", oauth_pb2.ClientRequest(id=cid),
                      oauth_pb2.ClientResponse).client


def assert_no_secret(p):
    assert DEMO_CLIENT_SECRET not in p.stdout and DEMO_CLIENT_SECRET not in p.stderr


def test_apply_demo_manifest(authd):
    p = ctl(authd, "apply", "-f", DEMO)
    assert p.returncode == 0, p.stderr
    assert "AuthConfig/app" in p.stdout
    assert "Client/demo-app configured" in p.stdout
    assert_no_secret(p)
    cfg = authd.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                     admin_pb2.AuthConfig)
    assert cfg.id == "app" and cfg.theme.title and cfg.asid_cookie_max_age == 86400
    # Passkeys for the demo edge's origin (run-demo.sh serves http://localhost:8080), and back
    # out of authd in the manifest's words.
    assert cfg.webauthn.rp_id == "localhost"
    assert list(cfg.webauthn.origins) == ["http://localhost:8080"]
    # Absent fields are answered with the defaults authd uses (as passwordPolicy is).
    assert cfg.webauthn.passwordless.value and cfg.webauthn.timeout == 300
    got = json.loads(ctl(authd, "-o", "json", "config", "get").stdout)
    assert got["webauthn"] == {"rpId": "localhost", "rpName": "authd demo",
                               "origins": ["http://localhost:8080"], "passwordless": True,
                               "userVerification": "preferred", "timeout": 300,
                               "reauthSeconds": 600}, got
    u = authd.call("/authd.v1.Users/Get", users_pb2.GetUserRequest(email="demo@example.com"),
                   users_pb2.UserResponse).user
    assert u.email == "demo@example.com"
    c = get_client(authd, "demo-app")
    assert c.id == "demo-app" and c.first_party
    assert list(c.grant_types) == ["authorization_code", "refresh_token", "password",
                                   "client_credentials"]
    assert c.has_secret and c.secret == ""
    ac = c.auth.authorization_code
    assert ac.redirect_uri == "http://127.0.0.1:8090/callback" and ac.pkce and ac.refresh_token
    assert c.auth.password.refresh_token
    assert not c.auth.HasField("implicit") and not c.auth.HasField("client_credentials")
    assert not c.HasField("active")  # absent = active
    # Applying again is idempotent.
    p = ctl(authd, "apply", "-f", DEMO)
    assert p.returncode == 0, p.stderr
    assert "Client/demo-app configured" in p.stdout
    assert get_client(authd, "demo-app").has_secret


def test_apply_aidbox_demo_manifest(authd):
    # Aidbox's own demo manifest applies unchanged.
    p = ctl(authd, "apply", "-f", AIDBOX_DEMO)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["Client/web configured", "AuthConfig/app configured"]
    c = get_client(authd, "web")
    assert c.id == "web" and c.first_party and list(c.grant_types) == ["implicit"]
    assert c.auth.implicit.redirect_uri == "http://localhost:8080/callback"
    assert not c.has_secret and c.secret == ""
    assert not c.HasField("active")
    cfg = authd.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                     admin_pb2.AuthConfig)
    assert cfg.id == "app"
    assert cfg.two_factor.issuer_name == "My auth"
    assert cfg.two_factor.valid_past_tokens_count == 2
    assert cfg.two_factor.webhook.endpoint == "http://localhost:3000/sms"
    assert cfg.two_factor.webhook.headers["Authorization"] == "Bearer secret"
    assert cfg.two_factor.webhook.timeout == 5000


def test_apply_client_keeps_secret_and_updates(authd, tmp_path):
    assert ctl(authd, "apply", "-f", DEMO).returncode == 0
    # A manifest without a secret changes the client and keeps the stored secret.
    m = tmp_path / "c.yaml"
    m.write_text("""
resourceType: Client
id: demo-app
grant_types: [client_credentials]
scope: openid profile
active: false
auth:
  client_credentials:
    token_format: opaque
    access_token_expiration: 600
""")
    p = ctl(authd, "apply", "-f", str(m))
    assert p.returncode == 0, p.stderr
    c = get_client(authd, "demo-app")
    assert c.has_secret and c.secret == ""
    assert list(c.grant_types) == ["client_credentials"]
    assert list(c.scope) == ["openid", "profile"]
    assert c.HasField("active") and not c.active.value
    assert c.auth.client_credentials.token_format == "opaque"
    assert c.auth.client_credentials.access_token_expiration == 600
    assert not c.auth.HasField("authorization_code")  # a put replaces the client whole


def test_apply_aidbox_style_auth_config(authd, tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("""
resourceType: AuthConfig
id: app
asidCookieMaxAge: 3600
theme:
  title: Aidbox-like
  brand: Brand
  styleUrl: https://cdn.example/style.css
twoFactor:
  issuerName: My Org
  validPastTokensCount: 3
  webhook:
    endpoint: https://hooks.example/2fa
    timeout: 2000
    headers:
      Authorization: Bearer abc
""")
    p = ctl(authd, "apply", "-f", str(m))
    assert p.returncode == 0, p.stderr
    cfg = authd.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                     admin_pb2.AuthConfig)
    assert cfg.two_factor.issuer_name == "My Org"
    assert cfg.two_factor.valid_past_tokens_count == 3
    assert cfg.two_factor.webhook.headers["Authorization"] == "Bearer abc"
    assert cfg.two_factor.webhook.timeout == 2000
    assert cfg.theme.style_url == "https://cdn.example/style.css"


def test_lockout_policy_from_a_manifest(authd, tmp_path):
    """AuthConfig.lockout applied with authctl is shown by `config get` and judges the next
    logins; nonsense is refused by authd, naming the field."""
    m = tmp_path / "lockout.yaml"
    m.write_text("""
resourceType: AuthConfig
id: app
lockout:
  password:
    account: {freeFailures: 2, firstWait: 600, maxWait: 1200}
  mail:
    address: {window: 7200}
  clientSecret:
    address: {freeFailures: 40}
""")
    p = ctl(authd, "apply", "-f", str(m))
    assert p.returncode == 0, p.stderr
    p = ctl(authd, "-o", "json", "config", "get")
    assert p.returncode == 0, p.stderr
    lockout = json.loads(p.stdout)["lockout"]
    assert lockout == {"password": {"account": {"freeFailures": 2, "firstWait": 600,
                                                "maxWait": 1200}},
                       "mail": {"address": {"window": 7200}},
                       "clientSecret": {"address": {"freeFailures": 40}}}, lockout
    p = ctl(authd, "config", "get")
    assert "lockout:" in p.stdout and "freeFailures: 2" in p.stdout, p.stdout
    # Two free failures, the third locks for the configured 600 s (the default would be 5
    # free failures and 1 s: a lock this long is still there however slow the machine).
    authd.call("/authd.v1.Users/Create", users_pb2.CreateUserRequest(
        email="lou@example.com", password="correct horse battery"), users_pb2.UserResponse)

    def login(password, ip):
        return authd.call("/authd.v1.Sessions/Login", sessions_pb2.LoginRequest(
            email="lou@example.com", password=password, client_ip=ip),
            sessions_pb2.SessionResponse)
    for i in range(3):
        with pytest.raises(grpc.RpcError) as e:
            login(f"wrong password {i}", f"10.9.0.{i}")
        assert grpc_reason(e.value) == "invalid_credentials", e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        login("correct horse battery", "10.9.1.1")
    assert grpc_reason(e.value) == "locked", e.value.details()
    assert 300 < int(grpc_trailer(e.value, "authd-retry-after")) <= 600, e.value.details()
    # Nonsense is refused by authd (exit 1) with the field and the rule, and nothing changes.
    for text, piece in (
            ("  password:\n    account: {firstWait: 600, maxWait: 60}\n",
             "lockout.password.account.maxWait must be at least firstWait"),
            ("  secondFactor:\n    address: {maxWait: 7200}\n",
             "lockout.secondFactor.address.window must be at least maxWait"),
            ("  delivery:\n    account: {freeFailures: 100000}\n",
             "lockout.delivery.account.freeFailures must be 1..1000"),
            ("  clientSecret:\n    address: {firstWait: 600, maxWait: 60}\n",
             "lockout.clientSecret.address.maxWait must be at least firstWait")):
        m.write_text("resourceType: AuthConfig\nid: app\nlockout:\n" + text)
        p = ctl(authd, "apply", "-f", str(m))
        assert p.returncode == 1 and piece in p.stderr, (piece, p.returncode, p.stderr)
    # A zero is refused before it reaches authd (it would silently mean the default).
    m.write_text("resourceType: AuthConfig\nid: app\nlockout:\n  mail:\n    account:\n"
                 "      window: 0\n")
    p = ctl(authd, "apply", "-f", str(m))
    assert p.returncode == 4 and "lockout.mail.account.window" in p.stderr, p.stderr
    cfg = authd.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                     admin_pb2.AuthConfig)
    assert cfg.lockout.password.account.first_wait == 600


def test_bad_manifests(authd, tmp_path):
    cases = {
        "unknown.yaml": ("resourceType: Nope\nid: x\n", "Nope"),
        "field.yaml": ("resourceType: AuthConfig\nid: app\nthemme: {}\n", "themme"),
        "syntax.yaml": ("resourceType: AuthConfig\n  id: [unclosed\n", "line"),
        "client-field.yaml": ("resourceType: Client\nid: c\nauth:\n  authorization_code:\n"
                              "    pkce_required: true\n",
                              "auth.authorization_code.pkce_required"),
        "client-grants.yaml": ("resourceType: Client\nid: c\ngrant_types: password\n",
                               "grant_types"),
        "client-pkce.yaml": ("resourceType: Client\nid: c\nauth:\n  authorization_code:\n"
                             "    pkce: \"yes\"\n", "auth.authorization_code.pkce"),
    }
    for name, (text, piece) in cases.items():
        f = tmp_path / name
        f.write_text(text)
        p = ctl(authd, "apply", "-f", str(f))
        assert p.returncode == 4, (name, p.returncode, p.stderr)
        assert piece in p.stderr, (name, p.stderr)
    # Nothing of a bad manifest is applied.
    with pytest.raises(grpc.RpcError) as e:
        get_client(authd, "c")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    # The server refusing a value is exit code 1, with its reason.
    f = tmp_path / "bad-value.yaml"
    f.write_text("resourceType: AuthConfig\nid: app\ntheme:\n  styleUrl: 'javascript:x'\n")
    p = ctl(authd, "apply", "-f", str(f))
    assert p.returncode == 1 and "styleUrl" in p.stderr
    # ... also for a client (a redirect URI with a fragment is never exact).
    f = tmp_path / "bad-client.yaml"
    f.write_text("resourceType: Client\nid: c\nauth:\n  implicit:\n"
                 "    redirect_uri: https://a.example/cb#frag\n")
    p = ctl(authd, "apply", "-f", str(f))
    assert p.returncode == 1 and "Client/c" in p.stderr and "redirect_uri" in p.stderr, p.stderr


def test_user_commands(authd):
    p = ctl(authd, "user", "create", "--email", "Ida@Example.com", "--password-stdin",
            stdin="ida password 1\n")
    assert p.returncode == 0, p.stderr
    p = ctl(authd, "-o", "json", "user", "get", "--email", "ida@example.com")
    assert p.returncode == 0, p.stderr
    u = json.loads(p.stdout)
    uid = u["id"]
    assert u["email"] == "ida@example.com"
    p = ctl(authd, "user", "create", "--email", "ida@example.com")
    assert p.returncode == 1 and "already_exists" in p.stderr
    p = ctl(authd, "user", "list")
    assert p.returncode == 0 and "ida@example.com" in p.stdout
    assert ctl(authd, "user", "deactivate", "--id", uid).returncode == 0
    p = ctl(authd, "-o", "json", "user", "get", "--id", uid)
    assert json.loads(p.stdout).get("inactive") is True
    assert ctl(authd, "user", "delete", "--id", uid).returncode == 0
    assert ctl(authd, "user", "get", "--id", uid).returncode == 1
    assert ctl(authd, "user", "frobnicate").returncode == 2


def test_client_commands(authd):
    assert ctl(authd, "apply", "-f", AIDBOX_DEMO).returncode == 0
    assert ctl(authd, "apply", "-f", DEMO).returncode == 0

    p = ctl(authd, "client", "list")
    assert p.returncode == 0, p.stderr
    rows = {line.split()[0]: line.split() for line in p.stdout.splitlines()[1:]}
    assert p.stdout.splitlines()[0].split()[:4] == ["ID", "STATUS", "FIRST_PARTY", "SECRET"]
    assert rows["demo-app"][1:4] == ["active", "yes", "set"]
    assert rows["web"][1:5] == ["active", "yes", "none", "implicit"]
    assert_no_secret(p)

    p = ctl(authd, "-o", "json", "client", "list")
    assert p.returncode == 0, p.stderr
    listed = {c["id"]: c for c in json.loads(p.stdout)}
    assert set(listed) == {"demo-app", "web"}
    assert listed["demo-app"]["has_secret"] is True and listed["web"]["has_secret"] is False
    assert all("secret" not in c for c in listed.values())
    assert_no_secret(p)

    p = ctl(authd, "client", "get", "--id", "demo-app")
    assert p.returncode == 0, p.stderr
    assert "# has_secret: true" in p.stdout and "id: \"demo-app\"" in p.stdout
    assert "redirect_uri: \"http://127.0.0.1:8090/callback\"" in p.stdout
    assert not re.search(r"^secret:", p.stdout, re.M)
    assert_no_secret(p)

    p = ctl(authd, "client", "get", "--id", "demo-app", "-o", "json")
    assert p.returncode == 0, p.stderr
    c = json.loads(p.stdout)
    assert c["resourceType"] == "Client" and c["has_secret"] is True and "secret" not in c
    assert c["grant_types"] == ["authorization_code", "refresh_token", "password",
                                "client_credentials"]
    assert c["auth"]["authorization_code"]["pkce"] is True
    assert c["auth"]["password"]["refresh_token"] is True
    assert_no_secret(p)

    # What `client get` prints is a manifest: applied back it changes nothing, keeps the secret.
    p = ctl(authd, "client", "get", "--id", "demo-app")
    p = ctl(authd, "apply", "-f", "-", stdin=p.stdout)
    assert p.returncode == 0 and "Client/demo-app configured" in p.stdout, p.stderr
    assert get_client(authd, "demo-app").has_secret

    p = ctl(authd, "client", "delete", "--id", "web")
    assert p.returncode == 0 and p.stdout.strip() == "Client/web deleted", p.stderr
    with pytest.raises(grpc.RpcError) as e:
        get_client(authd, "web")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and grpc_reason(e.value) == "not_found"
    p = ctl(authd, "client", "get", "--id", "web")
    assert p.returncode == 1 and "not_found" in p.stderr
    assert ctl(authd, "client", "delete", "--id", "web").returncode == 1
    p = ctl(authd, "-o", "json", "client", "list")
    assert [c["id"] for c in json.loads(p.stdout)] == ["demo-app"]

    # Usage errors.
    assert ctl(authd, "client").returncode == 2
    assert ctl(authd, "client", "get").returncode == 2
    assert ctl(authd, "client", "delete").returncode == 2
    assert ctl(authd, "client", "list", "--id", "x").returncode == 2
    assert ctl(authd, "client", "frobnicate").returncode == 2


def test_client_list_empty(authd):
    p = ctl(authd, "client", "list")
    assert p.returncode == 0 and p.stdout.strip() == "no clients", p.stderr
    p = ctl(authd, "-o", "json", "client", "list")
    assert p.returncode == 0 and json.loads(p.stdout) == []


KID_RE = re.compile(r"^[A-Za-z0-9_-]{8,}$")


def test_keys_rotate(authd):
    # Needs the signing keys module (authd/signkeys.c) loaded by authd's main.
    p = ctl(authd, "keys", "rotate")
    assert p.returncode == 0, p.stderr
    kid1 = p.stdout.strip()
    assert KID_RE.match(kid1), p.stdout
    p = ctl(authd, "-o", "json", "keys", "rotate", "--alg", "RS256")
    assert p.returncode == 0, p.stderr
    kid2 = json.loads(p.stdout)["kid"]
    assert KID_RE.match(kid2) and kid2 != kid1
    p = ctl(authd, "keys", "rotate", "--alg", "ES256")
    assert p.returncode == 0 and p.stdout.strip() not in (kid1, kid2), p.stderr
    # The kids are authd's: it logged each rotation.
    log = authd.log_text()
    assert f"kid={kid1}" in log and f"kid={kid2}" in log
    # Usage errors.
    assert ctl(authd, "keys", "rotate", "--alg", "HS256").returncode == 2
    assert ctl(authd, "keys", "rotate", "--id", "x").returncode == 2
    assert ctl(authd, "keys").returncode == 2
    assert ctl(authd, "keys", "frobnicate").returncode == 2


def test_unreachable_authd(authd):
    p = subprocess.run([AUTHCTL, "--authd", "127.0.0.1:1", "--timeout", "1000", "user", "list"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 3


# ---- the operator's commands (issue 14) ----------------------------------------------------

PW = "operator test pw 1"


def totp(secret, step):
    """RFC 6238 with authd's defaults (HMAC-SHA1, 6 digits, 30 s steps) for one step."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    return str((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 10 ** 6).zfill(6)


def make_user(authd, email):
    return authd.call("/authd.v1.Users/Create", users_pb2.CreateUserRequest(
        email=email, password=PW), users_pb2.UserResponse).user.id


def login(authd, email, password=PW, ip="198.51.100.7"):
    return authd.call("/authd.v1.Sessions/Login", sessions_pb2.LoginRequest(
        email=email, password=password, client_ip=ip), sessions_pb2.SessionResponse)


def enrol(authd, email):
    """A user with TOTP on; returns its id."""
    uid = make_user(authd, email)
    tok = login(authd, email).session_token
    b = authd.call("/authd.v1.TwoFactor/BeginEnrollment", twofactor_pb2.BeginEnrollmentRequest(
        session_token=tok), twofactor_pb2.BeginEnrollmentResponse)
    authd.call("/authd.v1.TwoFactor/ConfirmEnrollment", twofactor_pb2.ConfirmEnrollmentRequest(
        session_token=tok, code=totp(b.secret, int(time.time() // 30)), client_ip="198.51.100.7"),
        twofactor_pb2.RecoveryCodesResponse)
    return uid


def get_user(authd, uid):
    return authd.call("/authd.v1.Users/Get", users_pb2.GetUserRequest(id=uid),
                      users_pb2.UserResponse).user


def test_user_reset_2fa(authd):
    uid = enrol(authd, "lost@example.com")
    assert get_user(authd, uid).two_factor.enabled
    p = ctl(authd, "user", "reset-2fa", "--email", "lost@example.com")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"User/{uid} two-factor authentication reset"
    assert not get_user(authd, uid).two_factor.enabled
    # The next login is complete after the password alone.
    assert login(authd, "lost@example.com").session.authenticated
    # By id, -o json: the user as it is now.
    uid2 = enrol(authd, "lost2@example.com")
    p = ctl(authd, "-o", "json", "user", "reset-2fa", "--id", uid2)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["id"] == uid2 and not get_user(authd, uid2).two_factor.enabled
    # Error paths: unknown user (by e-mail and by id), usage.
    p = ctl(authd, "user", "reset-2fa", "--email", "nobody@example.com")
    assert p.returncode == 1 and "not_found" in p.stderr, p.stderr
    p = ctl(authd, "user", "reset-2fa", "--id", "no-such-id")
    assert p.returncode == 1 and "not_found" in p.stderr, p.stderr
    assert ctl(authd, "user", "reset-2fa").returncode == 2
    assert ctl(authd, "user", "reset-2fa", "--id", uid, "--email", "lost@example.com").returncode == 2
    assert ctl(authd, "user", "reset-2fa", "--id", uid, "--inactive").returncode == 2


def refusal(call):
    """The authd-error reason of call(), which must fail."""
    with pytest.raises(grpc.RpcError) as e:
        call()
    return grpc_reason(e.value)


def test_user_unlock(authd):
    long_locks(authd)  # no lock may end by itself while the test runs
    uid = make_user(authd, "locked@example.com")
    # Each guess from an address of its own: only the account's counter locks.
    for i in range(6):
        assert refusal(lambda: login(authd, "locked@example.com", f"wrong {i}",
                                     ip=f"203.0.113.{i + 1}")) == "invalid_credentials"
    assert refusal(lambda: login(authd, "locked@example.com", ip="203.0.113.50")) == "locked"
    p = ctl(authd, "user", "unlock", "--email", "locked@example.com")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"User/{uid} unlocked"
    assert login(authd, "locked@example.com", ip="203.0.113.51").session.authenticated
    # An administrator's change, audited with the caller.
    assert any("action=admin_change" in line and "reason=Users/Unlock" in line and
               f"user={uid}" in line for line in authd.log_text().splitlines())

    # Wrong second-factor codes lock the account's second factor; unlock ends that too.
    uid2 = enrol(authd, "locked2@example.com")
    pending = login(authd, "locked2@example.com", ip="203.0.113.60").session_token

    def verify(code, ip):
        return authd.call("/authd.v1.Sessions/VerifySecondFactor",
                          sessions_pb2.VerifySecondFactorRequest(
                              session_token=pending, code=code, client_ip=ip),
                          sessions_pb2.SessionResponse)
    reasons = [refusal(lambda: verify("000000", f"203.0.113.{70 + i}")) for i in range(8)]
    assert reasons[-1] == "locked", reasons
    p = ctl(authd, "-o", "json", "user", "unlock", "--id", uid2)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["id"] == uid2
    # Judged again: a wrong code is wrong, no longer refused as locked.
    assert refusal(lambda: verify("000000", "203.0.113.99")) not in ("locked", None)

    # Error paths.
    p = ctl(authd, "user", "unlock", "--email", "nobody@example.com")
    assert p.returncode == 1 and "not_found" in p.stderr, p.stderr
    p = ctl(authd, "user", "unlock", "--id", "no-such-id")
    assert p.returncode == 1 and "not_found" in p.stderr, p.stderr
    assert ctl(authd, "user", "unlock").returncode == 2
    assert ctl(authd, "user", "unlock", "--id", uid, "--password-stdin").returncode == 2


def test_user_sessions_and_session_revoke(authd):
    uid = make_user(authd, "sess@example.com")
    p = ctl(authd, "user", "sessions", "--email", "sess@example.com")
    assert p.returncode == 0 and p.stdout.strip() == "no sessions", p.stderr
    s1 = authd.call("/authd.v1.Sessions/Login", sessions_pb2.LoginRequest(
        email="sess@example.com", password=PW, client_ip="192.0.2.10", user_agent="Browser\x1bOne"),
        sessions_pb2.SessionResponse)
    s2 = login(authd, "sess@example.com", ip="192.0.2.11")
    p = ctl(authd, "user", "sessions", "--id", uid)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["ID", "CREATED", "EXPIRES", "STATE", "CLIENT_IP", "USER_AGENT"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {s1.session.id, s2.session.id}
    assert rows[s1.session.id][3:] == ["active", "192.0.2.10", "Browser?One"]
    assert "\x1b" not in p.stdout  # server text made safe for a terminal
    # Never a session token.
    assert s1.session_token not in p.stdout and s2.session_token not in p.stdout
    p = ctl(authd, "-o", "json", "user", "sessions", "--email", "sess@example.com")
    assert p.returncode == 0, p.stderr
    listed = {s["id"]: s for s in json.loads(p.stdout)}
    assert set(listed) == {s1.session.id, s2.session.id}
    assert listed[s2.session.id]["client_ip"] == "192.0.2.11"
    assert listed[s2.session.id]["authenticated"] is True
    assert listed[s2.session.id]["user_id"] == uid and listed[s2.session.id]["amr"] == ["pwd"]

    p = ctl(authd, "session", "revoke", "--id", s1.session.id)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"Session/{s1.session.id} revoked"
    with pytest.raises(grpc.RpcError) as e:
        authd.call("/authd.v1.Sessions/Get", sessions_pb2.GetSessionRequest(
            session_token=s1.session_token), sessions_pb2.SessionResponse)
    assert e.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAUTHENTICATED)
    # The other session lives on.
    assert authd.call("/authd.v1.Sessions/Get", sessions_pb2.GetSessionRequest(
        session_token=s2.session_token), sessions_pb2.SessionResponse).session.id == s2.session.id
    p = ctl(authd, "-o", "json", "user", "sessions", "--id", uid)
    assert [s["id"] for s in json.loads(p.stdout)] == [s2.session.id]

    # Error paths: revoked or unknown session, unknown user, usage.
    p = ctl(authd, "session", "revoke", "--id", s1.session.id)
    assert p.returncode == 1 and "not_found" in p.stderr, p.stderr
    p = ctl(authd, "user", "sessions", "--id", "no-such-id")
    assert p.returncode == 1 and "not_found" in p.stderr, p.stderr
    p = ctl(authd, "user", "sessions", "--email", "nobody@example.com")
    assert p.returncode == 1 and "not_found" in p.stderr, p.stderr
    assert ctl(authd, "user", "sessions").returncode == 2
    assert ctl(authd, "session").returncode == 2
    assert ctl(authd, "session", "revoke").returncode == 2
    assert ctl(authd, "session", "frobnicate", "--id", "x").returncode == 2


def test_keys_list(authd):
    def listed():
        p = ctl(authd, "-o", "json", "keys", "list")
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)
    before = listed()
    assert before, "authd starts with a signing key"
    assert all(KID_RE.match(k["kid"]) and k["alg"] in ("ES256", "RS256") for k in before)
    old = [k for k in before if k["alg"] == "ES256" and k["state"] == "active"]
    assert len(old) == 1 and old[0]["access_tokens"] and old[0]["published"]
    assert old[0]["retired"] is None and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
                                                   old[0]["created"])
    # --now: the new keys sign at once (the delayed default is test_keys_publish_before_sign).
    new = ctl(authd, "keys", "rotate", "--alg", "ES256", "--now").stdout.strip()
    rs = ctl(authd, "keys", "rotate", "--alg", "RS256", "--now").stdout.strip()
    keys = {k["kid"]: k for k in listed()}
    assert keys[old[0]["kid"]]["state"] == "retired" and keys[old[0]["kid"]]["retired"]
    assert keys[old[0]["kid"]]["published"]  # still in the JWKS for the tokens it signed
    assert keys[new]["state"] == "active" and not keys[new]["access_tokens"]
    assert keys[rs]["state"] == "active" and keys[rs]["access_tokens"] and keys[rs]["alg"] == "RS256"
    # The JWKS publishes exactly the published keys.
    jwks = json.loads(authd.call("/authd.v1.OAuth/Jwks", oauth_pb2.JwksRequest(),
                                 oauth_pb2.JwksResponse).jwks_json)
    assert {k["kid"] for k in jwks["keys"]} == {k for k, v in keys.items() if v["published"]}
    # Text: a header and one row per key.
    p = ctl(authd, "keys", "list")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["KID", "ALG", "CREATED", "SIGNS", "FROM", "RETIRED", "STATE"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == set(keys)
    assert rows[rs].split()[1] == "RS256" and rows[rs].endswith("active (access tokens)")
    assert rows[old[0]["kid"]].endswith("retired (in JWKS)")
    # Usage errors.
    assert ctl(authd, "keys", "list", "--alg", "ES256").returncode == 2
    assert ctl(authd, "keys", "list", "--id", "x").returncode == 2


def test_user_set_email(authd):
    uid = authd.call("/authd.v1.Users/Create", users_pb2.CreateUserRequest(
        email="old@example.com", password=PW, email_verified=True), users_pb2.UserResponse).user.id
    make_user(authd, "taken@example.com")
    p = ctl(authd, "user", "set-email", "--email", "old@example.com", "--new-email",
            " New@Example.com ")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"User/{uid} e-mail set to new@example.com (not verified)"
    u = get_user(authd, uid)
    assert u.email == "new@example.com" and not u.email_verified  # nobody showed it is theirs
    # The index moved: the new address finds the user and logs in, the old one is free.
    assert login(authd, "New@example.com").session.user_id == uid
    with pytest.raises(grpc.RpcError) as e:
        authd.call("/authd.v1.Users/Get", users_pb2.GetUserRequest(email="old@example.com"),
                   users_pb2.UserResponse)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert make_user(authd, "old@example.com") != uid
    # Taken by another user: refused, nothing changed.
    p = ctl(authd, "user", "set-email", "--id", uid, "--new-email", "taken@example.com")
    assert p.returncode == 1 and "already_exists" in p.stderr, p.stderr
    assert get_user(authd, uid).email == "new@example.com"
    # --email-verified: the administrator vouches for the new address; -o json is the user.
    p = ctl(authd, "-o", "json", "user", "set-email", "--id", uid, "--new-email",
            "third@example.com", "--email-verified")
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout)
    assert j["email"] == "third@example.com" and j["emailVerified"] is True
    # The same address again changes nothing (still verified).
    p = ctl(authd, "user", "set-email", "--id", uid, "--new-email", "Third@example.com")
    assert p.returncode == 0 and "(verified)" in p.stdout, p.stderr
    # Error paths: unknown user, bad address, usage.
    p = ctl(authd, "user", "set-email", "--email", "nobody@example.com", "--new-email",
            "x@example.com")
    assert p.returncode == 1 and "not_found" in p.stderr, p.stderr
    p = ctl(authd, "user", "set-email", "--id", "no-such-id", "--new-email", "x@example.com")
    assert p.returncode == 1 and "not_found" in p.stderr, p.stderr
    p = ctl(authd, "user", "set-email", "--id", uid, "--new-email", "not an address")
    assert p.returncode == 1, p.stderr
    assert get_user(authd, uid).email == "third@example.com"
    assert ctl(authd, "user", "set-email", "--id", uid).returncode == 2
    assert ctl(authd, "user", "set-email", "--new-email", "x@example.com").returncode == 2
    assert ctl(authd, "user", "get", "--id", uid, "--new-email", "x@example.com").returncode == 2


def test_user_create_without_password_says_how_to_sign_in(authd):
    p = ctl(authd, "user", "create", "--email", "nopw@example.com")
    assert p.returncode == 0, p.stderr
    uid = re.fullmatch(r"User/(\S+) created", p.stdout.strip()).group(1)
    # The user cannot sign in yet, and authctl says so, with the command that fixes it.
    assert refusal(lambda: login(authd, "nopw@example.com")) == "invalid_credentials"
    assert "nopw@example.com has no password" in p.stderr
    hint = f"authctl user set-password --id {uid} --password-stdin"
    assert hint in p.stderr and "Forgot password?" in p.stderr
    p = ctl(authd, "user", "set-password", "--id", uid, "--password-stdin", stdin=PW + "\n")
    assert p.returncode == 0, p.stderr
    assert login(authd, "nopw@example.com").session.user_id == uid
    # -o json: stdout is still only the user; the note stays on stderr.
    p = ctl(authd, "-o", "json", "user", "create", "--email", "nopw2@example.com")
    assert p.returncode == 0 and json.loads(p.stdout)["email"] == "nopw2@example.com"
    assert "has no password" in p.stderr
    # With a password there is nothing to say.
    p = ctl(authd, "user", "create", "--email", "pw@example.com", "--password-stdin",
            stdin=PW + "\n")
    assert p.returncode == 0 and p.stderr == "", p.stderr


@pytest.mark.parametrize("group,words", [
    ("user", ["reset-2fa", "unlock", "sessions", "set-email", "set-password"]),
    ("client", ["get", "list", "delete"]),
    ("keys", ["list", "rotate", "retire [--] KID"]),
    ("config", ["get"]),
    ("session", ["revoke"]),
    ("apply", ["-f FILE"]),
])
def test_command_group_help(authd, group, words):
    for ask in ("--help", "-h", "help"):
        p = ctl(authd, group, ask)
        assert p.returncode == 0 and p.stderr == "", (ask, p.stderr)
        assert p.stdout.startswith(f"usage: authctl {group}"), p.stdout
        assert "options:" in p.stdout and all(w in p.stdout for w in words), p.stdout
    # Without authd too: help needs no server.
    p = subprocess.run([AUTHCTL, "--authd", "127.0.0.1:1", group, "--help"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.startswith(f"usage: authctl {group}")


def test_errors_name_the_thing(authd):
    uid = make_user(authd, "named@example.com")
    cases = [
        (["user", "get", "--email", "alice@example.com"], "user alice@example.com not found"),
        (["user", "get", "--id", "u-404"], "user u-404 not found"),
        (["user", "delete", "--id", "u-404"], "user u-404 not found"),
        (["user", "activate", "--id", "u-404"], "user u-404 not found"),
        (["user", "unlock", "--email", "bob@example.com"], "user bob@example.com not found"),
        (["user", "sessions", "--id", "u-404"], "user u-404 not found"),
        (["user", "create", "--email", "Named@example.com"], "user Named@example.com already exists"),
        (["user", "create", "--email", "other@example.com", "--id", uid],
         f"user {uid} already exists"),
        (["user", "set-email", "--email", "nobody@example.com", "--new-email", "x@example.com"],
         "user nobody@example.com not found"),
        (["client", "get", "--id", "no-client"], "client no-client not found"),
        (["client", "delete", "--id", "no-client"], "client no-client not found"),
        (["session", "revoke", "--id", "no-session"], "session no-session not found"),
    ]
    for args, want in cases:
        p = ctl(authd, *args)
        assert p.returncode == 1 and p.stderr.startswith(f"authctl: {want} ("), (args, p.stderr)
    make_user(authd, "taken2@example.com")
    p = ctl(authd, "user", "set-email", "--id", uid, "--new-email", "taken2@example.com")
    assert p.returncode == 1 and "user taken2@example.com already exists" in p.stderr, p.stderr


CC_SECRET = "retire-client-secret-123"


def cc_token(authd, cid):
    return authd.call("/authd.v1.OAuth/Token",
                      oauth_pb2.OAuthTokenRequest(grant_type="client_credentials", client_id=cid,
                                                  client_secret=CC_SECRET),
                      oauth_pb2.OAuthTokenResponse).access_token


def introspect_active(authd, cid, token):
    return authd.call("/authd.v1.OAuth/Introspect",
                      oauth_pb2.IntrospectRequest(token=token, client_id=cid,
                                                  client_secret=CC_SECRET),
                      oauth_pb2.IntrospectResponse).active


def jwks_kids(authd):
    return {k["kid"] for k in json.loads(authd.call(
        "/authd.v1.OAuth/Jwks", oauth_pb2.JwksRequest(), oauth_pb2.JwksResponse).jwks_json)["keys"]}


def test_keys_retire(authd):
    c = oauth_pb2.Client(id="retire-cc", secret=CC_SECRET, grant_types=["client_credentials"],
                         scope=["read"], first_party=True)
    authd.call("/authd.v1.ClientAdmin/Put", c, oauth_pb2.ClientResponse)
    keys = json.loads(ctl(authd, "-o", "json", "keys", "list").stdout)
    old = [k["kid"] for k in keys if k["state"] == "active" and k["access_tokens"]][0]
    tok = cc_token(authd, "retire-cc")
    assert json.loads(base64.urlsafe_b64decode(tok.split(".")[0] + "=="))["kid"] == old
    # The active key of an algorithm cannot go: the error names it and says what to do.
    p = ctl(authd, "keys", "retire", "--", old)
    assert p.returncode == 1, p.stderr
    assert f"signing key {old} is the active ES256 key" in p.stderr and "rotate" in p.stderr, \
        p.stderr
    assert old in jwks_kids(authd) and introspect_active(authd, "retire-cc", tok)
    # Rotated (at once), the old key stays published and its token verifies, until it is retired.
    new = ctl(authd, "keys", "rotate", "--alg", "ES256", "--now").stdout.strip()
    assert old in jwks_kids(authd) and introspect_active(authd, "retire-cc", tok)
    p = ctl(authd, "keys", "retire", "--", old)
    assert p.returncode == 0 and p.stdout == f"keys/{old} retired\n", (p.stdout, p.stderr)
    assert jwks_kids(authd) >= {new} and old not in jwks_kids(authd)
    assert not introspect_active(authd, "retire-cc", tok)
    listed = {k["kid"] for k in json.loads(ctl(authd, "-o", "json", "keys", "list").stdout)}
    assert old not in listed and new in listed
    assert "event=signkey_retired" in authd.log_text() and "ClientAdmin/RetireKey" in authd.log_text()
    # New tokens come from the new key and verify.
    assert introspect_active(authd, "retire-cc", cc_token(authd, "retire-cc"))
    # After a restart the retired key stays gone (it left the store, not just memory).
    authd.restart()
    assert old not in jwks_kids(authd) and not introspect_active(authd, "retire-cc", tok)
    # Unknown (also: retired twice), malformed: not found, naming the key.
    for kid in (old, "no-such-kid", "bad/kid", "-dash-kid"):
        p = ctl(authd, "keys", "retire", "--", kid)
        assert p.returncode == 1 and f"signing key {kid} not found" in p.stderr, p.stderr
        assert "not_found" in p.stderr
    # -o json.
    rs = ctl(authd, "keys", "rotate", "--alg", "RS256", "--now").stdout.strip()
    rs2 = ctl(authd, "keys", "rotate", "--alg", "RS256", "--now").stdout.strip()
    p = ctl(authd, "keys", "retire", "--", rs, "-o", "json")
    assert p.returncode == 0 and json.loads(p.stdout) == {"kid": rs, "state": "retired"}, p.stderr
    assert rs2 in jwks_kids(authd) and rs not in jwks_kids(authd)
    # Usage errors: no kid, an option instead of one, options it does not take.
    assert ctl(authd, "keys", "retire").returncode == 2
    assert ctl(authd, "keys", "retire", "--alg", "ES256").returncode == 2
    assert ctl(authd, "keys", "retire", new, "--alg", "ES256").returncode == 2
    assert ctl(authd, "keys", "retire", new, "--id", "x").returncode == 2
    assert new in jwks_kids(authd)


def token_kid(tok):
    return json.loads(base64.urlsafe_b64decode(tok.split(".")[0] + "=="))["kid"]


def test_keys_publish_before_sign(authd):
    """authd's default: a rotated-in key is published at once but signs only after
    --key-publish-delay (5 minutes), the old key signing until then; `keys list` says which is
    which, and neither can be retired meanwhile (each is active: one signs, the other will).
    `keys rotate --now` makes the new key sign at once and ends the others' turn. Before, the
    new key signed at once on every rotation."""
    c = oauth_pb2.Client(id="publish-cc", secret=CC_SECRET, grant_types=["client_credentials"],
                         scope=["read"], first_party=True)
    authd.call("/authd.v1.ClientAdmin/Put", c, oauth_pb2.ClientResponse)
    old = token_kid(cc_token(authd, "publish-cc"))
    p = ctl(authd, "keys", "rotate", "--alg", "ES256")
    assert p.returncode == 0, p.stderr
    new = p.stdout.strip()
    assert KID_RE.match(new) and new != old
    assert "signs from" in p.stderr, p.stderr
    # Published at once, signing not yet: the old key still signs.
    assert {old, new} <= jwks_kids(authd)
    tok = cc_token(authd, "publish-cc")
    assert token_kid(tok) == old
    assert introspect_active(authd, "publish-cc", tok)
    keys = {k["kid"]: k for k in json.loads(ctl(authd, "-o", "json", "keys", "list").stdout)}
    assert keys[new]["state"] == "pending" and keys[new]["published"], keys[new]
    assert not keys[new]["access_tokens"] and keys[new]["retired"] is None
    assert keys[old]["state"] == "active" and keys[old]["access_tokens"], keys[old]
    # The old key retires when the new one takes over: that very second.
    assert keys[old]["retired"] == keys[new]["signs_from"], (keys[old], keys[new])
    assert keys[new]["signs_from"] > keys[new]["created"]
    text = ctl(authd, "keys", "list").stdout
    assert "pending (in JWKS)" in text and "SIGNS FROM" in text, text
    # Neither can be retired while the rotation is pending.
    for kid in (old, new):
        p = ctl(authd, "keys", "retire", "--", kid)
        assert p.returncode == 1 and f"signing key {kid} is the active ES256 key" in p.stderr, \
            p.stderr
        assert "--now" in p.stderr, p.stderr
    # An emergency: --now signs at once; the old and the waiting key stop now and can go.
    p = ctl(authd, "-o", "json", "keys", "rotate", "--alg", "ES256", "--now")
    assert p.returncode == 0, p.stderr
    now_kid = json.loads(p.stdout)["kid"]
    assert token_kid(cc_token(authd, "publish-cc")) == now_kid
    keys = {k["kid"]: k for k in json.loads(ctl(authd, "-o", "json", "keys", "list").stdout)}
    assert keys[now_kid]["state"] == "active" and keys[now_kid]["access_tokens"]
    assert keys[old]["state"] == "retired" and keys[new]["state"] == "retired"
    for kid in (old, new):
        p = ctl(authd, "keys", "retire", "--", kid)
        assert p.returncode == 0, p.stderr
    assert not introspect_active(authd, "publish-cc", tok)
    # --now belongs to rotate only.
    assert ctl(authd, "keys", "list", "--now").returncode == 2
    assert ctl(authd, "keys", "retire", now_kid, "--now").returncode == 2


def test_operator_commands_need_the_admin_role(tmp_path):
    """Every operator command is refused to a caller without the admin role: authctl without
    credentials against an authd whose anonymous callers get only the service role (which may
    look users up, so each command reaches its own admin call)."""
    from conftest import FAST_ARGON2, Authd
    a = Authd(str(tmp_path), FAST_ARGON2)
    try:
        # Made while anonymous callers still have every role (the development default).
        uid = make_user(a, "victim@example.com")
        sid = login(a, "victim@example.com").session.id
        rs = ctl(a, "keys", "rotate", "--alg", "ES256", "--now")
        assert rs.returncode == 0, rs.stderr
        old = [k["kid"] for k in json.loads(ctl(a, "-o", "json", "keys", "list").stdout)
               if k["state"] == "retired"][0]
        a.extra = FAST_ARGON2 + ["--anonymous-roles", "service"]
        a.restart()
        cases = [
            ["user", "reset-2fa", "--id", uid],
            ["user", "reset-2fa", "--email", "victim@example.com"],
            ["user", "unlock", "--email", "victim@example.com"],
            ["user", "sessions", "--id", uid],
            ["user", "set-email", "--id", uid, "--new-email", "x@example.com"],
            ["user", "set-password", "--id", uid, "--password-stdin"],
            ["user", "create", "--email", "new@example.com"],
            ["session", "revoke", "--id", sid],
            ["keys", "list"],
            ["keys", "rotate"],
            ["keys", "retire", "--", old],  # a kid may begin with '-'
            ["backup", str(tmp_path / "b")],
        ]
        for args in cases:
            p = ctl(a, *args, stdin=PW + "\n")
            assert p.returncode == 1 and "permission_denied" in p.stderr, (args, p.stderr)
        assert not (tmp_path / "b").exists()
        # Nothing changed, and each refusal is audited.
        u = a.call("/authd.v1.Users/Get", users_pb2.GetUserRequest(id=uid),
                   users_pb2.UserResponse).user
        assert u.email == "victim@example.com"
        log = a.log_text()
        for method in ("Users/ResetTwoFactor", "Users/Unlock", "Sessions/List", "Users/Update",
                       "Sessions/Revoke", "ClientAdmin/ListKeys", "ClientAdmin/RetireKey",
                       "Admin/Backup"):
            assert method in log, method
    finally:
        a.stop()
