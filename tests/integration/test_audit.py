# SPDX-License-Identifier: Apache-2.0
"""Audit events: real flows through authd (gRPC) and the edge (HTTP) — failed and good logins,
a lockout, TOTP enrolment, wrong and right codes, a recovery code, disabling 2FA, the OAuth
password grant with refresh-token reuse and revocation, admin changes — then every
`event=audit` line of authd's log is parsed as logfmt and checked for who (user, client), what
(action, outcome, reason), when (ts) and from where (ip, peer). Finally no secret the test used
may appear in authd's or the edge's log."""
import re
import tempfile
import time

import grpc
import pytest
import requests

from conftest import common_pb2, csrf_of, long_locks, new_session, sessions_pb2, users_pb2
from authd.v1 import twofactor_pb2  # noqa: E402
from test_oauth import APP, APP_CB, APP_SECRET, PERIOD, OAuthEnv, oathtool, put_client, token_req

U = "/authd.v1.Users/"
S = "/authd.v1.Sessions/"
TF = "/authd.v1.TwoFactor/"

PW = "audit test password 1"
TS_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


# ---- logfmt ------------------------------------------------------------------------------------

def parse_logfmt(line):
    """The key/value pairs of one logfmt line (values bare, or quoted with \\" \\\\ \\n \\xHH);
    raises on anything malformed or a repeated key."""
    out = {}
    i, n = 0, len(line)
    while i < n:
        m = re.compile(r"[a-z_]+=").match(line, i)
        assert m, f"no key at {i}: {line!r}"
        key = line[i:m.end() - 1]
        i = m.end()
        if i < n and line[i] == '"':
            i += 1
            val = []
            while True:
                assert i < n, f"unterminated value: {line!r}"
                c = line[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\":
                    e = line[i + 1]
                    if e in '"\\':
                        val.append(e)
                        i += 2
                    elif e == "n":
                        val.append("\n")
                        i += 2
                    elif e == "x":
                        val.append(chr(int(line[i + 2:i + 4], 16)))
                        i += 4
                    else:
                        raise AssertionError(f"bad escape in {line!r}")
                else:
                    assert ord(c) >= 0x20, line
                    val.append(c)
                    i += 1
            value = "".join(val)
        else:
            j = line.find(" ", i)
            j = n if j < 0 else j
            value = line[i:j]
            assert value and not set(value) & set('"=\\'), f"bad bare value in {line!r}"
            i = j
        assert key not in out, f"repeated key {key} in {line!r}"
        out[key] = value
        if i < n:
            assert line[i] == " ", line
            i += 1
    return out


def audit_events(authd):
    events = []
    for line in authd.log_text().splitlines():
        if " event=audit " in line:
            ev = parse_logfmt(line)
            assert ev["event"] == "audit" and ev["prog"] == "authd", ev
            assert TS_RE.fullmatch(ev["ts"]), ev  # when
            assert ev["level"] in ("info", "warn"), ev
            assert ev["outcome"] in ("success", "failure", "denied"), ev
            assert set(ev) <= {"ts", "level", "prog", "event", "action", "outcome", "user",
                               "client", "target", "reason", "ip", "caller", "peer"}, ev
            events.append(ev)
    return events


def find(events, **want):
    return [e for e in events if all(e.get(k) == v for k, v in want.items())]


def one(events, **want):
    got = find(events, **want)
    assert got, f"no audit event with {want}; got:\n" + "\n".join(map(str, events))
    return got[-1]


# ---- flows -------------------------------------------------------------------------------------

class Codes:
    """Fresh TOTP codes from oathtool, each for a step newer than the last one used."""

    def __init__(self, secret, last):
        self.secret = secret
        self.last = last
        self.used = []

    def fresh(self):
        deadline = time.time() + PERIOD + 5
        while True:
            now = time.time()
            cur, left = int(now // PERIOD), PERIOD - now % PERIOD
            for step in range(cur - 1 if left >= 5 else cur, cur + 2):
                if step > self.last:
                    self.last = step
                    code = oathtool(self.secret, step * PERIOD + 1)
                    self.used.append(code)
                    return code
            assert time.time() < deadline
            time.sleep(left + 0.05)

    def wrong(self):
        """A code that no step near now accepts."""
        cur = int(time.time() // PERIOD)
        near = {oathtool(self.secret, s * PERIOD + 1) for s in range(cur - 2, cur + 3)}
        return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


@pytest.fixture
def env():
    with tempfile.TemporaryDirectory(prefix="authd-audit-") as tmp:
        e = OAuthEnv(tmp)
        try:
            yield e
        finally:
            e.stop()


def create_user(env, email):
    return env.call(U + "Create", users_pb2.CreateUserRequest(email=email, password=PW),
                    users_pb2.UserResponse).user


def grpc_login(env, email, password=PW, ip="198.51.100.20"):
    return env.call(S + "Login", sessions_pb2.LoginRequest(email=email, password=password,
                                                           client_ip=ip),
                    sessions_pb2.SessionResponse)


def grpc_fails(fn):
    with pytest.raises(grpc.RpcError):
        fn()


def edge_login(env, s, email, password):
    r = s.get(env.base + "/auth/login")
    assert r.status_code == 200, r.status_code
    return s.post(env.base + "/auth/login",
                  data={"email": email, "password": password, "csrf": csrf_of(r.text)},
                  allow_redirects=False)


def test_audit_events_of_real_flows(env):
    long_locks(env.authd)  # the lock below must outlast the attempt that sees it, however slow
    secrets = [PW, APP_SECRET, "wrong password for audit", "guess number"]
    codes_used = []

    # ---- admin: a client and users (Users/Create, ClientAdmin/Put)
    put_client(env, APP, APP_SECRET, grant_types=["authorization_code", "refresh_token",
                                                  "password"],
               code={"redirect_uri": APP_CB, "refresh_token": True},
               password={"refresh_token": True}, introspect=True)
    ann = create_user(env, "ann.audit@example.com")
    tina = create_user(env, "tina.audit@example.com")
    lock = create_user(env, "lock.audit@example.com")

    # ---- login through the edge: a wrong password, then the right one
    s = new_session()
    r = edge_login(env, s, "ann.audit@example.com", "wrong password for audit")
    assert r.status_code == 401, r.status_code
    r = edge_login(env, s, "ann.audit@example.com", PW)
    assert r.status_code == 303, r.status_code
    secrets.append(s.cookies.get("asid"))
    # An unknown e-mail.
    grpc_fails(lambda: grpc_login(env, "nobody.audit@example.com", "guess number"))

    # ---- lockout: 5 free failures, the 6th locks the account
    for i in range(6):
        grpc_fails(lambda: grpc_login(env, "lock.audit@example.com", "guess number",
                                      ip=f"203.0.113.{i}"))
    grpc_fails(lambda: grpc_login(env, "lock.audit@example.com", PW, ip="203.0.113.9"))

    # ---- 2FA: enrol, wrong code, right code, recovery code, disable
    tok = grpc_login(env, "tina.audit@example.com").session_token
    secrets.append(tok)
    b = env.call(TF + "BeginEnrollment", twofactor_pb2.BeginEnrollmentRequest(session_token=tok),
                 twofactor_pb2.BeginEnrollmentResponse)
    secrets.append(b.secret)
    step = int(time.time() // PERIOD)
    app = Codes(b.secret, step - 2)
    c = env.call(TF + "ConfirmEnrollment", twofactor_pb2.ConfirmEnrollmentRequest(
        session_token=tok, code=app.fresh(), client_ip="198.51.100.20"),
        twofactor_pb2.RecoveryCodesResponse)
    recovery = list(c.recovery_codes)
    pending = grpc_login(env, "tina.audit@example.com").session_token
    secrets.append(pending)
    wrong = app.wrong()
    grpc_fails(lambda: env.call(S + "VerifySecondFactor", sessions_pb2.VerifySecondFactorRequest(
        session_token=pending, code=wrong, client_ip="198.51.100.21"),
        sessions_pb2.SessionResponse))
    full = env.call(S + "VerifySecondFactor", sessions_pb2.VerifySecondFactorRequest(
        session_token=pending, code=app.fresh(), client_ip="198.51.100.21"),
        sessions_pb2.SessionResponse).session_token
    secrets.append(full)
    pending = grpc_login(env, "tina.audit@example.com").session_token
    secrets.append(pending)
    full2 = env.call(S + "VerifySecondFactor", sessions_pb2.VerifySecondFactorRequest(
        session_token=pending, recovery_code=recovery[0], client_ip="198.51.100.22"),
        sessions_pb2.SessionResponse).session_token
    secrets.append(full2)
    env.call(TF + "Disable", twofactor_pb2.SecondFactorRequest(
        session_token=full2, code=app.fresh(), client_ip="198.51.100.23"),
        users_pb2.UserResponse)
    # Logout.
    env.call(S + "Revoke", sessions_pb2.RevokeSessionRequest(session_token=full),
             common_pb2.Empty)
    codes_used = list(app.used)

    # ---- OAuth through the edge: password grant, refresh, reuse, revoke, bad client secret
    cred = (APP, APP_SECRET)
    r = token_req(env, {"grant_type": "password", "username": "ann.audit@example.com",
                        "password": PW, "scope": "openid"}, auth=cred)
    assert r.status_code == 200, r.text
    t1 = r.json()
    r = token_req(env, {"grant_type": "refresh_token", "refresh_token": t1["refresh_token"]},
                  auth=cred)
    assert r.status_code == 200, r.text
    t2 = r.json()
    r = token_req(env, {"grant_type": "refresh_token", "refresh_token": t1["refresh_token"]},
                  auth=cred)
    assert r.status_code == 400, r.text  # reuse: the family is revoked
    r = token_req(env, {"grant_type": "password", "username": "ann.audit@example.com",
                        "password": PW}, auth=cred)
    assert r.status_code == 200, r.text
    t3 = r.json()
    r = requests.post(env.base + "/auth/revoke", data={"token": t3["access_token"]}, auth=cred,
                      timeout=20)
    assert r.status_code == 200, r.text
    r = token_req(env, {"grant_type": "password", "username": "ann.audit@example.com",
                        "password": PW}, auth=(APP, "not-the-app-secret-at-all"))
    assert r.status_code == 401, r.text
    secrets.append("not-the-app-secret-at-all")
    for t in (t1, t2, t3):
        for k in ("access_token", "refresh_token", "id_token"):
            if t.get(k):
                secrets.append(t[k])

    # ---- admin: deactivate a user (ends the sessions)
    env.call(U + "Update", users_pb2.UpdateUserRequest(
        id=ann.id, inactive=common_pb2.BoolValue(value=True)), users_pb2.UserResponse)

    # ==== the events ====
    ev = audit_events(env.authd)

    def where(e, ip):
        assert e.get("ip") == ip, e
        assert e.get("peer"), e  # the gRPC peer: the edge, or this test

    # Logins.
    e = one(ev, action="login", outcome="failure", reason="wrong_password", user=ann.id)
    where(e, "127.0.0.1")  # through the edge: the browser's address
    e = one(ev, action="login", outcome="success", reason="password", user=ann.id)
    where(e, "127.0.0.1")
    assert e["target"].startswith("session/")
    e = one(ev, action="login", outcome="failure", reason="unknown_user")
    assert "user" not in e and e["level"] == "info"
    where(e, "198.51.100.20")
    # The lockout: the account (by its id, never the e-mail) and the address that set it.
    e = one(ev, action="lockout", user=lock.id)
    assert (e["reason"], e["target"], e["ip"], e["level"]) == (
        "password", "account", "203.0.113.5", "warn"), e
    assert len(find(ev, action="login", outcome="failure", user=lock.id,
                    reason="wrong_password")) == 6
    e = one(ev, action="login", outcome="failure", reason="locked")
    where(e, "203.0.113.9")
    # 2FA.
    e = one(ev, action="twofactor_enabled", outcome="success", user=tina.id, reason="enrolled")
    where(e, "198.51.100.20")
    e = one(ev, action="login", outcome="success", user=tina.id,
            reason="second_factor_required")
    where(e, "198.51.100.20")
    e = one(ev, action="second_factor", outcome="failure", user=tina.id, reason="wrong_code")
    where(e, "198.51.100.21")
    e = one(ev, action="second_factor", outcome="success", user=tina.id, reason="totp",
            ip="198.51.100.21")
    where(e, "198.51.100.21")
    e = one(ev, action="login", outcome="success", user=tina.id, reason="second_factor",
            ip="198.51.100.21")
    e = one(ev, action="second_factor", outcome="success", user=tina.id, reason="recovery_code")
    where(e, "198.51.100.22")
    e = one(ev, action="recovery_code_used", outcome="success", user=tina.id, reason="login")
    where(e, "198.51.100.22")
    e = one(ev, action="twofactor_disabled", outcome="success", user=tina.id)
    where(e, "198.51.100.23")
    e = one(ev, action="token_revoked", outcome="success", user=tina.id, reason="logout")
    assert e["target"].startswith("session/") and e.get("peer"), e
    # OAuth, through the edge.
    e = one(ev, action="login", outcome="success", user=ann.id, client=APP, reason="password")
    where(e, "127.0.0.1")
    e = one(ev, action="token_revoked", user=ann.id, client=APP, reason="refresh_reuse")
    where(e, "127.0.0.1")
    assert e["target"].startswith("refresh_family/"), e
    e = one(ev, action="token_revoked", user=ann.id, client=APP, reason="oauth_revoke")
    assert e["target"].startswith("access_token/") and e.get("peer"), e
    e = one(ev, action="login", outcome="failure", client=APP, reason="invalid_client")
    where(e, "127.0.0.1")
    # Admin changes: what, and the caller's connection.
    e = one(ev, action="admin_change", outcome="success", target="client/" + APP,
            reason="ClientAdmin/Put")
    assert e.get("peer"), e
    e = one(ev, action="admin_change", outcome="success", target="user/" + tina.id,
            reason="Users/Create", user=tina.id)
    e = one(ev, action="admin_change", outcome="success", target="user/" + ann.id,
            reason="Users/Update", user=ann.id)
    assert e.get("peer"), e
    one(ev, action="token_revoked", user=ann.id, reason="Users/Update", target="sessions/all")

    # ==== no secret in any log ====
    logs = env.authd.log_text() + "\n" + env.edge.log_text()
    for sec in secrets:
        assert sec and sec not in logs, f"a secret is in the logs: {sec[:6]}..."
        if "." in sec and len(sec) > 40:
            # bearer tokens are <public id>.<secret>: the id may be logged, the secret never
            assert sec.rsplit(".", 1)[1] not in logs
    for rc in recovery:
        assert rc not in logs and rc.replace("-", "") not in logs
    for code in codes_used + [wrong]:
        assert not re.search(r'="?' + code + r'\b', logs), f"a TOTP code is in the logs: {code}"


def test_admin_reset_of_two_factor_names_the_caller_connection(env):
    """Users/ResetTwoFactor is an admin change and turns 2FA off: both events, with the RPC's
    peer; a failed admin change is an event too."""
    u = create_user(env, "rob.audit@example.com")
    tok = grpc_login(env, "rob.audit@example.com").session_token
    b = env.call(TF + "BeginEnrollment", twofactor_pb2.BeginEnrollmentRequest(session_token=tok),
                 twofactor_pb2.BeginEnrollmentResponse)
    app = Codes(b.secret, int(time.time() // PERIOD) - 2)
    env.call(TF + "ConfirmEnrollment", twofactor_pb2.ConfirmEnrollmentRequest(
        session_token=tok, code=app.fresh()), twofactor_pb2.RecoveryCodesResponse)
    env.call(U + "ResetTwoFactor", users_pb2.ResetTwoFactorRequest(id=u.id),
             users_pb2.UserResponse)
    grpc_fails(lambda: env.call(U + "Delete", users_pb2.DeleteUserRequest(id="no-such-user"),
                                common_pb2.Empty))
    ev = audit_events(env.authd)
    e = one(ev, action="admin_change", outcome="success", user=u.id,
            reason="Users/ResetTwoFactor")
    assert e["target"] == "user/" + u.id and e.get("peer"), e
    e = one(ev, action="twofactor_disabled", outcome="success", user=u.id, reason="admin_reset")
    assert e.get("peer"), e
    one(ev, action="admin_change", outcome="failure", target="user/no-such-user",
        reason="Users/Delete")
    logs = env.authd.log_text()
    assert b.secret not in logs and tok.rsplit(".", 1)[1] not in logs


def test_wrong_current_password_at_change_password_is_audited(env):
    """A wrong current password at Sessions/ChangePassword is a failed password guess: the same
    audit event as a failed login (with the user's id), counted by the same lockout, which
    refuses further attempts without auditing them as guesses."""
    u = create_user(env, "cora.audit@example.com")
    wrong = "not the password of cora"
    # Through the edge's change-password form.
    s = new_session()
    assert edge_login(env, s, "cora.audit@example.com", PW).status_code == 303
    page = s.get(env.base + "/auth/password")
    assert page.status_code == 200, page.status_code
    r = s.post(env.base + "/auth/password",
               data={"current_password": wrong, "password": "cora new password 1",
                     "password_confirmation": "cora new password 1",
                     "csrf": csrf_of(page.text)}, allow_redirects=False)
    assert r.status_code == 401, r.status_code
    e = one(audit_events(env.authd), action="login", outcome="failure", user=u.id,
            reason="wrong_password")
    assert e["ip"] == "127.0.0.1" and e.get("peer") and e["level"] == "info", e
    # Over gRPC until the lockout refuses: every guess before it is one event.
    tok = grpc_login(env, "cora.audit@example.com").session_token
    guesses, reason = 1, None
    for i in range(12):
        with pytest.raises(grpc.RpcError) as err:
            env.call(S + "ChangePassword", sessions_pb2.ChangePasswordRequest(
                session_token=tok, current_password=f"{wrong} {i}",
                new_password="cora new password 2", client_ip="198.51.100.40"),
                common_pb2.Empty)
        reason = dict(err.value.trailing_metadata() or ()).get("authd-error")
        if reason != "invalid_credentials":
            break
        guesses += 1
    assert reason == "locked" and guesses >= 6, (reason, guesses)
    ev = audit_events(env.authd)
    assert len(find(ev, action="login", outcome="failure", user=u.id,
                    reason="wrong_password")) == guesses
    one(ev, action="login", outcome="failure", user=u.id, reason="wrong_password",
        ip="198.51.100.40")
    one(ev, action="lockout", user=u.id, reason="password", target="account")
    logs = env.authd.log_text() + env.edge.log_text()
    assert wrong not in logs and "cora new password" not in logs
    assert "password_change_failed" not in env.authd.log_text()
