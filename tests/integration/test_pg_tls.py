# SPDX-License-Identifier: Apache-2.0
"""authd on PostgreSQL over TLS with `sslmode=verify-full`, as the README documents it: the
server (a throwaway cluster that refuses every connection without TLS) shows the development
CA's certificate for 127.0.0.1; authd checks it against `sslrootcert` and the host name, serves,
and its connections are TLS ones; with another CA it does not start, and says why."""
import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

from certs import make_certs
from conftest import AUTHD, FAST_ARGON2, Authd, users_pb2
from pgcluster import OWNER, PgCluster


@pytest.fixture(scope="module")
def tls_pg():
    base = tempfile.mkdtemp(prefix="authd-pgtls-")
    os.chmod(base, 0o711)  # the server's user must reach server/ below it
    try:
        certs = make_certs(os.path.join(base, "certs"))
        # The server's files: readable by the server's user only (PostgreSQL insists on it).
        srv = os.path.join(base, "server")
        os.mkdir(srv, 0o700)
        shutil.copyfile(certs.cert("authd"), os.path.join(srv, "server.pem"))
        shutil.copyfile(certs.key("authd"), os.path.join(srv, "server.key"))
        os.chmod(os.path.join(srv, "server.key"), 0o600)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(OWNER)
            for p in (srv, os.path.join(srv, "server.pem"), os.path.join(srv, "server.key")):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        conf = ["ssl = on", f"ssl_cert_file = '{srv}/server.pem'",
                f"ssl_key_file = '{srv}/server.key'"]
        # Matched first: a TCP connection without TLS is refused outright.
        hba = ["hostnossl all all 127.0.0.1/32 reject"]
        with PgCluster(conf=conf, hba=hba) as pg:
            yield pg, certs
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_verify_full_connects_over_tls(tls_pg, tmpdir_path):
    pg, certs = tls_pg
    db = pg.create_database()
    a = Authd(tmpdir_path, extra=FAST_ARGON2, pg=pg, database=db,
              conninfo_extra=f"sslmode=verify-full sslrootcert={certs.ca}")
    try:
        u = a.call("/authd.v1.Users/Create",
                   users_pb2.CreateUserRequest(email="tls@example.com",
                                               password="correct horse battery"),
                   users_pb2.UserResponse).user
        assert u.email == "tls@example.com"
        n = pg.psql("SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                    f"WHERE a.usename = '{pg.user}' AND a.datname = '{db}' AND s.ssl", db=db)
        assert int(n.strip()) >= 1, n
        n = pg.psql("SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                    f"WHERE a.usename = '{pg.user}' AND a.datname = '{db}' AND NOT s.ssl", db=db)
        assert int(n.strip()) == 0, n
    finally:
        a.stop()


def run(spec, env):
    return subprocess.run([AUTHD, "--listen", "127.0.0.1:0", "--store", spec,
                           "--store-connect-wait", "1"], capture_output=True, timeout=60,
                          env=env)


def test_verify_full_refuses_another_ca_and_plaintext(tls_pg):
    pg, certs = tls_pg
    db = pg.create_database()
    env = dict(os.environ, **pg.env(), AUTHD_TOTP_KEY=os.urandom(32).hex())
    other_ca = os.path.join(certs.dir, "other-ca", "ca.pem")
    p = run(f"postgres:{pg.conninfo(db)} sslmode=verify-full sslrootcert={other_ca}", env)
    assert p.returncode != 0
    assert b"cannot reach PostgreSQL" in p.stderr and b"certificate verify failed" in p.stderr, \
        p.stderr[-800:]
    # Without TLS the server refuses the connection (pg_hba "hostnossl ... reject").
    p = run(f"postgres:{pg.conninfo(db)} sslmode=disable", env)
    assert p.returncode != 0 and b"no encryption" in p.stderr, p.stderr[-800:]
