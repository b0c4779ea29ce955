#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Server-side throughput of authd and authd-edge, driven by load generators nobody here wrote:
h2load (nghttp2-client) sends prebuilt gRPC request frames, wrk sends HTTP requests through the
edge. The figures measure the servers, not our clients. Starts its own authd (with a Prometheus
endpoint) and edge on loopback, temporary data directory, and always stops them.

Rows (each printed as it finishes):
  grpc_health       grpc.health.v1.Health/Check: the gRPC ceiling of this run
  grpc_token_cc     OAuth/Token, client_credentials
  grpc_introspect   OAuth/Introspect of a JWT access token
  grpc_login_many   Sessions/Login at the default Argon2id cost over L accounts (L h2load
                    processes, one account each, one call in flight each), judged against
                    cores / (time of one login on an idle server), measured in the same run
  edge_healthz      GET /healthz: the HTTP ceiling of this run
  edge_token_cc     POST /auth/token, client_credentials (HTTP Basic)
  edge_introspect   POST /auth/introspect of the same kind of JWT
  edge_jwks         GET /.well-known/jwks.json
  edge_discovery    GET /.well-known/openid-configuration

Each row: throughput at full load, p50/p99 at full load, p99 at half load (a second run at
about half the full-load rate: h2load --rps per connection; wrk with the same connections, each
waiting a fixed delay in whole ms between requests, computed from the full-load rate), the
ratio to its ceiling, and VmRSS of authd and of the edge at the end of the row. A gRPC row is
valid only when authd's own metrics (authd_rpc_requests_total by code) show no non-OK status
for that method beyond the calls h2load cut at the end of its run, and at least as many OK
answers as h2load counted; an HTTP row only when wrk saw no socket error and every answer was
200 with the expected body. Failures are printed (INVALID), never hidden.

  h2bench.py [--build DIR] [--seconds S] [--clients C] [--streams M] [--connections N]
             [--login-accounts L] [--edge-args "FLAGS"]
"""
import argparse
import base64
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLIENT, SECRET = "bench-svc", "bench-secret-0123456789abcdef0123"
PASSWORD = "bench-password-0123456789"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_file(path, proc, what):
    for _ in range(300):
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return int(open(path).read().strip())
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    sys.exit(f"h2bench: {what} did not start")


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    return sorted_vals[min(len(sorted_vals) - 1, int(len(sorted_vals) * p))]


def frame(msg):
    b = msg.SerializeToString()
    return b"\x00" + struct.pack(">I", len(b)) + b


class Metrics:
    """authd_rpc_requests_total{service,method,code} from authd's /metrics."""

    def __init__(self, port):
        self.url = f"http://127.0.0.1:{port}/metrics"

    def counts(self, service, method):
        import requests
        text = requests.get(self.url, timeout=10).text
        out = {}
        for line in text.splitlines():
            if not line.startswith("authd_rpc_requests_total{"):
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            if labels.get("service") == service and labels.get("method") == method:
                out[labels["code"]] = out.get(labels["code"], 0) + float(line.split()[-1])
        return out


# ---- h2load ------------------------------------------------------------------------------

def h2load(url, data_path, clients, streams, seconds, rps=None, log_path=None):
    """Starts one h2load run (one thread); h2load_result() collects it."""
    cmd = ["h2load", "-c", str(clients), "-m", str(streams), "-t", "1", "-D", str(seconds),
           "-H", "content-type: application/grpc", "-H", "te: trailers", "-d", data_path]
    if rps:
        cmd += ["--rps", f"{rps:.2f}"]
    if log_path:
        cmd += ["--log-file", log_path]
    cmd.append(url)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def h2load_result(p, log_path, seconds):
    out, _ = p.communicate(timeout=seconds + 60)
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    st = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    fin = re.search(r"finished in ([\d.]+)(m?s)", out)
    if not (m and st and fin):
        raise RuntimeError("h2load output not understood: " + out[-600:])
    elapsed = float(fin.group(1)) / (1000 if fin.group(2) == "ms" else 1)
    ok2xx = int(st.group(1))
    failed = int(m.group(5)) + int(m.group(6)) + int(m.group(7)) + sum(
        int(st.group(i)) for i in (2, 3, 4))
    lat = []
    with open(log_path) as f:
        for line in f:
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1] == "200":
                lat.append(int(parts[2]) / 1000)
    os.unlink(log_path)
    lat.sort()
    # -D ends the run with calls in flight: h2load resets them, and authd answers those whose
    # request had not fully arrived as if it were empty (an UNAUTHENTICATED Token, say). They
    # are counted here so that the grpc-status check can tell them from real failures.
    cut = int(m.group(2)) - int(m.group(3))
    return ok2xx, failed, elapsed, lat, cut


# ---- wrk ---------------------------------------------------------------------------------

LUA = r"""
wrk.method = [[%(method)s]]
%(headers)s
%(body)s
local delay_ms = %(delay)d
bad = 0
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, [[%(expect)s]], 1, true) then
    bad = bad + 1
  end
end
if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end
function done(summary, latency, requests)
  local total_bad = 0
  for _, t in ipairs(threads) do
    total_bad = total_bad + (t:get("bad") or 0)
  end
  io.write(string.format("BENCH bad=%%d p50_us=%%d p99_us=%%d\n", total_bad,
                         latency:percentile(50), latency:percentile(99)))
end
"""


def wrk(url, method, headers, body, expect, conns, seconds, delay_ms=0):
    hdr = "\n".join(f'wrk.headers["{k}"] = [[{v}]]' for k, v in headers.items())
    script = LUA % {"method": method, "headers": hdr,
                    "body": f"wrk.body = [[{body}]]" if body else "", "expect": expect,
                    "delay": delay_ms}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
        path = f.name
    try:
        p = subprocess.run(["wrk", "-t", "2", "-c", str(conns), "-d", f"{seconds}s",
                            "--timeout", "10s", "-s", path, url],
                           capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(path)
    out = p.stdout
    if p.returncode != 0:
        raise RuntimeError(f"wrk failed ({p.returncode}): {p.stderr.strip()} {out}")
    total = errors = bad = 0
    dur = float(seconds)
    p50 = p99 = float("nan")
    for line in out.splitlines():
        s = line.strip()
        if "requests in" in s:
            total = int(s.split()[0])
            d = s.split("requests in")[1].split(",")[0].strip()
            dur = float(d[:-2]) / 1000 if d.endswith("ms") else \
                float(d[:-1]) * (60 if d.endswith("m") else 1)
        elif s.startswith("Socket errors:"):
            errors += sum(int(x.split()[-1]) for x in s.split(":", 1)[1].split(","))
        elif s.startswith("BENCH"):
            kv = dict(x.split("=") for x in s.split()[1:])
            bad, p50, p99 = int(kv["bad"]), int(kv["p50_us"]) / 1000, int(kv["p99_us"]) / 1000
    return total - min(total, bad), bad + errors, dur, p50, p99


# ---- the table ---------------------------------------------------------------------------

class Table:
    def __init__(self, authd, edge):
        self.authd, self.edge = authd, edge
        self.rows = []
        print(f"{'row':<17} {'per_s':>8} {'p50_ms':>7} {'p99_ms':>7} {'half_per_s':>10} "
              f"{'half_p99':>8} {'ratio':>6} {'authd_MiB':>9} {'edge_MiB':>8}  notes", flush=True)

    def row(self, name, per_s, p50, p99, half_per_s, half_p99, ceiling, note):
        ratio = per_s / ceiling if ceiling > 0 else float("nan")
        a, e = rss_mib(self.authd.pid), rss_mib(self.edge.pid)
        print(f"{name:<17} {per_s:>8.0f} {p50:>7.2f} {p99:>7.2f} {half_per_s:>10.0f} "
              f"{half_p99:>8.2f} {ratio:>6.2f} {a:>9.1f} {e:>8.1f}  {note}", flush=True)


def grpc_row(t, a, tmp, metrics, name, port, path, data, ceiling):
    """Full load, then about half of its rate; ceiling None: this row is the ceiling.
    Returns the full-load rate."""
    service, method = path.strip("/").rsplit("/", 1)
    fpath = os.path.join(tmp, name + ".bin")
    with open(fpath, "wb") as f:
        f.write(data)
    url = f"http://127.0.0.1:{port}{path}"
    before = metrics.counts(service, method)
    log = os.path.join(tmp, name + ".log")
    ok, failed, el, lat, cut = h2load_result(
        h2load(url, fpath, a.clients, a.streams, a.seconds, log_path=log), log, a.seconds)
    rate = ok / el if el else 0
    log2 = log + ".half"
    rps = max(1.0, rate / 2 / a.clients)
    ok2, failed2, el2, lat2, cut2 = h2load_result(
        h2load(url, fpath, a.clients, a.streams, a.seconds, rps=rps, log_path=log2), log2,
        a.seconds)
    cut += cut2
    after = metrics.counts(service, method)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}
    not_ok = {k: int(v) for k, v in delta.items() if k != "OK" and v}
    valid = sum(not_ok.values()) <= cut and failed == 0 and failed2 == 0 and \
        delta.get("OK", 0) >= ok + ok2
    note = (f"h2load -c{a.clients} -m{a.streams}; half: --rps {rps:.0f}/conn; "
            f"grpc OK {int(delta.get('OK', 0))}, non-OK {sum(not_ok.values())} of {cut} "
            "cut at the end")
    if not valid:
        note += f" INVALID: h2load failed {failed}+{failed2}, grpc non-OK {not_ok}"
    t.row(name, rate, pct(lat, .5), pct(lat, .99), ok2 / el2 if el2 else 0, pct(lat2, .99),
          rate if ceiling is None else ceiling, note)
    return rate  # a ceiling row marked INVALID still divides the others: its note says why


def login_row(t, a, tmp, metrics, port, frames):
    """Login over many accounts: one h2load process per account (h2load sends one body)."""
    url = f"http://127.0.0.1:{port}/authd.v1.Sessions/Login"
    paths = []
    for i, data in enumerate(frames):
        paths.append(os.path.join(tmp, f"login{i}.bin"))
        with open(paths[-1], "wb") as f:
            f.write(data)
    before = metrics.counts("authd.v1.Sessions", "Login")
    # One login at a time on an idle server: the time of one hash (plus one RPC), same run.
    log = os.path.join(tmp, "login1.log")
    ok1, f1, el1, lat1, cut = h2load_result(
        h2load(url, paths[0], 1, 1, a.seconds, log_path=log), log, a.seconds)
    one = pct(lat1, .5)
    cores = os.cpu_count() or 1
    ceiling = cores * 1000 / one if one == one and one > 0 else 0

    def many(rps):
        procs = []
        for i, pth in enumerate(paths):
            lg = os.path.join(tmp, f"loginmany{i}.log")
            procs.append((h2load(url, pth, 1, 1, a.seconds, rps=rps, log_path=lg), lg))
        ok = failed = cut = 0
        el = 0.0
        lat = []
        for p, lg in procs:
            o, fl, e, la, c = h2load_result(p, lg, a.seconds)
            ok, failed, el, lat, cut = ok + o, failed + fl, max(el, e), lat + la, cut + c
        lat.sort()
        return ok, failed, el, lat, cut

    ok, failed, el, lat, c = many(None)
    cut += c
    rate = ok / el if el else 0
    rps = max(0.1, rate / 2 / len(paths))
    ok2, failed2, el2, lat2, c = many(rps)
    cut += c
    after = metrics.counts("authd.v1.Sessions", "Login")
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}
    not_ok = {k: int(v) for k, v in delta.items() if k != "OK" and v}
    valid = sum(not_ok.values()) <= cut and not (failed or failed2 or f1) and \
        delta.get("OK", 0) >= ok + ok2 + ok1
    note = (f"{len(paths)} accounts x 1 in flight; one login idle p50 {one:.1f} ms -> "
            f"ceiling {cores} cores / that = {ceiling:.0f}/s; half: --rps {rps:.1f}/account; "
            f"grpc non-OK {sum(not_ok.values())} of {cut} cut at the end")
    if not valid:
        note += f" INVALID: h2load failed {f1}+{failed}+{failed2}, grpc non-OK {not_ok}"
    t.row("grpc_login_many", rate, pct(lat, .5), pct(lat, .99), ok2 / el2 if el2 else 0,
          pct(lat2, .99), ceiling, note)


def http_row(t, a, name, url, method, headers, body, expect, ceiling):
    ok, failed, dur, p50, p99 = wrk(url, method, headers, body, expect, a.connections, a.seconds)
    rate = ok / dur if dur else 0
    half_conns = a.connections
    # wrk waits delay() ms after each answer before the next request on that connection: at
    # most connections x 1000 / delay requests/s, aimed at half the full-load rate (whole ms).
    delay = max(1, int(round(half_conns * 1000 / max(rate / 2, 1))))
    ok2, failed2, dur2, _, p99h = wrk(url, method, headers, body, expect, half_conns, a.seconds,
                                      delay)
    note = f"wrk -t2 -c{a.connections}; half: -c{half_conns}, {delay} ms between requests"
    if failed or failed2:
        note += f" INVALID: failed {failed}+{failed2} (non-200, wrong body or socket errors)"
    t.row(name, rate, p50, p99, ok2 / dur2 if dur2 else 0, p99h,
          rate if ceiling is None else ceiling, note)
    return rate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("AUTHD_BUILD_DIR",
                                                      os.path.join(REPO, "build")))
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--streams", type=int, default=32)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--login-accounts", type=int, default=8)
    ap.add_argument("--edge-args", default="",
                    help="more authd-edge flags, one string (\"--jwks-max-age-ms 1000\")")
    a = ap.parse_args()
    if not (1 <= a.seconds <= 60 and 1 <= a.clients <= 64 and 1 <= a.streams <= 256
            and 1 <= a.connections <= 1024 and 1 <= a.login_accounts <= 64):
        sys.exit("h2bench: --seconds 1..60, --clients 1..64, --streams 1..256, "
                 "--connections 1..1024, --login-accounts 1..64")
    for tool in ("h2load", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"h2bench: {tool} is not installed (scripts/install-deps.sh)")
    sys.path.insert(0, os.path.join(a.build, "python"))
    import grpc
    import requests
    from authd.v1 import oauth_pb2, sessions_pb2, users_pb2

    tmp = tempfile.mkdtemp(prefix="h2bench.")
    procs = []
    try:
        eport = free_port()
        authd = subprocess.Popen(
            [os.path.join(a.build, "authd", "authd"), "--listen", "127.0.0.1:0", "--data-dir",
             os.path.join(tmp, "data"), "--port-file", os.path.join(tmp, "authd.port"),
             "--metrics-listen", "127.0.0.1:0", "--metrics-port-file",
             os.path.join(tmp, "metrics.port"), "--issuer", f"http://127.0.0.1:{eport}",
             "--log-level", "warn"],
            stdout=open(os.path.join(tmp, "authd.log"), "w"), stderr=subprocess.STDOUT)
        procs.append(authd)
        port = wait_file(os.path.join(tmp, "authd.port"), authd, "authd")
        metrics = Metrics(wait_file(os.path.join(tmp, "metrics.port"), authd, "authd metrics"))
        edge = subprocess.Popen(
            [os.path.join(a.build, "edge", "authd-edge"), "--listen", f"127.0.0.1:{eport}",
             "--authd", f"127.0.0.1:{port}", "--port-file", os.path.join(tmp, "edge.port"),
             "--log-level", "warn", "--per-ip-limit", "0"] + shlex.split(a.edge_args),
            stdout=open(os.path.join(tmp, "edge.log"), "w"), stderr=subprocess.STDOUT)
        procs.append(edge)
        wait_file(os.path.join(tmp, "edge.port"), edge, "authd-edge")

        ch = grpc.insecure_channel(f"127.0.0.1:{port}")

        def call(path, req, resp):
            return ch.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=resp.FromString)(req, timeout=60)

        call("/authd.v1.ClientAdmin/Put", oauth_pb2.Client(
            id=CLIENT, secret=SECRET, first_party=True, grant_types=["client_credentials"]),
            oauth_pb2.ClientResponse)
        token_req = oauth_pb2.OAuthTokenRequest(grant_type="client_credentials",
                                                client_id=CLIENT, client_secret=SECRET)
        token = call("/authd.v1.OAuth/Token", token_req,
                     oauth_pb2.OAuthTokenResponse).access_token
        intro_req = oauth_pb2.IntrospectRequest(token=token, client_id=CLIENT,
                                                client_secret=SECRET)
        if not call("/authd.v1.OAuth/Introspect", intro_req,
                    oauth_pb2.IntrospectResponse).active:
            sys.exit("h2bench: the bench token is not active")
        logins = []
        for i in range(a.login_accounts):
            email = f"bench{i}@example.org"
            call("/authd.v1.Users/Create", users_pb2.CreateUserRequest(
                email=email, password=PASSWORD, email_verified=True), users_pb2.UserResponse)
            req = sessions_pb2.LoginRequest(email=email, password=PASSWORD)
            call("/authd.v1.Sessions/Login", req, sessions_pb2.SessionResponse)
            logins.append(frame(req))
        ch.close()

        edge_url = f"http://127.0.0.1:{eport}"
        basic = "Basic " + base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()
        r = requests.post(edge_url + "/auth/introspect", data={"token": token},
                          headers={"Authorization": basic}, timeout=30)
        if r.status_code != 200 or not r.json().get("active"):
            sys.exit(f"h2bench: introspection through the edge answered {r.status_code}")

        print(f"== authd and the edge under h2load / wrk ({os.cpu_count()} cores, load average "
              f"{' '.join(open('/proc/loadavg').read().split()[:3])}, {a.seconds} s per run)",
              flush=True)
        t = Table(authd, edge)
        ceil = grpc_row(t, a, tmp, metrics, "grpc_health", port, "/grpc.health.v1.Health/Check",
                        b"\x00\x00\x00\x00\x00", None)  # an empty HealthCheckRequest
        grpc_row(t, a, tmp, metrics, "grpc_token_cc", port, "/authd.v1.OAuth/Token",
                 frame(token_req), ceil)
        grpc_row(t, a, tmp, metrics, "grpc_introspect", port, "/authd.v1.OAuth/Introspect",
                 frame(intro_req), ceil)
        login_row(t, a, tmp, metrics, port, logins)
        print("grpc_totp_verify  not driven by h2load: each verification consumes its own pending "
              "session, so no fixed frame can repeat it; see bench_totp's figure", flush=True)
        form = {"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"}
        hceil = http_row(t, a, "edge_healthz", edge_url + "/healthz", "GET", {}, "", "", None)
        http_row(t, a, "edge_token_cc", edge_url + "/auth/token", "POST", form,
                 "grant_type=client_credentials", '"access_token"', hceil)
        http_row(t, a, "edge_introspect", edge_url + "/auth/introspect", "POST", form,
                 "token=" + token, '"active":true', hceil)
        http_row(t, a, "edge_jwks", edge_url + "/.well-known/jwks.json", "GET", {}, "",
                 '"keys"', hceil)
        http_row(t, a, "edge_discovery", edge_url + "/.well-known/openid-configuration", "GET",
                 {}, "", '"issuer"', hceil)
    finally:
        for name in ("authd.log", "edge.log"):
            try:
                lines = open(os.path.join(tmp, name)).read().splitlines()
            except OSError:
                continue
            if lines:  # warnings and errors only (--log-level warn): say why a row failed
                print(f"-- last lines of {name} ({len(lines)} in all)", file=sys.stderr)
                for line in lines[-15:]:
                    print(line, file=sys.stderr)
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
