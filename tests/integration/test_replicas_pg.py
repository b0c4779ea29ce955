# SPDX-License-Identifier: Apache-2.0
"""Two real authd processes on one PostgreSQL database (a throwaway cluster, pgcluster.py): the
guarantees of one authd hold across both. Wrong passwords spread over both replicas stay within
the lockout policy; a TOTP code is accepted once; a signing key rotated through one replica signs
tokens the other verifies at once; a replayed refresh token is caught by the other replica.

Both replicas get the same key-encryption key (--totp-key-file), as every replica must.
"""
import concurrent.futures
import os
import secrets

import grpc
import pytest

from conftest import (FAST_ARGON2, LONG_LOCK, Authd, grpc_reason, sessions_pb2, set_lockout,
                      users_pb2)
from pgcluster import PG_BIN, PgCluster
from test_twofactor_rpc import enroll, login, oath, step_time, verify

from authd.v1 import oauth_pb2  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(PG_BIN, "initdb")),
                                reason="PostgreSQL 15 is not installed")

U = "/authd.v1.Users/"
S = "/authd.v1.Sessions/"
CA = "/authd.v1.ClientAdmin/"
O = "/authd.v1.OAuth/"
PW = "correct horse battery"  # test_twofactor_rpc's users have this password
FREE_FAILURES = 5  # the default lockout policy's free failures


@pytest.fixture(scope="module")
def pg():
    with PgCluster() as cluster:
        yield cluster


class PgAuthd(Authd):
    """An authd whose store is postgres:<conninfo> (--store), with the environment of this
    module's cluster (PGPASSFILE), whatever AUTHD_TEST_STORE says."""

    def __init__(self, tmp, spec, extra=()):
        self.spec = spec
        super().__init__(tmp, extra)

    def start(self):
        self.store_flags = ["--store", self.spec]
        self.env = None
        super().start()


@pytest.fixture
def replicas(pg, tmp_path, monkeypatch):
    """start(extra_b=()) -> (a, b): two authd on a fresh database; both stopped at the end."""
    monkeypatch.setenv("PGPASSFILE", pg.env()["PGPASSFILE"])  # the processes inherit it
    spec = "postgres:" + pg.conninfo(pg.create_database())
    key = tmp_path / "kek"
    key.write_text(secrets.token_hex(32) + "\n")
    key.chmod(0o600)
    started = []

    def start(extra_b=()):
        common = FAST_ARGON2 + ["--totp-key-file", str(key)]
        for name, extra in (("a", ["--refresh-ms", "0"]), ("b", list(extra_b))):
            d = tmp_path / name
            d.mkdir()
            started.append(PgAuthd(str(d), spec, common + extra))
        return started[0], started[1]

    yield start
    for r in started:
        r.stop()


def outcome(fn):
    try:
        fn()
        return "ok"
    except grpc.RpcError as e:
        return grpc_reason(e)


def test_wrong_passwords_over_two_replicas(replicas):
    a, b = replicas(["--refresh-ms", "0"])
    a.call(U + "Create", users_pb2.CreateUserRequest(email="victim@example.com", password=PW),
           users_pb2.UserResponse)
    # A lock that outlasts the race however slowly it runs (set through a, used by b).
    set_lockout(a, password={"account": {"firstWait": LONG_LOCK, "maxWait": 4 * LONG_LOCK,
                                         "window": 4 * LONG_LOCK}})

    def attempt(i):
        r = (a, b)[i % 2]
        return outcome(lambda: r.call(S + "Login", sessions_pb2.LoginRequest(
            email="victim@example.com", password="wrong password", client_ip="10.1.2.3"),
            sessions_pb2.SessionResponse))

    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        results = list(ex.map(attempt, range(20)))
    assert results.count("invalid_credentials") == FREE_FAILURES + 1, results
    assert results.count("locked") == 20 - FREE_FAILURES - 1, results
    for r in (a, b):
        assert outcome(lambda: r.call(S + "Login", sessions_pb2.LoginRequest(
            email="victim@example.com", password=PW, client_ip="10.1.2.3"),
            sessions_pb2.SessionResponse)) == "locked"


def test_totp_code_once_over_two_replicas(replicas):
    a, b = replicas()
    _, secret, _, _ = enroll(a, "totp@example.com")
    pending = [login(r, "totp@example.com").session_token for r in (a, b)]
    code = oath(secret, step_time(1))
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        results = list(ex.map(lambda rt: outcome(lambda: verify(rt[0], rt[1], code)),
                              zip((a, b), pending)))
    assert sorted(results) == ["ok", "wrong_token"], results


def put_client(r, cid, secret, grants, **auth):
    c = oauth_pb2.Client(id=cid, secret=secret, first_party=True, grant_types=grants,
                         scope=["openid"], introspect=True)
    for name, gs in auth.items():
        getattr(c.auth, name).CopyFrom(oauth_pb2.GrantSettings(**gs))
    r.call(CA + "Put", c, oauth_pb2.ClientResponse)


def token(r, **fields):
    return r.call(O + "Token", oauth_pb2.OAuthTokenRequest(client_id="svc",
                                                           client_secret="svc secret value",
                                                           client_ip="10.1.2.3", **fields),
                  oauth_pb2.OAuthTokenResponse)


def test_rotated_key_verifies_on_the_other_replica_at_once(replicas):
    # b rereads its keys only once a minute: only the unknown kid can make it look.
    a, b = replicas(["--refresh-ms", "60000"])
    put_client(a, "svc", "svc secret value", ["client_credentials"])
    # At once (--now): a signs with it right away, so b meets a kid it has never seen.
    kid = a.call(CA + "RotateKeys", oauth_pb2.RotateKeysRequest(now=True),
                 oauth_pb2.RotateKeysResponse).kid
    at = token(a, grant_type="client_credentials").access_token
    info = b.call(O + "Introspect", oauth_pb2.IntrospectRequest(
        token=at, client_id="svc", client_secret="svc secret value"),
        oauth_pb2.IntrospectResponse)
    assert info.active and info.client_id == "svc"
    jwks = b.call(O + "Jwks", oauth_pb2.JwksRequest(), oauth_pb2.JwksResponse).jwks_json
    assert kid in jwks


def test_refresh_reuse_caught_by_the_other_replica(replicas):
    a, b = replicas()
    a.call(U + "Create", users_pb2.CreateUserRequest(email="rt@example.com", password=PW),
           users_pb2.UserResponse)
    put_client(a, "svc", "svc secret value", ["password", "refresh_token"],
               password={"refresh_token": True})
    rt1 = token(a, grant_type="password", username="rt@example.com", password=PW).refresh_token
    rt2 = token(a, grant_type="refresh_token", refresh_token=rt1).refresh_token
    # Replayed on b: refused, and the family is gone on a too.
    assert outcome(lambda: token(b, grant_type="refresh_token", refresh_token=rt1)) != "ok"
    assert outcome(lambda: token(a, grant_type="refresh_token", refresh_token=rt2)) != "ok"


def test_replicas_agree_on_the_signing_key_from_stored_times(replicas):
    """A key rotated in through a, with a publication delay, is in b's JWKS at once; until its
    stored active_from neither replica signs with it, from then on both do - each decides from
    the stored time (b has no timer of its own for it: it only rereads the store, as after any
    other change). A token's iat is read before its signature, so an old-key token must have
    iat < active_from on both replicas; the loop is bounded and waits for the event."""
    import base64
    import json
    import time

    a, b = replicas()  # b rereads the store at most --refresh-ms (1 s) late
    a.extra = a.extra + ["--key-publish-delay", "3"]  # the rotating replica's delay decides
    a.restart()
    put_client(a, "svc", "svc secret value", ["client_credentials"])

    def claims_of(tok):
        h, p, _ = tok.split(".")
        dec = lambda s: json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
        return dec(h)["kid"], dec(p)["iat"]

    old, _ = claims_of(token(b, grant_type="client_credentials").access_token)
    rot = a.call(CA + "RotateKeys", oauth_pb2.RotateKeysRequest(alg="ES256"),
                 oauth_pb2.RotateKeysResponse)
    assert rot.active_from > 0
    # Published on b at once (b's first use after a second rereads; the Jwks call below may be
    # that use or come after it).
    deadline = time.monotonic() + 60
    while rot.kid not in b.call(O + "Jwks", oauth_pb2.JwksRequest(),
                                oauth_pb2.JwksResponse).jwks_json:
        assert time.monotonic() < deadline, "b never published the rotated key"
        time.sleep(0.05)
    switched = set()
    while switched != {"a", "b"}:
        assert time.monotonic() < deadline, f"only {switched} signed with the new key"
        for name, r in (("a", a), ("b", b)):
            kid, iat = claims_of(token(r, grant_type="client_credentials").access_token)
            assert kid in (old, rot.kid), kid
            if kid == old:
                assert iat < rot.active_from, (name, iat, rot.active_from)
            else:
                switched.add(name)
        time.sleep(0.05)
