# SPDX-License-Identifier: Apache-2.0
"""The client's address behind reverse proxies (issue 12 item 2): X-Forwarded-For over all its
field lines, read from the right, honoured only from trusted peers; Debian's HAProxy in front."""
import http.client
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import EDGE, Edge, long_locks
from haproxy import Haproxy

# HAProxy as many sites run it: `option forwardfor` appends a line of its own after whatever
# X-Forwarded-For lines the client sent (deploy/haproxy/authd-edge.cfg deletes the client's
# first; this one does not, as a proxy someone else runs may not), and the scheme the same way.
APPENDING_CFG = """\
global
    log stderr format short local0 notice
defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend authd_edge
    bind "${HAPROXY_BIND}"
    option forwardfor
    http-request add-header X-Forwarded-Proto http
    default_backend edges
backend edges
    server edge1 "${EDGE1_ADDR}"
"""

FORGED = "203.0.113.7"


def edge_ips(edge, path):
    """The ip= of each request line for path in the edge's log."""
    return [m.group(1) for m in re.finditer(r"event=request .*? path=%s .*? ip=(\S+)" %
                                            re.escape(path), edge.log_text())]


def wait_edge_lines(edge, path, count, timeout=20):
    """The edge logs a request after answering it: wait (bounded) for count lines of path."""
    deadline = time.time() + timeout
    while len(edge_ips(edge, path)) < count and time.time() < deadline:
        time.sleep(0.05)
    return edge_ips(edge, path)


def raw_request(port, method, path, headers, source="127.0.0.1", body=None):
    """(status, headers, body) of one request to 127.0.0.1:port from source, headers a list of
    (name, value) pairs (a name may repeat: separate field lines)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in headers:
            conn.putheader(k, v)
        data = body.encode() if body is not None else None
        if data is not None:
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        r = conn.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        conn.close()


def csrf_from(headers, body):
    """(cookie header value, csrf field) from a GET /auth/login answer."""
    cookies = [v.split(";", 1)[0] for k, v in headers if k.lower() == "set-cookie"]
    jar = "; ".join(cookies)
    m = re.search(r'name="csrf"\s+value="([^"]+)"', body.decode())
    assert m and "csrf=" in jar, body[:500]
    return jar, m.group(1)


def login_fail(send, email, xff):
    """A failed login through send(method, path, headers, body) with a forged X-Forwarded-For
    line; the status."""
    st, hs, body = send("GET", "/auth/login", [("X-Forwarded-For", xff)], None)
    assert st == 200
    jar, csrf = csrf_from(hs, body)
    form = f"email={email}&password=wrong+password+x&csrf={csrf}"
    st, _, _ = send("POST", "/auth/login",
                    [("X-Forwarded-For", xff), ("Cookie", jar),
                     ("Content-Type", "application/x-www-form-urlencoded")], form)
    return st


@pytest.fixture(params=[["--trust-proxy"], ["--trusted-proxies", "127.0.0.1/32"]],
                ids=["trust-proxy", "trusted-proxies"])
def behind_haproxy(request, tmpdir_path, authd):
    if shutil.which("haproxy") is None and not os.path.exists("/usr/sbin/haproxy"):
        pytest.skip("haproxy not installed (scripts/install-deps.sh installs it)")
    cfg = os.path.join(tmpdir_path, "appending.cfg")
    with open(cfg, "w") as f:
        f.write(APPENDING_CFG)
    # HAProxy connects from 127.0.0.1 (with --trusted-proxies the only trusted peer); clients
    # come from 127.0.0.2.
    e = Edge(tmpdir_path, authd, request.param)
    hp = None
    try:
        hp = Haproxy(tmpdir_path, [e, e], cfg=cfg)
        yield e, hp
    finally:
        if hp is not None:
            hp.stop()
        e.stop()


def test_haproxy_appended_line_wins_over_the_clients_forged_one(behind_haproxy, authd):
    e, hp = behind_haproxy
    long_locks(authd)  # the lock set by the 21st failure must outlast the 22nd request

    def send(method, path, headers, body):
        return hp.request(method, path, source="127.0.0.2",
                          headers=headers + [("X-Forwarded-Proto", "https")], body=body)

    codes = []
    for i in range(22):
        # A different forged address each time: throttling by it would never lock.
        codes.append(login_fail(send, f"nobody{i}@example.com", f"203.0.113.{i}"))
    # Throttled by the real address: the client's failures add up whatever it writes.
    assert codes[:20] == [401] * 20 and codes[-1] == 429, codes
    # Audited with the real address, never a forged one.
    log = authd.log_text()
    assert "ip=127.0.0.2" in log
    assert not re.search(r"ip=203\.0\.113\.", log)
    ips = wait_edge_lines(e, "/auth/login", 44)
    assert len(ips) == 44 and set(ips) == {"127.0.0.2"}, ips
    # The scheme too: the client's "https" line is not the proxy's ("http", added last), so
    # the cookies are not marked Secure.
    st, hs, _ = send("GET", "/auth/login", [], None)
    cookies = [v for k, v in hs if k.lower() == "set-cookie"]
    assert st == 200 and cookies and not any("Secure" in c for c in cookies), cookies


def test_trusted_proxies_ignores_headers_from_other_peers(tmpdir_path, authd):
    e = Edge(tmpdir_path, authd, ["--trusted-proxies", "127.0.0.1"])
    try:
        # From an untrusted peer (127.0.0.2) the headers are ignored: its own address counts.
        raw_request(e.port, "GET", "/healthz", [("X-Forwarded-For", FORGED)], source="127.0.0.2")
        wait_edge_lines(e, "/healthz", 1)
        # From the trusted one, the right-most entry of all the lines.
        raw_request(e.port, "GET", "/healthz",
                    [("X-Forwarded-For", FORGED), ("X-Forwarded-For", "198.51.100.9")])
        wait_edge_lines(e, "/healthz", 2)
        # A garbage entry where the proxy's should be: the peer, not the forged left one.
        raw_request(e.port, "GET", "/healthz",
                    [("X-Forwarded-For", FORGED), ("X-Forwarded-For", "unknown")])
        ips = wait_edge_lines(e, "/healthz", 3)
        assert ips == ["127.0.0.2", "198.51.100.9", "127.0.0.1"], ips
    finally:
        e.stop()


def test_trust_proxy_alone_joins_lines_and_counts_hops(tmpdir_path, authd):
    d1 = os.path.join(tmpdir_path, "one")
    d2 = os.path.join(tmpdir_path, "two")
    os.makedirs(d1)
    os.makedirs(d2)
    lines = [("X-Forwarded-For", f"{FORGED}, 192.0.2.4"), ("X-Forwarded-For", " "),
             ("X-Forwarded-For", "[2001:db8::5]:4711 , 198.51.100.9")]
    e1 = Edge(d1, authd, ["--trust-proxy"])
    try:
        raw_request(e1.port, "GET", "/healthz", lines)
        assert wait_edge_lines(e1, "/healthz", 1) == ["198.51.100.9"]
    finally:
        e1.stop()
    e2 = Edge(d2, authd, ["--trust-proxy", "--proxy-hops", "2"])
    try:
        raw_request(e2.port, "GET", "/healthz", lines)
        assert wait_edge_lines(e2, "/healthz", 1) == ["2001:db8::5"]
    finally:
        e2.stop()


def test_proxy_flags_are_checked(authd):
    for args, says in ((["--trusted-proxies", "10.0.0.0/33"], "--trusted-proxies"),
                       (["--trusted-proxies", "example.com"], "--trusted-proxies"),
                       (["--proxy-hops", "2"], "--proxy-hops needs"),
                       (["--trust-proxy", "--proxy-hops", "0"], "--proxy-hops")):
        r = subprocess.run([EDGE, "--listen", "127.0.0.1:0", "--authd", authd.target] + args,
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 2 and says in r.stderr, (args, r.stderr)
