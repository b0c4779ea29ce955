# SPDX-License-Identifier: Apache-2.0
"""Fixtures that run the real authd and authd-edge on free loopback ports with temporary data
directories, and always stop them (also when a test fails).

The build directory comes from AUTHD_BUILD_DIR (default: <repo>/build). Python message classes
are generated there by the build (protoc --python_out), so these tests are an outside client
that only shares the .proto contract with the server.
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
AUTHCTL = os.path.join(BUILD, "authd", "authctl")

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


class Authd:
    """A running authd. restart() keeps the data directory."""

    def __init__(self, tmp, extra=()):
        self.tmp = tmp
        self.data = os.path.join(tmp, "data")
        self.extra = list(extra)
        self.proc = None
        self.port = None
        self.log_path = os.path.join(tmp, "authd.log")
        self.start()

    def start(self):
        port_file = os.path.join(self.tmp, "authd.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [AUTHD, "--listen", "127.0.0.1:0", "--data-dir", self.data, "--port-file", port_file]
            + self.extra,
            stdout=self.log, stderr=self.log)
        self.port = wait_port_file(port_file, self.proc)
        self.target = f"127.0.0.1:{self.port}"
        self.channel = grpc.insecure_channel(self.target)

    def stop(self, sig=signal.SIGTERM):
        self.channel.close()
        rc = stop(self.proc, sig)
        self.log.close()
        return rc

    def restart(self, sig=signal.SIGTERM):
        self.stop(sig)
        self.start()

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def call(self, method, request, response_cls, timeout=10, metadata=None):
        fn = self.channel.unary_unary(method, request_serializer=lambda m: m.SerializeToString(),
                                      response_deserializer=response_cls.FromString)
        return fn(request, timeout=timeout, metadata=metadata)


class Edge:
    def __init__(self, tmp, authd, extra=(), env=None, listen="127.0.0.1:0"):
        self.tmp = tmp
        port_file = os.path.join(tmp, "edge.port")
        self.log_path = os.path.join(tmp, "edge.log")
        self.log = open(self.log_path, "ab")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(
            [EDGE, "--listen", listen, "--authd", authd.target, "--port-file", port_file]
            + list(extra), stdout=self.log, stderr=self.log, env=e)
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
        return rc

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def links(self, kind):
        """Every link of a kind ("signup/confirm", "reset-password") the console mailer logged."""
        return re.findall(r"(http://[^\s\"]+/auth/" + kind + r"/[A-Za-z0-9_.\-]+)", self.log_text())

    def wait_link(self, kind, count=1, timeout=5.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = self.links(kind)
            if len(found) >= count:
                return found[count - 1]
            time.sleep(0.05)
        raise AssertionError(f"no {kind} link #{count} in the edge log:\n{self.log_text()[-3000:]}")


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
    for k, v in (err.trailing_metadata() or ()):
        if k == "authd-error":
            return v
    return None


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
