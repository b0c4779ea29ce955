# SPDX-License-Identifier: Apache-2.0
"""Throwaway PostgreSQL 15 clusters for tests: initdb into a temporary directory, start on a free
loopback port (plus a unix socket in that directory), always stop and remove.

PostgreSQL refuses to run as root, and CI runs as root: then every server program runs as the
`postgres` user (Debian's postgresql-15 package creates it) through runuser, on a directory that
user owns. Run as anyone else, the programs run as the caller.

    with PgCluster() as pg:
        db = pg.create_database()            # a fresh database owned by the test role
        env = dict(os.environ, **pg.env())    # PGPASSFILE: the password never goes on a command line
        subprocess.run([AUTHD, "--store", "postgres:" + pg.conninfo(db)], env=env)

Durability is the production one (fsync on, synchronous_commit on): the tests check that an
acknowledged write survives, which a cluster with fsync off would not show.

Extensible for a primary + standby test: `conf` adds postgresql.conf lines, `hba` adds pg_hba.conf
lines (e.g. "host replication repl 127.0.0.1/32 scram-sha-256"), `port` fixes the port, and
`init` replaces initdb (e.g. a callable running pg_basebackup into `cluster.datadir` through
`cluster.run_as_owner`).

A primary with a synchronous streaming standby (docs/scaling.md, "PostgreSQL high availability"):

    with PgHaPair() as ha:                    # primary + standby, the standby synchronous
        conninfo = ha.conninfo(db)            # host=127.0.0.1,127.0.0.1 port=P1,P2 ...
                                              # target_session_attrs=read-write
        ha.primary.stop(mode="immediate")     # the primary dies
        ha.promote()                          # pg_ctl promote on the standby
"""
import atexit
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

PG_BIN = os.environ.get("AUTHD_PG_BIN", "/usr/lib/postgresql/15/bin")
OWNER = "postgres"  # the OS user that runs the server when we are root


def free_port():
    """A loopback TCP port that was free a moment ago (the server start retries on a clash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """One PostgreSQL cluster. start() and stop() may be called directly or through `with`."""

    SUPERUSER = "postgres"

    def __init__(self, port=None, conf=(), hba=(), user="authd", password=None, init=None,
                 base_dir=None, max_connections=200):
        self.port = port
        self.fixed_port = port is not None
        self.conf = list(conf)
        self.hba = list(hba)
        self.user = user
        self.password = password or secrets.token_urlsafe(18)
        self.init = init
        self.base_dir = base_dir
        self.max_connections = max_connections
        self.dir = None       # temporary directory, owned by the server's user
        self.datadir = None   # PGDATA
        self.sockdir = None   # unix socket directory
        self.logfile = None
        self.passfile = None  # kept outside self.dir: read by the client side (the caller)
        self._passdir = None
        self.running = False
        self._dbseq = 0
        self.as_owner = os.geteuid() == 0

    # ---- plumbing ----------------------------------------------------------------------------

    def bin(self, name):
        return os.path.join(PG_BIN, name)

    def run_as_owner(self, argv, check=True, **kw):
        """Runs argv as the server's OS user (runuser from root), output captured as text."""
        if self.as_owner:
            argv = ["runuser", "-u", OWNER, "--"] + list(argv)
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 120)
        r = subprocess.run(argv, **kw)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")
        return r

    def psql(self, sql, db="postgres", check=True):
        """Runs sql as the cluster superuser over the unix socket; returns stdout (unaligned)."""
        r = self.run_as_owner([self.bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                               "-h", self.sockdir, "-p", str(self.port), "-U", self.SUPERUSER,
                               "-d", db, "-c", sql], check=check)
        return r.stdout

    # ---- life cycle --------------------------------------------------------------------------

    def _make_dirs(self):
        self.dir = tempfile.mkdtemp(prefix="authd-pg-", dir=self.base_dir)
        self.datadir = os.path.join(self.dir, "data")
        self.sockdir = os.path.join(self.dir, "sock")
        self.logfile = os.path.join(self.dir, "server.log")
        os.mkdir(self.sockdir, 0o700)
        if self.as_owner:
            pw = __import__("pwd").getpwnam(OWNER)
            for p in (self.dir, self.sockdir):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o711)  # traversable, so that the caller can reach the socket
        self._passdir = tempfile.mkdtemp(prefix="authd-pgpass-", dir=self.base_dir)

    def _initdb(self):
        pwfile = os.path.join(self.dir, "initdb.pw")
        # The superuser gets a random password too; the tests reach it through the socket.
        with open(pwfile, "w") as f:
            f.write(secrets.token_urlsafe(18) + "\n")
        if self.as_owner:
            pw = __import__("pwd").getpwnam(OWNER)
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        os.chmod(pwfile, 0o600)
        self.run_as_owner([self.bin("initdb"), "-D", self.datadir, "-U", self.SUPERUSER,
                           "--pwfile", pwfile, "-E", "UTF8", "--locale", "C",
                           "--auth-local", "trust", "--auth-host", "scram-sha-256"])
        os.unlink(pwfile)

    def _write_conf(self):
        lines = [
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.sockdir}'",
            # Only the owner (and root) may use the socket, which trusts local connections.
            "unix_socket_permissions = 0700",
            f"max_connections = {self.max_connections}",
            "shared_buffers = 32MB",
            "fsync = on",
            "synchronous_commit = on",
            "full_page_writes = on",
            "password_encryption = 'scram-sha-256'",
            "log_connections = off",
            # Deadlocks are found after deadlock_timeout (1 s by default); authd's lock waits
            # end after 2 s, and the storage tests check that a deadlock is found well before.
            "deadlock_timeout = 200ms",
        ] + self.conf
        conf = os.path.join(self.datadir, "postgresql.conf")
        hba = os.path.join(self.datadir, "pg_hba.conf")
        self.run_as_owner(["sh", "-c", 'cat >> "$1"', "sh", conf],
                          input="\n# tests/integration/pgcluster.py\n" + "\n".join(lines) + "\n")
        # pg_hba.conf is matched first line first: the caller's lines go before ours.
        hba_lines = self.hba + [
            "local all all trust",
            "host all all 127.0.0.1/32 scram-sha-256",
        ]
        self.run_as_owner(["sh", "-c", 'cat > "$1"', "sh", hba],
                          input="\n".join(hba_lines) + "\n")

    def _pg_ctl_start(self):
        r = self.run_as_owner([self.bin("pg_ctl"), "start", "-w", "-t", "60", "-D", self.datadir,
                               "-l", self.logfile], check=False)
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {r.stderr.strip()}\n{self.log_tail()}")

    def log_tail(self, n=30):
        try:
            r = self.run_as_owner(["tail", "-n", str(n), self.logfile], check=False)
            return r.stdout
        except OSError:
            return ""

    def _write_passfile(self):
        self.passfile = os.path.join(self._passdir, "pgpass")
        fd = os.open(self.passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            # host:port:database:user:password; both the TCP and the socket address, any port
            # (a test may reach the server through a relay of its own).
            for host in ("127.0.0.1", "localhost", self.sockdir):
                f.write(f"{host}:*:*:{self.user}:{self.password}\n")

    def start(self):
        """initdb (or self.init), configure, start; creates the test role and its database."""
        if self.dir is not None:
            raise RuntimeError("already started (restart() reuses the data directory)")
        self._make_dirs()
        if self.init is not None:
            self.init(self)
        else:
            self._initdb()
        if self.port is None:
            self.port = free_port()
        self._write_conf()
        for attempt in range(5):
            try:
                self._pg_ctl_start()
                break
            except RuntimeError:
                # Another process took the port between free_port() and the bind: try another.
                if self.fixed_port or attempt == 4 or "Address already in use" not in \
                        self.log_tail():
                    raise
                self.port = free_port()
                self._reset_conf()
        self.running = True
        atexit.register(self.stop)
        if self.init is None:
            q = self.password.replace("'", "''")
            self.psql(f"CREATE ROLE {self.user} LOGIN PASSWORD '{q}'")
            self.psql(f"CREATE DATABASE {self.user} OWNER {self.user}")
        self._write_passfile()
        return self

    def _reset_conf(self):
        # Our block is the last one in postgresql.conf: a later 'port' line overrides it.
        conf = os.path.join(self.datadir, "postgresql.conf")
        self.run_as_owner(["sh", "-c", 'cat >> "$1"', "sh", conf], input=f"port = {self.port}\n")

    def stop(self, mode="fast", remove=True):
        """Stops the server (pg_ctl stop -m fast, immediate if that fails) and removes its files
        unless remove=False (then start() runs it again on the same directory). Idempotent."""
        if self.running:
            r = self.run_as_owner([self.bin("pg_ctl"), "stop", "-w", "-t", "60", "-m", mode, "-D",
                                   self.datadir], check=False)
            if r.returncode != 0:
                self.run_as_owner([self.bin("pg_ctl"), "stop", "-w", "-m", "immediate", "-D",
                                   self.datadir], check=False)
            self.running = False
        if remove:
            for d in (self.dir, self._passdir):
                if d is not None:
                    shutil.rmtree(d, ignore_errors=True)
            self.dir = self._passdir = None

    def resume(self):
        """Starts again after stop(remove=False): same data, same port."""
        self._pg_ctl_start()
        self.running = True

    def restart(self):
        """Stops (fast) and starts again on the same data and port."""
        self.stop(remove=False)
        self._pg_ctl_start()
        self.running = True

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()

    # ---- what clients need -------------------------------------------------------------------

    def create_database(self, name=None):
        """A fresh, empty database owned by the test role; returns its name."""
        if name is None:
            self._dbseq += 1
            name = f"{self.user}_{os.getpid()}_{self._dbseq}"
        self.psql(f"CREATE DATABASE {name} OWNER {self.user}")
        return name

    def conninfo(self, dbname=None, host="127.0.0.1"):
        """A libpq key=value string without the password (it is in the file env() names)."""
        return (f"host={host} port={self.port} dbname={dbname or self.user} user={self.user} "
                f"connect_timeout=5")

    def env(self):
        """Environment for a client process: PGPASSFILE (mode 0600) holds the password."""
        return {"PGPASSFILE": self.passfile}

    def wait_ready(self, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.run_as_owner([self.bin("pg_isready"), "-h", self.sockdir, "-p",
                                   str(self.port)], check=False)
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("server not ready")


# ---- a primary with a synchronous streaming standby ----------------------------------------------

REPLICATION_USER = "replicator"
STANDBY_NAME = "standby1"  # the standby's cluster_name: the name the primary's
#                            synchronous_standby_names lists (the walreceiver's application_name)


class PgHaPair:
    """A primary and one synchronous streaming standby made from it with `pg_basebackup -R`; both
    on loopback, both stopped and removed at the end. A commit on the primary returns only once
    the standby has flushed it (synchronous_standby_names, synchronous_commit on), so a write the
    primary acknowledged survives the primary's loss and the standby's promotion."""

    def __init__(self, base_dir=None, max_connections=200):
        # The primary accepts replication connections of one role, over TCP with a password.
        self.primary = PgCluster(base_dir=base_dir, max_connections=max_connections,
                                 hba=[f"host replication {REPLICATION_USER} 127.0.0.1/32 "
                                      "scram-sha-256"])
        self.standby = None
        self.base_dir = base_dir
        self.max_connections = max_connections
        self.repl_password = secrets.token_urlsafe(18)
        self.promoted = False

    def _basebackup(self, standby):
        """The standby's `init`: a base backup of the primary into its data directory, with -R
        (standby.signal and primary_conninfo written for us). The replication password is read
        from a pgpass file of the server's user inside the standby's directory; primary_conninfo
        names that file (passfile=), so it never sits in a configuration file."""
        passfile = os.path.join(standby.dir, "replication.pgpass")
        fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"127.0.0.1:{self.primary.port}:*:{REPLICATION_USER}:{self.repl_password}\n")
        if standby.as_owner:
            pw = __import__("pwd").getpwnam(OWNER)
            os.chown(passfile, pw.pw_uid, pw.pw_gid)
        standby.run_as_owner([
            standby.bin("pg_basebackup"), "-D", standby.datadir, "-R", "-X", "stream",
            "-c", "fast", "-d",
            f"host=127.0.0.1 port={self.primary.port} user={REPLICATION_USER} "
            f"passfile={passfile}"], timeout=300)

    def start(self):
        self.primary.start()
        q = self.repl_password.replace("'", "''")
        self.primary.psql(f"CREATE ROLE {REPLICATION_USER} REPLICATION LOGIN PASSWORD '{q}'")
        # The standby's walreceiver names itself by cluster_name (primary_conninfo from -R
        # has no application_name); it shares the primary's role and password for authd.
        self.standby = PgCluster(base_dir=self.base_dir, max_connections=self.max_connections,
                                 user=self.primary.user, password=self.primary.password,
                                 init=self._basebackup,
                                 conf=[f"cluster_name = '{STANDBY_NAME}'", "hot_standby = on"])
        self.standby.start()
        # Synchronous only now: before the standby existed every commit would have waited.
        self.primary.psql(f"ALTER SYSTEM SET synchronous_standby_names = '{STANDBY_NAME}'")
        self.primary.psql("SELECT pg_reload_conf()")
        self.wait_sync()
        return self

    def wait_sync(self, timeout=60.0):
        """Waits (bounded) until the primary reports the standby as streaming and synchronous."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            state = self.primary.psql(
                "SELECT state || ':' || sync_state FROM pg_stat_replication "
                f"WHERE application_name = '{STANDBY_NAME}'").strip()
            if state == "streaming:sync":
                return
            time.sleep(0.1)
        raise RuntimeError(f"the standby is not synchronous (pg_stat_replication: {state!r})\n"
                           + self.standby.log_tail())

    def promote(self, timeout=60):
        """pg_ctl promote on the standby, waiting (bounded) until it accepts writes. It then has
        no synchronous standby of its own: commits no longer wait for one."""
        self.standby.run_as_owner([self.standby.bin("pg_ctl"), "promote", "-w", "-t",
                                   str(timeout), "-D", self.standby.datadir])
        self.promoted = True

    def conninfo(self, dbname=None):
        """The multi-host conninfo a client (authd) uses: both servers, the first that accepts
        writes wins (target_session_attrs=read-write), tried again on every reconnect."""
        return (f"host=127.0.0.1,127.0.0.1 port={self.primary.port},{self.standby.port} "
                f"dbname={dbname or self.primary.user} user={self.primary.user} "
                "target_session_attrs=read-write connect_timeout=5")

    def env(self):
        """PGPASSFILE for clients: the primary's file (any port on 127.0.0.1, so both)."""
        return self.primary.env()

    def create_database(self, name=None):
        """A database on the primary (the standby replays it)."""
        return self.primary.create_database(name)

    def stop(self):
        for c in (self.standby, self.primary):
            if c is not None:
                c.stop()

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
