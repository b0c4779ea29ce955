# SPDX-License-Identifier: Apache-2.0
"""Resource limits of authd under floods (issue 12 items 3 and 4): a login flood over many
accounts runs at most --hash-threads Argon2 computations at once and holds at most that many
work areas; a flood of stalled gRPC calls leaves memory bounded and normal callers served;
a call without a deadline ends after --max-call-ms.

Memory is read from /proc/PID/status: VmHWM (the peak resident set, so no sample can miss a
spike) and VmRSS. The bounds are generous: each test states what the code before the limits
reached, several times the bound."""
import os
import threading

import grpc
import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import Authd, wait_port_file
from authd.v1 import sessions_pb2, users_pb2

MIB = 1024 * 1024
ARGON2_KIB = 19456  # the default cost, whose 19 MiB work areas the issue measured


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def scrape(port):
    r = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert r.status_code == 200
    return {s.name: s.value for fam in text_string_to_metric_families(r.text)
            for s in fam.samples if not s.labels}


def with_metrics(tmp, extra):
    port_file = os.path.join(tmp, "metrics.port")
    a = Authd(tmp, list(extra) + ["--metrics-listen", "127.0.0.1:0",
                                  "--metrics-port-file", port_file])
    a.metrics_port = wait_port_file(port_file, a.proc)
    return a


def test_login_flood_runs_at_most_hash_threads_hashes(tmpdir_path):
    """16 workers, 2 hash threads, the default Argon2 cost: 16 logins at once into 16 accounts,
    three rounds. Before the pool every worker kept its own 19 MiB work area (16 x 19 MiB =
    304 MiB over the start); now at most 2 areas exist, so the peak stays well under 8 areas."""
    n_accounts, hash_threads = 16, 2
    a = with_metrics(tmpdir_path, ["--workers", str(n_accounts), "--hash-threads",
                                   str(hash_threads), "--argon2-memory", str(ARGON2_KIB),
                                   "--argon2-iterations", "1"])
    try:
        start_kib = status_kib(a.proc.pid, "VmRSS")
        emails = [f"flood{i}@example.com" for i in range(n_accounts)]
        for e in emails:
            a.call("/authd.v1.Users/Create",
                   users_pb2.CreateUserRequest(email=e, password="correct horse battery"),
                   users_pb2.UserResponse, timeout=60)
        barrier = threading.Barrier(n_accounts)
        errors = []

        def flood(i):
            try:
                for _ in range(3):
                    barrier.wait(timeout=60)
                    a.call("/authd.v1.Sessions/Login",
                           sessions_pb2.LoginRequest(email=emails[i],
                                                     password="correct horse battery",
                                                     client_ip=f"127.0.1.{i + 1}",
                                                     user_agent="pytest"),
                           sessions_pb2.SessionResponse, timeout=120)
            except Exception as e:  # reported below, with the thread's account
                errors.append((i, repr(e)))
                barrier.abort()

        threads = [threading.Thread(target=flood, args=(i,)) for i in range(n_accounts)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in threads)
        assert not errors, errors

        m = scrape(a.metrics_port)
        assert m.get("authd_password_hash_threads") == hash_threads, m
        # Creates and logins ran 16 x 4 hashes, 16 of them at a time: never more than 2 ran.
        assert 1 <= m.get("authd_password_hashes_running_max", 0) <= hash_threads, m
        peak_kib = status_kib(a.proc.pid, "VmHWM")
        grown = (peak_kib - start_kib) * 1024
        area = ARGON2_KIB * 1024
        assert grown < 8 * area, (
            f"peak RSS grew by {grown // MIB} MiB during the flood (start {start_kib // 1024} "
            f"MiB): more than 8 Argon2 work areas of {area // MIB} MiB")
    finally:
        a.stop()
