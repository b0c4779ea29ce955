# SPDX-License-Identifier: Apache-2.0
"""Crash safety: authd is killed with SIGKILL in the middle of a stream of signups, 2FA
enrolments, TOTP verifications and refresh-token rotations, restarted on the same data
directory, and every operation it acknowledged must still be there, while no TOTP step it
accepted and no refresh token it rotated may have become valid again.

What each kind of operation leaves behind, and how it is checked after the restart:

- signup (Signup/Start + Complete acknowledged): the user exists with the same id, the session
  token Complete returned is still valid, and the password logs in.
- enrolment (Users/Create, Login, TwoFactor/BeginEnrollment + ConfirmEnrollment acknowledged):
  the user shows 2FA on and Login stops at a pending session; the code that confirmed the
  enrolment is spent (replaying it at the second step is refused).
- TOTP verification (Login + Sessions/VerifySecondFactor acknowledged): the authenticated session
  it opened is valid, and the same code replayed for the same user is refused (wrong_token):
  the recorded last step did not roll back. A replay is only meaningful while the step is still
  inside authd's window (one step back with validPastTokensCount = 1, one ahead), so the stream
  uses only the current and the next step and the checks follow within seconds; a replay that
  happens outside the window anyway is counted, not judged.
- refresh rotation (OAuth/Token grant_type=refresh_token acknowledged): every token a chain has
  handed in (superseded) is inactive by OAuth/Introspect (RFC 7662), which reads the token
  without redeeming it (redeeming a superseded token revokes its family by design). The last
  acknowledged token of a chain must be active, unless that chain's rotation was in flight at
  the kill: the rotation may then have committed without its answer reaching us, so the last
  acknowledged token may be superseded (inactive) and the chain is replaced by a new one.
  After the last cycle the newest superseded token of every chain is also redeemed, and refused.

Calls that fail after the kill was sent are in flight: their outcome is unknown and only
counted (and, where cheap, what became of them is reported). A call that fails before the kill
is an error of the test run. The cycle stream -> SIGKILL -> restart -> checks runs CYCLES times
on one data directory, and every earlier acknowledgement is checked again after every restart.

A SIGKILL loses the process, not the page cache: this proves that nothing is acknowledged
before RocksDB has it in its WAL (no acknowledged state only in memory, no write after the
answer), not that the WAL is fsynced (that needs a power cut or a filesystem that drops
unsynced data).

A second test covers the security state that is not in the stream (DESIGN §4): a revocation,
a logout, a password change, a deactivation, 2FA turned off and the brute-force counters, each
answered just before a SIGKILL.
"""
import base64
import collections
import hashlib
import hmac
import itertools
import os
import queue
import random
import re
import signal
import struct
import threading
import time

import grpc
import pytest

from conftest import (LONG_LOCK, common_pb2, grpc_reason, grpc_trailer, long_locks,
                      sessions_pb2, signup_pb2, users_pb2)
from authd.v1 import oauth_pb2, twofactor_pb2  # noqa: E402

U = "/authd.v1.Users/"
S = "/authd.v1.Sessions/"
SU = "/authd.v1.Signup/"
TF = "/authd.v1.TwoFactor/"
CA = "/authd.v1.ClientAdmin/"
OA = "/authd.v1.OAuth/"

PW = "crash safe password 123"
PERIOD = 30
CLIENT, CLIENT_SECRET = "crash-app", "crash-app-secret-0123456789abcdef"

CYCLES = 3
TOTP_USERS = 40         # users enrolled before the stream, each verified once per usable step
CHAINS = 12             # refresh-token chains rotated in the stream
# Threads per kind of operation; each has one call in flight at a time.
WORKERS = {"signup": 3, "enrolment": 2, "totp": 3, "rotation": 4}
STREAM_MAX_S = 6.0      # a stream ends by itself after this (the kill normally comes first)
KILL_AFTER_S = (0.8, 2.5)
OPS_PER_THREAD = 400    # and after this many operations per thread
CALL_TIMEOUT = 10
TEST_BUDGET_S = 150     # hard bound on the whole test (target: well under a minute)


# ---- helpers -----------------------------------------------------------------------------

def totp(secret, step, digits=6):
    """RFC 6238 (HMAC-SHA1, 30 s steps) for one step number."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


def now_step():
    return int(time.time() // PERIOD)


_counter_lock = threading.Lock()
_ip_counter = itertools.count(1)
_email_counter = itertools.count(1)


def fresh_ip():
    """A client address of its own for every call that is throttled per address."""
    with _counter_lock:
        n = next(_ip_counter)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def fresh_email(kind):
    with _counter_lock:
        n = next(_email_counter)
    return f"{kind}{n}@crash.example"


def call(a, method, req, resp_cls):
    return a.call(method, req, resp_cls, timeout=CALL_TIMEOUT)


def login(a, email):
    return call(a, S + "Login", sessions_pb2.LoginRequest(email=email, password=PW,
                                                          client_ip=fresh_ip()),
                sessions_pb2.SessionResponse)


def verify(a, pending, code):
    return call(a, S + "VerifySecondFactor", sessions_pb2.VerifySecondFactorRequest(
        session_token=pending, code=code, client_ip=fresh_ip()), sessions_pb2.SessionResponse)


def put_client(a):
    """A confidential first-party client with the password and refresh_token grants, allowed to
    introspect any token."""
    call(a, CA + "Put", oauth_pb2.Client(
        id=CLIENT, secret=CLIENT_SECRET, first_party=True,
        grant_types=["password", "refresh_token"],
        auth=oauth_pb2.ClientAuth(password=oauth_pb2.GrantSettings(refresh_token=True)),
        introspect=True), oauth_pb2.ClientResponse)


def introspect(a, token):
    return call(a, OA + "Introspect", oauth_pb2.IntrospectRequest(
        token=token, token_type_hint="refresh_token", client_id=CLIENT,
        client_secret=CLIENT_SECRET), oauth_pb2.IntrospectResponse)


def password_grant(a, email):
    return call(a, OA + "Token", oauth_pb2.OAuthTokenRequest(
        grant_type="password", client_id=CLIENT, client_secret=CLIENT_SECRET, username=email,
        password=PW, client_ip=fresh_ip()), oauth_pb2.OAuthTokenResponse)


def rotate(a, token):
    return call(a, OA + "Token", oauth_pb2.OAuthTokenRequest(
        grant_type="refresh_token", client_id=CLIENT, client_secret=CLIENT_SECRET,
        refresh_token=token, client_ip=fresh_ip()), oauth_pb2.OAuthTokenResponse)


def enrol(a, email):
    """Create + Login + Begin + Confirm with the current step. Returns (uid, secret, step)."""
    uid = call(a, U + "Create", users_pb2.CreateUserRequest(email=email, password=PW),
               users_pb2.UserResponse).user.id
    tok = login(a, email).session_token
    b = call(a, TF + "BeginEnrollment", twofactor_pb2.BeginEnrollmentRequest(session_token=tok),
             twofactor_pb2.BeginEnrollmentResponse)
    step = now_step()
    call(a, TF + "ConfirmEnrollment", twofactor_pb2.ConfirmEnrollmentRequest(
        session_token=tok, code=totp(b.secret, step), client_ip=fresh_ip()),
        twofactor_pb2.RecoveryCodesResponse)
    return uid, b.secret, step


# ---- what was acknowledged -----------------------------------------------------------------

class TotpUser:
    def __init__(self, email, uid, secret, last):
        self.email, self.uid, self.secret = email, uid, secret
        self.last = last  # the newest step sent to authd for this user (accepted or not)
        # Wrong codes since the last accepted one: after 5 the next failure locks the user's
        # second factor for a while, so the replays (each one a wrong code) stay below that.
        self.fails = 0


class Chain:
    def __init__(self, email, token):
        self.email = email
        self.tokens = [token]   # every acknowledged token, oldest first
        self.superseded = []    # tokens handed in by an acknowledged rotation
        self.in_flight = False  # a rotation was in flight at the kill
        self.retired = False    # that rotation committed: tokens[-1] is superseded too


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.signups = []        # (email, uid, session token), all cycles
        self.cycle_signups = []
        self.enrolments = []     # (email, uid), all cycles
        self.cycle_enrolments = []  # (TotpUser, step of the confirming code) of this cycle
        self.new_totp_users = []  # enrolments in flight that committed: for the next stream
        self.verifications = []  # (user, step, code, session token) of this cycle
        self.sessions = []       # authenticated session tokens from verifications, all cycles
        self.unknown = collections.defaultdict(list)  # kind -> what was in flight
        self.acked = collections.Counter()
        self.errors = []         # failures before the kill

    def new_cycle(self):
        self.cycle_signups = []
        self.cycle_enrolments = []
        self.verifications = []
        self.unknown = collections.defaultdict(list)
        self.acked = collections.Counter()


class Stream:
    """The worker threads of one cycle. A call that fails while `killed` is set was in flight
    at the kill (or started just after it): its outcome is unknown."""

    def __init__(self, a, ledger, pool, chains):
        self.a = a
        self.ledger = ledger
        self.pool = pool          # queue.Queue of TotpUser: one thread uses a user at a time
        self.chains = chains
        self.killed = threading.Event()
        self.deadline = time.time() + STREAM_MAX_S
        self.killed_after = None  # seconds from the start of the stream

    def running(self):
        return not self.killed.is_set() and time.time() < self.deadline

    def failed(self, kind, what, e):
        """Records a failed call; returns True when the worker must stop."""
        if self.killed.is_set():
            with self.ledger.lock:
                self.ledger.unknown[kind].append(what)
            return True
        code = e.code() if isinstance(e, grpc.RpcError) else None
        detail = e.details() if isinstance(e, grpc.RpcError) else repr(e)
        reason = grpc_reason(e) if isinstance(e, grpc.RpcError) else None
        with self.ledger.lock:
            self.ledger.errors.append(f"{kind} {what!r}: {code} {reason} {detail}")
        return False

    def ack(self, kind):
        with self.ledger.lock:
            self.ledger.acked[kind] += 1

    def signups(self):
        for _ in range(OPS_PER_THREAD):
            if not self.running():
                return
            email = fresh_email("su")
            try:
                st = call(self.a, SU + "Start", signup_pb2.StartSignupRequest(
                    email=email, client_ip=fresh_ip()), signup_pb2.StartSignupResponse)
            except grpc.RpcError as e:
                if self.failed("signup_start", email, e):
                    return
                continue
            try:
                done = call(self.a, SU + "Complete", signup_pb2.CompleteSignupRequest(
                    token=st.token, password=PW, client_ip=fresh_ip()),
                    signup_pb2.CompleteSignupResponse)
            except grpc.RpcError as e:
                if self.failed("signup", email, e):
                    return
                continue
            with self.ledger.lock:
                self.ledger.signups.append((email, done.user.id, done.session_token))
                self.ledger.cycle_signups.append((email, done.user.id))
            self.ack("signup")

    def enrolments(self):
        for _ in range(OPS_PER_THREAD):
            if not self.running():
                return
            email = fresh_email("en")
            try:
                call(self.a, U + "Create", users_pb2.CreateUserRequest(email=email, password=PW),
                     users_pb2.UserResponse)
                tok = login(self.a, email).session_token
                b = call(self.a, TF + "BeginEnrollment", twofactor_pb2.BeginEnrollmentRequest(
                    session_token=tok), twofactor_pb2.BeginEnrollmentResponse)
            except grpc.RpcError as e:
                if self.failed("enrol_setup", email, e):
                    return
                continue
            step = now_step()
            try:
                c = call(self.a, TF + "ConfirmEnrollment", twofactor_pb2.ConfirmEnrollmentRequest(
                    session_token=tok, code=totp(b.secret, step), client_ip=fresh_ip()),
                    twofactor_pb2.RecoveryCodesResponse)
            except grpc.RpcError as e:
                if self.failed("enrolment", (email, b.user.id, b.secret, step), e):
                    return
                continue
            u = TotpUser(email, c.user.id, b.secret, step)
            with self.ledger.lock:
                self.ledger.enrolments.append((email, c.user.id))
                self.ledger.cycle_enrolments.append((u, step))
            # The new 2FA user serves the TOTP workers from now on.
            self.pool.put(u)
            self.ack("enrolment")

    def take_user(self):
        """A user with a step > its last one among the current and the next step, or None."""
        for _ in range(self.pool.qsize() + 1):
            try:
                u = self.pool.get(timeout=0.2)
            except queue.Empty:
                return None, None
            cur = now_step()
            step = max(cur, u.last + 1)
            if step <= cur + 1:
                return u, step
            self.pool.put(u)
        return None, None

    def verifications(self):
        for _ in range(OPS_PER_THREAD):
            if not self.running():
                return
            u, step = self.take_user()
            if u is None:
                time.sleep(0.1)
                continue
            try:
                try:
                    pending = login(self.a, u.email).session_token
                except grpc.RpcError as e:
                    if self.failed("totp_login", u.email, e):
                        return
                    continue
                code = totp(u.secret, step)
                u.last = step  # sent: never use this step again, whatever the answer
                try:
                    ok = verify(self.a, pending, code)
                except grpc.RpcError as e:
                    if self.failed("totp", (u, step, code), e):
                        return
                    continue
                if not ok.session.authenticated or list(ok.session.amr) != ["pwd", "otp"]:
                    with self.ledger.lock:
                        self.ledger.errors.append(f"totp {u.email}: {ok.session}")
                    continue
                u.fails = 0
                with self.ledger.lock:
                    self.ledger.verifications.append((u, step, code, ok.session_token))
                    self.ledger.sessions.append((u.email, ok.session_token))
                self.ack("totp")
            finally:
                self.pool.put(u)

    def rotations(self, chains):
        for i in range(OPS_PER_THREAD):
            if not self.running() or not chains:
                return
            ch = chains[i % len(chains)]
            try:
                got = rotate(self.a, ch.tokens[-1])
            except grpc.RpcError as e:
                if self.killed.is_set():
                    ch.in_flight = True
                if self.failed("rotation", ch.email, e):
                    return
                continue
            if not got.refresh_token or got.refresh_token == ch.tokens[-1]:
                with self.ledger.lock:
                    self.ledger.errors.append(f"rotation {ch.email}: no new refresh token")
                continue
            ch.superseded.append(ch.tokens[-1])
            ch.tokens.append(got.refresh_token)
            self.ack("rotation")

    def guarded(self, fn, *args):
        """A worker body: anything but a failed call (a bug of the test) is recorded too."""
        def body():
            try:
                fn(*args)
            except Exception as e:  # noqa: BLE001 - reported as a failure of the test
                with self.ledger.lock:
                    self.ledger.errors.append(f"{threading.current_thread().name}: {e!r}")
        return body

    def run(self, proc):
        """Runs the workers, SIGKILLs proc at a random moment and waits for the workers."""
        threads = []
        for kind, fn in (("signup", self.signups), ("enrolment", self.enrolments),
                         ("totp", self.verifications)):
            threads += [threading.Thread(target=self.guarded(fn), name=f"{kind}-{i}")
                        for i in range(WORKERS[kind])]
        n = WORKERS["rotation"]
        # A chain belongs to one thread: its rotations are sequential, as a client's are.
        threads += [threading.Thread(target=self.guarded(self.rotations, self.chains[i::n]),
                                     name=f"rotation-{i}") for i in range(n)]
        t0 = time.time()
        for t in threads:
            t.start()
        try:
            time.sleep(random.uniform(*KILL_AFTER_S))
        finally:
            # The flag first: every call failing from here on counts as in flight.
            self.killed.set()
            proc.kill()
            self.killed_after = time.time() - t0
            proc.wait(timeout=30)
            for t in threads:
                t.join(timeout=CALL_TIMEOUT + 20)
        stuck = [t.name for t in threads if t.is_alive()]
        assert not stuck, f"workers did not stop after the kill: {stuck}"


# ---- the checks after a restart -------------------------------------------------------------

BAD_LOG = re.compile(r"corrupt|level=error|store_open_failed|cannot open data directory|"
                     r"recovery failed|checksum mismatch", re.IGNORECASE)


TORN_TAIL = re.compile(r"dropping \d+ bytes; Corruption: truncated (record body|header)")


def check_logs(a, log_from):
    # authd writes its port file a moment before it logs event=serving.
    deadline = time.time() + 10
    while True:
        with open(a.log_path, "rb") as f:
            f.seek(log_from)
            text = f.read().decode("utf-8", "replace")
        if "event=serving" in text or time.time() > deadline:
            break
        time.sleep(0.05)
    assert "event=serving" in text, text[-3000:]
    bad = [line for line in text.splitlines() if BAD_LOG.search(line)]
    assert not bad, "authd's log after the restart:\n" + "\n".join(bad[:20])
    # RocksDB's own LOG of this open: it replayed the WAL and saw nothing corrupt.
    rlog = os.path.join(a.data, "LOG")
    if os.path.exists(rlog):
        with open(rlog, "rb") as f:
            rtext = f.read().decode("utf-8", "replace")
        # The open after the kill replayed the WAL (RocksDB writes this LOG anew at each open).
        assert "recovery_started" in rtext and "recovery_finished" in rtext, rtext[-3000:]
        # A kill can land between two write() calls of one WAL record of a write nobody was
        # told had committed: point-in-time recovery then drops that torn tail and says so
        # ("dropping N bytes; Corruption: truncated record body"). That alone is not damage
        # (every acknowledged write is checked below); any other corruption is.
        rbad = [line for line in rtext.splitlines()
                if re.search(r"corrupt|checksum mismatch|\bIO error\b", line, re.IGNORECASE)
                and not TORN_TAIL.search(line)]
        assert not rbad, "RocksDB LOG after the restart:\n" + "\n".join(rbad[:20])


def must(what, fn):
    """fn() must answer: a refusal means something acknowledged was lost."""
    try:
        return fn()
    except grpc.RpcError as e:
        pytest.fail(f"{what}: refused after the crash: {e.code()} {grpc_reason(e)} {e.details()}")


def expect_refused(fn, reason):
    with pytest.raises(grpc.RpcError) as ei:
        fn()
    assert grpc_reason(ei.value) == reason, (ei.value.code(), grpc_reason(ei.value),
                                             ei.value.details())


def replay_refused(a, u, step, code, what):
    """Login + VerifySecondFactor with an already accepted code: must be wrong_token. Returns
    "judged" when authd judged it inside its window, "out" when the step has left the window,
    "skipped" when another wrong code could lock the user's second factor (then the refusal
    would prove nothing)."""
    if u.fails >= 5:
        return "skipped"
    pending = login(a, u.email)
    assert not pending.session.authenticated, f"{what}: 2FA is off for {u.email} after the crash"
    before = now_step()
    try:
        ok = verify(a, pending.session_token, code)
    except grpc.RpcError as e:
        assert grpc_reason(e) == "wrong_token", (what, u.email, e.code(), grpc_reason(e),
                                                 e.details())
        u.fails += 1
        return "judged" if step >= max(before, now_step()) - 1 else "out"
    u.fails = 0
    if step >= before - 1:
        pytest.fail(f"{what}: the code of step {step} for {u.email} passed again after the crash "
                    f"(session {ok.session.id}): the accepted step was lost")
    return "out"


def check_after_restart(a, ledger, chains, report):
    # Signups: the user, its first session and its password.
    unknown_signups = ledger.unknown.get("signup", [])
    for email, uid, sess in ledger.signups:
        got = must(f"the user of the acknowledged signup {email}", lambda: call(
            a, U + "Get", users_pb2.GetUserRequest(email=email), users_pb2.UserResponse))
        assert got.user.id == uid, (email, uid, got.user.id)
        s = must(f"the session of the acknowledged signup {email}", lambda: call(
            a, S + "Get", sessions_pb2.GetSessionRequest(session_token=sess),
            sessions_pb2.SessionResponse))
        assert s.user.id == uid and s.session.authenticated
    # Logging in costs an Argon2 hash and a write: this cycle's signups only.
    for email, uid in ledger.cycle_signups:
        got = must(f"login of the acknowledged signup {email}", lambda: login(a, email))
        assert got.user.id == uid and got.session.authenticated
    found = 0
    for email in unknown_signups:
        try:
            call(a, U + "Get", users_pb2.GetUserRequest(email=email), users_pb2.UserResponse)
            found += 1
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, (email, e.code(), e.details())
    report["signup_in_flight_committed"] = found

    # Enrolments: 2FA on (every cycle's), the confirming code spent (this cycle's).
    for email, uid in ledger.enrolments:
        got = must(f"the enrolled user {email}", lambda: call(
            a, U + "Get", users_pb2.GetUserRequest(email=email), users_pb2.UserResponse))
        assert got.user.id == uid and got.user.two_factor.enabled, (
            f"the acknowledged enrolment of {email} was lost: {got.user}")
    outcomes = collections.Counter(replay_refused(a, u, step, totp(u.secret, step), "enrolment")
                                   for u, step in ledger.cycle_enrolments)
    report["enrol_replays"] = dict(outcomes)
    # An enrolment in flight at the kill either committed (2FA on, and then its secret is the
    # one we sent a code for) or not; either way the user is consistent.
    committed = 0
    for email, uid, secret, step in ledger.unknown.get("enrolment", []):
        got = call(a, U + "Get", users_pb2.GetUserRequest(email=email), users_pb2.UserResponse)
        if got.user.two_factor.enabled:
            committed += 1
            ledger.enrolments.append((email, uid))
            ledger.new_totp_users.append(TotpUser(email, uid, secret, step))
    report["enrol_in_flight_committed"] = committed

    # TOTP verifications: the authenticated sessions survive, the used codes stay used.
    for email, sess in ledger.sessions:
        s = must(f"the session of an acknowledged TOTP verification of {email}", lambda: call(
            a, S + "Get", sessions_pb2.GetSessionRequest(session_token=sess),
            sessions_pb2.SessionResponse))
        assert s.user.email == email and s.session.authenticated
        assert list(s.session.amr) == ["pwd", "otp"]
    outcomes = collections.Counter(replay_refused(a, u, step, code, "totp verification")
                                   for u, step, code, _ in ledger.verifications)
    report["totp_replays"] = dict(outcomes)
    # A verification in flight at the kill either recorded its step (the code is refused now)
    # or not (the code still passes, once); both are allowed, the count is for the report.
    refused = 0
    for u, step, code in ledger.unknown.get("totp", []):
        if u.fails >= 5 or step < now_step() - 1:
            continue
        pending = login(a, u.email).session_token
        try:
            verify(a, pending, code)
            u.fails = 0
        except grpc.RpcError as e:
            assert grpc_reason(e) == "wrong_token", (u.email, e.code(), e.details())
            u.fails += 1
            refused += 1
    report["totp_in_flight_committed"] = refused

    # Refresh chains: superseded tokens inactive (every cycle's), the last one active unless
    # its rotation was in flight.
    superseded = 0
    replaced = []
    in_flight_committed = in_flight_not = 0
    for ch in chains:
        for t in ch.superseded:
            got = introspect(a, t)
            assert not got.active, (f"a rotated refresh token of {ch.email} is active again "
                                    f"after the crash (jti {got.jti})")
            superseded += 1
        if ch.retired:
            continue
        last = introspect(a, ch.tokens[-1])
        if ch.in_flight:
            if last.active:
                in_flight_not += 1
            else:
                # The rotation committed but its answer was lost with the process: the token
                # we hold is superseded and stays so; the chain is replaced by a new one.
                in_flight_committed += 1
                ch.retired = True
                ch.superseded.append(ch.tokens[-1])
                replaced.append(ch)
        else:
            assert last.active, (f"the last acknowledged refresh token of {ch.email} is "
                                 f"inactive after the crash, and no rotation was in flight")
        ch.in_flight = False
    report["superseded_checked"] = superseded
    report["rotation_in_flight_committed"] = in_flight_committed
    report["rotation_in_flight_not_committed"] = in_flight_not
    return replaced


# ---- the test --------------------------------------------------------------------------------

def test_sigkill_mid_stream_loses_nothing_acknowledged(authd):
    """authd from conftest (FAST_ARGON2, a temporary data directory, always stopped)."""
    a = authd
    started = time.time()
    seed = int(os.environ.get("AUTHD_CRASH_SEED") or random.SystemRandom().randrange(1 << 30))
    random.seed(seed)  # only the kill moments depend on it
    put_client(a)

    ledger = Ledger()
    pool = queue.Queue()
    for _ in range(TOTP_USERS):
        email = fresh_email("tf")
        uid, secret, step = enrol(a, email)
        ledger.enrolments.append((email, uid))
        pool.put(TotpUser(email, uid, secret, step))

    def new_chain():
        email = fresh_email("rt")
        call(a, U + "Create", users_pb2.CreateUserRequest(email=email, password=PW),
             users_pb2.UserResponse)
        return Chain(email, password_grant(a, email).refresh_token)

    chains = [new_chain() for _ in range(CHAINS)]
    retired = []  # chains whose last rotation committed unseen: their tokens stay checked
    print(f"\nseed {seed}; setup: {TOTP_USERS} 2FA users, {CHAINS} refresh chains, "
          f"{time.time() - started:.1f}s")

    totals = collections.Counter()
    for cycle in range(1, CYCLES + 1):
        assert time.time() - started < TEST_BUDGET_S, "out of time"
        ledger.new_cycle()
        stream = Stream(a, ledger, pool, chains)
        stream.run(a.proc)
        assert a.proc.returncode == -signal.SIGKILL, a.proc.returncode
        assert not ledger.errors, "calls failed before the kill:\n" + "\n".join(ledger.errors[:20])

        a.stop()  # the process is gone: this closes the channel and the log
        log_from = os.path.getsize(a.log_path)
        t1 = time.time()
        a.start()
        restart_s = time.time() - t1
        check_logs(a, log_from)

        report = {}
        replaced = check_after_restart(a, ledger, chains + retired, report)
        for ch in replaced:
            chains.remove(ch)
            retired.append(ch)
            chains.append(new_chain())
        for u in ledger.new_totp_users:
            pool.put(u)
        ledger.new_totp_users = []

        acked = dict(ledger.acked)
        in_flight = {k: len(v) for k, v in ledger.unknown.items()}
        totals.update(ledger.acked)
        totals.update({"in_flight_" + k: v for k, v in in_flight.items()})
        print(f"cycle {cycle}: killed after {stream.killed_after:.2f}s, restart {restart_s:.2f}s, "
              f"checks {time.time() - t1 - restart_s:.2f}s")
        print(f"  acknowledged: {acked}")
        print(f"  in flight at the kill: {in_flight}")
        print(f"  after restart: {report}")

    # Whatever the timing, the run must have exercised every kind of operation.
    for kind in ("signup", "enrolment", "totp", "rotation"):
        assert totals[kind] > 0, (kind, dict(totals))

    # Last, redeeming (not just introspecting) the newest superseded token of every chain is
    # refused. This revokes each family (reuse detection), so it comes after every other check.
    redeemed = 0
    for ch in chains + retired:
        if not ch.superseded:
            continue
        with pytest.raises(grpc.RpcError) as ei:
            rotate(a, ch.superseded[-1])
        assert grpc_trailer(ei.value, "authd-oauth-error") == "invalid_grant", (
            ch.email, ei.value.code(), ei.value.details())
        redeemed += 1
    assert redeemed > 0
    print(f"totals: {dict(totals)}; {time.time() - started:.1f}s")


def wrong_code(secret):
    """A six-digit code that none of the steps authd accepts now has."""
    cur = now_step()
    valid = {totp(secret, s) for s in range(cur - 2, cur + 3)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444", "555555")
                if c not in valid)


def test_security_state_answered_just_before_a_sigkill(authd):
    """DESIGN §4: nothing that protects security may be lost. Revocations, a password change,
    a deactivation, turning 2FA off and the brute-force counters, each answered by authd just
    before a SIGKILL, hold after the restart."""
    a = authd
    new_pw = "a brand new password 456"
    put_client(a)

    def create(kind):
        email = fresh_email(kind)
        uid = call(a, U + "Create", users_pb2.CreateUserRequest(email=email, password=PW),
                   users_pb2.UserResponse).user.id
        return email, uid

    # A refresh token revoked (RFC 7009): its family, and the access token issued with it, end.
    rv, _ = create("rv")
    granted = password_grant(a, rv)
    call(a, OA + "Revoke", oauth_pb2.RevokeRequest(
        token=granted.refresh_token, token_type_hint="refresh_token", client_id=CLIENT,
        client_secret=CLIENT_SECRET), common_pb2.Empty)
    # A logout.
    lo, _ = create("lo")
    lo_sess = login(a, lo).session_token
    call(a, S + "Revoke", sessions_pb2.RevokeSessionRequest(session_token=lo_sess),
         common_pb2.Empty)
    # A password change, which ends the user's other sessions.
    cp, _ = create("cp")
    cp_keep, cp_other = login(a, cp).session_token, login(a, cp).session_token
    call(a, S + "ChangePassword", sessions_pb2.ChangePasswordRequest(
        session_token=cp_keep, current_password=PW, new_password=new_pw, client_ip=fresh_ip()),
        common_pb2.Empty)
    # A deactivation, which ends the user's sessions.
    de, de_id = create("de")
    de_sess = login(a, de).session_token
    call(a, U + "Update", users_pb2.UpdateUserRequest(
        id=de_id, inactive=common_pb2.BoolValue(value=True)), users_pb2.UserResponse)
    # 2FA turned off (with the next step's code: the enrolment spent the current one).
    off, _ = create("off")
    off_sess = login(a, off).session_token
    b = call(a, TF + "BeginEnrollment", twofactor_pb2.BeginEnrollmentRequest(
        session_token=off_sess), twofactor_pb2.BeginEnrollmentResponse)
    step = now_step()
    call(a, TF + "ConfirmEnrollment", twofactor_pb2.ConfirmEnrollmentRequest(
        session_token=off_sess, code=totp(b.secret, step), client_ip=fresh_ip()),
        twofactor_pb2.RecoveryCodesResponse)
    call(a, TF + "Disable", twofactor_pb2.SecondFactorRequest(
        session_token=off_sess, code=totp(b.secret, step + 1), client_ip=fresh_ip()),
        users_pb2.UserResponse)
    # Brute-force counters: 6 wrong passwords lock the account, 6 wrong codes lock the second
    # factor (each from its own client address, so only the account counts), for LONG_LOCK
    # seconds: locks that are still there after the restart however slow the machine.
    long_locks(a)
    pl, _ = create("pl")
    for _ in range(6):
        expect_refused(lambda: call(a, S + "Login", sessions_pb2.LoginRequest(
            email=pl, password="not the password", client_ip=fresh_ip()),
            sessions_pb2.SessionResponse), "invalid_credentials")
    tl = fresh_email("tl")
    _, tl_secret, _ = enrol(a, tl)
    tl_pending = login(a, tl).session_token
    for _ in range(6):
        expect_refused(lambda: verify(a, tl_pending, wrong_code(tl_secret)), "wrong_token")
    # Both sixth failures set a lock. Not asked here (a refused attempt would prove nothing
    # about the restart): the checks after it do.

    a.proc.kill()
    a.proc.wait(timeout=30)
    a.stop()
    log_from = os.path.getsize(a.log_path)
    a.start()
    check_logs(a, log_from)

    got = introspect(a, granted.refresh_token)
    assert not got.active
    got = call(a, OA + "Introspect", oauth_pb2.IntrospectRequest(
        token=granted.access_token, client_id=CLIENT, client_secret=CLIENT_SECRET),
        oauth_pb2.IntrospectResponse)
    assert not got.active
    with pytest.raises(grpc.RpcError) as ei:
        rotate(a, granted.refresh_token)
    assert grpc_trailer(ei.value, "authd-oauth-error") == "invalid_grant", ei.value.details()

    def session_gone(tok):
        expect_refused(lambda: call(a, S + "Get", sessions_pb2.GetSessionRequest(
            session_token=tok, allow_pending=True), sessions_pb2.SessionResponse),
            "unauthenticated")

    session_gone(lo_sess)
    session_gone(cp_other)
    call(a, S + "Get", sessions_pb2.GetSessionRequest(session_token=cp_keep),
         sessions_pb2.SessionResponse)
    expect_refused(lambda: login(a, cp), "invalid_credentials")
    assert call(a, S + "Login", sessions_pb2.LoginRequest(
        email=cp, password=new_pw, client_ip=fresh_ip()),
        sessions_pb2.SessionResponse).session.authenticated
    session_gone(de_sess)
    expect_refused(lambda: login(a, de), "inactive_user")
    got = call(a, U + "Get", users_pb2.GetUserRequest(email=off), users_pb2.UserResponse)
    assert not got.user.two_factor.enabled
    assert login(a, off).session.authenticated

    # The counters survived the kill: both locks still refuse even the right secret, with the
    # wait the sixth failure earned (LONG_LOCK, not yet over), before the secret is judged.
    with pytest.raises(grpc.RpcError) as ei:
        login(a, pl)
    assert grpc_reason(ei.value) == "locked", ei.value.details()
    assert int(grpc_trailer(ei.value, "authd-retry-after")) > LONG_LOCK // 2, ei.value.details()
    expect_refused(lambda: verify(a, tl_pending, totp(tl_secret, now_step() + 1)), "locked")
