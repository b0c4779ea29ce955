# SPDX-License-Identifier: Apache-2.0
"""Several authd replicas behind one edge and one authctl (--authd IP:PORT,IP:PORT): gRPC core's
round_robin spreads the calls over the replicas (each replica's own authd_rpc_requests_total
grows), a replica killed with SIGKILL is skipped, the edge is ready while one replica answers and
not ready when none does, and a replica started again on its address is used again.

The replicas keep separate RocksDB directories here, so only calls that read no shared state
are made: Health/Check and Admin.GetAuthConfig (the edge's /readyz probe makes one of each) and
`authctl config get` (NOT_FOUND on an empty store is fine). Every wait is bounded in count and
generous in time; nothing asserts how fast anything happens."""
import os
import signal
import subprocess
import time

import pytest
import requests

from conftest import (AUTHCTL, AUTHD, CALLERS_DEV, FAST_ARGON2, Edge, assert_no_sanitizer_report,
                      free_port, stop, wait_port_file)

RPC = "authd_rpc_requests_total"


class Replica:
    """One authd on a fixed loopback port (so that it comes back on the same address), with its
    own data directory and metrics endpoint."""

    def __init__(self, tmp, name, tls=None):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.tls = tls
        self.proc = None
        self.log_path = os.path.join(self.dir, "authd.log")
        for _ in range(20):  # someone may take the free port before authd binds it
            self.port = free_port()
            try:
                self.start()
                break
            except RuntimeError:
                continue
        else:
            raise RuntimeError("no free port for an authd replica")
        self.target = f"127.0.0.1:{self.port}"

    def start(self):
        port_file = os.path.join(self.dir, "authd.port")
        metrics_file = os.path.join(self.dir, "metrics.port")
        for f in (port_file, metrics_file):
            if os.path.exists(f):
                os.unlink(f)
        tls_flags = []
        if self.tls is not None:
            tls_flags = ["--tls-ca", self.tls.ca, "--tls-cert", self.tls.cert("authd"),
                         "--tls-key", self.tls.key("authd"), "--callers", CALLERS_DEV]
        self.log = open(self.log_path, "ab")
        self.log_start = self.log.tell()
        self.proc = subprocess.Popen(
            [AUTHD, "--listen", f"127.0.0.1:{self.port}", "--data-dir",
             os.path.join(self.dir, "data"), "--port-file", port_file,
             "--metrics-listen", "127.0.0.1:0", "--metrics-port-file", metrics_file]
            + FAST_ARGON2 + tls_flags, stdout=self.log, stderr=self.log)
        try:
            wait_port_file(port_file, self.proc)
            self.metrics_port = wait_port_file(metrics_file, self.proc)
        except RuntimeError:
            stop(self.proc)
            self.log.close()
            raise

    def restart(self):
        """Starts it again on its port. A killed authd's port may be bound for a moment by
        someone else (free ports are shared by every test on the machine): bounded retries."""
        for attempt in range(20):
            try:
                return self.start()
            except RuntimeError:
                if attempt == 19:
                    raise
                time.sleep(0.25)

    def stop(self, sig=signal.SIGTERM):
        stop(self.proc, sig)
        self.log.close()
        if sig != signal.SIGKILL:
            assert_no_sanitizer_report("authd", self.log_path, self.log_start)

    def calls(self):
        """How many gRPC calls this replica has answered (every method and status)."""
        text = requests.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(RPC + "{"))


class Targets:
    """What Edge() needs of an authd: the target (here a list) and the TLS material."""

    def __init__(self, replicas, tls=None):
        self.target = ",".join(r.target for r in replicas)
        self.tls = tls


@pytest.fixture
def two(tmpdir_path):
    rs = []
    try:
        rs.append(Replica(tmpdir_path, "a"))
        rs.append(Replica(tmpdir_path, "b"))
        yield rs
    finally:
        for r in rs:
            if r.proc is not None and r.proc.poll() is None:
                r.stop()


def readyz(edge):
    return requests.get(edge.base + "/readyz", timeout=30).status_code


def until(pred, tries=300, pause=0.1):
    """pred() again and again until it is true, at most tries times; its last value."""
    for _ in range(tries):
        v = pred()
        if v:
            return v
        time.sleep(pause)
    return pred()


def ready_in_a_row(edge, n=10, tries=300):
    """True once /readyz answered 200 n times in a row: calls picked for a replica that had just
    died may fail before the channel sees it gone; after that every probe must pass."""
    in_a_row = 0
    for _ in range(tries):
        in_a_row = in_a_row + 1 if readyz(edge) == 200 else 0
        if in_a_row >= n:
            return True
        time.sleep(0.05)
    return False


def test_edge_spreads_skips_a_dead_replica_and_uses_it_again(tmpdir_path, two):
    a, b = two
    edge = Edge(tmpdir_path, Targets(two))
    try:
        before = (a.calls(), b.calls())
        for _ in range(20):
            assert readyz(edge) == 200
        # Both replicas answered part of the 40 calls (round robin, not one and its spare).
        assert a.calls() > before[0] and b.calls() > before[1], (before, a.calls(), b.calls())

        a.stop(signal.SIGKILL)
        assert ready_in_a_row(edge), "the edge did not go on through the replica left"
        served = b.calls()
        for _ in range(10):
            assert readyz(edge) == 200
        assert b.calls() >= served + 20  # all of them on b

        b.stop(signal.SIGKILL)
        assert until(lambda: readyz(edge) == 503, pause=0.05), "ready with no replica up"
        text = requests.get(edge.base + "/readyz", timeout=30).text
        assert "authd_unreachable" in text

        # The first one back on its address: the edge finds it by itself.
        a.restart()
        assert ready_in_a_row(edge, tries=600)
        served = a.calls()
        for _ in range(5):
            assert readyz(edge) == 200
        assert a.calls() >= served + 10

        # And the second: calls are spread over both again.
        b.restart()
        base = b.calls()
        assert until(lambda: (readyz(edge) == 200 and b.calls() > base), tries=600), \
            "the restarted replica got no calls"
    finally:
        edge.stop()


def authctl(targets, *args, tls=None):
    flags = ["--authd", targets]
    if tls is not None:
        flags += ["--ca", tls.ca, "--cert", tls.cert("authctl"), "--key", tls.key("authctl")]
    return subprocess.run([AUTHCTL] + flags + list(args), capture_output=True, text=True,
                          timeout=60)


def config_get_ok(p):
    # An empty store has no AuthConfig yet: authd answers NOT_FOUND, which authctl reports as
    # such; what matters is that a replica answered.
    return p.returncode == 0 or "not found" in (p.stderr + p.stdout).lower()


def test_authctl_with_a_list_goes_on_when_the_first_replica_is_dead(two):
    a, b = two
    targets = Targets(two).target
    before = (a.calls(), b.calls())
    for _ in range(4):
        p = authctl(targets, "config", "get")
        assert config_get_ok(p), (p.returncode, p.stdout, p.stderr)
    assert a.calls() + b.calls() >= before[0] + before[1] + 4

    a.stop(signal.SIGKILL)
    served = b.calls()
    for _ in range(4):
        p = authctl(targets, "config", "get")
        assert config_get_ok(p), (p.returncode, p.stdout, p.stderr)
    assert b.calls() >= served + 4


def test_bad_lists_are_refused_at_start(two):
    a, _ = two
    for bad in (a.target + ",localhost:1", a.target + ",", a.target + ",[::1]:1"):
        p = authctl(bad, "config", "get")
        assert p.returncode != 0 and "bad authd address" in p.stderr, (bad, p.stderr)


def test_tls_replicas_behind_one_edge(tmpdir_path, certs):
    rs = []
    edge = None
    try:
        rs.append(Replica(tmpdir_path, "a", tls=certs))
        rs.append(Replica(tmpdir_path, "b", tls=certs))
        # 127.0.0.1 is in authd's certificate: the list's first host is the name checked.
        edge = Edge(tmpdir_path, Targets(rs, tls=certs))
        before = [r.calls() for r in rs]
        for _ in range(10):
            assert readyz(edge) == 200
        assert all(r.calls() > n for r, n in zip(rs, before))
        p = authctl(Targets(rs).target, "config", "get", tls=certs)
        assert config_get_ok(p), (p.returncode, p.stdout, p.stderr)
        rs[1].stop(signal.SIGKILL)
        assert ready_in_a_row(edge)
    finally:
        if edge is not None:
            edge.stop()
        for r in rs:
            if r.proc is not None and r.proc.poll() is None:
                r.stop()


def test_health_watch_stays_open_and_edges_watch_every_replica(tmpdir_path, two):
    import grpc
    from conftest import health_pb2
    a, b = two
    ch = grpc.insecure_channel(a.target)
    try:
        watch = ch.unary_stream("/grpc.health.v1.Health/Watch",
                                request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=health_pb2.HealthCheckResponse.FromString)
        serving = health_pb2.HealthCheckResponse.SERVING
        it = watch(health_pb2.HealthCheckRequest(service=""), timeout=60)
        assert next(it).status == serving
        # Still open: a Check on the same channel is answered while the stream waits.
        check = ch.unary_unary("/grpc.health.v1.Health/Check",
                               request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=health_pb2.HealthCheckResponse.FromString)
        assert check(health_pb2.HealthCheckRequest(), timeout=30).status == serving
        assert it.running()
        it.cancel()
        it = watch(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=60)
        assert next(it).status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
        it.cancel()
    finally:
        ch.close()

    # An edge with a list watches each replica (gRPC's client-side health checking); a watch
    # stream is counted in authd's metrics when it ends, here when the edge stops.
    def watches(r):
        text = requests.get(f"http://127.0.0.1:{r.metrics_port}/metrics", timeout=10).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(RPC + "{") and 'method="Watch"' in line)
    assert until(lambda: watches(a) == 2)  # the two streams above
    before = (watches(a), watches(b))
    edge = Edge(tmpdir_path, Targets(two))
    try:
        assert ready_in_a_row(edge, n=4)
    finally:
        edge.stop()
    assert "Watch method returned UNIMPLEMENTED" not in edge.log_text()
    assert until(lambda: watches(a) > before[0] and watches(b) > before[1]), \
        "no watch stream on a replica"
