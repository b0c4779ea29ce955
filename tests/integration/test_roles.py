# SPDX-License-Identifier: Apache-2.0
"""Caller roles: every method of every authd service called as edge, admin, service and with no
credentials, and compared with the expectation table below (written here, independently of the
table in authd/callers.c). Two ways to hold a role are exercised:

- bearer tokens: authd on plaintext loopback with --anonymous-roles none, callers presenting
  `authorization: Bearer <token>` from the client_credentials grant of clients whose scopes are
  authd:edge / authd:admin / authd:service;
- client certificates: authd over mutual TLS with deploy/callers.yaml (the identities of
  deploy/dev-certs.sh), callers presenting the edge, authctl and service certificates.

A refusal for want of a role is PERMISSION_DENIED (reason permission_denied), also for a caller
without any credentials, with a status message naming the method and an audit line. A bearer
token that is not a live client_credentials token of an active client is UNAUTHENTICATED.
An allowed call gets anything else: the empty request each method gets here usually earns
INVALID_ARGUMENT, NOT_FOUND or, for methods that take a session or token, UNAUTHENTICATED from
the handler itself (told apart from the hook's by the status message).
"""
import os
import subprocess
import tempfile
import time

import grpc
import pytest
import requests

from conftest import (AUTHD, FAST_ARGON2, Authd, Edge, admin_pb2, common_pb2, csrf_of,
                      grpc_reason, health_pb2, new_session, sessions_pb2, signup_pb2, users_pb2)
from authd.v1 import oauth_pb2, twofactor_pb2, webauthn_pb2  # noqa: E402

E, A, S = "edge", "admin", "service"
ROLES = (E, A, S)
OPEN = "open"  # every caller, even one without credentials

# Which roles may call each method: what each caller needs (the edge's browser flows, authctl
# and operators, resource servers), nothing more.
EXPECT = {
    "authd.v1.Users": {
        "Create": {A}, "Get": {A, S}, "List": {A}, "Update": {A}, "Delete": {A},
        "SetPassword": {A}, "ResetTwoFactor": {A}, "Unlock": {A}, "ListDevices": {A},
        "RevokeDevices": {A}, "Import": {A},
    },
    "authd.v1.Sessions": {
        "Login": {E}, "Get": {E, S}, "List": {A}, "Revoke": {E, A}, "ChangePassword": {E},
        "VerifySecondFactor": {E},
    },
    "authd.v1.Signup": {"Start": {E}, "Get": {E}, "Complete": {E}},
    "authd.v1.PasswordReset": {"Start": {E}, "Get": {E}, "Complete": {E}},
    "authd.v1.TwoFactor": {
        "BeginEnrollment": {E}, "ConfirmEnrollment": {E}, "Disable": {E}, "Status": {E},
        "RegenerateRecoveryCodes": {E}, "IssueDeliveryCode": {E}, "PendingEnrollment": {E},
        "ListDevices": {E}, "ForgetDevice": {E},
    },
    "authd.v1.Admin": {"PutAuthConfig": {A}, "GetAuthConfig": {E, A}, "Backup": {A}},
    "authd.v1.ClientAdmin": {"Put": {A}, "Get": {A}, "List": {A}, "Delete": {A},
                             "RotateKeys": {A}, "ListKeys": {A}, "RetireKey": {A}},
    "authd.v1.OAuth": {
        "Authorize": {E}, "Token": {E}, "Introspect": {E, S}, "Revoke": {E, S},
        "UserInfo": {E, S}, "Jwks": {E, A, S}, "EndSession": {E},
        "CheckOrigin": {E},
    },
    "authd.v1.WebAuthn": {
        "ListCredentials": {E}, "BeginRegistration": {E}, "FinishRegistration": {E},
        "BeginAssertion": {E}, "FinishAssertion": {E}, "RenameCredential": {E},
        "RemoveCredential": {E},
    },
    "grpc.health.v1.Health": {"Check": OPEN, "Watch": OPEN},
}

SERVICE_MODULES = (users_pb2, sessions_pb2, signup_pb2, admin_pb2, twofactor_pb2, oauth_pb2,
                   webauthn_pb2, health_pb2)


def served_methods():
    """Every (service, method) of the .proto services authd serves, from the Python
    descriptors (so a method added to a .proto and missing from EXPECT fails the test)."""
    out = []
    for mod in SERVICE_MODULES:
        for svc in mod.DESCRIPTOR.services_by_name.values():
            for m in svc.methods:
                out.append((svc.full_name, m.name))
    return out


def allowed(service, method, role):
    roles = EXPECT[service][method]
    return roles == OPEN or (role is not None and role in roles)


# ---- calls ------------------------------------------------------------------------------------

# Server-streaming methods (the rest are unary).
STREAMING = {("grpc.health.v1.Health", "Watch")}


def raw_call(channel, service, method, token=None, header=None, timeout=10):
    """Calls service/method with an empty request (valid for every message type); returns None
    on success or the grpc.RpcError."""
    md = None
    if header is not None:
        md = [("authorization", header)]
    elif token is not None:
        md = [("authorization", "Bearer " + token)]
    if (service, method) in STREAMING:
        # A watch stream stays open after its first message: that message is the answer.
        fn = channel.unary_stream(f"/{service}/{method}", request_serializer=lambda b: b,
                                  response_deserializer=lambda b: b)
        it = fn(b"", timeout=timeout, metadata=md)
        try:
            next(it)
            return None
        except grpc.RpcError as e:
            return e
        finally:
            it.cancel()
    fn = channel.unary_unary(f"/{service}/{method}", request_serializer=lambda b: b,
                             response_deserializer=lambda b: b)
    try:
        fn(b"", timeout=timeout, metadata=md)
        return None
    except grpc.RpcError as e:
        return e


def role_refusal(e, service, method):
    """True when e is the hook's refusal for want of a role."""
    return (e is not None and e.code() == grpc.StatusCode.PERMISSION_DENIED
            and grpc_reason(e) == "permission_denied" and f"{service}/{method}" in e.details())


def token_refusal(e):
    return (e is not None and e.code() == grpc.StatusCode.UNAUTHENTICATED
            and "bearer token" in (e.details() or ""))


def check_matrix(channel, role, token=None):
    """Calls every method; returns the list of mismatches with EXPECT (empty when all agree)
    and the number of refusals."""
    bad, denied = [], 0
    methods = served_methods()
    assert {s for s, _ in methods} == set(EXPECT), "EXPECT must list exactly the served services"
    for service, method in methods:
        assert method in EXPECT[service], f"{service}/{method} is missing from EXPECT"
        e = raw_call(channel, service, method, token=token)
        if allowed(service, method, role):
            if (e is not None and e.code() == grpc.StatusCode.PERMISSION_DENIED) \
                    or token_refusal(e):
                bad.append(f"{service}/{method}: refused to {role}: {e.code()} {e.details()}")
        else:
            denied += 1
            if not role_refusal(e, service, method):
                got = "OK" if e is None else f"{e.code()} {grpc_reason(e)} {e.details()}"
                bad.append(f"{service}/{method}: not refused to {role}: {got}")
    return bad, denied


def audit_lines(authd, **fields):
    """authd's audit lines with action=permission_denied and the given key=value fields."""
    out = []
    for line in authd.log_text().splitlines():
        if "event=audit" not in line or "action=permission_denied" not in line:
            continue
        if all(f"{k}={v}" in line.split() for k, v in fields.items()):
            out.append(line)
    return out


# ---- clients and tokens ------------------------------------------------------------------------

SECRET = "roles-secret-0123456789abcdef"


def put_client(authd, cid, scope, token=None, grant_types=("client_credentials",), cc=None,
               active=None, secret=SECRET, **kw):
    c = oauth_pb2.Client(id=cid, secret=secret, grant_types=list(grant_types), scope=list(scope),
                         first_party=True)
    if cc is not None:
        c.auth.client_credentials.CopyFrom(oauth_pb2.GrantSettings(**cc))
    for name, gs in kw.items():
        getattr(c.auth, name).CopyFrom(oauth_pb2.GrantSettings(**gs))
    if active is not None:
        c.active.CopyFrom(common_pb2.BoolValue(value=active))
    md = [("authorization", "Bearer " + token)] if token else None
    return authd.call("/authd.v1.ClientAdmin/Put", c, oauth_pb2.ClientResponse, metadata=md)


def get_token(authd, cid, token=None, **extra):
    """An access token from the OAuth/Token RPC (the edge's job: token is the edge's bearer
    token when authd gives anonymous callers no role)."""
    req = oauth_pb2.OAuthTokenRequest(client_id=cid, client_secret=SECRET,
                                      **dict({"grant_type": "client_credentials"}, **extra))
    md = [("authorization", "Bearer " + token)] if token else None
    return authd.call("/authd.v1.OAuth/Token", req, oauth_pb2.OAuthTokenResponse,
                      metadata=md).access_token


class PlainEnv:
    def __init__(self, authd, tokens):
        self.authd = authd
        self.tokens = tokens  # role -> bearer token


@pytest.fixture(scope="module")
def plain():
    """authd on plaintext loopback with --anonymous-roles none, and a client_credentials token
    for each role. The clients and tokens are made while authd still runs with its development
    default (every role for anonymous callers), then authd restarts on the same data."""
    with tempfile.TemporaryDirectory(prefix="authd-roles-") as tmp:
        a = Authd(tmp, FAST_ARGON2)
        try:
            tokens = {}
            for role in ROLES:
                put_client(a, f"roles-{role}", [f"authd:{role}", "read"])
                tokens[role] = get_token(a, f"roles-{role}")
            a.extra = FAST_ARGON2 + ["--anonymous-roles", "none"]
            a.restart()
            yield PlainEnv(a, tokens)
        finally:
            a.stop()


# ---- the matrix ------------------------------------------------------------------------------

@pytest.mark.parametrize("role", [E, A, S, None])
def test_matrix_with_bearer_tokens(plain, role):
    token = plain.tokens[role] if role else None
    bad, denied = check_matrix(plain.authd.channel, role, token)
    assert not bad, "\n".join(bad)
    assert denied > 0


@pytest.fixture(scope="module")
def tls(certs):
    """authd over mutual TLS with deploy/callers.yaml (conftest's default for tls=certs) and
    TLS's default anonymous roles (none)."""
    with tempfile.TemporaryDirectory(prefix="authd-roles-tls-") as tmp:
        a = Authd(tmp, FAST_ARGON2, tls=certs)
        try:
            yield a
        finally:
            a.stop()


CERT_OF = {E: "edge", A: "authctl", S: "service", None: None}


@pytest.mark.parametrize("role", [E, A, S, None])
def test_matrix_with_client_certificates(tls, role):
    bad, denied = check_matrix(tls.channel_for(CERT_OF[role]), role)
    assert not bad, "\n".join(bad)
    assert denied > 0


def test_plaintext_default_gives_every_role(authd):
    # Development: no --anonymous-roles, plaintext loopback: every local process holds every
    # role, and authd says so at start.
    for service, method in served_methods():
        e = raw_call(authd.channel, service, method)
        assert e is None or e.code() != grpc.StatusCode.PERMISSION_DENIED, (service, method)
    warn = [ln for ln in authd.log_text().splitlines() if "event=anonymous_roles" in ln]
    assert warn and "level=warn" in warn[0] and "roles=edge,admin,service" in warn[0]
    assert not audit_lines(authd)


def test_tls_default_gives_anonymous_callers_nothing(tls):
    text = tls.log_text()
    assert "anonymous_roles=none" in text and "identities=3" in text
    assert "event=anonymous_roles" not in text


def test_anonymous_roles_flag(tmpdir_path):
    a = Authd(tmpdir_path, FAST_ARGON2 + ["--anonymous-roles", "service"])
    try:
        e = raw_call(a.channel, "authd.v1.Users", "List")
        assert role_refusal(e, "authd.v1.Users", "List")
        e = raw_call(a.channel, "authd.v1.Users", "Get")
        assert e.code() == grpc.StatusCode.NOT_FOUND  # allowed: the user does not exist
        warn = [ln for ln in a.log_text().splitlines() if "event=anonymous_roles" in ln]
        assert warn and "roles=service" in warn[0]
    finally:
        a.stop()


# ---- certificates and tokens together ---------------------------------------------------------

def test_certificate_and_token_roles_add_up(tls):
    # authctl (admin) registers a client with authd:edge; the edge fetches its token.
    put_client(tls, "roles-union", ["authd:edge"])
    req = oauth_pb2.OAuthTokenRequest(grant_type="client_credentials", client_id="roles-union",
                                      client_secret=SECRET)
    tok = tls.call("/authd.v1.OAuth/Token", req, oauth_pb2.OAuthTokenResponse,
                   identity="edge").access_token
    ch = tls.channel_for("service")
    # service (certificate) + edge (token)
    assert raw_call(ch, "authd.v1.Users", "Get", token=tok).code() == grpc.StatusCode.NOT_FOUND
    e = raw_call(ch, "authd.v1.Sessions", "Login", token=tok)
    assert e.code() == grpc.StatusCode.UNAUTHENTICATED and not token_refusal(e)
    e = raw_call(ch, "authd.v1.Users", "Create", token=tok)
    assert role_refusal(e, "authd.v1.Users", "Create")
    # The audit line names the certificate, which said who the caller is.
    lines = audit_lines(tls, reason="Users/Create", outcome="denied")
    assert any("caller=spiffe://authd.dev/service" in ln for ln in lines), lines
    # A token alone, without a certificate, over TLS.
    e = raw_call(tls.channel_for(None), "authd.v1.Sessions", "Login", token=tok)
    assert e.code() == grpc.StatusCode.UNAUTHENTICATED and not token_refusal(e)
    # A bad token is refused even next to a good certificate.
    e = raw_call(ch, "authd.v1.Users", "Get", token=tok[:-2] + "xx")
    assert token_refusal(e)


def test_denials_by_certificate_are_audited(tls):
    e = raw_call(tls.channel_for("edge"), "authd.v1.ClientAdmin", "Delete")
    assert role_refusal(e, "authd.v1.ClientAdmin", "Delete")
    lines = audit_lines(tls, reason="ClientAdmin/Delete", caller="spiffe://authd.dev/edge")
    assert lines and "level=warn" in lines[-1] and "outcome=denied" in lines[-1]


# ---- audit and the delivery code ----------------------------------------------------------------

def test_denied_call_is_audited(plain):
    a = plain.authd
    e = raw_call(a.channel, "authd.v1.Users", "Create", token=plain.tokens[S])
    assert role_refusal(e, "authd.v1.Users", "Create")
    # The message names the method, not the roles the caller holds.
    assert e.details() == "the caller may not call authd.v1.Users/Create"
    lines = audit_lines(a, reason="Users/Create", caller="client:roles-service",
                        outcome="denied", client="roles-service")
    assert lines and "level=warn" in lines[-1]
    # No credentials at all: the same refusal, audited as anonymous.
    e = raw_call(a.channel, "authd.v1.Users", "List")
    assert role_refusal(e, "authd.v1.Users", "List")
    assert audit_lines(a, reason="Users/List", caller="anonymous", outcome="denied")
    # The token never reaches the log.
    assert plain.tokens[S] not in a.log_text()


@pytest.mark.parametrize("role", [A, S])
def test_issue_delivery_code_is_edge_only(plain, role):
    e = raw_call(plain.authd.channel, "authd.v1.TwoFactor", "IssueDeliveryCode",
                 token=plain.tokens[role])
    assert role_refusal(e, "authd.v1.TwoFactor", "IssueDeliveryCode")
    e = raw_call(plain.authd.channel, "authd.v1.TwoFactor", "IssueDeliveryCode",
                 token=plain.tokens[E])
    # The edge gets past the table; the empty session is the handler's refusal.
    assert e.code() == grpc.StatusCode.UNAUTHENTICATED and not token_refusal(e)


# ---- tokens that must be refused ----------------------------------------------------------------

def refused_token(a, token, method=("authd.v1.Users", "Get")):
    e = raw_call(a.channel, *method, token=token)
    assert token_refusal(e), (e.code(), e.details()) if e else "accepted"
    assert grpc_reason(e) == "unauthenticated"
    return e


def works(a, token, method=("authd.v1.Users", "Get")):
    e = raw_call(a.channel, *method, token=token)
    assert e is not None and e.code() == grpc.StatusCode.NOT_FOUND, \
        (e.code(), e.details()) if e else "OK"


def test_revoked_token_is_refused(plain):
    a, admin, edge = plain.authd, plain.tokens[A], plain.tokens[E]
    put_client(a, "roles-rev", ["authd:service"], token=admin)
    tok = get_token(a, "roles-rev", token=edge)
    works(a, tok)
    req = oauth_pb2.RevokeRequest(client_id="roles-rev", client_secret=SECRET, token=tok)
    a.call("/authd.v1.OAuth/Revoke", req, common_pb2.Empty,
           metadata=[("authorization", "Bearer " + edge)])
    refused_token(a, tok)
    assert audit_lines(a, reason="Users/Get", outcome="failure", caller="anonymous")


def test_expired_token_is_refused(plain):
    a, admin, edge = plain.authd, plain.tokens[A], plain.tokens[E]
    put_client(a, "roles-exp", ["authd:service"], token=admin, cc={"access_token_expiration": 1})
    tok = get_token(a, "roles-exp", token=edge)
    time.sleep(2.2)
    refused_token(a, tok)


def test_opaque_token_works_and_dies_with_its_client(plain):
    a, admin, edge = plain.authd, plain.tokens[A], plain.tokens[E]
    put_client(a, "roles-opq", ["authd:service"], token=admin, cc={"token_format": "opaque"})
    tok = get_token(a, "roles-opq", token=edge)
    assert tok.count(".") == 1  # <id>.<secret>, not a JWT
    works(a, tok)
    a.call("/authd.v1.ClientAdmin/Delete", oauth_pb2.ClientRequest(id="roles-opq"),
           common_pb2.Empty, metadata=[("authorization", "Bearer " + admin)])
    refused_token(a, tok)


def test_user_token_is_refused(plain):
    # A user's token (password grant) speaks for the user, never for a caller of authd, even
    # when its client may ask for an authd:* scope.
    a, admin, edge = plain.authd, plain.tokens[A], plain.tokens[E]
    md = [("authorization", "Bearer " + admin)]
    a.call("/authd.v1.Users/Create", users_pb2.CreateUserRequest(
        email="roles-user@example.com", password="a long enough password"),
        users_pb2.UserResponse, metadata=md)
    put_client(a, "roles-app", ["openid", "authd:admin"], token=admin,
               grant_types=["password"])
    tok = get_token(a, "roles-app", token=edge, grant_type="password",
                    username="roles-user@example.com", password="a long enough password",
                    scope="openid authd:admin")
    refused_token(a, tok, ("authd.v1.Users", "List"))
    refused_token(a, tok)


def test_token_whose_scope_was_removed_is_refused(plain):
    a, admin, edge = plain.authd, plain.tokens[A], plain.tokens[E]
    put_client(a, "roles-scope", ["authd:service", "read"], token=admin)
    tok = get_token(a, "roles-scope", token=edge)
    works(a, tok)
    put_client(a, "roles-scope", ["read"], token=admin)
    refused_token(a, tok)
    # Given back: the same token works again (the check is against the registration now).
    put_client(a, "roles-scope", ["authd:service", "read"], token=admin)
    works(a, tok)
    # The client_credentials grant withdrawn: refused as well.
    put_client(a, "roles-scope", ["authd:service", "read"], token=admin,
               grant_types=["authorization_code"],
               authorization_code={"redirect_uri": "https://x.example/cb"})
    refused_token(a, tok)


def test_token_of_deactivated_client_is_refused(plain):
    a, admin, edge = plain.authd, plain.tokens[A], plain.tokens[E]
    put_client(a, "roles-off", ["authd:service"], token=admin)
    tok = get_token(a, "roles-off", token=edge)
    works(a, tok)
    put_client(a, "roles-off", ["authd:service"], token=admin, active=False)
    refused_token(a, tok)
    put_client(a, "roles-off", ["authd:service"], token=admin, active=True)
    works(a, tok)


def test_token_without_a_role_scope_holds_no_role(plain):
    a, admin, edge = plain.authd, plain.tokens[A], plain.tokens[E]
    put_client(a, "roles-none", ["read"], token=admin)
    tok = get_token(a, "roles-none", token=edge)
    e = raw_call(a.channel, "authd.v1.Users", "Get", token=tok)
    assert role_refusal(e, "authd.v1.Users", "Get")
    assert audit_lines(a, reason="Users/Get", caller="client:roles-none", outcome="denied")


BAD_HEADERS = ["Bearer", "Bearer ", "Basic cm9sZXM6c2VjcmV0", "Bearer not-a-token",
               "Bearer aaaa.bbbb.cccc", "Bearer abc def", "bearer x.y"]


@pytest.mark.parametrize("header", BAD_HEADERS)
def test_malformed_tokens_never_fall_back_to_anonymous(authd, header):
    # authd's development default gives anonymous callers every role; a caller that presents
    # a bad token is still refused, not treated as anonymous.
    e = raw_call(authd.channel, "authd.v1.Users", "List", header=header)
    assert token_refusal(e), (e.code(), e.details()) if e else "accepted"
    assert raw_call(authd.channel, "authd.v1.Users", "List") is None
    # Health probes are open and look at nothing.
    assert raw_call(authd.channel, "grpc.health.v1.Health", "Check", header=header) is None


def test_tampered_jwt_is_refused(plain):
    tok = plain.tokens[S]
    head, body, sig = tok.split(".")
    refused_token(plain.authd, f"{head}.{body}.{sig[:-4]}AAAA")
    refused_token(plain.authd, f"{head}.{body[:-2]}xx.{sig}")


# ---- the edge without credentials ----------------------------------------------------------------

def test_edge_without_credentials_cannot_work(plain, tmpdir_path):
    # An edge that presents nothing to an authd that gives anonymous callers no role: pages
    # that need no RPC still render, but every sign-in fails, loudly on both sides.
    a = plain.authd
    edge = Edge(tmpdir_path, a)
    try:
        s = new_session()
        r = s.get(edge.base + "/auth/login")
        assert r.status_code == 200
        r = s.post(edge.base + "/auth/login", data={
            "email": "nobody@example.com", "password": "whatever-password",
            "csrf": csrf_of(r.text)}, allow_redirects=False)
        assert r.status_code == 500, (r.status_code, r.text[:300])
        assert "asid" not in r.cookies
        warn = [ln for ln in edge.log_text().splitlines()
                if "event=rpc_error" in ln and "err=permission_denied" in ln]
        assert warn and "level=warn" in warn[0], edge.log_text()[-2000:]
        assert audit_lines(a, reason="Sessions/Login", caller="anonymous", outcome="denied")
    finally:
        edge.stop()


def readiness_lines(edge):
    return [ln for ln in edge.log_text().splitlines() if "event=readiness" in ln]


def test_readyz_says_when_authd_refuses_the_edge(tmpdir_path):
    # Health/Check is open to every caller, so an edge authd gives no role would look ready
    # while every sign-in fails: /readyz also asks GetAuthConfig, which needs the edge role.
    a = Authd(tmpdir_path, FAST_ARGON2 + ["--anonymous-roles", "none"])
    edge = None
    try:
        edge = Edge(tmpdir_path, a)
        for _ in range(3):
            r = requests.get(edge.base + "/readyz", timeout=20)
            assert r.status_code == 503, (r.status_code, r.text)
            assert r.text == "not ready: edge_role_refused", r.text
        # Logged once per change, not once per probe.
        lines = readiness_lines(edge)
        assert len(lines) == 1, lines
        assert "level=warn" in lines[0] and "ready=0" in lines[0], lines
        assert "reason=edge_role_refused" in lines[0] and "GetAuthConfig" in lines[0], lines
        assert audit_lines(a, reason="Admin/GetAuthConfig", caller="anonymous",
                           outcome="denied")
        # Another reason is another change: one more line.
        a.stop()
        for _ in range(2):
            r = requests.get(edge.base + "/readyz", timeout=20)
            assert r.status_code == 503 and r.text == "not ready: authd_unreachable", r.text
        lines = readiness_lines(edge)
        assert len(lines) == 2 and "reason=authd_unreachable" in lines[1], lines
    finally:
        if edge:
            edge.stop()
        if a.proc.poll() is None:
            a.stop()


@pytest.mark.parametrize("identity,status,body", [
    ("edge", 200, "ready"),
    ("service", 503, "not ready: edge_role_refused"),  # a certificate of another role
    ("rogue", 503, "not ready: authd_unreachable"),  # the edge's name from a CA authd refuses
    (None, 503, "not ready: edge_role_refused"),  # no client certificate at all
])
def test_readyz_over_mtls_checks_the_edge_identity(tls, certs, tmpdir_path, identity, status,
                                                    body):
    flags = ["--authd-ca", certs.ca]
    if identity:
        flags += ["--authd-cert", certs.cert(identity), "--authd-key", certs.key(identity)]
    edge = Edge(tmpdir_path, tls, extra=flags, tls=False)
    try:
        for _ in range(2):
            r = requests.get(edge.base + "/readyz", timeout=20)
            assert (r.status_code, r.text) == (status, body)
        lines = readiness_lines(edge)
        assert len(lines) == 1, lines
        assert ("ready=1" if status == 200 else "ready=0") in lines[0], lines
    finally:
        edge.stop()


# ---- configuration errors ---------------------------------------------------------------------

def start_fails(tmp, *flags):
    p = subprocess.run([AUTHD, "--listen", "127.0.0.1:0", "--data-dir",
                        os.path.join(tmp, "data")] + FAST_ARGON2 + list(flags),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0, p.stderr
    return p.stderr


@pytest.mark.parametrize("text,want", [
    ("callers:\n  - identity: spiffe://x/a\n    roles: [edge, root]\n", ":3: unknown role \"root\""),
    ("callers:\n  - identity: spiffe://x/a\n    role: [edge]\n", ":3: unknown key \"role\""),
    ("callers:\n  - identity: spiffe://x/a\n    roles: [edge]\n"
     "  - identity: spiffe://x/a\n    roles: [admin]\n", ":4: identity \"spiffe://x/a\" is listed twice"),
    ("", ":1: the file is empty"),
])
def test_bad_callers_file_stops_the_start(tmpdir_path, text, want):
    path = os.path.join(tmpdir_path, "callers.yaml")
    with open(path, "w") as f:
        f.write(text)
    err = start_fails(tmpdir_path, "--callers", path)
    assert f"--callers: {path}{want}" in err, err


def test_bad_anonymous_roles_stop_the_start(tmpdir_path):
    err = start_fails(tmpdir_path, "--anonymous-roles", "edge,root")
    assert "--anonymous-roles" in err, err
    err = start_fails(tmpdir_path, "--callers", os.path.join(tmpdir_path, "missing.yaml"))
    assert "missing.yaml: cannot read the file" in err, err


# ---- typed certificate identities -------------------------------------------------------------

AUTHCTL_ID = "spiffe://authd.dev/authctl"


@pytest.fixture(scope="module")
def lookalikes(certs):
    """authd over mutual TLS with deploy/callers.yaml plus `cn:legacy-ops` (admin), and client
    certificates from the right CA that carry authctl's URI as another type of name."""
    from cryptography import x509
    from certs import client_cert
    client_cert(certs, "cn-only", AUTHCTL_ID)
    client_cert(certs, "cn-and-dns", AUTHCTL_ID, [x509.DNSName("unrelated.example")])
    client_cert(certs, "dns-san", "someone", [x509.DNSName(AUTHCTL_ID)])
    client_cert(certs, "email-san", "someone", [x509.RFC822Name(AUTHCTL_ID)])
    client_cert(certs, "legacy-ops", "legacy-ops")
    client_cert(certs, "legacy-ops-san", "legacy-ops", [x509.DNSName("ops.example")])
    with tempfile.TemporaryDirectory(prefix="authd-roles-typed-") as tmp:
        path = os.path.join(tmp, "callers.yaml")
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "deploy",
                               "callers.yaml")) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text + "  - identity: cn:legacy-ops\n    roles: [admin]\n")
        a = Authd(tmp, FAST_ARGON2 + ["--callers", path], tls=certs)
        try:
            yield a
        finally:
            a.stop()


@pytest.mark.parametrize("name,caller", [
    ("cn-only", "cn:" + AUTHCTL_ID),            # the URI as the CN of a SAN-less certificate
    ("cn-and-dns", "dns:unrelated.example"),    # ... next to an unrelated SAN (CN ignored)
    ("dns-san", "dns:" + AUTHCTL_ID),           # the URI as a DNS SAN
    ("email-san", "email:" + AUTHCTL_ID),       # the URI as an e-mail SAN
    ("legacy-ops-san", "dns:ops.example"),      # a mapped CN, on a certificate with a SAN
])
def test_other_name_types_never_pass_for_a_uri(lookalikes, name, caller):
    e = raw_call(lookalikes.channel_for(name), "authd.v1.Users", "List")
    assert role_refusal(e, "authd.v1.Users", "List"), (e.code(), e.details()) if e else "OK"
    # The refusal names the certificate's identity, not "anonymous".
    assert audit_lines(lookalikes, reason="Users/List", outcome="denied", caller=caller)


def test_cn_entry_maps_a_certificate_without_sans(lookalikes):
    assert raw_call(lookalikes.channel_for("legacy-ops"), "authd.v1.Users", "List") is None
    # And the real authctl certificate (URI SAN) still works with deploy/callers.yaml.
    assert raw_call(lookalikes.channel_for("authctl"), "authd.v1.Users", "List") is None


# ---- a client deleted and registered again ------------------------------------------------------

def test_recreated_client_does_not_revive_old_tokens(plain):
    a, admin, edge = plain.authd, plain.tokens[A], plain.tokens[E]
    edge_md = [("authorization", "Bearer " + edge)]
    admin_md = [("authorization", "Bearer " + admin)]

    def introspect(tok, secret):
        req = oauth_pb2.IntrospectRequest(token=tok, client_id="roles-again",
                                          client_secret=secret)
        return a.call("/authd.v1.OAuth/Introspect", req, oauth_pb2.IntrospectResponse,
                      metadata=edge_md).active

    def token(secret):
        req = oauth_pb2.OAuthTokenRequest(grant_type="client_credentials",
                                          client_id="roles-again", client_secret=secret)
        return a.call("/authd.v1.OAuth/Token", req, oauth_pb2.OAuthTokenResponse,
                      metadata=edge_md).access_token

    put_client(a, "roles-again", ["authd:admin"], token=admin)
    old = token(SECRET)
    works(a, old)
    assert introspect(old, SECRET)
    a.call("/authd.v1.ClientAdmin/Delete", oauth_pb2.ClientRequest(id="roles-again"),
           common_pb2.Empty, metadata=admin_md)
    # Registered again right away (most likely within the same second), with a new secret.
    new_secret = "roles-again-new-secret-0123456789"
    put_client(a, "roles-again", ["authd:admin"], token=admin, secret=new_secret)
    refused_token(a, old)
    assert not introspect(old, new_secret)
    # A token of the new registration works (one issued in the second of the deletion would
    # not: wait for the next second).
    time.sleep(1.1)
    new = token(new_secret)
    works(a, new)
    assert introspect(new, new_secret)
    refused_token(a, old)


# ---- revoking a session by id is the admin's -------------------------------------------------

def test_edge_cannot_revoke_a_session_by_id(plain):
    a, admin, edge = plain.authd, plain.tokens[A], plain.tokens[E]
    edge_md = [("authorization", "Bearer " + edge)]
    admin_md = [("authorization", "Bearer " + admin)]
    a.call("/authd.v1.Users/Create", users_pb2.CreateUserRequest(
        email="roles-victim@example.com", password="a long enough password"),
        users_pb2.UserResponse, metadata=admin_md)
    s = a.call("/authd.v1.Sessions/Login", sessions_pb2.LoginRequest(
        email="roles-victim@example.com", password="a long enough password"),
        sessions_pb2.SessionResponse, metadata=edge_md)

    def alive():
        try:
            a.call("/authd.v1.Sessions/Get",
                   sessions_pb2.GetSessionRequest(session_token=s.session_token),
                   sessions_pb2.SessionResponse, metadata=edge_md)
            return True
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAUTHENTICATED, e
            return False

    by_id = sessions_pb2.RevokeSessionRequest(session_id=s.session.id)
    with pytest.raises(grpc.RpcError) as ei:
        a.call("/authd.v1.Sessions/Revoke", by_id, common_pb2.Empty, metadata=edge_md)
    assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "admin" in ei.value.details()
    assert alive()
    assert audit_lines(a, reason="Sessions/Revoke", caller="client:roles-edge", outcome="denied")
    # The admin may.
    a.call("/authd.v1.Sessions/Revoke", by_id, common_pb2.Empty, metadata=admin_md)
    assert not alive()


# ---- --production ---------------------------------------------------------------------------------

def test_production_gives_anonymous_callers_nothing(tmpdir_path):
    key_file = os.path.join(tmpdir_path, "totp.key")
    with open(key_file, "w") as f:
        f.write("22" * 32 + "\n")
    a = Authd(tmpdir_path, FAST_ARGON2 + ["--production", "--totp-key-file", key_file])
    try:
        e = raw_call(a.channel, "authd.v1.Users", "List")
        assert role_refusal(e, "authd.v1.Users", "List"), (e.code(), e.details()) if e else "OK"
        text = a.log_text()
        assert "anonymous_roles=none" in text and "from=production" in text
        assert "event=anonymous_roles" not in text
    finally:
        a.stop()
