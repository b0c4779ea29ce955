# SPDX-License-Identifier: Apache-2.0
"""authd on PostgreSQL (--store postgres:CONNINFO), whatever AUTHD_TEST_STORE says: option
rules, passwords kept out of argv and logs, an unreachable database at start, two replicas on
one database, and a database outage under a running authd and edge (UNAVAILABLE and not ready,
never a wrong answer, then recovery by itself). Each test module run gets its own throwaway
cluster (pgcluster.py), which these tests stop and start."""
import os
import subprocess
import time

import grpc
import pytest
import requests

from conftest import AUTHD, FAST_ARGON2, Authd, Edge, stop, users_pb2, sessions_pb2
from pgcluster import PgCluster, free_port

U = "/authd.v1.Users/"
S = "/authd.v1.Sessions/"


@pytest.fixture(scope="module")
def pg():
    with PgCluster() as c:
        yield c


def create_user(a, email, password="correct horse battery"):
    return a.call(U + "Create", users_pb2.CreateUserRequest(email=email, password=password),
                  users_pb2.UserResponse).user


def login(a, email, password="correct horse battery"):
    return a.call(S + "Login", sessions_pb2.LoginRequest(email=email, password=password,
                                                         client_ip="127.0.0.9",
                                                         user_agent="pytest"),
                  sessions_pb2.SessionResponse)


def run_authd(args, env=None, timeout=30):
    return subprocess.run([AUTHD, "--listen", "127.0.0.1:0"] + args, capture_output=True,
                          timeout=timeout, env=env)


def test_store_option_rules(pg, tmpdir_path):
    # --store and --data-dir together: refused before anything is opened.
    p = run_authd(["--store", "rocksdb:" + tmpdir_path, "--data-dir", tmpdir_path])
    assert p.returncode == 2
    assert b"not both" in p.stderr
    # A unit file's AUTHD_DATA_DIR gives way to --store (here AUTHD_STORE): no error, the
    # option rules pass and authd goes on to need its TOTP key.
    env = dict(os.environ, AUTHD_DATA_DIR=tmpdir_path, AUTHD_STORE="postgres:" + pg.conninfo(),
               **pg.env())
    env.pop("AUTHD_TOTP_KEY", None)
    p = run_authd([], env=env)
    assert p.returncode != 0 and b"TOTP key shared by every replica" in p.stderr, p.stderr
    p = run_authd(["--store", "sqlite:x"])
    assert p.returncode == 2
    p = run_authd(["--data-dir", "postgres:" + pg.conninfo()])
    assert p.returncode == 2 and b"--store" in p.stderr
    # A password on the command line is refused (ps and /proc show argv to every user).
    p = run_authd(["--store", "postgres:" + pg.conninfo() + " password=hunter2secret"])
    assert p.returncode == 2
    assert b"PGPASSFILE" in p.stderr
    assert b"hunter2" not in p.stderr
    # On PostgreSQL the TOTP key cannot be a per-directory development key.
    env = dict(os.environ, **pg.env())
    env.pop("AUTHD_TOTP_KEY", None)
    p = run_authd(["--store", "postgres:" + pg.conninfo()], env=env)
    assert p.returncode != 0
    assert b"TOTP key shared by every replica" in p.stderr


def test_unreachable_database_at_start(pg, tmpdir_path):
    # Nothing listens on this port. The password (allowed in AUTHD_STORE, the environment) must
    # not reach stderr or the log.
    port = free_port()
    env = dict(os.environ, AUTHD_TOTP_KEY=os.urandom(32).hex(),
               AUTHD_STORE=f"postgres:host=127.0.0.1 port={port} user=authd "
                           "password=hunter2secret dbname=authd connect_timeout=1")
    t0 = time.monotonic()
    p = run_authd(["--store-connect-wait", "1"], env=env)
    assert p.returncode != 0
    assert b"cannot reach PostgreSQL" in p.stderr
    assert b"hunter2" not in p.stderr and b"hunter2" not in p.stdout
    assert b"password=REDACTED" in p.stderr
    assert time.monotonic() - t0 < 25  # bounded: not the default 30 s wait, nor forever


def test_two_replicas_share_one_database(pg, tmpdir_path):
    d1 = os.path.join(tmpdir_path, "r1")
    d2 = os.path.join(tmpdir_path, "r2")
    os.mkdir(d1)
    os.mkdir(d2)
    db = pg.create_database()
    key = os.urandom(32).hex()
    os.environ["AUTHD_TOTP_KEY"] = key
    try:
        a1 = Authd(d1, extra=FAST_ARGON2, pg=pg, database=db)
        a2 = Authd(d2, extra=FAST_ARGON2, pg=pg, database=db)
    finally:
        del os.environ["AUTHD_TOTP_KEY"]
    try:
        create_user(a1, "rita@example.com")
        assert login(a2, "rita@example.com").session_token
        # The same e-mail through the other replica: taken.
        with pytest.raises(grpc.RpcError) as ei:
            create_user(a2, "rita@example.com")
        assert ei.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert "store=" in a1.log_text() and "password" not in a1.log_text()
    finally:
        a1.stop()
        a2.stop()


def ready(edge):
    try:
        return requests.get(edge.base + "/readyz", timeout=5).status_code
    except requests.RequestException:
        return None


def test_database_outage_then_recovery(tmpdir_path):
    # A cluster of its own: this test stops it.
    with PgCluster() as own:
        a = Authd(tmpdir_path, extra=FAST_ARGON2, pg=own)
        e = Edge(tmpdir_path, a)
        try:
            create_user(a, "olga@example.com")
            assert ready(e) == 200
            own.stop(remove=False)
            # Calls fail with UNAVAILABLE: never INTERNAL, never a wrong answer.
            for call in (lambda: login(a, "olga@example.com"),
                         lambda: login(a, "olga@example.com", "wrong password"),
                         lambda: create_user(a, "nora@example.com")):
                with pytest.raises(grpc.RpcError) as ei:
                    call()
                assert ei.value.code() == grpc.StatusCode.UNAVAILABLE, ei.value.details()
            assert ready(e) == 503
            own.resume()
            # Recovery by itself, bounded in count and time.
            for _ in range(100):
                if ready(e) == 200:
                    break
                time.sleep(0.1)
            assert ready(e) == 200
            assert login(a, "olga@example.com").session_token
            # The failed create wrote nothing; a new one works.
            create_user(a, "nora@example.com")
            assert "event=store_unavailable" in a.log_text()
        finally:
            e.stop()
            a.stop()
