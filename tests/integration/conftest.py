# SPDX-License-Identifier: Apache-2.0
"""Fixtures that run the real authd and authd-edge on free loopback ports with temporary data
directories, and always stop them (also when a test fails).

The build directory comes from AUTHD_BUILD_DIR (default: <repo>/build). Python message classes
are generated there by the build (protoc --python_out), so these tests are an outside client
that only shares the .proto contract with the server.

authd is plaintext on loopback unless started with tls=certs (the session fixture `certs`,
see certs.py): then it serves mutual TLS, Authd.call() speaks TLS with a client certificate
(identity=...) and an Edge started for it passes its own certificate to authd.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import importlib.util

import grpc
import pytest
import requests

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("AUTHD_BUILD_DIR", os.path.join(REPO, "build"))
PYGEN = os.path.join(BUILD, "python")
sys.path.insert(0, PYGEN)

from authd.v1 import common_pb2, users_pb2, sessions_pb2, signup_pb2, admin_pb2  # noqa: E402
from certs import make_certs  # noqa: E402
from pgcluster import PgCluster  # noqa: E402

# AUTHD_TEST_STORE=postgres runs every Authd on PostgreSQL: one throwaway cluster for the pytest
# session (pgcluster.py), a fresh database for each Authd (kept across its restarts).
STORE = os.environ.get("AUTHD_TEST_STORE", "rocksdb")
_pg = None


def pg_session():
    """The session's PostgreSQL cluster, started on first use (stopped at the session's end)."""
    global _pg
    if _pg is None:
        _pg = PgCluster().start()
    return _pg


def pytest_sessionfinish(session, exitstatus):
    if _pg is not None:
        _pg.stop()


def _load_health():
    # The generated module lives under grpc/health/v1, a path the real grpc package shadows:
    # load it by file name instead.
    path = os.path.join(PYGEN, "grpc", "health", "v1", "health_pb2.py")
    spec = importlib.util.spec_from_file_location("authd_health_pb2", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


health_pb2 = _load_health()

AUTHD = os.path.join(BUILD, "authd", "authd")
EDGE = os.path.join(BUILD, "edge", "authd-edge")
AUTHCTL = os.path.join(BUILD, "ctl", "authctl")
CALLERS_DEV = os.path.join(REPO, "deploy", "callers.yaml")

# Cheap Argon2 in the suite keeps it fast; the default cost is exercised by the benchmark and
# by test_default_argon2_cost.
FAST_ARGON2 = ["--argon2-memory", "1024", "--argon2-iterations", "1"]


def wait_port_file(path, proc, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited early with {proc.returncode}")
        try:
            with open(path) as f:
                text = f.read().strip()
            if text:
                return int(text)
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"no port file {path} after {timeout}s")


def stop(proc, sig=signal.SIGTERM, timeout=10.0):
    if proc is None or proc.poll() is not None:
        return proc.returncode if proc else None
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


# Reports of an AUTHD_SANITIZE build: AddressSanitizer (LeakSanitizer runs at exit) and UBSan.
SANITIZER_REPORT = re.compile(
    r"==\d+==ERROR: (AddressSanitizer|LeakSanitizer)|^\S+:\d+:\d+: runtime error: ", re.M)
SANITIZER_LOG_DIR = os.environ.get("AUTHD_SANITIZER_LOG_DIR")


def assert_no_sanitizer_report(what, log_path, start=0):
    """Fails when the output a stopped process wrote to log_path (from offset start) holds a
    sanitizer report. A process stopped with SIGKILL runs no leak check; that is fine."""
    with open(log_path, "rb") as f:
        f.seek(start)
        text = f.read().decode("utf-8", "replace")
    m = SANITIZER_REPORT.search(text)
    if m:
        raise AssertionError(f"{what}: sanitizer report in {log_path}:\n"
                             + text[max(0, m.start() - 300):m.start() + 8000])


@pytest.fixture(autouse=True)
def no_sanitizer_reports():
    """When tests/run points ASan's and UBSan's log_path into AUTHD_SANITIZER_LOG_DIR, a report
    written by any process during a test (authctl's too) fails that test."""
    if not SANITIZER_LOG_DIR:
        yield
        return
    before = set(os.listdir(SANITIZER_LOG_DIR))
    yield
    new = sorted(set(os.listdir(SANITIZER_LOG_DIR)) - before)
    if new:
        texts = []
        for name in new:
            with open(os.path.join(SANITIZER_LOG_DIR, name), "rb") as f:
                texts.append(f"--- {name}\n" + f.read().decode("utf-8", "replace")[:8000])
        pytest.fail("sanitizer reports:\n" + "\n".join(texts), pytrace=False)


def tls_channel(target, certs, identity):
    """A gRPC channel to a TLS authd: authd's certificate checked against the development CA,
    with the client certificate <identity>.pem (None: no client certificate)."""
    creds = grpc.ssl_channel_credentials(
        root_certificates=certs.read(certs.ca),
        private_key=certs.read(certs.key(identity)) if identity else None,
        certificate_chain=certs.read(certs.cert(identity)) if identity else None)
    return grpc.secure_channel(target, creds)


class Authd:
    """A running authd. restart() keeps the data directory. With tls (a certs.Certs) it serves
    mutual TLS and call() presents the client certificate `identity` (default: authctl, the
    operator's)."""

    DEFAULT_IDENTITY = "authctl"

    def __init__(self, tmp, extra=(), tls=None, pg=None, database=None, conninfo_extra=""):
        """pg (a started PgCluster) runs this authd on PostgreSQL whatever AUTHD_TEST_STORE
        says; database names an existing one (another replica's), else a fresh one is made;
        conninfo_extra is appended to the conninfo (e.g. "sslmode=verify-full ...")."""
        self.tmp = tmp
        self.data = os.path.join(tmp, "data")
        self.extra = list(extra)
        self.env = None
        self.store_flags = ["--data-dir", self.data]
        if pg is not None or STORE == "postgres":
            pg = pg or pg_session()
            self.database = database or pg.create_database()
            self.store_flags = ["--store", "postgres:" + pg.conninfo(self.database)
                                + (" " + conninfo_extra if conninfo_extra else "")]
            self.env = dict(os.environ, **pg.env())
            # Replicas share their database and so their TOTP key: no per-directory dev key.
            if "--totp-key-file" not in self.extra and not self.env.get("AUTHD_TOTP_KEY"):
                self.env["AUTHD_TOTP_KEY"] = os.urandom(32).hex()
        self.tls = tls
        self.channels = {}
        self.proc = None
        self.port = None
        self.log_path = os.path.join(tmp, "authd.log")
        self.start()

    def start(self):
        port_file = os.path.join(self.tmp, "authd.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.log = open(self.log_path, "ab")
        self.log_start = self.log.tell()
        tls_flags = []
        if self.tls is not None:
            tls_flags = ["--tls-ca", self.tls.ca, "--tls-cert", self.tls.cert("authd"),
                         "--tls-key", self.tls.key("authd")]
            # The development certificates' identities and their roles, unless a test says.
            if "--callers" not in self.extra:
                tls_flags += ["--callers", CALLERS_DEV]
        self.proc = subprocess.Popen(
            [AUTHD, "--listen", "127.0.0.1:0"] + self.store_flags + ["--port-file", port_file]
            + tls_flags + self.extra,
            stdout=self.log, stderr=self.log, env=self.env)
        self.port = wait_port_file(port_file, self.proc)
        self.target = f"127.0.0.1:{self.port}"
        if self.tls is None:
            self.channel = grpc.insecure_channel(self.target)
        else:
            self.channel = self.channel_for(self.DEFAULT_IDENTITY)

    def channel_for(self, identity):
        """The TLS channel presenting client certificate identity ("edge", "authctl",
        "service", "rogue", "expired"; None: none), made once per identity."""
        if identity not in self.channels:
            self.channels[identity] = tls_channel(self.target, self.tls, identity)
        return self.channels[identity]

    def stop(self, sig=signal.SIGTERM):
        self.channel.close()
        for ch in self.channels.values():
            ch.close()
        self.channels = {}
        rc = stop(self.proc, sig)
        self.log.close()
        assert_no_sanitizer_report("authd", self.log_path, self.log_start)
        return rc

    def restart(self, sig=signal.SIGTERM):
        self.stop(sig)
        self.start()

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def call(self, method, request, response_cls, timeout=10, metadata=None, identity=...):
        """One unary call. Over TLS, identity picks the client certificate (default
        DEFAULT_IDENTITY; None: no certificate); a plaintext authd ignores it."""
        ch = self.channel
        if self.tls is not None and identity is not ...:
            ch = self.channel_for(identity)
        fn = ch.unary_unary(method, request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=response_cls.FromString)
        return fn(request, timeout=timeout, metadata=metadata)


class Edge:
    """A running authd-edge for authd. When authd serves TLS the edge calls it over mutual TLS
    with the edge's certificate (tls: the certs.Certs to use, default authd's; False: plaintext
    anyway)."""

    def __init__(self, tmp, authd, extra=(), env=None, listen="127.0.0.1:0", tls=None):
        self.tmp = tmp
        if tls is None:
            tls = authd.tls
        tls_flags = []
        if tls:
            tls_flags = ["--authd-ca", tls.ca, "--authd-cert", tls.cert("edge"),
                         "--authd-key", tls.key("edge")]
        port_file = os.path.join(tmp, "edge.port")
        self.log_path = os.path.join(tmp, "edge.log")
        self.log = open(self.log_path, "ab")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(
            [EDGE, "--listen", listen, "--authd", authd.target, "--port-file", port_file]
            + tls_flags + list(extra), stdout=self.log, stderr=self.log, env=e)
        try:
            self.port = wait_port_file(port_file, self.proc)
        except RuntimeError:
            stop(self.proc)
            self.log.close()
            raise
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self):
        rc = stop(self.proc)
        self.log.close()
        assert_no_sanitizer_report("authd-edge", self.log_path)
        return rc

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def links(self, kind):
        """Every link of a kind ("signup/confirm", "reset-password") the console mailer logged:
        its link= key, once per mail (the body shows the link too)."""
        return re.findall(r" link=(http://[^\s\"]+/auth/" + kind + r"/[A-Za-z0-9_.\-]+)",
                          self.log_text())

    def wait_link(self, kind, count=1, timeout=5.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = self.links(kind)
            if len(found) >= count:
                return found[count - 1]
            time.sleep(0.05)
        raise AssertionError(f"no {kind} link #{count} in the edge log:\n{self.log_text()[-3000:]}")


@pytest.fixture(scope="session")
def certs():
    """The development CA and certificates (certs.py), made once per test session."""
    with tempfile.TemporaryDirectory(prefix="authd-certs-") as d:
        yield make_certs(os.path.join(d, "certs"))


@pytest.fixture
def tmpdir_path():
    with tempfile.TemporaryDirectory(prefix="authd-it-") as d:
        yield d


@pytest.fixture
def authd(tmpdir_path):
    a = Authd(tmpdir_path, FAST_ARGON2)
    yield a
    a.stop()


@pytest.fixture
def edge(tmpdir_path, authd):
    e = Edge(tmpdir_path, authd)
    yield e
    e.stop()


def grpc_reason(err):
    """The authd-error reason of a failed call."""
    return grpc_trailer(err, "authd-error")


def grpc_trailer(err, key):
    """The value of trailing metadata key of a failed call (authd-error, authd-oauth-error,
    authd-retry-after), or None."""
    for k, v in (err.trailing_metadata() or ()):
        if k == key:
            return v
    return None


# A first lock that no loaded machine can outrun: a test that must see an attempt refused sets
# the lockout's firstWait to this (AuthConfig.lockout), so the lock is still there however slowly
# the attempts before it ran. A test that must see a lock end uses a short wait of its own and
# waits for the end explicitly, never asserting a short lock while it may already be over.
LONG_LOCK = 600


def set_lockout(authd, **kinds):
    """Sets rules of AuthConfig.lockout, keeping the rest of the stored config, e.g.
    set_lockout(authd, password={"account": {"firstWait": LONG_LOCK}}). Field names are the
    manifest's (freeFailures, firstWait, maxWait, window); unset ones keep authd's defaults."""
    names = {"freeFailures": "free_failures", "firstWait": "first_wait", "maxWait": "max_wait",
             "window": "window", "secondFactor": "second_factor",
             "clientSecret": "client_secret"}
    cfg = authd.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                     admin_pb2.AuthConfig)
    for kind, subjects in kinds.items():
        policy = getattr(cfg.lockout, names.get(kind, kind))
        for subject, fields in subjects.items():
            rule = getattr(policy, subject)
            for k, v in fields.items():
                setattr(rule, names[k], v)
    authd.call("/authd.v1.Admin/PutAuthConfig", cfg, admin_pb2.AuthConfig)


def long_locks(authd):
    """Every kind's first lock (account and address) LONG_LOCK seconds: locks in tests that only
    need to see them set. The maximum and the window grow to match (they may not be shorter)."""
    rule = {"firstWait": LONG_LOCK, "maxWait": 4 * LONG_LOCK, "window": 4 * LONG_LOCK}
    set_lockout(authd, **{k: {"account": rule, "address": rule}
                          for k in ("password", "secondFactor", "mail", "delivery",
                                    "clientSecret")})


def lockout_set(authd, **fields):
    """1 when authd's log has a lockout audit event with the given key=value fields (e.g.
    user=<id>, reason=second_factor): proof that a lock was set, whenever anyone looks."""
    for line in authd.log_text().splitlines():
        if "event=audit" in line and "action=lockout" in line and all(
                f"{k}={v}" in line.split() for k, v in fields.items()):
            return True
    return False


def when_unlocked(call, timeout=60):
    """call() again and again while authd refuses it as locked (refused attempts are not
    counted, so asking changes nothing), and its answer once the lock has ended."""
    deadline = time.time() + timeout
    while True:
        try:
            return call()
        except grpc.RpcError as e:
            if grpc_reason(e) != "locked" or time.time() > deadline:
                raise
        time.sleep(0.2)


CSRF_RE = re.compile(r'name="csrf"\s+value="([^"]+)"')


def csrf_of(html):
    m = CSRF_RE.search(html)
    assert m, "page has no csrf field:\n" + html[:2000]
    return m.group(1)


def new_session():
    s = requests.Session()
    s.headers["User-Agent"] = "authd-integration-tests"
    return s


def free_port():
    """A loopback TCP port that was free a moment ago (bind to port 0, read it, close). For a
    process whose public URL must be known before it starts (the edge, whose URL is authd's
    --issuer); the caller retries when someone else took the port in between."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
