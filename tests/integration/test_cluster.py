# SPDX-License-Identifier: Apache-2.0
"""The scaled-out deployment as one piece, real processes on loopback: a PostgreSQL primary with a
synchronous streaming standby (pgcluster.PgHaPair), two authd replicas on it (a multi-host
conninfo with target_session_attrs=read-write), two edges, and Debian's HAProxy in front of the
edges (deploy/haproxy/authd-edge.cfg). One cluster serves the whole module; the scenarios that
break something (SIGKILL of a replica, the loss of the primary) run last, in file order.

Each edge is given both authd replicas (gRPC round robin with health checking); HAProxy checks
each edge's /readyz. Nothing here skips itself: every piece the scenarios need is part of the
tree (only the whole module skips where PostgreSQL 15 is not installed).

No assertion depends on the machine's speed: every wait polls with a bounded number of tries,
every load is a bounded count of calls, and locks are set with LONG_LOCK so none ends early.
"""
import concurrent.futures
import json
import os
import secrets
import signal
import subprocess
import threading
import time
import urllib.parse

import grpc
import pytest
import requests

from conftest import (AUTHD, FAST_ARGON2, LONG_LOCK, Authd, Edge, admin_pb2,
                      grpc_reason, new_session, set_lockout, stop, users_pb2, wait_port_file)
from haproxy import Haproxy
from pgcluster import PG_BIN, PgHaPair, free_port
from test_edge import confirm, get_form, signup
from test_twofactor_edge import signed_in_as, verify as edge_verify
from test_twofactor_rpc import enroll, login as rpc_login, oath, step_time, verify as rpc_verify

from authd.v1 import oauth_pb2  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(PG_BIN, "initdb")),
                                reason="PostgreSQL 15 is not installed (scripts/install-deps.sh)")

U = "/authd.v1.Users/"
S = "/authd.v1.Sessions/"
CA = "/authd.v1.ClientAdmin/"
O = "/authd.v1.OAuth/"
PASSWORD = "a long enough password"  # test_edge's; test_twofactor_rpc's enroll uses PW below
PW = "correct horse battery"
WORKERS = 8  # threads of each bounded load
REFRESH_MS = 1000  # authd --refresh-ms: how stale a replica's AuthConfig and keys may get


class ReplicaAuthd(Authd):
    """An authd replica on the shared PostgreSQL database, on a fixed loopback port (so that the
    edges' and the clients' target lists stay true across a restart)."""

    def __init__(self, tmp, conninfo, env, port, extra=()):
        self.conninfo = conninfo
        self.replica_env = env  # (conftest's Authd may have an `env` of its own)
        self.fixed_port = port
        super().__init__(tmp, extra)

    def start(self):
        port_file = os.path.join(self.tmp, "authd.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        store = ["--store", "postgres:" + self.conninfo]
        self.log = open(self.log_path, "ab")
        self.log_start = self.log.tell()
        self.proc = subprocess.Popen(
            [AUTHD, "--listen", f"127.0.0.1:{self.fixed_port}", "--port-file", port_file]
            + store + self.extra, stdout=self.log, stderr=self.log, env=self.replica_env)
        self.port = wait_port_file(port_file, self.proc, timeout=60)
        self.target = f"127.0.0.1:{self.port}"
        self.channel = grpc.insecure_channel(self.target)

    def start_again(self, tries=20):
        """start() on the same port after a kill. The port was free when the replica died, but a
        client's outgoing connection may take it for a moment: try again (bounded)."""
        for i in range(tries):
            try:
                return self.start()
            except RuntimeError:
                stop(self.proc)  # (it has exited, unless its port file never came)
                self.log.close()
                if i == tries - 1:
                    raise RuntimeError("replica did not start again:\n"
                                       + self.log_text()[-2000:])
                time.sleep(0.5)

    def kill(self):
        """SIGKILL: no clean shutdown, connections simply vanish."""
        self.channel.close()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.log.close()


class Target:
    """What conftest.Edge needs of an authd: its target (here possibly a list) and TLS (none)."""

    def __init__(self, target):
        self.target = target
        self.tls = None


def rr_channel(replicas):
    """A gRPC channel over every replica, round robin (as authctl --authd A,B does)."""
    target = "ipv4:" + ",".join(r.target for r in replicas)
    return grpc.insecure_channel(target, options=[("grpc.lb_policy_name", "round_robin")])


def unary(channel, method, request, response_cls, timeout=10):
    fn = channel.unary_unary(method, request_serializer=lambda m: m.SerializeToString(),
                             response_deserializer=response_cls.FromString)
    return fn(request, timeout=timeout)


def poll(fn, what, tries=600, pause=0.1):
    """fn() until it returns a true value (bounded in tries); its last exception or value is in
    the failure message."""
    last = None
    for _ in range(tries):
        try:
            v = fn()
            if v:
                return v
            last = v
        except (grpc.RpcError, requests.RequestException, AssertionError) as e:
            last = e  # (AssertionError: a form page that did not come, e.g. a 503)
        time.sleep(pause)
    raise AssertionError(f"{what}: not after {tries} tries (last: {last!r})")


class ClusterSetup:
    """Everything of one cluster: ha (PgHaPair), a and b (authd), e1 and e2 (edges), hp (HAProxy
    or None), rr (a round-robin channel over a and b)."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.ha = PgHaPair()
        self.replicas, self.edges, self.hp, self.rr = [], [], None, None
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        tmp = self.tmp
        self.ha.start()
        db = self.ha.create_database()
        env = dict(os.environ, **self.ha.env())
        key = os.path.join(tmp, "kek")
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:  # every replica must share the key-encryption key
            f.write(secrets.token_hex(32) + "\n")
        common = FAST_ARGON2 + ["--totp-key-file", key, "--issuer", "http://cluster.authd.test",
                                "--refresh-ms", str(REFRESH_MS)]
        self.replicas = []
        for name in ("a", "b"):
            d = os.path.join(tmp, name)
            os.mkdir(d)
            for attempt in range(3):  # a free port can be taken before authd binds it
                try:
                    self.replicas.append(ReplicaAuthd(d, self.ha.conninfo(db), env, free_port(),
                                                      common))
                    break
                except RuntimeError:
                    if attempt == 2:
                        raise
        self.a, self.b = self.replicas
        both = f"{self.a.target},{self.b.target}"
        self.edges = []
        for name in ("e1", "e2"):
            d = os.path.join(tmp, name)
            os.mkdir(d)
            self.edges.append(Edge(d, Target(both), extra=["--rpc-timeout-ms", "10000"]))
        self.e1, self.e2 = self.edges
        self.hp = Haproxy(tmp, self.edges)
        self.rr = rr_channel(self.replicas)

    def stop(self):
        errors = []
        for what in [self.hp] + self.edges + self.replicas:
            if what is None:
                continue
            try:
                if isinstance(what, ReplicaAuthd) and what.proc.poll() is not None:
                    continue
                what.stop()
            except Exception as e:  # stop everything, then report
                errors.append(e)
        if self.rr is not None:
            self.rr.close()
        self.ha.stop()
        if errors:
            raise errors[0]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = ClusterSetup(str(tmp_path_factory.mktemp("cluster")))
    try:
        yield c
    finally:
        c.stop()


def outcome(fn):
    try:
        fn()
        return "ok"
    except grpc.RpcError as e:
        return grpc_reason(e) or e.code().name


def edge_login(base, email, password, s=None):
    """The login form as a browser posts it: (session, response)."""
    s = s or new_session()
    r, csrf = get_form(s, base + "/auth/login", timeout=30)
    return s, s.post(base + "/auth/login", data={"email": email, "password": password,
                                                 "csrf": csrf}, allow_redirects=False, timeout=30)


def create_user(channel, email, password=PASSWORD):
    return unary(channel, U + "Create", users_pb2.CreateUserRequest(email=email,
                                                                    password=password),
                 users_pb2.UserResponse)


def user_exists(replica, email):
    try:
        replica.call(U + "Get", users_pb2.GetUserRequest(email=email), users_pb2.UserResponse,
                     timeout=30)
        return True
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.NOT_FOUND:
            return False
        raise


# ---- flows that move between edges --------------------------------------------------------

def test_signup_on_one_edge_confirm_on_the_other(cluster):
    s = new_session()
    link = signup(cluster.e1, s, "crossing@example.com")
    assert link.startswith(cluster.e1.base + "/auth/signup/confirm/"), link
    other = cluster.e2.base + link[len(cluster.e1.base):]
    s2 = new_session()  # another browser, even: the link alone carries the flow
    r = confirm(cluster.e2, s2, other)
    assert r.status_code == 303, (r.status_code, r.text[:500])
    assert signed_in_as(cluster.e2, s2) == "crossing@example.com"
    # And the first edge knows the account: the password set on the second one logs in there.
    _, r = edge_login(cluster.e1.base, "crossing@example.com", PASSWORD)
    assert r.status_code == 303, r.status_code


def test_login_on_one_edge_totp_step_on_the_other(cluster):
    _, secret, _, _ = enroll(cluster.a, "steps@example.com")
    s, r = edge_login(cluster.e1.base, "steps@example.com", PW)
    assert r.status_code == 303, r.status_code
    assert urllib.parse.urlparse(r.headers["Location"]).path == "/auth/two-factor/verify"
    # The same browser (cookies are per host, not per port) goes on at the other edge.
    r = edge_verify(cluster.e2, s, oath(secret, step_time(1)))
    assert r.status_code == 303, (r.status_code, r.text[:500])
    assert signed_in_as(cluster.e2, s) == "steps@example.com"
    assert signed_in_as(cluster.e1, s) == "steps@example.com"


# ---- one decision for the whole cluster ---------------------------------------------------

def test_same_totp_code_on_both_replicas_at_once(cluster):
    a, b = cluster.a, cluster.b
    _, secret, _, _ = enroll(a, "once@example.com")
    pending = [rpc_login(r, "once@example.com").session_token for r in (a, b)]
    code = oath(secret, step_time(1))
    go = threading.Barrier(2)

    def submit(rt):
        go.wait(timeout=60)
        return outcome(lambda: rpc_verify(rt[0], rt[1], code))

    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        results = list(ex.map(submit, zip((a, b), pending)))
    assert sorted(results) == ["ok", "wrong_token"], results


def put_client(replica, cid, secret, grants, **auth):
    c = oauth_pb2.Client(id=cid, secret=secret, first_party=True, grant_types=grants,
                         scope=["openid"], introspect=True)
    for name, gs in auth.items():
        getattr(c.auth, name).CopyFrom(oauth_pb2.GrantSettings(**gs))
    replica.call(CA + "Put", c, oauth_pb2.ClientResponse)


def token(replica, cid, secret, **fields):
    return replica.call(O + "Token", oauth_pb2.OAuthTokenRequest(
        client_id=cid, client_secret=secret, client_ip="10.9.8.7", **fields),
        oauth_pb2.OAuthTokenResponse)


def test_refresh_reuse_across_replicas_revokes_the_family(cluster):
    a, b = cluster.a, cluster.b
    a.call(U + "Create", users_pb2.CreateUserRequest(email="family@example.com", password=PW),
           users_pb2.UserResponse)
    put_client(a, "rt-app", "rt app secret value", ["password", "refresh_token"],
               password={"refresh_token": True})

    def grant(r, **f):
        return token(r, "rt-app", "rt app secret value", **f)

    # The client may only see its own write on b once b knows the client: poll (bounded).
    poll(lambda: grant(b, grant_type="password", username="family@example.com", password=PW),
         "client visible on replica b")
    rt1 = grant(a, grant_type="password", username="family@example.com",
                password=PW).refresh_token
    rt2 = grant(b, grant_type="refresh_token", refresh_token=rt1).refresh_token  # rotated on b
    # rt1 replayed on a: refused, and the whole family is gone, rt2 too (asked on b).
    assert outcome(lambda: grant(a, grant_type="refresh_token", refresh_token=rt1)) != "ok"
    assert outcome(lambda: grant(b, grant_type="refresh_token", refresh_token=rt2)) != "ok"


def test_concurrent_wrong_passwords_over_both_replicas_stay_within_the_policy(cluster):
    free = 3
    a = cluster.a
    a.call(U + "Create", users_pb2.CreateUserRequest(email="target@example.com",
                                                     password=PASSWORD), users_pb2.UserResponse)
    # A per-account lock that outlasts the race however slowly it runs; the per-address rule far
    # away (every attempt comes from 127.0.0.1) so that only the account rule judges.
    set_lockout(a, password={
        "account": {"freeFailures": free, "firstWait": LONG_LOCK, "maxWait": 4 * LONG_LOCK,
                    "window": 4 * LONG_LOCK},
        "address": {"freeFailures": 1000}})
    # Both replicas must judge by that policy before the race. a applied it when it stored it;
    # b rereads its copy on the first use after it is REFRESH_MS old. Waiting longer than that
    # is a lower bound, not a race: however slowly anything runs, b's copy is then older and
    # its next judgment rereads the policy.
    assert cluster.b.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                          admin_pb2.AuthConfig).lockout.password.account.free_failures == free
    time.sleep(REFRESH_MS / 1000 + 1)
    bases = [cluster.e1.base, cluster.e2.base]  # e1 -> a, e2 -> b (or both round robin)
    forms = []
    for i in range(20):  # the forms first, so that the posts race each other
        s = new_session()
        _, csrf = get_form(s, bases[i % 2] + "/auth/login", timeout=30)
        forms.append((s, bases[i % 2], csrf))
    go = threading.Barrier(20)

    def attempt(f):
        s, base, csrf = f
        go.wait(timeout=120)
        return s.post(base + "/auth/login", data={"email": "target@example.com",
                                                  "password": "wrong password", "csrf": csrf},
                      allow_redirects=False, timeout=60).status_code

    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        codes = list(ex.map(attempt, forms))
    assert set(codes) <= {401, 429}, codes
    # Exactly the free failures plus the one that set the lock were judged; the rest refused.
    assert codes.count(401) == free + 1, codes
    for base in bases:  # locked on both sides, even for the right password
        assert edge_login(base, "target@example.com", PASSWORD)[1].status_code == 429


def test_key_rotated_through_one_replica_verifies_on_the_other(cluster):
    a, b = cluster.a, cluster.b
    put_client(a, "svc", "svc secret value", ["client_credentials"])
    # At once (now): a signs with it right away, so b meets a kid it has never seen.
    kid = a.call(CA + "RotateKeys", oauth_pb2.RotateKeysRequest(now=True),
                 oauth_pb2.RotateKeysResponse).kid
    at = poll(lambda: token(a, "svc", "svc secret value",
                            grant_type="client_credentials").access_token, "token from a")
    header = json.loads(_b64(at.split(".")[0]))
    assert header["kid"] == kid, header
    # b has never seen the key: the unknown kid makes it look (no waiting for a refresh).
    info = b.call(O + "Introspect", oauth_pb2.IntrospectRequest(
        token=at, client_id="svc", client_secret="svc secret value"),
        oauth_pb2.IntrospectResponse)
    assert info.active and info.client_id == "svc"
    jwks = json.loads(b.call(O + "Jwks", oauth_pb2.JwksRequest(),
                             oauth_pb2.JwksResponse).jwks_json)
    assert kid in [k["kid"] for k in jwks["keys"]]


def _b64(s):
    import base64
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


# ---- failures under load (last: they change the cluster) ----------------------------------

class Load:
    """A bounded load: `total` calls from WORKERS threads, each call a user created through the
    round-robin channel (an acknowledged write to check later) or a login through the front
    (HAProxy, else the edges in turn). `trigger` runs once, from the main thread, when `at` calls
    have finished; it records how many calls were in flight then."""

    def __init__(self, cluster, prefix, total, at, fronts):
        self.c = cluster
        self.prefix = prefix
        self.total = total
        self.at = at
        self.fronts = fronts
        self.lock = threading.Lock()
        self.started = self.finished = 0
        self.reached = threading.Event()
        self.acked = []        # emails whose creation was acknowledged
        self.failed = []       # (kind, what) of every failed call
        self.ok = 0
        self.inflight_at_trigger = None

    def one(self, i):
        with self.lock:
            self.started += 1
        try:
            if i % 2 == 0:
                email = f"{self.prefix}-{i}@example.com"
                try:
                    create_user(self.c.rr, email)
                    with self.lock:
                        self.acked.append(email)
                        self.ok += 1
                except grpc.RpcError as e:
                    with self.lock:
                        self.failed.append(("create", e.code().name, grpc_reason(e)))
            else:
                base = self.fronts[(i // 2) % len(self.fronts)]
                try:
                    _, r = edge_login(base, "loaded@example.com", PASSWORD)
                    kind = r.status_code
                except AssertionError as e:  # the form page itself failed
                    kind = str(e)[:80]
                except requests.RequestException as e:
                    kind = type(e).__name__
                with self.lock:
                    if kind == 303:
                        self.ok += 1
                    else:
                        self.failed.append(("login", kind, None))
        finally:
            with self.lock:
                self.finished += 1
                if self.finished >= self.at:
                    self.reached.set()

    def run(self, trigger):
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as ex:
            futs = [ex.submit(self.one, i) for i in range(self.total)]
            assert self.reached.wait(timeout=600), "the load never reached its trigger point"
            with self.lock:
                self.inflight_at_trigger = self.started - self.finished
            trigger()
            for f in futs:
                f.result(timeout=900)


def fronts_of(cluster):
    return [cluster.hp.base]


def ensure_loaded_user(cluster):
    try:
        create_user(cluster.rr, "loaded@example.com")
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise


def test_sigkill_of_one_replica_under_load(cluster):
    ensure_loaded_user(cluster)
    victim, survivor = cluster.a, cluster.b
    load = Load(cluster, "kill", total=200, at=60, fronts=fronts_of(cluster))
    load.run(victim.kill)
    # Only calls in flight when the replica died (or picked before its clients saw it go) may
    # fail, and only as "unavailable", never as a wrong answer.
    for kind, what, _ in load.failed:
        assert what in ("UNAVAILABLE", 503, 502, "ConnectionError") or \
            (kind == "login" and isinstance(what, str) and "503" in what), load.failed
    # Each worker had at most one call in flight when the replica died, and may start one more
    # before its client has seen the connection go.
    assert len(load.failed) <= load.inflight_at_trigger + WORKERS, \
        (load.inflight_at_trigger, load.failed)
    # Later calls go through the survivor: once one call has gone through, every call does.
    fronts = fronts_of(cluster)
    for base in fronts:
        poll(lambda: edge_login(base, "loaded@example.com", PASSWORD)[1].status_code == 303,
             f"login through {base} after the kill")
    poll(lambda: create_user(cluster.rr, f"kill-after-{secrets.token_hex(4)}@example.com"),
         "create through the round-robin channel after the kill")
    after = Load(cluster, "kill-after", total=40, at=40, fronts=fronts)
    after.run(lambda: None)
    assert after.failed == [], after.failed
    # Nothing acknowledged is lost.
    assert len(load.acked) > 0
    missing = [e for e in load.acked + after.acked if not user_exists(survivor, e)]
    assert missing == []
    # The replica comes back (same port: the target lists stay true) and sees everything.
    victim.start_again()
    poll(lambda: user_exists(victim, load.acked[-1]), "restarted replica serves")
    missing = [e for e in load.acked if not user_exists(victim, e)]
    assert missing == []


def test_primary_lost_standby_promoted_under_load(cluster):
    ensure_loaded_user(cluster)
    for r in cluster.replicas:  # the previous test may have left one stopped
        if r.proc.poll() is not None:
            r.start_again()
    ha = cluster.ha
    fronts = fronts_of(cluster)
    switched = threading.Event()
    before_switch = []

    def fail_over():
        with load.lock:  # what was acknowledged before the primary died
            before_switch.extend(load.acked)
        ha.primary.stop(mode="immediate", remove=False)
        ha.promote()
        switched.set()

    load = Load(cluster, "failover", total=200, at=60, fronts=fronts)
    load.run(fail_over)
    assert switched.is_set() and len(before_switch) > 0
    # While no primary accepted writes, calls failed cleanly: never INTERNAL, never a refusal
    # that would be a wrong decision (401, 429...).
    for kind, what, _ in load.failed:
        assert what in ("UNAVAILABLE", "DEADLINE_EXCEEDED", 503, 504) or \
            (kind == "login" and isinstance(what, str) and "503" in what), load.failed
    # authd reconnects by itself (the conninfo lists both servers; only the promoted one takes
    # writes): every replica creates users again, within a bounded number of tries.
    for r in cluster.replicas:
        poll(lambda: create_user(r.channel, f"failover-after-{secrets.token_hex(4)}@example.com"),
             f"replica {r.target} writes after the promotion", tries=1200)
    for base in fronts + [cluster.e1.base, cluster.e2.base]:
        poll(lambda: edge_login(base, "loaded@example.com", PASSWORD)[1].status_code == 303,
             f"login through {base} after the promotion", tries=1200)
    # Every creation acknowledged (before the switch, and during it) is on the new primary.
    for r in cluster.replicas:
        missing = [e for e in load.acked if not user_exists(r, e)]
        assert missing == [], (r.target, missing)
    assert set(before_switch) <= set(load.acked)
    rows = ha.standby.psql("SELECT pg_is_in_recovery()").strip()
    assert rows == "f", rows
