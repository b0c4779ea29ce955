# SPDX-License-Identifier: Apache-2.0
"""authd's RPCs driven by Python grpcio, a client nobody here wrote."""
import concurrent.futures
import os
import signal
import time

import grpc
import pytest

from conftest import (LONG_LOCK, Authd, FAST_ARGON2, admin_pb2, common_pb2, grpc_reason,
                      grpc_trailer, long_locks, set_lockout,
                      health_pb2, sessions_pb2, signup_pb2, users_pb2)

U = "/authd.v1.Users/"
S = "/authd.v1.Sessions/"
SU = "/authd.v1.Signup/"
PR = "/authd.v1.PasswordReset/"
AD = "/authd.v1.Admin/"


def create_user(authd, email, password="correct horse battery", **kw):
    return authd.call(U + "Create", users_pb2.CreateUserRequest(email=email, password=password, **kw),
                      users_pb2.UserResponse).user


def login(authd, email, password="correct horse battery"):
    return authd.call(S + "Login", sessions_pb2.LoginRequest(email=email, password=password,
                                                             client_ip="127.0.0.9",
                                                             user_agent="pytest"),
                      sessions_pb2.SessionResponse)


def expect_error(fn, code, reason):
    with pytest.raises(grpc.RpcError) as ei:
        fn()
    assert ei.value.code() == code, (ei.value.code(), ei.value.details())
    assert grpc_reason(ei.value) == reason
    return ei.value


def test_health_check(authd):
    """The health protocol: "" and every service authd serves are SERVING; any other name is
    the call's status NOT_FOUND (not an OK answer with SERVICE_UNKNOWN)."""
    def check(service):
        return authd.call("/grpc.health.v1.Health/Check",
                          health_pb2.HealthCheckRequest(service=service),
                          health_pb2.HealthCheckResponse)

    for service in ["", "authd.v1.Users", "authd.v1.Sessions", "authd.v1.Signup",
                    "authd.v1.PasswordReset", "authd.v1.Admin", "authd.v1.TwoFactor",
                    "authd.v1.ClientAdmin", "authd.v1.OAuth", "grpc.health.v1.Health"]:
        assert check(service).status == health_pb2.HealthCheckResponse.SERVING, service
    for service in ["no.such.Service", "authd.v1", "authd.v1.Users/Create", "authd.v1.users",
                    " authd.v1.Users"]:
        with pytest.raises(grpc.RpcError) as ei:
            check(service)
        assert ei.value.code() == grpc.StatusCode.NOT_FOUND, service
        assert grpc_reason(ei.value) == "not_found"


def test_a_call_without_its_request_message_is_refused(authd):
    """A unary call whose client half-closes without sending the request message (h2load's cut
    calls, a rude client) is INVALID_ARGUMENT, never run as an empty request: Health/Check with
    no message would otherwise answer SERVING, and Users.Create would judge unset fields. An
    empty message (zero bytes, a real request) still answers."""
    no_message = authd.channel.stream_unary(
        "/grpc.health.v1.Health/Check", request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=health_pb2.HealthCheckResponse.FromString)
    for _ in range(3):
        with pytest.raises(grpc.RpcError) as ei:
            no_message(iter([]), timeout=10)
        assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT, ei.value.details()
        assert "no request message" in (ei.value.details() or "")
    empty = authd.call("/grpc.health.v1.Health/Check", health_pb2.HealthCheckRequest(),
                       health_pb2.HealthCheckResponse)
    assert empty.status == health_pb2.HealthCheckResponse.SERVING


def test_user_crud(authd):
    u = create_user(authd, "  Alice@Example.COM ")
    assert u.email == "alice@example.com"
    assert len(u.id) == 36 and u.id[14] == "4"
    assert u.created_at > 0 and not u.inactive
    got = authd.call(U + "Get", users_pb2.GetUserRequest(id=u.id), users_pb2.UserResponse).user
    assert got == u
    got = authd.call(U + "Get", users_pb2.GetUserRequest(email="ALICE@example.com"),
                     users_pb2.UserResponse).user
    assert got.id == u.id
    upd = authd.call(U + "Update", users_pb2.UpdateUserRequest(
        id=u.id, inactive=common_pb2.BoolValue(value=True)), users_pb2.UserResponse).user
    assert upd.inactive
    # An update without the field leaves it alone.
    upd = authd.call(U + "Update", users_pb2.UpdateUserRequest(id=u.id), users_pb2.UserResponse).user
    assert upd.inactive
    authd.call(U + "Delete", users_pb2.DeleteUserRequest(id=u.id), common_pb2.Empty)
    expect_error(lambda: authd.call(U + "Get", users_pb2.GetUserRequest(id=u.id),
                                    users_pb2.UserResponse), grpc.StatusCode.NOT_FOUND, "not_found")
    # The e-mail is free again after a delete.
    create_user(authd, "alice@example.com")


def test_user_given_id_and_bad_ids(authd):
    u = create_user(authd, "bob@example.com", id="bob-1")
    assert u.id == "bob-1"
    expect_error(lambda: create_user(authd, "bob2@example.com", id="bob-1"),
                 grpc.StatusCode.ALREADY_EXISTS, "already_exists")
    expect_error(lambda: create_user(authd, "bob3@example.com", id="../etc"),
                 grpc.StatusCode.INVALID_ARGUMENT, "invalid_request")


def test_list_users_paged(authd):
    ids = {create_user(authd, f"user{i}@example.com", password="").id for i in range(7)}
    seen, token, pages = [], "", 0
    while True:
        resp = authd.call(U + "List", users_pb2.ListUsersRequest(page_size=3, page_token=token),
                          users_pb2.ListUsersResponse)
        pages += 1
        assert len(resp.users) <= 3
        seen += [u.id for u in resp.users]
        token = resp.next_page_token
        if not token:
            break
        assert pages < 10
    assert sorted(seen) == sorted(ids)
    assert pages == 3


def test_duplicate_email(authd):
    create_user(authd, "carol@example.com")
    expect_error(lambda: create_user(authd, "CAROL@example.com "),
                 grpc.StatusCode.ALREADY_EXISTS, "already_exists")


def test_invalid_input(authd):
    expect_error(lambda: create_user(authd, "not-an-email"), grpc.StatusCode.INVALID_ARGUMENT,
                 "invalid_email")
    expect_error(lambda: create_user(authd, "dave@example.com", password="short"),
                 grpc.StatusCode.INVALID_ARGUMENT, "weak_password")
    expect_error(lambda: create_user(authd, "dave@example.com", password="x" * 5000),
                 grpc.StatusCode.RESOURCE_EXHAUSTED, "too_large")


def test_wrong_password_and_unknown_user_look_the_same(authd):
    create_user(authd, "erin@example.com")
    e1 = expect_error(lambda: login(authd, "erin@example.com", "wrong password!"),
                      grpc.StatusCode.UNAUTHENTICATED, "invalid_credentials")
    e2 = expect_error(lambda: login(authd, "nobody@example.com", "wrong password!"),
                      grpc.StatusCode.UNAUTHENTICATED, "invalid_credentials")
    assert e1.details() == e2.details()
    r = login(authd, "ERIN@example.com")
    assert r.user.email == "erin@example.com" and r.session.authenticated
    assert list(r.session.amr) == ["pwd"]
    assert len(r.session_token) == 66


def test_inactive_user_cannot_log_in(authd):
    u = create_user(authd, "frank@example.com")
    sess = login(authd, "frank@example.com")
    authd.call(U + "Update", users_pb2.UpdateUserRequest(
        id=u.id, inactive=common_pb2.BoolValue(value=True)), users_pb2.UserResponse)
    expect_error(lambda: login(authd, "frank@example.com"), grpc.StatusCode.PERMISSION_DENIED,
                 "inactive_user")
    # A wrong password still says only "invalid credentials".
    expect_error(lambda: login(authd, "frank@example.com", "bad password 1"),
                 grpc.StatusCode.UNAUTHENTICATED, "invalid_credentials")
    # Deactivation ended the existing session.
    expect_error(lambda: authd.call(S + "Get", sessions_pb2.GetSessionRequest(
        session_token=sess.session_token), sessions_pb2.SessionResponse),
        grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")


def test_sessions_get_list_revoke(authd):
    u = create_user(authd, "gina@example.com")
    a = login(authd, "gina@example.com")
    b = login(authd, "gina@example.com")
    got = authd.call(S + "Get", sessions_pb2.GetSessionRequest(session_token=a.session_token),
                     sessions_pb2.SessionResponse)
    assert got.user.id == u.id and got.session.id == a.session.id and got.session_token == ""
    lst = authd.call(S + "List", sessions_pb2.ListSessionsRequest(user_id=u.id),
                     sessions_pb2.ListSessionsResponse)
    assert sorted(s.id for s in lst.sessions) == sorted([a.session.id, b.session.id])
    assert all(s.client_ip == "127.0.0.9" and s.user_agent == "pytest" for s in lst.sessions)
    authd.call(S + "Revoke", sessions_pb2.RevokeSessionRequest(session_token=a.session_token),
               common_pb2.Empty)
    expect_error(lambda: authd.call(S + "Get", sessions_pb2.GetSessionRequest(
        session_token=a.session_token), sessions_pb2.SessionResponse),
        grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")
    authd.call(S + "Revoke", sessions_pb2.RevokeSessionRequest(session_id=b.session.id),
               common_pb2.Empty)
    lst = authd.call(S + "List", sessions_pb2.ListSessionsRequest(user_id=u.id),
                     sessions_pb2.ListSessionsResponse)
    assert len(lst.sessions) == 0


def test_forged_session_tokens_refused(authd):
    create_user(authd, "hank@example.com")
    a = login(authd, "hank@example.com")
    tok = a.session_token
    sid, secret = tok.split(".")
    forged = [sid + "." + ("A" if secret[0] != "A" else "B") + secret[1:], "", "x" * 66,
              sid + "." + secret[:-1], tok + "A", "." * 66]
    for f in forged:
        expect_error(lambda: authd.call(S + "Get", sessions_pb2.GetSessionRequest(session_token=f),
                                        sessions_pb2.SessionResponse),
                     grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")


def test_change_password_ends_other_sessions(authd):
    create_user(authd, "ivy@example.com")
    a = login(authd, "ivy@example.com")
    b = login(authd, "ivy@example.com")
    expect_error(lambda: authd.call(S + "ChangePassword", sessions_pb2.ChangePasswordRequest(
        session_token=a.session_token, current_password="wrong one!!",
        new_password="brand new password"), common_pb2.Empty),
        grpc.StatusCode.UNAUTHENTICATED, "invalid_credentials")
    authd.call(S + "ChangePassword", sessions_pb2.ChangePasswordRequest(
        session_token=a.session_token, current_password="correct horse battery",
        new_password="brand new password"), common_pb2.Empty)
    authd.call(S + "Get", sessions_pb2.GetSessionRequest(session_token=a.session_token),
               sessions_pb2.SessionResponse)
    expect_error(lambda: authd.call(S + "Get", sessions_pb2.GetSessionRequest(
        session_token=b.session_token), sessions_pb2.SessionResponse),
        grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")
    expect_error(lambda: login(authd, "ivy@example.com"), grpc.StatusCode.UNAUTHENTICATED,
                 "invalid_credentials")
    login(authd, "ivy@example.com", "brand new password")


def start_signup(authd, email, **client):
    return authd.call(SU + "Start", signup_pb2.StartSignupRequest(
        email=email, client=common_pb2.ClientContext(**client), client_ip="127.0.0.8"),
        signup_pb2.StartSignupResponse)


def test_signup_flow_over_rpc(authd):
    st = start_signup(authd, "Jack@Example.com", client_id="web", state="xyz",
                      redirect_uri="https://app.example/cb", response_type="code")
    assert st.email == "jack@example.com" and st.token and not st.account_exists
    got = authd.call(SU + "Get", signup_pb2.TokenRequest(token=st.token),
                     signup_pb2.GetSignupResponse)
    assert got.email == "jack@example.com" and got.client.state == "xyz"
    expect_error(lambda: authd.call(SU + "Complete", signup_pb2.CompleteSignupRequest(
        token=st.token, password="short"), signup_pb2.CompleteSignupResponse),
        grpc.StatusCode.INVALID_ARGUMENT, "weak_password")
    done = authd.call(SU + "Complete", signup_pb2.CompleteSignupRequest(
        token=st.token, password="jacks password 1", client_ip="127.0.0.8", user_agent="ua"),
        signup_pb2.CompleteSignupResponse)
    assert done.user.email == "jack@example.com" and done.session.authenticated
    assert done.client.client_id == "web" and done.client.redirect_uri == "https://app.example/cb"
    authd.call(S + "Get", sessions_pb2.GetSessionRequest(session_token=done.session_token),
               sessions_pb2.SessionResponse)
    # Single use.
    expect_error(lambda: authd.call(SU + "Complete", signup_pb2.CompleteSignupRequest(
        token=st.token, password="jacks password 2"), signup_pb2.CompleteSignupResponse),
        grpc.StatusCode.UNAUTHENTICATED, "invalid_token")
    # A second signup for the same e-mail does not hand out a token, and says so only to the edge.
    again = start_signup(authd, "jack@example.com")
    assert again.account_exists and again.token == ""


def test_concurrent_signups_of_one_email_exactly_one_wins(authd):
    tokens = [start_signup(authd, "kate@example.com").token for _ in range(6)]
    assert len(set(tokens)) == 6

    def complete(tok):
        try:
            authd.call(SU + "Complete", signup_pb2.CompleteSignupRequest(
                token=tok, password="kates password"), signup_pb2.CompleteSignupResponse)
            return "ok"
        except grpc.RpcError as e:
            return grpc_reason(e)

    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        results = list(ex.map(complete, tokens))
    assert results.count("ok") == 1, results
    assert results.count("already_exists") == 5, results
    lst = authd.call(U + "List", users_pb2.ListUsersRequest(), users_pb2.ListUsersResponse)
    assert [u.email for u in lst.users] == ["kate@example.com"]


def test_bad_signup_tokens(authd):
    for tok in ["", "nonsense", "A" * 22 + "." + "B" * 43]:
        expect_error(lambda: authd.call(SU + "Get", signup_pb2.TokenRequest(token=tok),
                                        signup_pb2.GetSignupResponse),
                     grpc.StatusCode.UNAUTHENTICATED, "invalid_token")


def test_password_reset_over_rpc(authd):
    create_user(authd, "liam@example.com")
    a = login(authd, "liam@example.com")
    none = authd.call(PR + "Start", signup_pb2.StartResetRequest(email="nobody@example.com"),
                      signup_pb2.StartResetResponse)
    assert none.token == ""
    st = authd.call(PR + "Start", signup_pb2.StartResetRequest(email="LIAM@example.com"),
                    signup_pb2.StartResetResponse)
    assert st.token
    got = authd.call(PR + "Get", signup_pb2.TokenRequest(token=st.token),
                     signup_pb2.GetResetResponse)
    assert got.email == "liam@example.com"
    authd.call(PR + "Complete", signup_pb2.CompleteResetRequest(
        token=st.token, password="liams new password"), signup_pb2.CompleteResetResponse)
    expect_error(lambda: authd.call(S + "Get", sessions_pb2.GetSessionRequest(
        session_token=a.session_token), sessions_pb2.SessionResponse),
        grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")
    login(authd, "liam@example.com", "liams new password")
    expect_error(lambda: authd.call(PR + "Complete", signup_pb2.CompleteResetRequest(
        token=st.token, password="another password"), signup_pb2.CompleteResetResponse),
        grpc.StatusCode.UNAUTHENTICATED, "invalid_token")


def test_auth_config_put_get_and_validation(authd):
    empty = authd.call(AD + "GetAuthConfig", admin_pb2.GetAuthConfigRequest(), admin_pb2.AuthConfig)
    assert empty.id == ""
    cfg = admin_pb2.AuthConfig(
        id="app", asid_cookie_max_age=3600,
        theme=admin_pb2.Theme(title="Acme", brand="Acme Inc", style_url="https://cdn.example/s.css"),
        two_factor=admin_pb2.TwoFactorConfig(
            issuer_name="Acme", valid_past_tokens_count=2,
            webhook=admin_pb2.Webhook(endpoint="http://127.0.0.1:9/hook", timeout=500,
                                      headers={"x-key": "v"})))
    authd.call(AD + "PutAuthConfig", cfg, admin_pb2.AuthConfig)
    got = authd.call(AD + "GetAuthConfig", admin_pb2.GetAuthConfigRequest(), admin_pb2.AuthConfig)
    # passwordPolicy is authd's read-only rule, in every answer (test_words.py)
    assert got.password_policy.min_length == 8
    got.ClearField("password_policy")
    assert got == cfg
    bad = admin_pb2.AuthConfig(id="app", theme=admin_pb2.Theme(style_url="javascript:alert(1)"))
    e = expect_error(lambda: authd.call(AD + "PutAuthConfig", bad, admin_pb2.AuthConfig),
                     grpc.StatusCode.INVALID_ARGUMENT, "invalid_request")
    assert "styleUrl" in e.details()
    # The lockout rules: a negative or absurd number, and a schedule that cannot grow, are
    # refused naming the field; the stored config stays as it was.
    for rule, piece in ((admin_pb2.LockoutRule(window=-1),
                         "lockout.mail.account.window must be 1..2592000 seconds"),
                        (admin_pb2.LockoutRule(first_wait=86401),
                         "lockout.mail.account.firstWait must be 1..86400 seconds"),
                        (admin_pb2.LockoutRule(first_wait=7200),  # the mail default max: 3600
                         "lockout.mail.account.maxWait must be at least firstWait")):
        bad = admin_pb2.AuthConfig(id="app", lockout=admin_pb2.LockoutConfig(
            mail=admin_pb2.LockoutPolicy(account=rule)))
        e = expect_error(lambda: authd.call(AD + "PutAuthConfig", bad, admin_pb2.AuthConfig),
                         grpc.StatusCode.INVALID_ARGUMENT, "invalid_request")
        assert piece in e.details(), e.details()
    got = authd.call(AD + "GetAuthConfig", admin_pb2.GetAuthConfigRequest(), admin_pb2.AuthConfig)
    # passwordPolicy is authd's read-only rule, in every answer (test_words.py)
    assert got.password_policy.min_length == 8
    got.ClearField("password_policy")
    assert got == cfg
    # The session lifetime follows asidCookieMaxAge.
    create_user(authd, "mia@example.com")
    s = login(authd, "mia@example.com").session
    assert s.expires_at - s.created_at == 3600


def test_expired_session_and_links(tmpdir_path):
    a = Authd(tmpdir_path, FAST_ARGON2 + ["--session-ttl", "1", "--signup-ttl", "1"])
    try:
        create_user(a, "noah@example.com")
        s = login(a, "noah@example.com")
        st = start_signup(a, "olga@example.com")
        time.sleep(2.2)
        expect_error(lambda: a.call(S + "Get", sessions_pb2.GetSessionRequest(
            session_token=s.session_token), sessions_pb2.SessionResponse),
            grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")
        expect_error(lambda: a.call(SU + "Complete", signup_pb2.CompleteSignupRequest(
            token=st.token, password="olgas password"), signup_pb2.CompleteSignupResponse),
            grpc.StatusCode.UNAUTHENTICATED, "invalid_token")
    finally:
        a.stop()


def test_unknown_method_and_malformed_request(authd):
    t0 = time.time()
    fn = authd.channel.unary_unary("/authd.v1.Nope/Nothing")
    with pytest.raises(grpc.RpcError) as ei:
        fn(b"", timeout=10)
    assert ei.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert time.time() - t0 < 3
    raw = authd.channel.unary_unary(U + "Get")
    with pytest.raises(grpc.RpcError) as ei:
        raw(b"\x0f\xff\xff\xff", timeout=10)  # field 1 with wire type 7: not protobuf
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as ei:
        raw(b"\x0a" + b"\xff\xff\xff\x7f", timeout=10)  # a length far past the end
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as ei:
        raw(b"\x0a\x80\x80\x80\x01" + b"x" * (2 << 20), timeout=10)  # over the size limit
    assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # authd is still fine.
    create_user(authd, "pat@example.com")


def test_many_concurrent_calls(authd):
    create_user(authd, "quinn@example.com")
    tok = login(authd, "quinn@example.com").session_token

    def get(_):
        return authd.call(S + "Get", sessions_pb2.GetSessionRequest(session_token=tok),
                          sessions_pb2.SessionResponse).user.email

    with concurrent.futures.ThreadPoolExecutor(32) as ex:
        emails = list(ex.map(get, range(400)))
    assert set(emails) == {"quinn@example.com"}


def test_acknowledged_signup_survives_sigkill(authd):
    st = start_signup(authd, "rose@example.com")
    done = authd.call(SU + "Complete", signup_pb2.CompleteSignupRequest(
        token=st.token, password="roses password"), signup_pb2.CompleteSignupResponse)
    created = [create_user(authd, f"sk{i}@example.com").id for i in range(20)]
    authd.restart(signal.SIGKILL)
    got = authd.call(U + "Get", users_pb2.GetUserRequest(email="rose@example.com"),
                     users_pb2.UserResponse).user
    assert got.id == done.user.id
    for uid in created:
        authd.call(U + "Get", users_pb2.GetUserRequest(id=uid), users_pb2.UserResponse)
    authd.call(S + "Get", sessions_pb2.GetSessionRequest(session_token=done.session_token),
               sessions_pb2.SessionResponse)
    login(authd, "rose@example.com", "roses password")


@pytest.mark.skipif(os.environ.get("AUTHD_TEST_STORE") == "postgres",
                    reason="the RocksDB data-directory lock; authd on PostgreSQL has no directory")
def test_data_dir_in_use_is_a_clear_error(authd, tmpdir_path):
    import subprocess
    from conftest import AUTHD
    p = subprocess.run([AUTHD, "--listen", "127.0.0.1:0", "--data-dir", authd.data],
                       capture_output=True, timeout=20)
    assert p.returncode != 0
    assert b"in use by another process" in p.stderr


def test_sigterm_stops_cleanly(authd):
    create_user(authd, "sam@example.com")
    assert authd.stop() == 0
    assert "event=stopped" in authd.log_text()
    authd.start()
    authd.call(U + "Get", users_pb2.GetUserRequest(email="sam@example.com"), users_pb2.UserResponse)


def test_default_argon2_cost(tmpdir_path):
    a = Authd(tmpdir_path)
    try:
        create_user(a, "tess@example.com")
        assert "argon2_m=19456 argon2_t=2" in a.log_text()
        login(a, "tess@example.com")
    finally:
        a.stop()


def test_no_secrets_in_log(authd):
    create_user(authd, "uma@example.com", password="uma secret password")
    s = login(authd, "uma@example.com", "uma secret password")
    st = start_signup(authd, "vic@example.com")
    log = authd.log_text()
    assert "uma secret password" not in log
    assert s.session_token.split(".")[1] not in log
    assert st.token.split(".")[1] not in log
    assert "event=audit action=login outcome=success" in log


def login_from(authd, email, password, ip):
    return authd.call(S + "Login", sessions_pb2.LoginRequest(email=email, password=password,
                                                             client_ip=ip),
                      sessions_pb2.SessionResponse)


def test_password_lockout_per_account(authd):
    long_locks(authd)  # the lock must still be there however slow the six failures were
    create_user(authd, "wes@example.com")
    for i in range(6):  # 5 free failures, the 6th earns the first lock
        expect_error(lambda: login_from(authd, "wes@example.com", f"wrong password {i}",
                                        f"10.0.0.{i}"),
                     grpc.StatusCode.UNAUTHENTICATED, "invalid_credentials")
    # Now even the right password is refused until the lock ends, and it says when to retry.
    e = expect_error(lambda: login_from(authd, "wes@example.com", "correct horse battery",
                                        "10.0.1.1"),
                     grpc.StatusCode.RESOURCE_EXHAUSTED, "locked")
    # The seconds travel as a trailer of their own, not in the text.
    assert LONG_LOCK // 2 < int(grpc_trailer(e, "authd-retry-after")) <= LONG_LOCK, (
        e.trailing_metadata())
    assert "retry_after=" not in e.details()
    # Unknown e-mails lock the same way, so the lock does not reveal which accounts exist.
    for i in range(6):
        expect_error(lambda: login_from(authd, "ghost@example.com", "wrong password",
                                        f"10.0.2.{i}"),
                     grpc.StatusCode.UNAUTHENTICATED, "invalid_credentials")
    expect_error(lambda: login_from(authd, "ghost@example.com", "x" * 10, "10.0.3.1"),
                 grpc.StatusCode.RESOURCE_EXHAUSTED, "locked")
    assert "event=audit action=lockout" in authd.log_text()


def test_password_lock_ends_and_success_forgives(authd):
    # A short first lock, and the test waits for its end: the lock is proven by its audit event
    # (written when the sixth failure set it), never by racing the clock to see a refusal.
    set_lockout(authd, password={"account": {"firstWait": 2}})
    u = create_user(authd, "wes@example.com")
    for i in range(6):
        expect_error(lambda: login_from(authd, "wes@example.com", f"wrong password {i}",
                                        f"10.0.0.{i}"),
                     grpc.StatusCode.UNAUTHENTICATED, "invalid_credentials")
    assert [ln for ln in authd.log_text().splitlines()
            if "action=lockout" in ln and f"user={u.id}" in ln.split()], authd.log_text()
    deadline = time.time() + 30
    while True:  # refused attempts are not counted: asking until the lock ends changes nothing
        try:
            login_from(authd, "wes@example.com", "correct horse battery", "10.0.1.1")
            break
        except grpc.RpcError as e:
            assert grpc_reason(e) == "locked" and time.time() < deadline, e.details()
            time.sleep(0.2)
    # The success reset the account's counter: one more failure does not lock it.
    expect_error(lambda: login_from(authd, "wes@example.com", "wrong again", "10.0.1.2"),
                 grpc.StatusCode.UNAUTHENTICATED, "invalid_credentials")
    login_from(authd, "wes@example.com", "correct horse battery", "10.0.1.3")


def test_password_lockout_per_address(authd):
    long_locks(authd)
    create_user(authd, "xavi@example.com")
    for i in range(21):  # 20 free failures per address, across any accounts
        expect_error(lambda: login_from(authd, f"victim{i}@example.com", "wrong password",
                                        "192.0.2.7"),
                     grpc.StatusCode.UNAUTHENTICATED, "invalid_credentials")
    expect_error(lambda: login_from(authd, "xavi@example.com", "correct horse battery",
                                    "192.0.2.7"),
                 grpc.StatusCode.RESOURCE_EXHAUSTED, "locked")
    # Another address is not affected.
    login_from(authd, "xavi@example.com", "correct horse battery", "192.0.2.8")


def test_no_session_survives_a_concurrent_password_reset(tmpdir_path):
    """Logins racing a reset: every session made with the old password must be gone after."""
    import threading
    a = Authd(tmpdir_path)  # the default Argon2 cost widens the race window
    try:
        create_user(a, "race@example.com")
        tokens, stop = [], threading.Event()

        def spin():
            while not stop.is_set():
                try:
                    tokens.append(login_from(a, "race@example.com", "correct horse battery",
                                             "127.0.0.9").session_token)
                except grpc.RpcError:
                    pass

        threads = [threading.Thread(target=spin) for _ in range(3)]
        for t in threads:
            t.start()
        deadline = time.time() + 60
        while not tokens and time.time() < deadline:  # logins under way, however slow
            time.sleep(0.05)
        st = a.call(PR + "Start", signup_pb2.StartResetRequest(email="race@example.com"),
                    signup_pb2.StartResetResponse)
        a.call(PR + "Complete", signup_pb2.CompleteResetRequest(
            token=st.token, password="the new password"), signup_pb2.CompleteResetResponse)
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert tokens
        alive = 0
        for tok in tokens:
            try:
                a.call(S + "Get", sessions_pb2.GetSessionRequest(session_token=tok),
                       sessions_pb2.SessionResponse)
                alive += 1
            except grpc.RpcError:
                pass
        assert alive == 0, f"{alive} of {len(tokens)} old-password sessions survived the reset"
    finally:
        a.stop()


def test_reset_links_die_when_the_password_changes(authd):
    create_user(authd, "yves@example.com")
    t1 = authd.call(PR + "Start", signup_pb2.StartResetRequest(email="yves@example.com"),
                    signup_pb2.StartResetResponse).token
    t2 = authd.call(PR + "Start", signup_pb2.StartResetRequest(email="yves@example.com"),
                    signup_pb2.StartResetResponse).token
    t3 = authd.call(PR + "Start", signup_pb2.StartResetRequest(email="yves@example.com"),
                    signup_pb2.StartResetResponse).token
    authd.call(PR + "Complete", signup_pb2.CompleteResetRequest(token=t1, password="yves new pw 1"),
               signup_pb2.CompleteResetResponse)
    expect_error(lambda: authd.call(PR + "Complete", signup_pb2.CompleteResetRequest(
        token=t2, password="attacker pw 1"), signup_pb2.CompleteResetResponse),
        grpc.StatusCode.UNAUTHENTICATED, "invalid_token")
    expect_error(lambda: authd.call(PR + "Get", signup_pb2.TokenRequest(token=t3),
                                    signup_pb2.GetResetResponse),
                 grpc.StatusCode.UNAUTHENTICATED, "invalid_token")
    # A change of password by the signed-in user voids links issued before it, too.
    t4 = authd.call(PR + "Start", signup_pb2.StartResetRequest(email="yves@example.com"),
                    signup_pb2.StartResetResponse).token
    s = login(authd, "yves@example.com", "yves new pw 1")
    authd.call(S + "ChangePassword", sessions_pb2.ChangePasswordRequest(
        session_token=s.session_token, current_password="yves new pw 1",
        new_password="yves new pw 2"), common_pb2.Empty)
    expect_error(lambda: authd.call(PR + "Complete", signup_pb2.CompleteResetRequest(
        token=t4, password="attacker pw 2"), signup_pb2.CompleteResetResponse),
        grpc.StatusCode.UNAUTHENTICATED, "invalid_token")
    login(authd, "yves@example.com", "yves new pw 2")


def test_change_password_guesses_are_throttled(authd):
    long_locks(authd)
    create_user(authd, "zoe@example.com")
    s = login(authd, "zoe@example.com")

    def change(current):
        return authd.call(S + "ChangePassword", sessions_pb2.ChangePasswordRequest(
            session_token=s.session_token, current_password=current,
            new_password="zoes new password", client_ip="10.7.0.1"), common_pb2.Empty)

    for i in range(6):
        expect_error(lambda: change(f"guess number {i}"), grpc.StatusCode.UNAUTHENTICATED,
                     "invalid_credentials")
    expect_error(lambda: change("correct horse battery"), grpc.StatusCode.RESOURCE_EXHAUSTED,
                 "locked")


def test_concurrent_guesses_cannot_outrun_the_lockout(authd):
    long_locks(authd)  # no lock may end while the 24 guesses are still being judged
    create_user(authd, "abel@example.com")

    def guess(i):
        try:
            login_from(authd, "abel@example.com", f"wrong guess {i}", f"10.6.{i}.1")
            return "ok"
        except grpc.RpcError as e:
            return grpc_reason(e)

    with concurrent.futures.ThreadPoolExecutor(24) as ex:
        results = list(ex.map(guess, range(24)))
    assert results.count("ok") == 0
    assert results.count("invalid_credentials") <= 6, results
    assert results.count("locked") >= 18, results


def test_mail_sending_starts_are_rate_limited(authd):
    for i in range(6):  # 5 free, the 6th is sent and earns the lock
        start_signup(authd, "bulk@example.com")
    expect_error(lambda: start_signup(authd, "bulk@example.com"),
                 grpc.StatusCode.RESOURCE_EXHAUSTED, "locked")
    expect_error(lambda: authd.call(SU + "Start", signup_pb2.StartSignupRequest(
        email="huge@example.com", client=common_pb2.ClientContext(state="x" * 5000)),
        signup_pb2.StartSignupResponse), grpc.StatusCode.INVALID_ARGUMENT, "invalid_request")


def test_concurrent_correct_logins_of_one_account_all_pass(authd):
    create_user(authd, "many@example.com")

    def go(i):
        try:
            login_from(authd, "many@example.com", "correct horse battery", f"10.5.{i}.1")
            return "ok"
        except grpc.RpcError as e:
            return grpc_reason(e)

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        results = list(ex.map(go, range(16)))
    assert results == ["ok"] * 16, results
