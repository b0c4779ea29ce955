# SPDX-License-Identifier: Apache-2.0
"""deploy/: the systemd units pass `systemd-analyze verify` (where systemd-analyze exists), and
the HAProxy example (deploy/haproxy/authd-edge.cfg, Debian's haproxy) starts on loopback in front
of two edges, balances over both, hands the edges the client's address in X-Forwarded-For (and
not one the client made up), takes out an edge whose /readyz says 503 and brings it back when it
says 200 again. Every wait is bounded in count; nothing asserts how fast anything happens."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import AUTHD, EDGE, REPO, Edge
from haproxy import Haproxy
from test_lb import Replica

UNITS = os.path.join(REPO, "deploy", "systemd")


# ---- systemd ----------------------------------------------------------------------------------

@pytest.mark.parametrize("unit,binary", [("authd.service", AUTHD),
                                         ("authd-edge.service", EDGE)])
def test_systemd_unit_verifies(unit, binary):
    with open(os.path.join(UNITS, unit)) as f:
        text = f.read()
    # The sandbox the deployment relies on is there.
    for line in ("DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes",
                 "PrivateTmp=yes", "Restart=on-failure"):
        assert re.search("^" + re.escape(line) + "$", text, re.M), (unit, line)
    assert re.search(r"^EnvironmentFile=/etc/authd/", text, re.M)
    if unit == "authd.service":
        assert re.search(r"^StateDirectory=authd$", text, re.M)
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd): units not verified")
    # verify checks that ExecStart's program exists: point it at the one just built.
    m = re.search(r"^ExecStart=(\S+)", text, re.M)
    assert m and m.group(1).startswith("/usr/local/bin/")
    with tempfile.TemporaryDirectory(prefix="authd-units-") as d:
        path = os.path.join(d, unit)
        with open(path, "w") as f:
            f.write(text.replace("ExecStart=" + m.group(1), "ExecStart=" + binary, 1))
        p = subprocess.run([tool, "verify", path], capture_output=True, text=True, timeout=120)
    # Unknown keys and bad values are only warnings: any output at all fails.
    assert p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(), \
        (p.returncode, p.stdout, p.stderr)


# ---- HAProxy ----------------------------------------------------------------------------------

def served(edge, path="/healthz"):
    """The request lines of path in the edge's log."""
    return [ln for ln in edge.log_text().splitlines()
            if "event=request" in ln and f" path={path} " in ln]


@pytest.fixture
def cluster(tmpdir_path):
    """Two authd replicas, one edge on each (--trust-proxy), HAProxy in front of the edges."""
    if shutil.which("haproxy") is None and not os.path.exists("/usr/sbin/haproxy"):
        pytest.skip("haproxy not installed (scripts/install-deps.sh installs it)")
    made = []
    try:
        a = Replica(tmpdir_path, "a")
        made.append(a)
        b = Replica(tmpdir_path, "b")
        made.append(b)
        edges = []
        for r in (a, b):
            d = os.path.join(tmpdir_path, "edge-" + os.path.basename(r.dir))
            os.makedirs(d)
            e = Edge(d, r, extra=["--trust-proxy"])
            made.append(e)
            edges.append(e)
        hp = Haproxy(tmpdir_path, edges)
        made.append(hp)
        yield a, b, edges, hp
    finally:
        for x in reversed(made):
            if x.proc is not None and x.proc.poll() is None:
                x.stop()


def test_haproxy_balances_forwards_the_client_and_takes_out_an_unready_edge(cluster):
    a, b, (e1, e2), hp = cluster
    # Balanced over both edges, each told the client's address (127.0.0.2 here: HAProxy itself
    # connects from 127.0.0.1), never the one the client wrote.
    def ours(e):  # this client's requests: other /healthz lines (start-up probes) may land late
        return [ln for ln in served(e) if " ip=127.0.0.2" in ln]

    for _ in range(20):
        status, _ = hp.get("/healthz", source="127.0.0.2",
                           headers={"X-Forwarded-For": "203.0.113.7"})
        assert status == 200
    # Each edge logs a request after answering it: wait (bounded) for the last lines.
    deadline = time.time() + 10
    while len(ours(e1)) + len(ours(e2)) < 20 and time.time() < deadline:
        time.sleep(0.05)
    assert len(ours(e1)) > 0 and len(ours(e2)) > 0, (len(ours(e1)), len(ours(e2)))
    assert len(ours(e1)) + len(ours(e2)) == 20
    # Never the address the client wrote.
    assert not any("203.0.113.7" in ln for ln in served(e1) + served(e2))

    # The second edge's authd goes away: its /readyz says 503, HAProxy's check takes it out.
    b.stop(signal.SIGKILL)
    taken_out = False
    for _ in range(300):
        before = len(served(e2))
        for _ in range(10):
            assert hp.get("/healthz")[0] == 200  # always answered: by the first edge
        if len(served(e2)) == before:
            taken_out = True
            break
        time.sleep(0.05)
    assert taken_out, "HAProxy kept sending requests to the edge whose /readyz is 503"
    before = len(served(e2))
    for _ in range(20):
        assert hp.get("/healthz")[0] == 200
    assert len(served(e2)) == before
    assert "edge2" in hp.log_text() and "DOWN" in hp.log_text()

    # Its authd back on the same address: the edge is ready again and HAProxy uses it again.
    b.restart()
    back = False
    for _ in range(600):
        before = len(served(e2))
        assert hp.get("/healthz")[0] == 200
        if len(served(e2)) > before:
            back = True
            break
        time.sleep(0.05)
    assert back, "HAProxy did not bring the edge back"
