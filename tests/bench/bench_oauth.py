#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""OAuth load benchmark against a running authd and authd-edge (started by tests/bench/run, with
authd's --issuer = the edge's URL). Bounded in time and in count. Reports, one line each:

  token_cc_edge       client_credentials grants/s: POST /auth/token, HTTP Basic, keep-alive,
                      C concurrent connections (wrk with a Lua script; Python threads with a
                      requests.Session each when wrk is not installed)
  introspect_edge     POST /auth/introspect of a JWT access token, the same way
  introspect_rpc      /authd.v1.OAuth/Introspect over gRPC (grpcio, T threads each keeping a
                      window of calls in flight: a Python client, so a floor, not a ceiling)

Every request's answer is checked (200 and the expected body shape) and failures are counted.

  bench_oauth.py --edge URL --authd HOST:PORT [--build DIR] [--seconds S] [--connections C]
                 [--max-requests N]
"""
import argparse
import base64
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

CLIENT, SECRET = "bench-svc", "bench-secret-0123456789abcdef0123"


def percentile(sorted_ms, p):
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * p))]


def report(name, conc, ok, failed, seconds, lat_ms=None, p50=None, p99=None, note=""):
    if lat_ms is not None:
        lat_ms.sort()
        p50, p99 = percentile(lat_ms, 0.50), percentile(lat_ms, 0.99)
    print(f"{name:<18} in_flight={conc:<3} requests={ok + failed:<8} failed={failed:<5} "
          f"per_s={(ok + failed) / seconds if seconds > 0 else 0:<9.0f} "
          f"p50_ms={p50 or 0:.2f} p99_ms={p99 or 0:.2f}{(' ' + note) if note else ''}",
          flush=True)


# ---- HTTP through the edge: wrk ------------------------------------------------------------

LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = [[%(auth)s]]
wrk.body = [[%(body)s]]
local cap = %(cap)d
n, bad = 0, 0  -- globals of each thread's Lua state, read back with thread:get() in done()
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function response(status, headers, body)
  n = n + 1
  if status ~= 200 or not string.find(body, [[%(expect)s]], 1, true) then
    bad = bad + 1
  end
  if n >= cap then
    wrk.thread:stop()
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


def wrk_run(name, url, auth, body, expect, conns, seconds, max_requests):
    threads = min(2, conns)
    cap = max(1, max_requests // threads)
    script = LUA % {"auth": auth, "body": body, "expect": expect, "cap": cap}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
        path = f.name
    try:
        t0 = time.time()
        p = subprocess.run(["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{max(1, int(round(seconds)))}s",
                            "--timeout", "10s", "-s", path, url],
                           capture_output=True, text=True, timeout=seconds + 60)
        elapsed = time.time() - t0
    finally:
        os.unlink(path)
    out = p.stdout
    if p.returncode != 0:
        print(f"{name}: wrk failed ({p.returncode}): {p.stderr.strip()} {out}", flush=True)
        return
    total = errors = 0
    dur = seconds
    bad = p50 = p99 = 0
    for line in out.splitlines():
        s = line.strip()
        if "requests in" in s:  # "123 requests in 5.00s, 1.2MB read"
            total = int(s.split()[0])
            d = s.split("requests in")[1].split(",")[0].strip()
            dur = float(d[:-2]) / 1000 if d.endswith("ms") else \
                float(d[:-1]) * (60 if d.endswith("m") else 1)
        elif s.startswith("Socket errors:"):
            errors += sum(int(x.split()[-1]) for x in s.split(":", 1)[1].split(","))
        elif s.startswith("Non-2xx or 3xx responses:"):
            pass  # counted as bad by the script
        elif s.startswith("BENCH"):
            kv = dict(x.split("=") for x in s.split()[1:])
            bad, p50, p99 = int(kv["bad"]), int(kv["p50_us"]) / 1000, int(kv["p99_us"]) / 1000
    failed = bad + errors
    note = f"(wrk -t{threads} -c{conns}, {elapsed:.1f}s wall)"
    if total >= cap * threads:
        # wrk's threads stopped early but wrk reports the whole duration.
        note += " COUNT BOUND REACHED: per_s is a lower bound; raise --max-requests"
    report(name, conns, total - min(total, bad), failed, dur, p50=p50, p99=p99, note=note)


# ---- HTTP through the edge: Python threads (when wrk is missing) ---------------------------

def threads_run(name, url, auth, body, expect, conns, seconds, max_requests):
    import requests
    per = max(1, max_requests // conns)
    results = queue.Queue()
    start = threading.Barrier(conns + 1)

    def worker():
        s = requests.Session()
        s.headers.update({"Authorization": auth,
                          "Content-Type": "application/x-www-form-urlencoded"})
        ok = failed = 0
        lat = []
        start.wait()
        end = time.time() + seconds
        for _ in range(per):
            t0 = time.time()
            if t0 >= end:
                break
            try:
                r = s.post(url, data=body, timeout=10)
                good = r.status_code == 200 and expect in r.text
            except Exception:  # noqa: BLE001 (a failed request is counted, not fatal)
                good = False
            lat.append((time.time() - t0) * 1000)
            ok, failed = ok + good, failed + (not good)
        results.put((ok, failed, lat))

    ts = [threading.Thread(target=worker) for _ in range(conns)]
    for t in ts:
        t.start()
    start.wait()
    t0 = time.time()
    for t in ts:
        t.join()
    elapsed = time.time() - t0
    ok = failed = 0
    lat = []
    while not results.empty():
        a, b, c = results.get()
        ok, failed, lat = ok + a, failed + b, lat + c
    report(name, conns, ok, failed, elapsed, lat, note="(python threads; no wrk)")


# ---- gRPC --------------------------------------------------------------------------------

def rpc_run(name, target, token, threads, window, seconds, max_requests):
    import grpc
    from authd.v1 import oauth_pb2
    ch = grpc.insecure_channel(target)
    fn = ch.unary_unary("/authd.v1.OAuth/Introspect",
                        request_serializer=lambda m: m.SerializeToString(),
                        response_deserializer=oauth_pb2.IntrospectResponse.FromString)
    req = oauth_pb2.IntrospectRequest(token=token, client_id=CLIENT, client_secret=SECRET)
    assert fn(req, timeout=10).active, "the bench token is not active"
    per = max(1, max_requests // threads)
    results = queue.Queue()
    start = threading.Barrier(threads + 1)

    def worker():
        ok = failed = 0
        lat = []
        inflight = []
        start.wait()
        end = time.time() + seconds
        sent = 0

        def reap(f, t0):
            nonlocal ok, failed
            try:
                good = f.result().active
            except grpc.RpcError:
                good = False
            lat.append((time.time() - t0) * 1000)
            ok, failed = ok + good, failed + (not good)

        while True:
            now = time.time()
            if sent < per and now < end and len(inflight) < window:
                inflight.append((fn.future(req, timeout=10), now))
                sent += 1
                continue
            if not inflight:
                break
            f, t0 = inflight.pop(0)
            reap(f, t0)
        results.put((ok, failed, lat))

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    start.wait()
    t0 = time.time()
    for t in ts:
        t.join()
    elapsed = time.time() - t0
    ch.close()
    ok = failed = 0
    lat = []
    while not results.empty():
        a, b, c = results.get()
        ok, failed, lat = ok + a, failed + b, lat + c
    report(name, threads * window, ok, failed, elapsed, lat,
           note=f"(grpcio, {threads} threads x {window} in flight)")


# ---- setup -------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edge", required=True)
    ap.add_argument("--authd", required=True)
    ap.add_argument("--build", default=os.environ.get("AUTHD_BUILD_DIR",
                                                      os.path.join(REPO, "build")))
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--max-requests", type=int, default=500000)
    ap.add_argument("--rpc-threads", type=int, default=4)
    ap.add_argument("--rpc-window", type=int, default=16)
    a = ap.parse_args()
    if not (0 < a.seconds <= 600 and 1 <= a.connections <= 1024 and a.max_requests >= 1):
        sys.exit("bench_oauth: --seconds 0..600, --connections 1..1024, --max-requests >= 1")
    sys.path.insert(0, os.path.join(a.build, "python"))
    import grpc
    import requests
    from authd.v1 import oauth_pb2

    ch = grpc.insecure_channel(a.authd)
    put = ch.unary_unary("/authd.v1.ClientAdmin/Put",
                         request_serializer=lambda m: m.SerializeToString(),
                         response_deserializer=oauth_pb2.ClientResponse.FromString)
    put(oauth_pb2.Client(id=CLIENT, secret=SECRET, first_party=True,
                         grant_types=["client_credentials"]), timeout=30)
    ch.close()
    auth = "Basic " + base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()
    r = requests.post(a.edge + "/auth/token", data={"grant_type": "client_credentials"},
                      headers={"Authorization": auth}, timeout=30)
    if r.status_code != 200:
        sys.exit(f"bench_oauth: the token endpoint answered {r.status_code}: {r.text}")
    token = r.json()["access_token"]
    r = requests.post(a.edge + "/auth/introspect", data={"token": token},
                      headers={"Authorization": auth}, timeout=30)
    if r.status_code != 200 or not r.json().get("active"):
        sys.exit(f"bench_oauth: introspection answered {r.status_code}: {r.text}")

    run = wrk_run if shutil.which("wrk") else threads_run
    run("token_cc_edge", a.edge + "/auth/token", auth, "grant_type=client_credentials",
        '"access_token"', a.connections, a.seconds, a.max_requests)
    run("introspect_edge", a.edge + "/auth/introspect", auth, "token=" + token,
        '"active":true', a.connections, a.seconds, a.max_requests)
    rpc_run("introspect_rpc", a.authd, token, a.rpc_threads, a.rpc_window, a.seconds,
            a.max_requests)


if __name__ == "__main__":
    main()
