#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Resident memory (VmRSS) of authd and authd-edge at idle, under a password-login flood over
many accounts, and after it: checks issue 13's bounds, authd <= 64 MiB + block cache + hash
threads x Argon2 memory and the edge <= 32 MiB. Starts its own authd and edge on loopback
(temporary data directory, default flags unless --authd-args/--edge-args say otherwise) and
always stops them. Never part of the test suite; it measures, it does not assert.

Phases (RSS of both processes sampled every 50 ms; each phase prints its peak and its end, and
authd's CPU time per call, which a loaded machine disturbs far less than the rate):
  idle          after start and setup, before any account exists
  create        --accounts users created over gRPC (each a password hash), --workers at once
  grpc_flood    --workers threads calling Sessions/Login over gRPC, account after account,
                for --seconds
  edge_flood    --workers threads logging in through the edge's form (GET + POST /auth/login),
                for --seconds
  settled       after --settle seconds without load

  rss_login.py [--build DIR] [--accounts N] [--workers W] [--seconds S] [--settle S]
               [--authd-args "FLAGS"] [--edge-args "FLAGS"]
"""
import argparse
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PASSWORD = "rss-login-password-0123456789"
CSRF_RE = re.compile(r'name="csrf"\s+value="([^"]+)"')
# authd's defaults (--rocksdb-cache-mb, storage/store.c; --argon2-memory, authd/password.c)
BLOCK_CACHE_MIB = 64
BASE_MIB = 64
EDGE_MIB = 32


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
    sys.exit(f"rss_login: {what} did not start")


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_s(pid):
    """User + system CPU seconds pid has used (/proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def threads_of(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


class Sampler:
    """Peak VmRSS of each pid, sampled every 50 ms between start() and stop()."""

    def __init__(self, pids):
        self.pids = pids
        self.peak = [0.0] * len(pids)
        self._stop = threading.Event()
        self._th = None

    def _run(self):
        while not self._stop.is_set():
            for i, p in enumerate(self.pids):
                self.peak[i] = max(self.peak[i], rss_mib(p))
            self._stop.wait(0.05)

    def start(self):
        self.peak = [rss_mib(p) for p in self.pids]
        self._stop.clear()
        self._th = threading.Thread(target=self._run, daemon=True)
        self._th.start()

    def stop(self):
        self._stop.set()
        self._th.join()
        for i, p in enumerate(self.pids):
            self.peak[i] = max(self.peak[i], rss_mib(p))
        return self.peak


def metric(url, name):
    import requests
    for line in requests.get(url, timeout=10).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.split()[-1])
    return float("nan")


def run_threads(n, fn):
    """Runs fn(i) in n threads; returns the (ok, failed, {failure: count}) they add up."""
    res = [(0, 0, {})] * n

    def body(i):
        res[i] = fn(i)
    th = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    why = {}
    for r in res:
        for k, v in r[2].items():
            why[k] = why.get(k, 0) + v
    return sum(r[0] for r in res), sum(r[1] for r in res), why


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("AUTHD_BUILD_DIR",
                                                      os.path.join(REPO, "build")))
    ap.add_argument("--accounts", type=int, default=256)
    ap.add_argument("--workers", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--settle", type=float, default=3)
    ap.add_argument("--authd-args", default="")
    ap.add_argument("--edge-args", default="")
    a = ap.parse_args()
    if not (1 <= a.accounts <= 100000 and 1 <= a.workers <= 512 and 0 < a.seconds <= 600
            and 0 <= a.settle <= 600):
        sys.exit("rss_login: --accounts 1..100000, --workers 1..512, --seconds 0..600, "
                 "--settle 0..600")
    sys.path.insert(0, os.path.join(a.build, "python"))
    import grpc
    import requests
    from authd.v1 import sessions_pb2, users_pb2

    tmp = tempfile.mkdtemp(prefix="rss_login.")
    procs = []
    try:
        eport = free_port()
        authd = subprocess.Popen(
            [os.path.join(a.build, "authd", "authd"), "--listen", "127.0.0.1:0", "--data-dir",
             os.path.join(tmp, "data"), "--port-file", os.path.join(tmp, "authd.port"),
             "--metrics-listen", "127.0.0.1:0", "--metrics-port-file",
             os.path.join(tmp, "metrics.port"), "--issuer", f"http://127.0.0.1:{eport}",
             "--log-level", "warn"] + shlex.split(a.authd_args),
            stdout=open(os.path.join(tmp, "authd.log"), "w"), stderr=subprocess.STDOUT)
        procs.append(authd)
        port = wait_file(os.path.join(tmp, "authd.port"), authd, "authd")
        mport = wait_file(os.path.join(tmp, "metrics.port"), authd, "authd metrics")
        murl = f"http://127.0.0.1:{mport}/metrics"
        edge = subprocess.Popen(
            [os.path.join(a.build, "edge", "authd-edge"), "--listen", f"127.0.0.1:{eport}",
             "--authd", f"127.0.0.1:{port}", "--port-file", os.path.join(tmp, "edge.port"),
             "--log-level", "warn", "--per-ip-limit", "0"] + shlex.split(a.edge_args),
            stdout=open(os.path.join(tmp, "edge.log"), "w"), stderr=subprocess.STDOUT)
        procs.append(edge)
        wait_file(os.path.join(tmp, "edge.port"), edge, "authd-edge")
        base = f"http://127.0.0.1:{eport}"

        hash_threads = int(metric(murl, "authd_password_hash_threads"))
        argon2_kib = 19456
        m = re.search(r"--argon2-memory[ =](\d+)", a.authd_args)
        if m:
            argon2_kib = int(m.group(1))
        cache_mib = BLOCK_CACHE_MIB
        m = re.search(r"--rocksdb-cache-mb[ =](\d+)", a.authd_args)
        if m:
            cache_mib = int(m.group(1))
        bound = BASE_MIB + cache_mib + hash_threads * argon2_kib / 1024
        print(f"== RSS of authd and authd-edge ({os.cpu_count()} cores, load average "
              f"{' '.join(open('/proc/loadavg').read().split()[:3])}); bounds: authd "
              f"{BASE_MIB} + {cache_mib} block cache + {hash_threads} hash threads x "
              f"{argon2_kib / 1024:.0f} MiB = {bound:.0f} MiB, edge {EDGE_MIB} MiB", flush=True)
        print(f"{'phase':<12} {'calls':>7} {'failed':>6} {'per s':>7} {'cpu ms':>6} "
              f"{'authd peak':>10} "
              f"{'authd end':>9} {'edge peak':>9} {'edge end':>8} {'authd thr':>9} "
              f"{'edge thr':>8}", flush=True)
        samp = Sampler([authd.pid, edge.pid])

        def phase(name, fn=None, workers=0):
            samp.start()
            c0 = cpu_s(authd.pid)
            t0 = time.monotonic()
            ok, failed, why = run_threads(workers, fn) if fn else (0, 0, {})
            dt = time.monotonic() - t0
            cpu_ms = (cpu_s(authd.pid) - c0) * 1000 / ok if ok else 0
            if not fn:
                time.sleep(a.settle)
            pk = samp.stop()
            end = (rss_mib(authd.pid), rss_mib(edge.pid))
            print(f"{name:<12} {ok:>7} {failed:>6} {ok / dt if fn and dt else 0:>7.1f} "
                  f"{cpu_ms:>6.1f} "
                  f"{pk[0]:>10.1f} {end[0]:>9.1f} {pk[1]:>9.1f} {end[1]:>8.1f} "
                  f"{threads_of(authd.pid):>9} {threads_of(edge.pid):>8}"
                  f"{'  failures: ' + str(why) if why else ''}", flush=True)
            return pk

        ch = grpc.insecure_channel(f"127.0.0.1:{port}")

        def unary(path, req, resp):
            return ch.unary_unary(path, request_serializer=lambda x: x.SerializeToString(),
                                  response_deserializer=resp.FromString)(req, timeout=120)

        emails = [f"rss{i}@example.org" for i in range(a.accounts)]
        peaks = [phase("idle")]

        def create(i):
            ok = failed = 0
            why = {}
            for j in range(i, len(emails), a.workers):
                try:
                    unary("/authd.v1.Users/Create", users_pb2.CreateUserRequest(
                        email=emails[j], password=PASSWORD, email_verified=True),
                        users_pb2.UserResponse)
                    ok += 1
                except grpc.RpcError as e:
                    failed += 1
                    why[str(e.code())] = why.get(str(e.code()), 0) + 1
            return ok, failed, why
        peaks.append(phase("create", create, a.workers))

        def grpc_flood(i):
            ok = failed = 0
            why = {}
            j = i
            end = time.monotonic() + a.seconds
            while time.monotonic() < end:
                try:
                    unary("/authd.v1.Sessions/Login", sessions_pb2.LoginRequest(
                        email=emails[j % len(emails)], password=PASSWORD),
                        sessions_pb2.SessionResponse)
                    ok += 1
                except grpc.RpcError as e:
                    failed += 1
                    why[str(e.code())] = why.get(str(e.code()), 0) + 1
                j += a.workers
            return ok, failed, why
        peaks.append(phase("grpc_flood", grpc_flood, a.workers))

        def edge_flood(i):
            ok = failed = 0
            why = {}
            j = i
            end = time.monotonic() + a.seconds
            while time.monotonic() < end:
                s = requests.Session()
                try:
                    r = s.get(base + "/auth/login", timeout=120)
                    mm = CSRF_RE.search(r.text)
                    r = s.post(base + "/auth/login", timeout=120, allow_redirects=False,
                               data={"email": emails[j % len(emails)], "password": PASSWORD,
                                     "csrf": mm.group(1) if mm else ""},
                               headers={"Origin": base})
                    if r.status_code in (302, 303):
                        ok += 1
                    else:
                        failed += 1
                        why[r.status_code] = why.get(r.status_code, 0) + 1
                except requests.RequestException as e:
                    failed += 1
                    why[type(e).__name__] = why.get(type(e).__name__, 0) + 1
                finally:
                    s.close()
                j += a.workers
            return ok, failed, why
        peaks.append(phase("edge_flood", edge_flood, a.workers))
        peaks.append(phase("settled"))
        ch.close()

        apeak = max(p[0] for p in peaks)
        epeak = max(p[1] for p in peaks)
        print(f"authd peak {apeak:.1f} MiB vs bound {bound:.0f} MiB: "
              f"{'MET' if apeak <= bound else 'EXCEEDED'}; edge peak {epeak:.1f} MiB vs "
              f"{EDGE_MIB} MiB: {'MET' if epeak <= EDGE_MIB else 'EXCEEDED'}; hash pool: "
              f"{metric(murl, 'authd_password_hashes_running_max'):.0f} ran at once at most, "
              f"{metric(murl, 'authd_password_hash_waits_total'):.0f} waited", flush=True)
    finally:
        for name in ("authd.log", "edge.log"):
            try:
                lines = open(os.path.join(tmp, name)).read().splitlines()
            except OSError:
                continue
            if lines:
                print(f"-- last lines of {name} ({len(lines)} in all)", file=sys.stderr)
                for line in lines[-10:]:
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
