# SPDX-License-Identifier: Apache-2.0
"""Online backups of the RocksDB store (Admin.Backup, `authctl backup DIR`): a backup taken while
a writer keeps creating users restores - a second authd started on the copy - to a state holding
every write acknowledged before the backup began; the refusals name what is wrong; on
PostgreSQL the RPC points to PostgreSQL's own tools."""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

import grpc
import pytest

from conftest import (AUTHCTL, FAST_ARGON2, STORE, Authd, admin_pb2, grpc_reason, pg_session,
                      users_pb2)
from authd.v1 import oauth_pb2

rocksdb_only = pytest.mark.skipif(STORE != "rocksdb", reason="a backup of the RocksDB store")

# The writer's bounds: it stops at whichever comes first.
WRITER_MAX_USERS = 3000
WRITER_MAX_SECONDS = 60.0


def ctl(authd, *args, timeout=60):
    return subprocess.run([AUTHCTL, "--authd", authd.target, "--timeout", "30000"] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def create_user(authd, email):
    # No password: no Argon2 hash, so the writer is quick and the store sees many writes.
    return authd.call("/authd.v1.Users/Create", users_pb2.CreateUserRequest(email=email),
                      users_pb2.UserResponse).user.id


class Writer(threading.Thread):
    """Creates users one after another; acked holds (email, id) of each acknowledged create, in
    order. Stops when told, or at WRITER_MAX_USERS / WRITER_MAX_SECONDS."""

    def __init__(self, authd):
        super().__init__(daemon=True)
        self.authd = authd
        self.acked = []
        self.lock = threading.Lock()
        self.stop_now = threading.Event()
        self.progress = threading.Condition(self.lock)
        self.error = None

    def run(self):
        deadline = time.monotonic() + WRITER_MAX_SECONDS
        try:
            for i in range(WRITER_MAX_USERS):
                if self.stop_now.is_set() or time.monotonic() > deadline:
                    break
                email = f"load{i}@example.com"
                uid = create_user(self.authd, email)
                with self.lock:
                    self.acked.append((email, uid))
                    self.progress.notify_all()
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
        finally:
            with self.lock:
                self.progress.notify_all()

    def wait_for(self, n, timeout=WRITER_MAX_SECONDS):
        """Until at least n creates were acknowledged (or the writer ended)."""
        with self.lock:
            self.progress.wait_for(lambda: len(self.acked) >= n or not self.is_alive(),
                                   timeout=timeout)
            return len(self.acked)

    def snapshot(self):
        with self.lock:
            return list(self.acked)


@rocksdb_only
def test_backup_under_write_load_restores(authd):
    authd.call("/authd.v1.Admin/PutAuthConfig",
               admin_pb2.AuthConfig(id="app", asid_cookie_max_age=3600), admin_pb2.AuthConfig)
    kids = {k["kid"] for k in json.loads(authd.call(
        "/authd.v1.OAuth/Jwks", oauth_pb2.JwksRequest(), oauth_pb2.JwksResponse).jwks_json)["keys"]}
    w = Writer(authd)
    w.start()
    restored = None
    with tempfile.TemporaryDirectory(prefix="authd-backup-") as tmp2:
        dest = os.path.join(tmp2, "data")
        try:
            assert w.wait_for(50) >= 50, w.error
            before = w.snapshot()  # every create acknowledged before the backup began
            p = ctl(authd, "backup", dest)
            assert p.returncode == 0, p.stderr
            assert p.stdout.startswith(f"backup written to {dest}"), p.stdout
            during = len(w.snapshot())
            # The writer went on while the copy was made, and after it.
            w.wait_for(during + 20)
        finally:
            w.stop_now.set()
            w.join(timeout=WRITER_MAX_SECONDS + 30)
        assert w.error is None, w.error
        after = w.snapshot()
        assert len(after) > len(before)
        assert oct(os.stat(dest).st_mode & 0o777) == "0o700"
        # The audit line says who made it and where.
        log = authd.log_text()
        assert "Admin/Backup" in log and dest in log and "event=backup_done" in log

        # Restore: a second authd on the copy (the development key lives beside the data
        # directory, never in the backup: it comes along as an operator's key file would).
        shutil.copy(authd.data + ".dev-totp.key", dest + ".dev-totp.key")
        restored = Authd(tmp2, FAST_ARGON2)
        try:
            for email, uid in before:
                u = restored.call("/authd.v1.Users/Get", users_pb2.GetUserRequest(email=email),
                                  users_pb2.UserResponse).user
                assert u.id == uid, email
            # Later creates may or may not be in it; none is half there.
            listed = set()
            token = ""
            while True:
                r = restored.call("/authd.v1.Users/List",
                                  users_pb2.ListUsersRequest(page_size=500, page_token=token),
                                  users_pb2.ListUsersResponse)
                listed |= {u.email for u in r.users}
                token = r.next_page_token
                if not token:
                    break
            assert {e for e, _ in before} <= listed <= {e for e, _ in after}
            for email, uid in after[len(before):]:
                if email in listed:
                    assert restored.call("/authd.v1.Users/Get",
                                         users_pb2.GetUserRequest(email=email),
                                         users_pb2.UserResponse).user.id == uid
            # The rest of the store came too: the AuthConfig, and signing keys that open.
            cfg = restored.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                                admin_pb2.AuthConfig)
            assert cfg.id == "app" and cfg.asid_cookie_max_age == 3600
            got = {k["kid"] for k in json.loads(restored.call(
                "/authd.v1.OAuth/Jwks", oauth_pb2.JwksRequest(),
                oauth_pb2.JwksResponse).jwks_json)["keys"]}
            assert got == kids
            assert "signkey_unreadable" not in restored.log_text()
            # The copy is a store of its own: writes to it do not reach the original.
            create_user(restored, "only-in-copy@example.com")
            with pytest.raises(grpc.RpcError) as e:
                authd.call("/authd.v1.Users/Get",
                           users_pb2.GetUserRequest(email="only-in-copy@example.com"),
                           users_pb2.UserResponse)
            assert e.value.code() == grpc.StatusCode.NOT_FOUND
        finally:
            restored.stop()


@rocksdb_only
def test_backup_refusals(authd, tmp_path):
    # Not empty: refused, nothing in it touched.
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    p = ctl(authd, "backup", str(full))
    assert p.returncode == 1 and f"backup directory {full} is not empty" in p.stderr, p.stderr
    assert "already_exists" in p.stderr
    assert (full / "keep.txt").read_text() == "mine"
    # An empty directory is fine, and so is a new one under an existing parent.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert ctl(authd, "backup", str(empty)).returncode == 0
    assert (empty / "CURRENT").exists()
    p = ctl(authd, "-o", "json", "backup", str(tmp_path / "new"))
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout)
    assert j["dir"] == str(tmp_path / "new") and abs(j["taken_at"] - time.time()) < 3600
    # The same directory again: now it is not empty.
    p = ctl(authd, "backup", str(tmp_path / "new"))
    assert p.returncode == 1 and "is not empty" in p.stderr, p.stderr
    # A file, a missing parent.
    (tmp_path / "file").write_text("x")
    p = ctl(authd, "backup", str(tmp_path / "file"))
    assert p.returncode == 1 and "is not a directory" in p.stderr, p.stderr
    p = ctl(authd, "backup", str(tmp_path / "no" / "such" / "dir"))
    assert p.returncode == 1 and "parent directory" in p.stderr and "does not exist" in p.stderr, \
        p.stderr
    # The RPC itself refuses a relative path (authctl refuses it before calling).
    with pytest.raises(grpc.RpcError) as e:
        authd.call("/authd.v1.Admin/Backup", admin_pb2.BackupRequest(dir="relative/dir"),
                   admin_pb2.BackupResponse)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "absolute" in e.value.details()
    p = ctl(authd, "backup", "relative/dir")
    assert p.returncode == 2 and "absolute path on authd's host" in p.stderr, p.stderr
    # Usage.
    assert ctl(authd, "backup").returncode == 2
    assert ctl(authd, "backup", "--id", "x").returncode == 2
    p = ctl(authd, "backup", "--help")
    assert p.returncode == 0 and p.stdout.startswith("usage: authctl backup DIR")
    assert "authd's host" in p.stdout and "--data-dir" in p.stdout


def backup_rpc_error(authd, d):
    with pytest.raises(grpc.RpcError) as e:
        authd.call("/authd.v1.Admin/Backup", admin_pb2.BackupRequest(dir=d),
                   admin_pb2.BackupResponse)
    return e.value


@rocksdb_only
def test_backup_refuses_dotdot(authd, tmp_path):
    (tmp_path / "a").mkdir()
    for d in (f"{tmp_path}/a/../b", f"{tmp_path}/a/..", f"{tmp_path}/a/../b/"):
        err = backup_rpc_error(authd, d)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, d
        assert d in err.details() and "'..'" in err.details(), err.details()
        p = ctl(authd, "backup", d)
        assert p.returncode == 1 and d in p.stderr and "'..'" in p.stderr, p.stderr
    assert not (tmp_path / "b").exists()
    # A name that merely starts with dots is a name.
    p = ctl(authd, "backup", f"{tmp_path}/..b")
    assert p.returncode == 0, p.stderr


@rocksdb_only
def test_backup_refuses_the_data_directory(authd, tmp_path):
    data = os.path.realpath(authd.data)
    before = sorted(os.listdir(data))
    link = tmp_path / "link"
    link.symlink_to(data)
    cases = [
        (data, "is the data directory"),
        (data + "/", "is the data directory"),
        (data + "/backup", "is inside the data directory"),
        (str(link / "backup"), "is inside the data directory"),  # the same place by a link
        (os.path.dirname(data), "contains the data directory"),
        ("/", "contains the data directory"),
    ]
    for d, why in cases:
        err = backup_rpc_error(authd, d)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (d, err.details())
        assert f"backup directory {d} {why} {data}" in err.details(), err.details()
        p = ctl(authd, "backup", d)
        assert p.returncode == 1 and f"{d} {why}" in p.stderr, p.stderr
    assert sorted(os.listdir(data)) == before
    # Beside it (a name that shares its prefix) is fine.
    p = ctl(authd, "backup", data + "-copy")
    assert p.returncode == 0, p.stderr
    shutil.rmtree(data + "-copy")


@rocksdb_only
def test_backup_files_are_private(authd, tmp_path):
    # Whatever umask authd runs under, nothing in the copy is for group or others.
    create_user(authd, "private@example.com")
    for name in ("new", "empty"):
        d = tmp_path / name
        if name == "empty":
            d.mkdir(mode=0o755)
        p = ctl(authd, "backup", str(d))
        assert p.returncode == 0, p.stderr
        names = []
        for root, dirs, files in os.walk(d):
            for n in [root] + [os.path.join(root, f) for f in dirs + files]:
                st = os.lstat(n)
                want = 0o700 if os.path.isdir(n) else 0o600
                assert st.st_mode & 0o777 == want, (n, oct(st.st_mode))
                names.append(n)
        assert (d / "CURRENT").exists() and len(names) > 3, names
        assert not (d / ".checkpoint").exists()


def test_backup_on_postgres_points_to_its_tools():
    with tempfile.TemporaryDirectory(prefix="authd-backup-pg-") as tmp:
        a = Authd(tmp, FAST_ARGON2, pg=pg_session())
        try:
            with pytest.raises(grpc.RpcError) as e:
                a.call("/authd.v1.Admin/Backup", admin_pb2.BackupRequest(dir=tmp + "/b"),
                       admin_pb2.BackupResponse)
            assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
            assert "pg_dump" in e.value.details() and "pg_basebackup" in e.value.details()
            p = ctl(a, "backup", tmp + "/b")
            assert p.returncode == 1 and "pg_dump" in p.stderr, p.stderr
            assert not os.path.exists(tmp + "/b")
        finally:
            a.stop()
