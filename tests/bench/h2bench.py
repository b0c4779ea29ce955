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
  grpc_totp_verify  Sessions/VerifySecondFactor, each a different user (the durable replay
                    check): bench_totp (our C client; no fixed frame can repeat a one-time
                    verification) against a second authd with a cheap Argon2 cost so that
                    enrolling the users is quick; half load when bench_totp paces (BENCH_RATE)
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

At the end the whole table of issue 13 is printed in markdown (and written to --out): every
row with its target and whether this run met it, evaluated here from the same run's figures
(edge token / gRPC Token >= 0.8, Token >= 20k/s, TOTP >= 10k/s, login >= 0.9 x cores / one
hash, p99 at half load < 5 ms for every row but login, no 503 from JWKS and discovery, RSS of
authd <= 64 MiB + block cache + hash threads x Argon2 memory (read from authd's metrics and
flags) and of the edge <= 32 MiB). A row that is INVALID never counts as met.

  h2bench.py [--build DIR] [--seconds S] [--clients C] [--streams M] [--connections N]
             [--login-accounts L] [--totp-users U] [--edge-args "FLAGS"] [--out FILE]
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
CHEAP_ARGON2 = ["--argon2-memory", "1024", "--argon2-iterations", "1"]
# storage/store.c: the RocksDB block cache when nothing says otherwise (MiB).
STORE_DEFAULT_CACHE_MB = 64
# Issue 13's bounds and targets.
AUTHD_BASE_MIB, EDGE_MAX_MIB = 64, 32
HALF_P99_MS = 5.0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_file(path, proc, what):
    for _ in range(600):
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


def loadavg():
    return " ".join(open("/proc/loadavg").read().split()[:3])


class Metrics:
    """authd_rpc_requests_total{service,method,code} and gauges from authd's /metrics."""

    def __init__(self, port):
        self.url = f"http://127.0.0.1:{port}/metrics"

    def text(self):
        import requests
        return requests.get(self.url, timeout=10).text

    def counts(self, service, method):
        out = {}
        for line in self.text().splitlines():
            if not line.startswith("authd_rpc_requests_total{"):
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            if labels.get("service") == service and labels.get("method") == method:
                out[labels["code"]] = out.get(labels["code"], 0) + float(line.split()[-1])
        return out

    def gauge(self, pattern):
        """The first sample whose name matches the regular expression, or None."""
        for line in self.text().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name = re.split(r"[{ ]", line, 1)[0]
            if re.search(pattern, name):
                try:
                    return float(line.split()[-1])
                except ValueError:
                    return None
        return None


def help_defaults(binary):
    """{option: default} from a program's --help (common/opts prints "default X)")."""
    p = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    opts, cur = {}, None
    for line in (p.stdout + p.stderr).splitlines():
        m = re.match(r" {1,4}--([\w-]+)", line)  # not a wrapped description line
        if m:
            cur = m.group(1)
            opts.setdefault(cur, None)
        d = re.search(r"default ([^);]+)\)", line)
        if d and cur:
            opts[cur] = d.group(1).strip()
    return opts


def flag_value(args, name, defaults):
    """--name V or --name=V among args, else the program's default (a string or None)."""
    for i, x in enumerate(args):
        if x == "--" + name and i + 1 < len(args):
            return args[i + 1]
        if x.startswith(f"--{name}="):
            return x.split("=", 1)[1]
    return defaults.get(name)


def authd_rss_bound(binary, args, metrics):
    """Issue 13's bound on authd's RSS, in MiB, and how it was read: 64 MiB + the RocksDB
    block cache + hash threads x Argon2 memory. The hash threads come from authd's gauge
    authd_password_hash_threads; the block cache from a block-cache metric or flag when authd
    has one, else storage/store.c's default; the Argon2 memory from --argon2-memory."""
    defaults = help_defaults(binary)
    argon_kib = float(flag_value(args, "argon2-memory", defaults) or 19456)
    threads = metrics.gauge(r"^authd_password_hash_threads$")
    tsrc = "metric authd_password_hash_threads"
    if threads is None:
        threads = float(flag_value(args, "hash-threads", defaults) or 0) or (os.cpu_count() or 1)
        tsrc = "--hash-threads"
    cache = metrics.gauge(r"block_cache.*(capacity|bytes)")
    csrc = "metric"
    if cache is not None:
        cache /= 1 << 20
    else:
        flag = next((k for k in defaults if "cache" in k and
                     re.search(r"block|rocksdb|store|db", k)), None)
        v = flag_value(args, flag, defaults) if flag else None
        if v is not None and re.fullmatch(r"\d+", v):
            cache = float(v) if int(v) < (1 << 20) else int(v) / (1 << 20)  # MiB or bytes
            csrc = f"--{flag}"
        else:
            cache, csrc = float(STORE_DEFAULT_CACHE_MB), "storage/store.c default"
    bound = AUTHD_BASE_MIB + cache + threads * argon_kib / 1024
    how = (f"{AUTHD_BASE_MIB} + block cache {cache:.0f} ({csrc}) + {threads:.0f} hash threads "
           f"({tsrc}) x Argon2 {argon_kib / 1024:.0f} MiB = {bound:.0f} MiB")
    return bound, how


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
    if log_path:
        with open(log_path) as f:
            for line in f:
                parts = line.split("\t")
                if len(parts) >= 3 and parts[1] == "200":
                    lat.append(int(parts[2]) / 1000)
        os.unlink(log_path)
    lat.sort()
    # -D ends the run with calls in flight: h2load resets them, and authd answers those whose
    # request had not fully arrived with an error. They are counted here so that the
    # grpc-status check can tell them from real failures.
    cut = int(m.group(2)) - int(m.group(3))
    return ok2xx, failed, elapsed, lat, cut


# ---- wrk ---------------------------------------------------------------------------------

LUA = r"""
wrk.method = [[%(method)s]]
%(headers)s
%(body)s
local delay_ms = %(delay)d
bad = 0
s503 = 0
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, [[%(expect)s]], 1, true) then
    bad = bad + 1
  end
  if status == 503 then
    s503 = s503 + 1
  end
end
if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end
function done(summary, latency, requests)
  local total_bad, total_503 = 0, 0
  for _, t in ipairs(threads) do
    total_bad = total_bad + (t:get("bad") or 0)
    total_503 = total_503 + (t:get("s503") or 0)
  end
  io.write(string.format("BENCH bad=%%d s503=%%d p50_us=%%d p99_us=%%d\n", total_bad, total_503,
                         latency:percentile(50), latency:percentile(99)))
end
"""


def wrk_script(method, headers, body, expect, delay_ms=0):
    hdr = "\n".join(f'wrk.headers["{k}"] = [[{v}]]' for k, v in headers.items())
    return LUA % {"method": method, "headers": hdr,
                  "body": f"wrk.body = [[{body}]]" if body else "", "expect": expect,
                  "delay": delay_ms}


def wrk(url, method, headers, body, expect, conns, seconds, delay_ms=0):
    """Returns (good answers, bad answers + socket errors, seconds, p50 ms, p99 ms, 503s)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(wrk_script(method, headers, body, expect, delay_ms))
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
    total = errors = bad = s503 = 0
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
            s503 = int(kv["s503"])
    return total - min(total, bad), bad + errors, dur, p50, p99, s503


# ---- the table ---------------------------------------------------------------------------

LABELS = {
    "grpc_health": "gRPC Health/Check (ceiling)",
    "grpc_token_cc": "gRPC Token, client_credentials",
    "grpc_introspect": "gRPC Introspect (JWT access token)",
    "grpc_login_many": "gRPC Login over many accounts (Argon2id default)",
    "grpc_totp_verify": "gRPC TOTP verification, durable replay check (bench_totp)",
    "edge_healthz": "edge `/healthz` (ceiling)",
    "edge_token_cc": "edge `/auth/token`, client_credentials",
    "edge_introspect": "edge `/auth/introspect` (JWT)",
    "edge_jwks": "edge `/.well-known/jwks.json`",
    "edge_discovery": "edge `/.well-known/openid-configuration`",
}


class Table:
    def __init__(self, authd, edge, authd_bound):
        self.authd, self.edge = authd, edge
        self.authd_bound = authd_bound  # (MiB, how it was read) for the main authd
        self.rows = []
        print(f"{'row':<17} {'per_s':>8} {'p50_ms':>7} {'p99_ms':>7} {'half_per_s':>10} "
              f"{'half_p99':>8} {'ratio':>6} {'authd_MiB':>9} {'edge_MiB':>8}  notes", flush=True)

    def row(self, name, per_s, p50, p99, half_per_s, half_p99, ceiling, note, valid=True,
            s503=0, authd_pid=None, bound=None):
        ratio = per_s / ceiling if ceiling > 0 else float("nan")
        a = rss_mib(authd_pid or self.authd.pid)
        e = rss_mib(self.edge.pid)
        print(f"{name:<17} {per_s:>8.0f} {p50:>7.2f} {p99:>7.2f} {half_per_s:>10.0f} "
              f"{half_p99:>8.2f} {ratio:>6.2f} {a:>9.1f} {e:>8.1f}  {note}", flush=True)
        self.rows.append(dict(name=name, per_s=per_s, p50=p50, p99=p99, half_per_s=half_per_s,
                              half_p99=half_p99, ratio=ratio, ceiling=ceiling, authd_mib=a,
                              edge_mib=e, valid=valid, s503=s503, note=note,
                              bound=bound or self.authd_bound))


def fmt(v, digits=0):
    if v != v:  # NaN: not measured
        return "—"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}" if v < 100 else f"{v:,.0f}"


def evaluate(row, by_name):
    """[(target, measured, True/False/None)] for one row: issue 13's targets, this run's
    figures (None: not measured)."""
    n, checks = row["name"], []

    def same_run(other, label):
        o = by_name.get(other)
        if o is None or not o["per_s"]:
            return (f"≥ 0.8 × {label} (same run)", "not measured", None)
        v = row["per_s"] / o["per_s"]
        return (f"≥ 0.8 × {label} (same run)", f"{v:.2f} of it", v >= 0.8)

    if n == "grpc_token_cc":
        checks.append(("≥ 20k/s", f"{row['per_s']:,.0f}/s", row["per_s"] >= 20000))
    elif n == "grpc_introspect":
        checks.append(("≥ 0.8 × Health/Check (≥ 40k/s)", f"{row['ratio']:.2f}",
                       row["ratio"] >= 0.8))
    elif n == "grpc_totp_verify":
        checks.append(("≥ 10k/s", f"{row['per_s']:,.0f}/s", row["per_s"] >= 10000))
    elif n == "grpc_login_many":
        checks.append((f"≥ 0.9 × cores ÷ one hash ({row['ceiling']:.0f}/s)",
                       f"{row['ratio']:.2f}", row["ratio"] >= 0.9))
    elif n == "edge_token_cc":
        checks.append(same_run("grpc_token_cc", "gRPC Token"))
    elif n == "edge_introspect":
        checks.append(same_run("grpc_introspect", "gRPC Introspect"))
    elif n in ("edge_jwks", "edge_discovery"):
        checks.append(("≥ 0.8 × `/healthz`", f"{row['ratio']:.2f}", row["ratio"] >= 0.8))
        checks.append(("no 503", f"{row['s503']} × 503", row["s503"] == 0))
    if n != "grpc_login_many":
        h = row["half_p99"]
        checks.append(("half-load p99 < 5 ms", "half-load p99 not measured" if h != h else
                       f"half-load p99 {h:.1f} ms", None if h != h else h < HALF_P99_MS))
    bound = row["bound"][0]
    checks.append((None, f"authd {row['authd_mib']:.0f} MiB > {bound:.0f}",
                   row["authd_mib"] <= bound))
    checks.append((None, f"edge {row['edge_mib']:.0f} MiB > {EDGE_MAX_MIB}",
                   row["edge_mib"] <= EDGE_MAX_MIB))
    return checks


def verdict(valid, checks):
    failed = [m for _, m, ok in checks if ok is False]
    unknown = [m for _, m, ok in checks if ok is None]
    if not valid:
        return "**INVALID**"
    if failed:
        return "not met: " + "; ".join(failed)
    if unknown:
        return "not measured: " + "; ".join(unknown)
    return "met"


def markdown(t, a, started, commit):
    """Issue 13's table from this run: every row, its targets and whether each was met."""
    by_name = {r["name"]: r for r in t.rows}
    lines = [
        f"Run of {started} UTC, commit {commit}, {os.cpu_count()} cores, load average "
        f"{t.load_start} at the start and {loadavg()} at the end; {a.seconds} s per run "
        f"(h2load -c{a.clients} -m{a.streams}, wrk -t2 -c{a.connections}); the edge "
        + (f"with `{a.edge_args}`." if a.edge_args.strip() else "in its default mode."),
        "",
        "| row | per s | p50 ms | p99 ms | half: per s | half: p99 ms | ratio | authd RSS MiB "
        "| edge RSS MiB | target | met (this run) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    met = total = 0
    half_bad, half_unknown = [], []
    for r in t.rows:
        checks = evaluate(r, by_name)
        v = verdict(r["valid"], checks)
        if r["name"] not in ("grpc_health", "edge_healthz"):
            total += 1
            met += v == "met"
        h = r["half_p99"]
        if r["name"] != "grpc_login_many" and h != h:
            half_unknown.append(r["name"])
        elif r["name"] != "grpc_login_many" and not h < HALF_P99_MS:
            half_bad.append(f"{r['name']} {fmt(h, 1)}")
        target = "; ".join(c for c, _, _ in checks if c) or "—"
        if r["name"] in ("grpc_health", "edge_healthz"):
            target = "ceiling; " + target
        lines.append(
            f"| {LABELS.get(r['name'], r['name'])} | {fmt(r['per_s'])} | {fmt(r['p50'], 2)} | "
            f"{fmt(r['p99'], 2)} | {fmt(r['half_per_s'])} | {fmt(r['half_p99'], 2)} | "
            f"{fmt(r['ratio'], 2)} | {fmt(r['authd_mib'], 1)} | {fmt(r['edge_mib'], 1)} | "
            f"{target} | {v} |")
    main_rows = [r for r in t.rows if r["bound"] is t.authd_bound]
    amax = max((r["authd_mib"] for r in main_rows), default=float("nan"))
    emax = max((r["edge_mib"] for r in t.rows), default=float("nan"))
    rss_ok = amax <= t.authd_bound[0] and emax <= EDGE_MAX_MIB
    half = "; ".join(([f"not met: {', '.join(half_bad)} ms"] if half_bad else []) +
                     ([f"not measured: {', '.join(half_unknown)}"] if half_unknown else [])) \
        or "met"
    lines.append(f"| p99 at half load, every row but login | | | | | | | | | < 5 ms | {half} |")
    lines.append(f"| RSS, the largest at the end of a row | | | | | | | {fmt(amax, 1)} | "
                 f"{fmt(emax, 1)} | authd ≤ {t.authd_bound[0]:.0f} MiB; edge ≤ {EDGE_MAX_MIB} "
                 f"MiB | {'met' if rss_ok else 'not met'} |")
    lines += [
        "",
        f"Rows meeting every target: {met} of {total} (the two ceilings not counted; every row "
        "is also held to the RSS bounds). Ratio: gRPC rows ÷ Health/Check, HTTP rows ÷ "
        "`/healthz`, login ÷ (cores ÷ one idle login), all of this run. authd's RSS bound: "
        f"{t.authd_bound[1]}.",
    ]
    totp = by_name.get("grpc_totp_verify")
    if totp is not None:
        lines.append(f"The TOTP row's authd is its own (cheap Argon2 for enrolling); its bound: "
                     f"{totp['bound'][1]}.")
    lines += ["", "Notes per row:", ""]
    for r in t.rows:
        lines.append(f"- {r['name']}: {r['note']}")
    return "\n".join(lines) + "\n"


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
          rate if ceiling is None else ceiling, note, valid)
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
          pct(lat2, .99), ceiling, note, valid)


def start_authd(a, tmp, name, extra, issuer=None):
    """An authd on a free loopback port with metrics; returns (proc, grpc port, Metrics)."""
    cmd = [os.path.join(a.build, "authd", "authd"), "--listen", "127.0.0.1:0", "--data-dir",
           os.path.join(tmp, name + ".data"), "--port-file", os.path.join(tmp, name + ".port"),
           "--metrics-listen", "127.0.0.1:0", "--metrics-port-file",
           os.path.join(tmp, name + ".metrics"), "--log-level", "warn"] + extra
    if issuer:
        cmd += ["--issuer", issuer]
    p = subprocess.Popen(cmd, stdout=open(os.path.join(tmp, name + ".log"), "w"),
                         stderr=subprocess.STDOUT)
    a.procs.append(p)
    port = wait_file(os.path.join(tmp, name + ".port"), p, name)
    metrics = Metrics(wait_file(os.path.join(tmp, name + ".metrics"), p, name + " metrics"))
    return p, port, metrics, cmd[1:]


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def bench_totp(a, port, users, rate=None):
    """One bench_totp run (setup, then one verification pass); returns its parsed fields."""
    env = dict(os.environ)
    env.pop("BENCH_STEP", None)
    if rate:
        env["BENCH_RATE"] = f"{rate:.0f}"
    cmd = [os.path.join(a.build, "tests", "bench", "bench_totp"), f"127.0.0.1:{port}",
           str(users), str(a.totp_in_flight), str(max(1, a.seconds * 4))]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    line = next((x for x in p.stdout.splitlines() if x.startswith("totp_verify_rpc")), None)
    if line is None:
        raise RuntimeError(f"bench_totp failed ({p.returncode}): {p.stdout[-400:]} "
                           f"{p.stderr[-400:]}")
    kv = dict(re.findall(r"(\w+)=([\d.]+)", line))

    def ms(key):
        for k, v in kv.items():
            if k.startswith(key):
                return float(v) / (1000 if k.endswith("_us") else 1)
        return float("nan")

    return dict(per_s=float(kv.get("verifications_per_s", 0)), ok=int(kv.get("verified", 0)),
                failed=int(kv.get("failed", 0)), p50=ms("p50"), p99=ms("p99"),
                paced="rate_per_s" in kv or "BENCH_RATE" in line, line=line.strip())


def totp_row(t, a, tmp, ceiling):
    """TOTP verification, each a synced transaction on a different user, by bench_totp against
    an authd of its own (cheap Argon2 so that enrolling is quick; the verification itself does
    no hash). Half load only when bench_totp paces its verifications (BENCH_RATE)."""
    p, port, metrics, args = start_authd(a, tmp, "totp", CHEAP_ARGON2)
    try:
        bound = authd_rss_bound(os.path.join(a.build, "authd", "authd"), args, metrics)
        full = bench_totp(a, port, a.totp_users)
        half_users = max(100, min(a.totp_users, int(full["per_s"] / 2 * a.seconds)))
        half = dict(failed=0, paced=False)
        with open(os.path.join(a.build, "tests", "bench", "bench_totp"), "rb") as f:
            paces = b"BENCH_RATE" in f.read()
        if paces:
            # bench_totp names its users after the second they are created in: a new second
            # keeps the second run's names apart from the first's on the same authd.
            time.sleep(1.1)
            half = bench_totp(a, port, half_users, rate=full["per_s"] / 2)
        if not half["paced"]:
            half_per_s, half_p99 = float("nan"), float("nan")
            hnote = "half load not measured: this bench_totp has no BENCH_RATE pacing"
        else:
            half_per_s, half_p99 = half["per_s"], half["p99"]
            hnote = f"half: BENCH_RATE={full['per_s'] / 2:.0f}, {half_users} users"
        valid = full["failed"] == 0 and half["failed"] == 0 and full["ok"] > 0
        note = (f"bench_totp {a.totp_users} users x 1 verification, {a.totp_in_flight} in "
                f"flight: `{full['line']}`; {hnote}")
        if not valid:
            note += f" INVALID: failed {full['failed']}+{half['failed']}"
        t.row("grpc_totp_verify", full["per_s"], full["p50"], full["p99"], half_per_s,
              half_p99, ceiling, note, valid, authd_pid=p.pid, bound=bound)
    finally:
        stop(p)


def http_row(t, a, name, url, method, headers, body, expect, ceiling):
    ok, failed, dur, p50, p99, s503 = wrk(url, method, headers, body, expect, a.connections,
                                          a.seconds)
    rate = ok / dur if dur else 0
    half_conns = a.connections
    # wrk waits delay() ms after each answer before the next request on that connection: at
    # most connections x 1000 / delay requests/s, aimed at half the full-load rate (whole ms).
    delay = max(1, int(round(half_conns * 1000 / max(rate / 2, 1))))
    ok2, failed2, dur2, _, p99h, s503h = wrk(url, method, headers, body, expect, half_conns,
                                             a.seconds, delay)
    note = f"wrk -t2 -c{a.connections}; half: -c{half_conns}, {delay} ms between requests"
    if s503 or s503h:
        note += f"; 503 answers {s503}+{s503h}"
    valid = not (failed or failed2)
    if not valid:
        note += f" INVALID: failed {failed}+{failed2} (non-200, wrong body or socket errors)"
    t.row(name, rate, p50, p99, ok2 / dur2 if dur2 else 0, p99h,
          rate if ceiling is None else ceiling, note, valid, s503=s503 + s503h)
    return rate


def setup_servers(a, tmp):
    """authd (default Argon2, metrics, --issuer the edge) and the edge, with a client, a JWT,
    and login accounts; returns everything the rows need."""
    import grpc
    import requests
    from authd.v1 import oauth_pb2, sessions_pb2, users_pb2

    eport = free_port()
    authd, port, metrics, args = start_authd(a, tmp, "authd", [],
                                             issuer=f"http://127.0.0.1:{eport}")
    edge = subprocess.Popen(
        [os.path.join(a.build, "edge", "authd-edge"), "--listen", f"127.0.0.1:{eport}",
         "--authd", f"127.0.0.1:{port}", "--port-file", os.path.join(tmp, "edge.port"),
         "--log-level", "warn", "--per-ip-limit", "0"] + shlex.split(a.edge_args),
        stdout=open(os.path.join(tmp, "edge.log"), "w"), stderr=subprocess.STDOUT)
    a.procs.append(edge)
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
    token = call("/authd.v1.OAuth/Token", token_req, oauth_pb2.OAuthTokenResponse).access_token
    intro_req = oauth_pb2.IntrospectRequest(token=token, client_id=CLIENT, client_secret=SECRET)
    if not call("/authd.v1.OAuth/Introspect", intro_req, oauth_pb2.IntrospectResponse).active:
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
    form = {"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"}
    return dict(authd=authd, port=port, metrics=metrics, args=args, edge=edge,
                edge_url=edge_url, token=token, token_frame=frame(token_req),
                intro_frame=frame(intro_req), logins=logins, form=form)


# The HTTP rows: name, path, method, form body (None: GET), expected piece of the body.
HTTP_ROWS = [
    ("edge_token_cc", "/auth/token", "POST", "grant_type=client_credentials",
     '"access_token"'),
    ("edge_introspect", "/auth/introspect", "POST", "token={token}", '"active":true'),
    ("edge_jwks", "/.well-known/jwks.json", "GET", None, '"keys"'),
    ("edge_discovery", "/.well-known/openid-configuration", "GET", None, '"issuer"'),
]


def parse_args(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("AUTHD_BUILD_DIR",
                                                      os.path.join(REPO, "build")))
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--streams", type=int, default=32)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--login-accounts", type=int, default=8)
    ap.add_argument("--totp-users", type=int, default=5000,
                    help="users verified at full load (each verifies once; 0: no TOTP row)")
    ap.add_argument("--totp-in-flight", type=int, default=64)
    ap.add_argument("--edge-args", default="",
                    help="more authd-edge flags, one string (\"--jwks-max-age-ms 1000\")")
    ap.add_argument("--out", default=None,
                    help="write the markdown table here (default BUILD/bench/h2bench.md)")
    a = ap.parse_args(argv)
    if not (1 <= a.seconds <= 60 and 1 <= a.clients <= 64 and 1 <= a.streams <= 256
            and 1 <= a.connections <= 1024 and 1 <= a.login_accounts <= 64
            and 0 <= a.totp_users <= 20000 and 1 <= a.totp_in_flight <= 1024):
        sys.exit("h2bench: --seconds 1..60, --clients 1..64, --streams 1..256, "
                 "--connections 1..1024, --login-accounts 1..64, --totp-users 0..20000, "
                 "--totp-in-flight 1..1024")
    for tool in ("h2load", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"h2bench: {tool} is not installed (scripts/install-deps.sh)")
    sys.path.insert(0, os.path.join(a.build, "python"))
    a.procs = []
    return a


def print_logs(tmp):
    for name in sorted(os.listdir(tmp)):
        if not name.endswith(".log"):
            continue
        try:
            lines = open(os.path.join(tmp, name)).read().splitlines()
        except OSError:
            continue
        if lines:  # warnings and errors only (--log-level warn): say why a row failed
            print(f"-- last lines of {name} ({len(lines)} in all)", file=sys.stderr)
            for line in lines[-15:]:
                print(line, file=sys.stderr)


def main():
    a = parse_args()
    out = a.out or os.path.join(a.build, "bench", "h2bench.md")
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    tmp = tempfile.mkdtemp(prefix="h2bench.")
    try:
        s = setup_servers(a, tmp)
        load_start = loadavg()
        print(f"== authd and the edge under h2load / wrk ({os.cpu_count()} cores, load average "
              f"{load_start}, {a.seconds} s per run)", flush=True)
        bound = authd_rss_bound(os.path.join(a.build, "authd", "authd"), s["args"], s["metrics"])
        t = Table(s["authd"], s["edge"], bound)
        t.load_start = load_start
        port, metrics = s["port"], s["metrics"]
        ceil = grpc_row(t, a, tmp, metrics, "grpc_health", port, "/grpc.health.v1.Health/Check",
                        b"\x00\x00\x00\x00\x00", None)  # an empty HealthCheckRequest
        grpc_row(t, a, tmp, metrics, "grpc_token_cc", port, "/authd.v1.OAuth/Token",
                 s["token_frame"], ceil)
        grpc_row(t, a, tmp, metrics, "grpc_introspect", port, "/authd.v1.OAuth/Introspect",
                 s["intro_frame"], ceil)
        login_row(t, a, tmp, metrics, port, s["logins"])
        if a.totp_users:
            totp_row(t, a, tmp, ceil)
        hceil = http_row(t, a, "edge_healthz", s["edge_url"] + "/healthz", "GET", {}, "", "",
                         None)
        for name, path, method, body, expect in HTTP_ROWS:
            http_row(t, a, name, s["edge_url"] + path, method, s["form"] if body else {},
                     (body or "").replace("{token}", s["token"]), expect, hceil)
        md = markdown(t, a, started, commit)
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            f.write(md)
        print(f"\n== issue 13's table (also in {out})\n", flush=True)
        print(md, flush=True)
    finally:
        print_logs(tmp)
        for p in reversed(a.procs):
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
