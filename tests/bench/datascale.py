#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Data at scale (issue 13; never part of the test suite): loads N users, each with a live
session, through the bulk loader (`authctl user import`, authd/import.h), then measures, at
that size, the calls whose store reads grow with the data:

  login        Sessions/Login over many accounts (a random loaded user per call; Argon2id at
               authd's default cost, the hashes precomputed once and shared by every 16th user)
  session_get  Sessions/Get of a random loaded session token (the edge's per-request check)
  introspect   OAuth/Introspect of the JWT access tokens of --sample random users (password
               grant at setup): the revoked/<jti> miss, the user record, the client
  totp_verify  Sessions/VerifySecondFactor of --totp-users random users enrolled at setup,
               one verification each (a code is single-use per user and period), each after a
               Login that is not timed

and prints, per row, calls/s, p50/p99 (ms) with T client threads, plus the load rate and the
on-disk size per user. The client is Python grpcio (the same at every size), so compare rows
between sizes (issue 13: p99 at 10M within 1.5x the 10k figure), not with h2bench.

  datascale.py --users N [--build DIR] [--dir DIR] [--keep] [--load-only] [--measure-only]
               [--seconds S]
               [--threads T] [--sample K] [--totp-users K] [--authd-args "..."]

--dir DIR keeps the store (and tokens.txt) there; a DIR already loaded with N users is reused
(no second load), so a 10M store is loaded once and measured again later. Every phase is
bounded in time; authd is always stopped (SIGTERM, then SIGKILL).
"""
import argparse
import base64
import ctypes
import hashlib
import hmac
import json
import os
import random
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HASHES = 16              # distinct precomputed Argon2id hashes (user i has hash i % 16)
START_TIMEOUT = 120.0    # seconds for authd to serve (a 10M store opens in a few seconds)
LOAD_TIMEOUT = 4 * 3600  # seconds for the load
CLIENT, SECRET = "scale-app", "scale-app-secret-0123456789abcdef012345"


def phc(password):
    """Argon2id at authd's default cost (m=19456 KiB, t=2, p=1) by libargon2 itself."""
    lib = ctypes.CDLL("libargon2.so.1")
    lib.argon2id_hash_encoded.argtypes = [
        ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t,
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    out = ctypes.create_string_buffer(256)
    pw, salt = password.encode(), os.urandom(16)
    assert lib.argon2id_hash_encoded(2, 19456, 1, pw, len(pw), salt, len(salt), 32, out,
                                     256) == 0
    return out.value.decode()


def email(i):
    return f"u{i}@scale.example"


def index_of(addr):
    return int(addr[1:addr.index("@")])


def password(i):
    return f"scale-pass-{i % HASHES}"


def du_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass
    return total


class Authd:
    def __init__(self, build, data, extra):
        self.log_path = data + ".authd.log"
        port_file = data + ".port"
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [os.path.join(build, "authd", "authd"), "--listen", "127.0.0.1:0", "--data-dir",
             data, "--port-file", port_file] + extra, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"authd exited ({self.proc.returncode}); see {self.log_path}")
            try:
                with open(port_file) as f:
                    self.target = "127.0.0.1:" + f.read().strip()
                if self.target != "127.0.0.1:":
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            self.stop()
            raise SystemExit("authd did not start in time")

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1]) / 1024
        return 0.0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# ---- the load -----------------------------------------------------------------------------

def load(build, authd, n, tokens_paths):
    """Pipes n users (JSON Lines) into len(tokens_paths) `authctl user import` processes at once,
    each a disjoint range (one load each); returns (seconds, users/s)."""
    hashes = [phc(f"scale-pass-{k}") for k in range(HASHES)]
    streams = len(tokens_paths)
    t0 = time.monotonic()

    def one(s, out):
        lo, hi = n * s // streams, n * (s + 1) // streams
        cmd = [os.path.join(build, "ctl", "authctl"), "--authd", authd.target, "--timeout",
               "60000", "user", "import", "-", "--quiet", "--tokens-out", tokens_paths[s],
               "--load-id", f"datascale-{n}-{s}"]
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            for a in range(lo, hi, 10000):
                p.stdin.write("".join(
                    f'{{"email":"u{i}@scale.example","password_hash":"{hashes[i % HASHES]}",'
                    f'"email_verified":true,"session":true}}\n'
                    for i in range(a, min(hi, a + 10000))).encode())
            p.stdin.close()
            out[s] = p.stdout.read().decode()
            p.wait(timeout=LOAD_TIMEOUT)
        except BaseException:
            p.kill()
            raise
        if p.returncode != 0:
            out[s] = f"FAILED ({p.returncode}) " + out[s]

    outs = [None] * streams
    ths = [threading.Thread(target=one, args=(s, outs)) for s in range(streams)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    secs = time.monotonic() - t0
    for o in outs:
        print((o or "FAILED (no output)").strip(), flush=True)
        if o is None or o.startswith("FAILED"):
            raise SystemExit("authctl user import failed")
    return secs, n / secs


def sample_lines(paths, k, rng):
    """k distinct random whole lines of the tokens files (seeks to random offsets):
    (email, id, token) each."""
    sizes = [os.path.getsize(p) for p in paths]
    k = min(k, sum(sizes) // 400)  # distinct lines: stay far below the files' line count
    out = set()
    files = [open(p, "rb") for p in paths]
    try:
        while len(out) < k:
            j = rng.randrange(len(files))
            f = files[j]
            f.seek(rng.randrange(max(1, sizes[j] - 1)))
            f.readline()
            ln = f.readline()
            if ln:
                out.add(tuple(ln.decode().split()))
    finally:
        for f in files:
            f.close()
    return list(out)


# ---- the measurements ---------------------------------------------------------------------

def pct(sorted_ms, p):
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * p))]


def run_row(name, threads, seconds, work, max_calls=None):
    """Runs work(thread_index, call_index) from `threads` threads for `seconds` (or until
    max_calls); returns a dict with calls/s and latency percentiles. work returns True when
    the answer was right."""
    lat, bad, lock = [], [0], threading.Lock()
    deadline = time.monotonic() + seconds
    counter = [0]

    def loop(t):
        mine, mybad = [], 0
        while time.monotonic() < deadline:
            with lock:
                k = counter[0]
                counter[0] += 1
            if max_calls is not None and k >= max_calls:
                break
            t0 = time.perf_counter()
            ok = work(t, k)
            mine.append((time.perf_counter() - t0) * 1000)
            mybad += 0 if ok else 1
        with lock:
            lat.extend(mine)
            bad[0] += mybad

    t0 = time.monotonic()
    ths = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    wall = time.monotonic() - t0
    lat.sort()
    return {"row": name, "calls": len(lat), "failed": bad[0], "per_s": len(lat) / wall,
            "p50_ms": pct(lat, 0.50), "p99_ms": pct(lat, 0.99), "threads": threads}


def totp(secret_b32, step):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    h = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    o = h[-1] & 15
    return "%06d" % ((struct.unpack(">I", h[o:o + 4])[0] & 0x7fffffff) % 1000000)


def measure(build, authd, n, tokens_paths, args):
    sys.path.insert(0, os.path.join(build, "python"))
    import grpc
    from authd.v1 import oauth_pb2, sessions_pb2, twofactor_pb2
    ch = grpc.insecure_channel(authd.target, options=[("grpc.max_concurrent_streams", 256)])

    def stub(method, resp_cls):
        return ch.unary_unary(method, request_serializer=lambda m: m.SerializeToString(),
                              response_deserializer=resp_cls.FromString)

    login = stub("/authd.v1.Sessions/Login", sessions_pb2.SessionResponse)
    get = stub("/authd.v1.Sessions/Get", sessions_pb2.SessionResponse)
    token = stub("/authd.v1.OAuth/Token", oauth_pb2.OAuthTokenResponse)
    introspect = stub("/authd.v1.OAuth/Introspect", oauth_pb2.IntrospectResponse)
    begin = stub("/authd.v1.TwoFactor/BeginEnrollment", twofactor_pb2.BeginEnrollmentResponse)
    confirm = stub("/authd.v1.TwoFactor/ConfirmEnrollment", twofactor_pb2.RecoveryCodesResponse)
    verify = stub("/authd.v1.Sessions/VerifySecondFactor", sessions_pb2.SessionResponse)
    put_client = stub("/authd.v1.ClientAdmin/Put", oauth_pb2.ClientResponse)
    rng = random.Random(n)
    rows = []

    def ok_call(fn, req, check):
        try:
            return check(fn(req, timeout=30))
        except grpc.RpcError:
            return False

    # session_get: random loaded sessions.
    sess = sample_lines(tokens_paths, min(n, args.sample_sessions), rng)
    rows.append(run_row("session_get", args.threads, args.seconds, lambda t, k: ok_call(
        get, sessions_pb2.GetSessionRequest(session_token=sess[rng.randrange(len(sess))][2]),
        lambda r: r.session.authenticated)))

    # login over many accounts (the sampled loaded users).
    def do_login(t, k):
        i = index_of(sess[rng.randrange(len(sess))][0])
        return ok_call(login, sessions_pb2.LoginRequest(email=email(i), password=password(i),
                                                        client_ip=f"10.0.{t}.{k % 250 + 1}"),
                       lambda r: r.session_token != "")  # pending for users with TOTP
    rows.append(run_row("login", args.threads, args.seconds, do_login))

    # introspect: JWTs of --sample random users (password grant).
    c = oauth_pb2.Client(id=CLIENT, secret=SECRET, first_party=True, grant_types=["password"],
                         introspect=True)
    put_client(c, timeout=30)
    picks = [index_of(sess[rng.randrange(len(sess))][0]) for _ in range(args.sample)]
    jwts = []
    for i in picks:
        try:
            jwts.append(token(oauth_pb2.OAuthTokenRequest(
                grant_type="password", client_id=CLIENT, client_secret=SECRET,
                username=email(i), password=password(i), client_ip="10.1.0.1"),
                timeout=60).access_token)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise  # else: a user enrolled in TOTP by an earlier run on this store
    rows.append(run_row("introspect", args.threads, args.seconds, lambda t, k: ok_call(
        introspect, oauth_pb2.IntrospectRequest(token=jwts[rng.randrange(len(jwts))],
                                                client_id=CLIENT, client_secret=SECRET,
                                                client_ip="10.1.0.2"),
        lambda r: r.active)))

    # totp_verify: enrol --totp-users users through their loaded sessions, log each in (not
    # timed), then one verification each in a later period than the enrolment.
    enrolled = []
    for em, uid, st in sample_lines(tokens_paths, min(n, args.totp_users), rng):
        try:
            b = begin(twofactor_pb2.BeginEnrollmentRequest(session_token=st), timeout=30)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.FAILED_PRECONDITION:
                continue  # enrolled by an earlier run on this store
            raise
        step = int(time.time()) // 30
        confirm(twofactor_pb2.ConfirmEnrollmentRequest(session_token=st,
                                                       code=totp(b.secret, step),
                                                       client_ip="10.2.0.1"), timeout=30)
        i = index_of(em)
        enrolled.append((i, b.secret, step))
    pending = []
    for i, sec, step in enrolled:
        r = login(sessions_pb2.LoginRequest(email=email(i), password=password(i),
                                            client_ip="10.2.0.2"), timeout=60)
        pending.append((r.session_token, sec, step))
    last = max(s for _, _, s in pending)
    while int(time.time()) // 30 <= last:
        time.sleep(0.2)
    rows.append(run_row("totp_verify", args.threads, 120, lambda t, k: ok_call(
        verify, sessions_pb2.VerifySecondFactorRequest(
            session_token=pending[k][0], code=totp(pending[k][1], int(time.time()) // 30),
            client_ip="10.2.0.3"), lambda r: r.session.authenticated),
        max_calls=len(pending)))
    ch.close()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--dir", help="keep (or reuse) the store here")
    ap.add_argument("--keep", action="store_true", help="do not delete --dir afterwards")
    ap.add_argument("--load-only", action="store_true")
    ap.add_argument("--measure-only", action="store_true",
                    help="measure --dir as it is (also a load that was stopped)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--sample", type=int, default=256, help="users whose JWTs are introspected")
    ap.add_argument("--sample-sessions", type=int, default=20000)
    ap.add_argument("--totp-users", type=int, default=200)
    ap.add_argument("--streams", type=int, default=2, help="authctl imports run at once")
    ap.add_argument("--authd-args", default="", help="extra authd flags (RocksDB options...)")
    args = ap.parse_args()

    base = args.dir or tempfile.mkdtemp(prefix="authd-datascale-", dir="/var/tmp")
    os.makedirs(base, exist_ok=True)
    data = os.path.join(base, "data")
    tokens_paths = [os.path.join(base, f"tokens-{k}.txt") for k in range(args.streams)]
    marker = os.path.join(base, "datascale.json")
    info = {}
    if os.path.exists(marker):
        with open(marker) as f:
            info = json.load(f)
        if info.get("users") != args.users and not args.measure_only:
            raise SystemExit(f"{base} holds a load of {info.get('users')} users, not "
                             f"{args.users}: give another --dir")
    extra = shlex.split(args.authd_args)
    print(f"datascale users={args.users} dir={base} load={os.getloadavg()[0]:.1f}", flush=True)
    authd = Authd(args.build, data, extra)
    try:
        if not info and args.measure_only:
            # A load that was stopped: measure what it loaded (users listed in tokens-*.txt).
            tokens_paths = [os.path.join(base, f) for f in sorted(os.listdir(base))
                            if f.startswith("tokens-")]
            count = 0
            for p in tokens_paths:
                with open(p, "rb") as f:
                    count += sum(1 for _ in f)
            info = {"users": count, "load_s": "partial", "users_per_s": "partial",
                    "streams": len(tokens_paths)}
            args.users = count
        if not info:
            for p in tokens_paths:
                if os.path.exists(p):
                    os.unlink(p)
            secs, rate = load(args.build, authd, args.users, tokens_paths)
            info = {"users": args.users, "load_s": round(secs, 1), "users_per_s": round(rate),
                    "loadavg": os.getloadavg()[0], "streams": args.streams}
            with open(marker, "w") as f:
                json.dump(info, f)
        disk = du_bytes(data)
        print(f"load users={args.users} seconds={info['load_s']} users_per_s="
              f"{info['users_per_s']} disk_mib={disk / 2**20:.0f} "
              f"bytes_per_user={disk / args.users:.0f}", flush=True)
        if not args.load_only:
            tokens_paths = [os.path.join(base, f"tokens-{k}.txt")
                            for k in range(info.get("streams", 1))]
            for r in measure(args.build, authd, args.users, tokens_paths, args):
                print(f"{r['row']:<12} users={args.users:<9} threads={r['threads']} "
                      f"calls={r['calls']:<7} failed={r['failed']:<4} per_s={r['per_s']:<8.0f} "
                      f"p50_ms={r['p50_ms']:.2f} p99_ms={r['p99_ms']:.2f}", flush=True)
        print(f"authd_rss_mib={authd.rss_mib():.0f} load={os.getloadavg()[0]:.1f}", flush=True)
    finally:
        authd.stop()
        if not args.keep and args.dir is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
