#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The scale-out benchmark (run by tests/bench/run; never part of the test suite).

Measures, in one run so that the ratios are comparable on a noisy machine, four operations on
three set-ups:
  rocksdb      one authd on an embedded RocksDB directory (the ratio's reference)
  postgres     one authd on a throwaway PostgreSQL 15 cluster (tests/integration/pgcluster.py)
  postgres x2  two authd replicas on one database, the load spread over both by the client
and prints one table: operations/s, the ratio to the RocksDB row of the same operation, latency,
and per operation the store operations and PostgreSQL round trips (authd's /metrics counters
authd_store_op_duration_seconds_count and authd_store_round_trips_total, summed over the
replicas, read just before and just after the row) and the CPU time of authd and of the
PostgreSQL server processes (/proc, the same way).

The operations (the load comes from the existing C bench programs, bounded in time and count):
  login        Sessions/Login at the default Argon2id cost, spread over many accounts
               (bench_rpc login_many: one account is judged one attempt at a time by design)
  totp_verify  Sessions/VerifySecondFactor, each a different user, through the other replica
               when there are two (bench_totp; users set up with a cheap Argon2 cost)
  token_cc     OAuth/Token, grant client_credentials (bench_rpc cc)
  introspect   OAuth/Introspect of a JWT access token, client authenticated (bench_rpc)

  scale.py --build DIR [--seconds S] [--in-flight N] [--login-in-flight N] [--accounts N]
           [--totp-users N]
"""
import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from pgcluster import PgCluster  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
CHEAP_ARGON2 = ["--argon2-memory", "1024", "--argon2-iterations", "1"]
START_TIMEOUT = 60.0   # seconds for an authd to serve
BENCH_TIMEOUT = 600.0  # seconds for one bench program, setup included


def cpu_ticks(pid):
    """utime + stime of one process, in clock ticks (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def children_of(ppid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == ppid:
                    out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return out


def pg_cpu_ticks(pg):
    """CPU of the postmaster and its children (the pooled backends live as long as authd's
    connections, so a row's difference is the database's work for that row)."""
    if pg is None:
        return 0
    try:
        with open(os.path.join(pg.datadir, "postmaster.pid")) as f:
            pm = int(f.readline())
    except (OSError, ValueError):
        return 0
    return cpu_ticks(pm) + sum(cpu_ticks(c) for c in children_of(pm))


class Authd:
    """One authd process on loopback ports chosen by the kernel, with its metrics endpoint."""

    def __init__(self, build, tmp, name, store_flags, env, extra=()):
        self.name = name
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        port_file = os.path.join(self.dir, "port")
        mport_file = os.path.join(self.dir, "mport")
        for f in (port_file, mport_file):
            if os.path.exists(f):
                os.unlink(f)
        self.log = open(os.path.join(self.dir, "log"), "ab")
        self.proc = subprocess.Popen(
            [os.path.join(build, "authd", "authd"), "--listen", "127.0.0.1:0", "--port-file",
             port_file, "--metrics-listen", "127.0.0.1:0", "--metrics-port-file", mport_file,
             "--log-level", "warn", *store_flags, *extra],
            stdout=self.log, stderr=self.log, env=env)
        deadline = time.monotonic() + START_TIMEOUT
        while not (os.path.exists(port_file) and os.path.getsize(port_file) > 0):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                with open(os.path.join(self.dir, "log"), errors="replace") as f:
                    sys.exit(f"scale: authd {name} did not start:\n{f.read()[-2000:]}")
            time.sleep(0.05)
        with open(port_file) as f:
            self.target = "127.0.0.1:" + f.read().strip()
        with open(mport_file) as f:
            self.metrics_url = f"http://127.0.0.1:{f.read().strip()}/metrics"

    def counters(self):
        """(store operations, PostgreSQL round trips) so far, over every op label."""
        with urllib.request.urlopen(self.metrics_url, timeout=10) as r:
            text = r.read().decode()
        ops = trips = 0.0
        for line in text.splitlines():
            if line.startswith("authd_store_op_duration_seconds_count"):
                ops += float(line.rsplit(" ", 1)[1])
            elif line.startswith("authd_store_round_trips_total"):
                trips += float(line.rsplit(" ", 1)[1])
        return ops, trips

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def sample(replicas, pg):
    ops = trips = 0.0
    for a in replicas:
        o, t = a.counters()
        ops, trips = ops + o, trips + t
    return {"ops": ops, "trips": trips, "cpu": sum(cpu_ticks(a.proc.pid) for a in replicas),
            "pgcpu": pg_cpu_ticks(pg)}


def parse_result(line):
    """A bench program's result line: name key=value... -> (name, dict), or None."""
    parts = line.split()
    if len(parts) < 3 or "=" not in parts[1]:
        return None
    kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    if "calls" in kv:
        return parts[0], {"ops": int(kv["calls"]) + int(kv["failed"]), "failed": int(kv["failed"]),
                          "rate": float(kv["calls_per_s"]), "in_flight": int(kv["in_flight"]),
                          "p50": float(kv["p50_ms"]), "p99": float(kv["p99_ms"])}
    if "verified" in kv:
        return parts[0], {"ops": int(kv["verified"]) + int(kv["failed"]),
                          "failed": int(kv["failed"]), "rate": float(kv["verifications_per_s"]),
                          "in_flight": int(kv["in_flight"]),
                          "p50": float(kv["p50_ms"]) if "p50_ms" in kv else None,
                          "p99": float(kv["p99_ms"]) if "p99_ms" in kv else None}
    return None


def drive(argv, replicas, pg, setup, names, out):
    """Runs a bench program with BENCH_STEP=1: samples the counters at each "ready ROW" and again
    at the row's result line, and appends one row per result to out. Bounded by BENCH_TIMEOUT."""
    env = dict(os.environ, BENCH_STEP="1")
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    timer = threading.Timer(BENCH_TIMEOUT, p.kill)
    timer.start()
    before = None
    try:
        for line in p.stdout:
            line = line.rstrip("\n")
            if line.startswith("ready "):
                before = sample(replicas, pg)
                p.stdin.write("go\n")
                p.stdin.flush()
                continue
            res = parse_result(line)
            if res is None or before is None or res[0] not in names:
                print("   ", line, flush=True)
                continue
            after = sample(replicas, pg)
            name, r = res
            n = max(1, r["ops"])
            r.update(op=names[name], setup=setup,
                     store_ops=(after["ops"] - before["ops"]) / n,
                     trips=(after["trips"] - before["trips"]) / n if pg is not None else None,
                     cpu_ms=(after["cpu"] - before["cpu"]) * 1000.0 / CLK_TCK / n,
                     pg_cpu_ms=((after["pgcpu"] - before["pgcpu"]) * 1000.0 / CLK_TCK / n
                                if pg is not None else None))
            out.append(r)
            print(f"    {setup:<12} {r['op']:<12} {r['rate']:8.0f}/s ops={r['ops']} "
                  f"failed={r['failed']}", flush=True)
            before = None
    finally:
        timer.cancel()
        p.stdin.close()
        rc = p.wait()
    if rc != 0:
        sys.exit(f"scale: {os.path.basename(argv[0])} failed ({rc})")


def run_setup(a, tmp, setup, store_flags, env, n_replicas, pg, out):
    targets = lambda rs: ",".join(r.target for r in rs)  # noqa: E731
    bench_rpc = os.path.join(a.build, "tests", "bench", "bench_rpc")
    bench_totp = os.path.join(a.build, "tests", "bench", "bench_totp")
    print(f"== {setup}", flush=True)
    # Default Argon2id cost: login, client_credentials, introspection.
    reps = []
    try:
        for i in range(n_replicas):
            reps.append(Authd(a.build, tmp, f"{setup.replace(' ', '')}-{i}", store_flags, env))
        drive([bench_rpc, targets(reps), str(a.login_in_flight), str(a.seconds), "login_many",
               str(a.accounts)], reps, pg, setup, {"login_accounts": "login"}, out)
        drive([bench_rpc, targets(reps), str(a.in_flight), str(a.seconds), "cc,introspect"],
              reps, pg, setup, {"token_cc": "token_cc", "introspect": "introspect"}, out)
    finally:
        for r in reps:
            r.stop()
    # A cheap Argon2 cost, so that enrolling the TOTP users is quick (the store is the same).
    reps = []
    try:
        for i in range(n_replicas):
            reps.append(Authd(a.build, tmp, f"{setup.replace(' ', '')}-{i}", store_flags, env,
                              CHEAP_ARGON2))
        drive([bench_totp, targets(reps), str(a.totp_users), str(a.in_flight),
               str(max(10.0, 4 * a.seconds))],
              reps, pg, setup, {"totp_verify_rpc": "totp_verify"}, out)
    finally:
        for r in reps:
            r.stop()


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def table(rows):
    ref = {r["op"]: r["rate"] for r in rows if r["setup"] == "rocksdb"}
    head = (f"{'operation':<12} {'store':<12} {'in_flight':>9} {'ops':>7} {'failed':>6} "
            f"{'ops/s':>8} {'ratio':>6} {'p50_ms':>7} {'p99_ms':>7} {'store_ops/op':>12} "
            f"{'db_trips/op':>11} {'authd_cpu_ms/op':>15} {'pg_cpu_ms/op':>12}")
    lines = [head, "-" * len(head)]
    for op in ("login", "totp_verify", "token_cc", "introspect"):
        for r in rows:
            if r["op"] != op:
                continue
            ratio = r["rate"] / ref[op] if ref.get(op) else None
            lines.append(
                f"{op:<12} {r['setup']:<12} {r['in_flight']:>9} {r['ops']:>7} {r['failed']:>6} "
                f"{r['rate']:>8.0f} {fmt(ratio, '6.2f'):>6} {fmt(r['p50'], '7.2f'):>7} "
                f"{fmt(r['p99'], '7.2f'):>7} {r['store_ops']:>12.2f} "
                f"{fmt(r['trips'], '11.2f'):>11} {r['cpu_ms']:>15.2f} "
                f"{fmt(r['pg_cpu_ms'], '12.2f'):>12}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--in-flight", type=int, default=32)
    ap.add_argument("--login-in-flight", type=int, default=8)
    ap.add_argument("--accounts", type=int, default=64)
    ap.add_argument("--totp-users", type=int, default=1000)
    a = ap.parse_args()
    if not (0 < a.seconds <= 600 and 1 <= a.in_flight <= 1024 and 1 <= a.login_in_flight <= 64
            and 1 <= a.accounts <= 4096 and 1 <= a.totp_users <= 20000):
        sys.exit("scale: --seconds 0..600, --in-flight 1..1024, --login-in-flight 1..64, "
                 "--accounts 1..4096, --totp-users 1..20000")
    if not os.path.exists(os.path.join(os.environ.get("AUTHD_PG_BIN",
                                                      "/usr/lib/postgresql/15/bin"), "initdb")):
        print("scale: PostgreSQL 15 is not installed (scripts/install-deps.sh): skipped")
        return
    helptext = subprocess.run([os.path.join(a.build, "authd", "authd"), "--help"],
                              capture_output=True, text=True, timeout=30).stdout
    if "--store" not in helptext:
        print("scale: this authd has no --store option (no PostgreSQL backend): skipped")
        return
    tmp = tempfile.mkdtemp(prefix="authd-scale-")
    rows = []
    try:
        key = os.path.join(tmp, "totp.key")
        with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        base = ["--totp-key-file", key]
        env = dict(os.environ)
        run_setup(a, tmp, "rocksdb", base + ["--data-dir", os.path.join(tmp, "rdb")],
                  env, 1, None, rows)
        with PgCluster() as pg:
            env = dict(os.environ, **pg.env())
            for setup, n in (("postgres", 1), ("postgres x2", 2)):
                store = ["--store", "postgres:" + pg.conninfo(pg.create_database())]
                run_setup(a, tmp, setup, base + store, env, n, pg, rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nscale-out: ratio = ops/s / the RocksDB row's; per-op columns are differences of "
          f"authd's /metrics counters and /proc CPU times over the row, divided by its ops\n"
          f"(machine: {os.cpu_count()} cores, load average {open('/proc/loadavg').read().split()[0]}"
          f" after the run; the bench client shares the cores)")
    print(table(rows), flush=True)


if __name__ == "__main__":
    main()
