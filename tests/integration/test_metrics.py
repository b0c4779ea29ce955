# SPDX-License-Identifier: Apache-2.0
"""Prometheus metrics of authd (--metrics-listen) and authd-edge (GET /metrics), scraped over
HTTP from the real processes and read with the Prometheus project's own parser
(prometheus_client.parser), so a malformed exposition fails here and not in a scraper."""
import ipaddress
import os
import socket
import subprocess
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import (EDGE, FAST_ARGON2, Authd, Edge, csrf_of, free_port, new_session,
                      wait_port_file)
from test_twofactor_edge import (create_user, enable_with_app, login_pending, logout,
                                 msg_error, new_user, password_login, verify)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture
def authd_m(tmpdir_path):
    """authd with its metrics endpoint on a free loopback port (.metrics_port)."""
    port_file = os.path.join(tmpdir_path, "metrics.port")
    a = Authd(tmpdir_path, FAST_ARGON2 + ["--metrics-listen", "127.0.0.1:0",
                                          "--metrics-port-file", port_file])
    # authd writes the metrics port file before the gRPC one, which Authd() waited for.
    a.metrics_port = wait_port_file(port_file, a.proc)
    yield a
    a.stop()


@pytest.fixture
def edge_m(tmpdir_path, authd_m):
    e = Edge(tmpdir_path, authd_m)
    yield e
    e.stop()


def scrape(url, **kw):
    r = requests.get(url, **kw)
    assert r.status_code == 200, (r.status_code, r.text[:500])
    assert r.headers["Content-Type"] == CONTENT_TYPE
    assert r.headers["Cache-Control"] == "no-store"
    return parse(r.text)


def parse(text):
    """{family name: family} from the exposition, with every histogram checked: cumulative
    buckets, ending in +Inf, whose count is _count."""
    fams = {}
    for fam in text_string_to_metric_families(text):
        assert fam.name not in fams, f"family {fam.name} rendered twice"
        fams[fam.name] = fam
        if fam.type == "histogram":
            check_histograms(fam)
    return fams


def check_histograms(fam):
    series = {}
    for s in fam.samples:
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        series.setdefault(key, []).append(s)
    for key, samples in series.items():
        buckets = [s for s in samples if s.name.endswith("_bucket")]
        count = [s.value for s in samples if s.name.endswith("_count")]
        assert buckets and count, (fam.name, key)
        les = [float(s.labels["le"]) for s in buckets]
        assert les == sorted(les) and les[-1] == float("inf"), (fam.name, key, les)
        values = [s.value for s in buckets]
        assert values == sorted(values), (fam.name, key, values)  # cumulative
        assert values[-1] == count[0], (fam.name, key)


def value(fams, sample, **labels):
    """The sum of the samples named sample (e.g. edge_logins_total; the parser names counter
    families without _total) whose labels include labels; 0 when none matches."""
    return sum(s.value for fam in fams.values() for s in fam.samples
               if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()))


def hist_count(fams, family, **labels):
    return value(fams, family + "_count", **labels)


def all_label_values(fams):
    return {v for fam in fams.values() for s in fam.samples for v in s.labels.values()}


def test_metrics_count_logins_second_factors_rpcs_and_storage(authd_m, edge_m, tmpdir_path):
    authd, edge = authd_m, edge_m
    # A user with two-factor authentication: two password logins (one before enrolment, one
    # after), a wrong TOTP code, then the right one.
    email2 = "mia@example.com"
    s2 = new_user(authd, edge, email2)  # login: ok
    app, _ = enable_with_app(edge, s2, email2, tmpdir_path)
    logout(edge, s2)
    login_pending(edge, s2, email2)  # login: second_factor_required
    r = verify(edge, s2, app.wrong())
    assert r.status_code == 401, (r.status_code, msg_error(r.text))
    r = verify(edge, s2, app.fresh())
    assert r.status_code == 303, (r.status_code, msg_error(r.text))
    # A user without: a wrong password, then the right one.
    email = "max@example.com"
    create_user(authd, email)
    r = password_login(edge, new_session(), email, "not the password at all")
    assert r.status_code == 401, r.status_code
    r = password_login(edge, new_session(), email)
    assert r.status_code == 303, r.status_code
    # Paths no route knows, and a secret in a path, never become label values.
    assert requests.get(edge.base + "/no/such/page-xyz").status_code == 404
    requests.get(edge.base + "/auth/signup/confirm/SECRETLINKTOKEN")

    fams = scrape(edge.base + "/metrics")
    assert value(fams, "edge_logins_total", outcome="failed") == 1
    assert value(fams, "edge_logins_total", outcome="ok") == 2
    assert value(fams, "edge_logins_total", outcome="second_factor_required") == 1
    assert value(fams, "edge_logins_total", outcome="locked") == 0
    assert value(fams, "edge_second_factor_total", outcome="failed") == 1
    assert value(fams, "edge_second_factor_total", outcome="ok") == 1
    assert value(fams, "edge_lockouts_total") == 0
    assert value(fams, "edge_webhook_failures_total") == 0
    assert value(fams, "edge_http_requests_total", route="/auth/login", method="POST",
                 status="401") == 1
    assert value(fams, "edge_http_requests_total", route="/auth/login", method="POST",
                 status="303") == 3
    assert value(fams, "edge_http_requests_total", route="/auth/two-factor/verify",
                 method="POST", status="401") == 1
    assert value(fams, "edge_http_requests_total", route="other", method="GET",
                 status="404") == 1
    assert value(fams, "edge_http_requests_total",
                 route="/auth/signup/confirm/{token}") == 1
    assert hist_count(fams, "edge_http_request_duration_seconds", route="/auth/login") >= 8
    labels = all_label_values(fams)
    assert not any("xyz" in v or "SECRETLINKTOKEN" in v or "@" in v for v in labels), labels
    assert fams["edge_logins"].type == "counter"
    assert fams["edge_http_request_duration_seconds"].type == "histogram"

    afams = scrape(f"http://127.0.0.1:{authd.metrics_port}/metrics")
    login = dict(service="authd.v1.Sessions", method="Login")
    assert value(afams, "authd_rpc_requests_total", code="OK", **login) == 3
    assert value(afams, "authd_rpc_requests_total", code="UNAUTHENTICATED", **login) == 1
    assert value(afams, "authd_rpc_requests_total", service="authd.v1.Sessions",
                 method="VerifySecondFactor", code="OK") == 1
    assert value(afams, "authd_rpc_requests_total", service="authd.v1.Sessions",
                 method="VerifySecondFactor") == 2
    assert hist_count(afams, "authd_rpc_duration_seconds", **login) == 4
    assert afams["authd_rpc_duration_seconds"].type == "histogram"
    # Storage: every operation timed; logins commit transactions.
    assert hist_count(afams, "authd_store_op_duration_seconds", op="txn_commit") > 0
    assert hist_count(afams, "authd_store_op_duration_seconds", op="get") > 0
    assert afams["authd_store_op_duration_seconds"].type == "histogram"
    # Audit events (authd/audit.c) land in the same registry.
    assert value(afams, "authd_audit_events_total", action="login", outcome="failure") >= 1
    assert value(afams, "authd_audit_events_total", action="login", outcome="success") >= 3
    assert afams["metrics_dropped_series"].type == "counter"
    assert value(afams, "metrics_dropped_series_total") == 0
    assert not any("@" in v for v in all_label_values(afams))


def test_authd_metrics_endpoint_paths_and_methods(authd_m):
    base = f"http://127.0.0.1:{authd_m.metrics_port}"
    assert requests.get(base + "/other").status_code == 404
    assert requests.get(base + "/metrics/x").status_code == 404
    r = requests.post(base + "/metrics", data="x=1")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"
    assert requests.head(base + "/metrics").status_code == 200
    # Scrapes on one keep-alive connection (MHD closes connections answered too early).
    with requests.Session() as s:
        for _ in range(3):
            r = s.get(base + "/metrics")
            assert r.status_code == 200 and r.headers.get("Connection", "").lower() != "close"
    assert "metrics_listening" in authd_m.log_text()


def test_edge_metrics_from_loopback_without_token(edge_m):
    # The suite reaches the edge over loopback: allowed without a token.
    # A request is counted when libmicrohttpd reports it complete, which in pool mode may come
    # just after the client read the answer: scrape until an earlier scrape shows (bounded),
    # and it never counts more scrapes than were made before it.
    scrape(edge_m.base + "/metrics")
    seen, before = 0, 1
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        fams = scrape(edge_m.base + "/metrics")
        seen = value(fams, "edge_http_requests_total", route="/metrics", method="GET",
                     status="200")
        assert seen <= before
        if seen >= 1:
            break
        before += 1
        time.sleep(0.01)
    assert seen >= 1
    r = requests.post(edge_m.base + "/metrics")
    assert r.status_code == 405
    # A request relayed by a proxy on this host comes from loopback too: one carrying a
    # forwarding header is refused (such headers can take access away, never give it).
    # nginx's default proxy_pass adds none of X-Forwarded-For/Forwarded/X-Real-IP, so any
    # header a proxy adds counts.
    for h in ({"X-Forwarded-For": "127.0.0.1"}, {"Forwarded": "for=127.0.0.1"},
              {"X-Real-IP": "127.0.0.1"}, {"X-Forwarded-Host": "auth.example.com"},
              {"x-forwarded-proto": "https"}, {"Via": "1.1 proxy"}):
        r = requests.get(edge_m.base + "/metrics", headers=h)
        assert r.status_code == 403, h
    assert "reason=forwarded" in edge_m.log_text()
    # A harmless lookalike header does not.
    assert requests.get(edge_m.base + "/metrics",
                        headers={"X-Forwarded": "no"}).status_code == 200


def test_edge_metrics_behind_a_proxy_need_the_token(tmpdir_path, authd):
    # With --trust-proxy every relayed request comes from the proxy (loopback here), so
    # loopback proves nothing: without a token /metrics is refused to everyone.
    e = Edge(tmpdir_path, authd, extra=["--trust-proxy"])
    try:
        assert requests.get(e.base + "/metrics").status_code == 403
        assert "reason=behind_proxy" in e.log_text()
    finally:
        e.stop()
    e = Edge(tmpdir_path, authd, extra=["--trust-proxy"], env={"EDGE_METRICS_TOKEN": TOKEN})
    try:
        r = requests.get(e.base + "/metrics", headers={"Authorization": "Bearer " + TOKEN})
        assert r.status_code == 200 and "# TYPE edge_lockouts_total counter" in r.text
    finally:
        e.stop()


def non_loopback_ipv4():
    """An IPv4 address of this machine that is not loopback, or None. (A UDP connect sends
    nothing: it only asks the routing table which source address it would use.)"""
    candidates = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.connect(("192.0.2.1", 9))
            candidates.append(u.getsockname()[0])
    except OSError:
        pass
    try:
        candidates += [ai[4][0] for ai in socket.getaddrinfo(socket.gethostname(), None,
                                                                socket.AF_INET)]
    except OSError:
        pass
    for addr in candidates:
        if not ipaddress.ip_address(addr).is_loopback:
            return addr
    return None


def test_edge_metrics_refused_to_a_non_loopback_peer_without_token(tmpdir_path, authd):
    addr = non_loopback_ipv4()
    if addr is None:
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    # Behind a trusted proxy X-Forwarded-For names the client in logs and throttles, but the
    # metrics check looks at the socket only.
    e = Edge(tmpdir_path, authd, listen=f"{addr}:0", extra=["--trust-proxy"])
    try:
        base = f"http://{addr}:{e.port}"
        # Connecting to our own non-loopback address makes that address the peer.
        assert requests.get(base + "/healthz").status_code == 200
        r = requests.get(base + "/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
        assert r.status_code == 403, r.status_code
        assert "reason=not_loopback" in e.log_text()
    finally:
        e.stop()


@pytest.mark.parametrize("how", ["env", "file"])
def test_edge_metrics_token(tmpdir_path, authd, how):
    if how == "env":
        e = Edge(tmpdir_path, authd, env={"EDGE_METRICS_TOKEN": TOKEN})
    else:
        path = os.path.join(tmpdir_path, "metrics.token")
        with open(path, "w") as f:
            f.write(TOKEN + "\n")
        e = Edge(tmpdir_path, authd, extra=["--metrics-token-file", path])
    try:
        url = e.base + "/metrics"
        r = requests.get(url)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
        for bad in ("Bearer " + TOKEN[:-1], "Bearer " + TOKEN + "x", "Bearer", "Basic " + TOKEN,
                    "bearer wrong-token-of-the-same-len"):
            r = requests.get(url, headers={"Authorization": bad})
            assert r.status_code == 401, bad
        fams = scrape(url, headers={"Authorization": "Bearer " + TOKEN})
        assert value(fams, "edge_http_requests_total", route="/metrics", status="401") == 6
        assert TOKEN not in e.log_text()
    finally:
        e.stop()


def test_edge_counts_mail_failures(tmpdir_path, authd):
    dead = free_port()  # nothing listens there
    e = Edge(tmpdir_path, authd, ["--mail-provider", "smtp", "--smtp-url",
                                   f"smtp://127.0.0.1:{dead}", "--smtp-starttls", "none"])
    try:
        s = new_session()
        page = s.get(e.base + "/auth/signup")
        r = s.post(e.base + "/auth/signup", data={"email": "hal@example.com",
                                                  "csrf": csrf_of(page.text)})
        assert "could not" in r.text.lower(), r.text[:500]
        fams = scrape(e.base + "/metrics")
        assert value(fams, "edge_mail_failures_total", kind="smtp") == 1
        assert fams["edge_mail_failures"].type == "counter"
    finally:
        e.stop()


def test_edge_refuses_a_short_metrics_token(tmpdir_path, authd):
    env = dict(os.environ, EDGE_METRICS_TOKEN="short")
    p = subprocess.run([EDGE, "--listen", "127.0.0.1:0", "--authd", authd.target], env=env,
                       capture_output=True, timeout=10)
    assert p.returncode != 0
    assert b"bad_metrics_token" in p.stderr
