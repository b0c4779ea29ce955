# SPDX-License-Identifier: Apache-2.0
"""Strict-Transport-Security (issue 12 item 13): on every answer when the edge serves TLS or its
base URL is https; never on a plain-HTTP edge."""
import http.client
import ssl

from conftest import Edge

HSTS = "Strict-Transport-Security"

# Pages, a JSON endpoint, the server's own refusals (404, 405, 415 in JSON, 413) and /metrics.
REQUESTS = [("GET", "/healthz", None, {}), ("GET", "/auth/login", None, {}),
            ("GET", "/.well-known/openid-configuration", None, {}),
            ("GET", "/nowhere", None, {}), ("DELETE", "/auth/login", None, {}),
            ("POST", "/auth/token", "x", {"Content-Type": "text/plain"}),
            ("POST", "/auth/login", None, {"Content-Length": "99999999"}),
            ("GET", "/metrics", None, {})]


def answers(make_conn):
    """(method, path, status, HSTS value or None) for each of REQUESTS."""
    out = []
    for method, path, body, headers in REQUESTS:
        conn = make_conn()
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            out.append((method, path, r.status, r.getheader(HSTS)))
        finally:
            conn.close()
    return out


def test_https_base_url_sends_hsts_on_every_answer(tmpdir_path, authd):
    e = Edge(tmpdir_path, authd, ["--base-url", "https://auth.example.com"])
    try:
        got = answers(lambda: http.client.HTTPConnection("127.0.0.1", e.port, timeout=30))
        assert {s for _, _, s, _ in got} >= {200, 404, 405, 413, 415}, got
        assert all(v == "max-age=31536000" for _, _, _, v in got), got
    finally:
        e.stop()


def test_tls_edge_sends_hsts_on_every_answer(tmpdir_path, authd, certs):
    e = Edge(tmpdir_path, authd, ["--tls-cert", certs.cert("authd"),
                                  "--tls-key", certs.key("authd")])
    ctx = ssl.create_default_context(cafile=certs.ca)
    ctx.check_hostname = False  # the development certificate names authd, not 127.0.0.1
    try:
        got = answers(lambda: http.client.HTTPSConnection("127.0.0.1", e.port, timeout=30,
                                                          context=ctx))
        assert all(v == "max-age=31536000" for _, _, _, v in got), got
    finally:
        e.stop()


def test_plain_http_edge_sends_no_hsts(tmpdir_path, authd):
    e = Edge(tmpdir_path, authd)
    try:
        got = answers(lambda: http.client.HTTPConnection("127.0.0.1", e.port, timeout=30))
        assert all(v is None for _, _, _, v in got), got
    finally:
        e.stop()
