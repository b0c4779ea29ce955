# SPDX-License-Identifier: Apache-2.0
"""The bulk loader, `authctl user import` over Users.Import (authd/import.h): what it loads
works with every RPC afterwards (login with the imported Argon2id hash, the imported session,
an access token introspected), duplicates and malformed hashes are refused with the line named
and nothing of the refused call written, the e-mail index stays consistent, only an
administrator may call it, and a load is audited once at its start and once at its end.
Run on PostgreSQL too (AUTHD_TEST_STORE=postgres, and test_import_on_postgres below)."""
import ctypes
import json
import os
import re
import subprocess
import time
import urllib.parse

import grpc
import pytest

from conftest import AUTHCTL, AUTHD, FAST_ARGON2, Authd, common_pb2, sessions_pb2, users_pb2
from authd.v1 import oauth_pb2  # noqa: E402
from pgcluster import PgCluster
from test_oauth import LEGACY, LEGACY_CB, LEGACY_SECRET, token_req, verify_jwt
from test_oauth import env, oauth_env  # noqa: F401  (fixtures)

U, S, O = "/authd.v1.Users/", "/authd.v1.Sessions/", "/authd.v1.OAuth/"
PASSWORD = "correct horse battery"

_argon2 = ctypes.CDLL("libargon2.so.1")
_argon2.argon2id_hash_encoded.argtypes = [
    ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t,
    ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]


def phc(password, t=1, m=1024, p=1):
    """An Argon2id PHC string made by libargon2 itself (the importer's precomputed hash)."""
    out = ctypes.create_string_buffer(256)
    pw, salt = password.encode(), os.urandom(16)
    assert _argon2.argon2id_hash_encoded(t, m, p, pw, len(pw), salt, len(salt), 32, out,
                                         256) == 0
    return out.value.decode()


def ctl(authd, *args, stdin=None):
    return subprocess.run([AUTHCTL, "--authd", authd.target] + list(args), input=stdin,
                          capture_output=True, text=True, timeout=120)


def jsonl(rows):
    return "".join(json.dumps(r) + "\n" for r in rows)


def user_by_email(a, email):
    return a.call(U + "Get", users_pb2.GetUserRequest(email=email), users_pb2.UserResponse).user


def import_lines(a):
    return [ln for ln in a.log_text().splitlines()
            if "event=audit" in ln and "reason=Users/Import" in ln]


def audit_count(line):
    m = re.search(r" count=(\d+)", line)
    return int(m.group(1)) if m else 0


def test_imported_users_log_in_and_their_tokens_work(authd, tmpdir_path):
    h = phc(PASSWORD)
    rows = [{"email": f"load{i}@import.example", "password_hash": h, "session": True,
             "email_verified": i % 2 == 0} for i in range(1000)]
    rows[7]["id"] = "chosen-id-7"
    tokens = os.path.join(tmpdir_path, "tokens.txt")
    p = ctl(authd, "user", "import", "-", "--batch", "300", "--tokens-out", tokens,
            "--load-id", "first-load", stdin=jsonl(rows))
    assert p.returncode == 0, p.stderr
    assert re.search(r"imported 1000 users in ", p.stdout), p.stdout
    assert oct(os.stat(tokens).st_mode & 0o777) == "0o600"
    with open(tokens) as f:
        lines = [ln.split() for ln in f]
    assert len(lines) == 1000 and lines[7][:2] == ["load7@import.example", "chosen-id-7"]

    # The e-mail index points at each record, and the record is what was loaded.
    for i in (0, 1, 7, 500, 999):
        u = user_by_email(authd, f"load{i}@import.example")
        assert u.id == lines[i][1] and u.email == f"load{i}@import.example"
        assert u.email_verified == (i % 2 == 0) and not u.inactive
    # The imported session is a live, authenticated session of its user.
    for i in (0, 999):
        r = authd.call(S + "Get", sessions_pb2.GetSessionRequest(session_token=lines[i][2]),
                       sessions_pb2.SessionResponse)
        assert r.session.user_id == lines[i][1] and r.session.authenticated
        assert list(r.session.amr) == ["import"]
    # Login verifies the imported hash.
    r = authd.call(S + "Login", sessions_pb2.LoginRequest(email="load3@import.example",
                                                           password=PASSWORD,
                                                           client_ip="127.0.0.9"),
                   sessions_pb2.SessionResponse)
    assert r.session.authenticated and r.user.id == lines[3][1]
    with pytest.raises(grpc.RpcError) as e:
        authd.call(S + "Login", sessions_pb2.LoginRequest(email="load4@import.example",
                                                           password="wrong password!",
                                                           client_ip="127.0.0.9"),
                   sessions_pb2.SessionResponse)
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # An access token of an imported user (password grant) introspects as that user.
    c = oauth_pb2.Client(id="import-app", secret="import-app-secret-0123456789abcdef",
                         first_party=True, grant_types=["password"], introspect=True)
    authd.call("/authd.v1.ClientAdmin/Put", c, oauth_pb2.ClientResponse)
    tok = authd.call(O + "Token", oauth_pb2.OAuthTokenRequest(
        grant_type="password", client_id="import-app",
        client_secret="import-app-secret-0123456789abcdef", username="load5@import.example",
        password=PASSWORD, client_ip="127.0.0.9"), oauth_pb2.OAuthTokenResponse).access_token
    r = authd.call(O + "Introspect", oauth_pb2.IntrospectRequest(
        token=tok, client_id="import-app", client_secret="import-app-secret-0123456789abcdef"),
        oauth_pb2.IntrospectResponse)
    assert r.active and r.sub == lines[5][1] and r.username == "load5@import.example"
    # Each of the load's 4 calls is audited with the users it wrote; the last one logs the total.
    audit = import_lines(authd)
    assert len(audit) == 4 and all("target=import/first-load" in ln for ln in audit)
    assert [audit_count(ln) for ln in audit] == [300, 300, 300, 100]
    assert "event=import_done load=first-load users=1000" in authd.log_text()
    # A user without a password (no hash given) exists and cannot log in.
    p = ctl(authd, "user", "import", "-", stdin=jsonl([{"email": "nopw@import.example"}]))
    assert p.returncode == 0, p.stderr
    assert user_by_email(authd, "nopw@import.example").email == "nopw@import.example"


def test_duplicates_are_refused_and_nothing_of_the_call_is_written(authd):
    h = phc(PASSWORD)
    rows = [{"email": f"dup{i}@import.example", "password_hash": h} for i in range(10)]
    assert ctl(authd, "user", "import", "-", stdin=jsonl(rows)).returncode == 0
    count = len(authd.call(U + "List", users_pb2.ListUsersRequest(page_size=1000),
                           users_pb2.ListUsersResponse).users)

    # The same load again stops at its first call, naming the line and the address.
    p = ctl(authd, "user", "import", "-", stdin=jsonl(rows))
    assert p.returncode == 1
    assert "line 1 " in p.stderr and "already_exists" in p.stderr
    assert "dup0@import.example" in p.stderr and "nothing of this call written" in p.stderr

    # A repeat inside one call (differently cased: the index normalises), and an id taken:
    # the whole call is refused, the calls before it stay.
    fresh = [{"email": f"new{i}@import.example"} for i in range(6)]
    fresh[4]["email"] = "NEW1@Import.Example"
    p = ctl(authd, "user", "import", "-", "--batch", "3", stdin=jsonl(fresh))
    assert p.returncode == 1
    assert "line 5 " in p.stderr and "3 users imported before" in p.stderr, p.stderr
    ids = [{"email": "other@import.example", "id": user_by_email(authd, "dup3@import.example").id}]
    p = ctl(authd, "user", "import", "-", stdin=jsonl(ids))
    assert p.returncode == 1 and "already_exists" in p.stderr
    users = authd.call(U + "List", users_pb2.ListUsersRequest(page_size=1000),
                       users_pb2.ListUsersResponse).users
    emails = sorted(u.email for u in users)
    assert len(users) == count + 3
    assert "new3@import.example" not in emails and "new5@import.example" not in emails
    assert "other@import.example" not in emails
    # The index and the records agree: one record per address, each found by its address.
    assert len(set(emails)) == len(emails)
    for u in users:
        assert user_by_email(authd, u.email).id == u.id
    # Create sees the imported addresses as taken, as they were made by Create.
    with pytest.raises(grpc.RpcError) as e:
        authd.call(U + "Create", users_pb2.CreateUserRequest(email="Dup2@import.example"),
                   users_pb2.UserResponse)
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS


@pytest.mark.parametrize("bad", [
    "$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",     # not Argon2id
    "$argon2id$v=16$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",    # old version
    "$argon2id$v=19$m=1024,t=0,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",    # t out of range
    "$argon2id$v=19$m=01024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",   # leading zero
    "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",              # salt too short
    "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFz*GhhcHoYXNoaGFzaA",     # not base64
    "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA$x",  # trailing
    "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",              # bcrypt
    "correct horse battery",                                                   # clear text
])
def test_malformed_hashes_are_refused(authd, bad):
    rows = [{"email": "fine@import.example", "password_hash": phc(PASSWORD)},
            {"email": "bad@import.example", "password_hash": bad}]
    p = ctl(authd, "user", "import", "-", stdin=jsonl(rows))
    assert p.returncode == 1, p.stdout
    assert "line 2 " in p.stderr and "invalid_request" in p.stderr
    assert "password_hash: not an Argon2id PHC string" in p.stderr
    for email in ("fine@import.example", "bad@import.example"):
        with pytest.raises(grpc.RpcError) as e:
            user_by_email(authd, email)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_bad_input_lines_are_refused_before_any_call(authd):
    for text, why in (('{"email": "a@import.example"}\nnot json\n', "line 2: not a JSON object"),
                      ('{"email": "a@import.example", "password": "x"}\n', "unknown field"),
                      ('{"password_hash": "x"}\n', "email is missing"),
                      ('{"email": "a@import.example", "session": "yes"}\n', "true or false")):
        p = ctl(authd, "user", "import", "-", stdin=text)
        assert p.returncode == 4 and why in p.stderr, p.stderr
    p = ctl(authd, "user", "import", "-", stdin='{"email": "not-an-address"}\n')
    assert p.returncode == 1 and "not a valid e-mail" in p.stderr
    with pytest.raises(grpc.RpcError) as e:
        user_by_email(authd, "a@import.example")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    # The RPC itself bounds a call.
    with pytest.raises(grpc.RpcError) as e:
        authd.call(U + "Import", users_pb2.ImportUsersRequest(
            users=[users_pb2.ImportUser(email=f"x{i}@import.example") for i in range(1001)]),
            users_pb2.ImportUsersResponse)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "1 to 1000" in e.value.details()


def test_only_an_administrator_may_import(tmpdir_path):
    # Anonymous callers get the edge's and a service's roles here, not the administrator's.
    a = Authd(tmpdir_path, FAST_ARGON2 + ["--anonymous-roles", "edge,service"])
    try:
        p = ctl(a, "user", "import", "-", stdin=jsonl([{"email": "x@import.example"}]))
        assert p.returncode == 1 and "permission_denied" in p.stderr, p.stderr
        assert "outcome=denied" in a.log_text()
    finally:
        a.stop()
    a = Authd(tmpdir_path, FAST_ARGON2)  # the development default: every role
    try:
        with pytest.raises(grpc.RpcError) as e:
            user_by_email(a, "x@import.example")
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        a.stop()


def test_import_on_postgres(tmpdir_path):
    """The loader goes through store transactions, so it works on PostgreSQL as well."""
    with PgCluster() as pg:
        a = Authd(tmpdir_path, FAST_ARGON2, pg=pg)
        try:
            h = phc(PASSWORD)
            rows = [{"email": f"pg{i}@import.example", "password_hash": h, "session": i < 2}
                    for i in range(50)]
            p = ctl(a, "user", "import", "-", "--batch", "20", stdin=jsonl(rows))
            assert p.returncode == 0, p.stderr
            r = a.call(S + "Login", sessions_pb2.LoginRequest(email="pg42@import.example",
                                                               password=PASSWORD,
                                                               client_ip="127.0.0.9"),
                       sessions_pb2.SessionResponse)
            assert r.session.authenticated
            p = ctl(a, "user", "import", "-", stdin=jsonl(rows[:1]))
            assert p.returncode == 1 and "already_exists" in p.stderr
        finally:
            a.stop()


def test_rocksdb_options(tmpdir_path):
    """--rocksdb-cache-mb and --rocksdb-bloom-bits: a store written without filters and
    reopened with them (and another cache) reads the same; out-of-range values are refused."""
    for bad in (["--rocksdb-cache-mb", "4"], ["--rocksdb-bloom-bits", "33"]):
        p = subprocess.run([AUTHD, "--listen", "127.0.0.1:0", "--data-dir",
                            os.path.join(tmpdir_path, "x")] + bad, capture_output=True,
                           timeout=30)
        assert p.returncode == 2 and bad[0].encode() in p.stderr, p.stderr
    a = Authd(tmpdir_path, FAST_ARGON2 + ["--rocksdb-cache-mb", "8", "--rocksdb-bloom-bits", "0"])
    try:
        rows = [{"email": f"opt{i}@import.example", "password_hash": phc(PASSWORD)}
                for i in range(3)]
        assert ctl(a, "user", "import", "-", stdin=jsonl(rows)).returncode == 0
        a.extra = FAST_ARGON2 + ["--rocksdb-cache-mb", "128", "--rocksdb-bloom-bits", "16"]
        a.restart()
        r = a.call(S + "Login", sessions_pb2.LoginRequest(email="opt2@import.example",
                                                           password=PASSWORD,
                                                           client_ip="127.0.0.9"),
                   sessions_pb2.SessionResponse)
        assert r.session.authenticated
    finally:
        a.stop()


def test_concurrent_loads_are_each_counted(authd):
    """Two importers at once, their calls interleaved: every call is audited under its own
    load with the users it wrote, and each load's last call logs that load's total."""
    def call(load, lo, last):
        authd.call(U + "Import", users_pb2.ImportUsersRequest(
            load_id=load, last=last,
            users=[users_pb2.ImportUser(email=f"{load}-{i}@import.example")
                   for i in range(lo, lo + 5)]), users_pb2.ImportUsersResponse)
    before = len(import_lines(authd))
    for lo, last in ((0, False), (5, False), (10, True)):
        call("load-a", lo, last)
        call("load-b", lo, last)
    lines = import_lines(authd)[before:]
    assert len(lines) == 6, lines
    assert sum(audit_count(ln) for ln in lines if "target=import/load-a" in ln) == 15
    assert "event=import_done load=load-a users=15" in authd.log_text()
    assert "event=import_done load=load-b users=15" in authd.log_text()


def test_a_load_that_never_ends_has_its_count_audited(authd):
    """A load stopped before its last call (the importer killed, a refused call) still has
    every user it wrote in the audit; unnamed calls take nothing from a named load's count,
    and a 17th load at once logs the count of the load it pushes out."""
    def call(load, tag, n, last=False):
        authd.call(U + "Import", users_pb2.ImportUsersRequest(
            load_id=load, last=last,
            users=[users_pb2.ImportUser(email=f"{tag}-{i}@never.example") for i in range(n)]),
            users_pb2.ImportUsersResponse)
    # load-a and 15 other live loads fill the 16 slots; unnamed calls then take none of them.
    call("load-a", "a1", 5)
    for i in range(15):
        call(f"other-{i}", f"o{i}", 1)
    for i in range(3):
        call("", f"u{i}", 1, last=True)
    call("load-a", "a2", 5, last=True)
    assert "event=import_done load=load-a users=10" in authd.log_text()

    before = len(import_lines(authd))
    call("stopped", "s1", 4)
    call("stopped", "s2", 3)
    with pytest.raises(grpc.RpcError):
        call("stopped", "s1", 2)  # taken: refused, audited as a failure without a count
    lines = import_lines(authd)[before:]
    assert len(lines) == 3 and [audit_count(ln) for ln in lines] == [4, 3, 0], lines
    assert "outcome=failure" in lines[2]
    # A 17th named load at once pushes the least recently used one out, and says its count.
    call("load-b", "b1", 2)
    for i in range(16):
        call(f"more-{i}", f"m{i}", 1)
    assert "event=import_evicted load=load-b users=2" in authd.log_text()
    lines = import_lines(authd)
    assert sum(audit_count(ln) for ln in lines if "target=import/load-b " in ln + " ") == 2


def test_trailing_blank_lines_still_end_the_load(authd, tmpdir_path):
    """A full last batch followed by blank lines is still sent as the load's last call."""
    rows = jsonl([{"email": f"tail{i}@import.example"} for i in range(4)]) + "\n  \n\n"
    p = ctl(authd, "user", "import", "-", "--batch", "2", "--load-id", "tail", stdin=rows)
    assert p.returncode == 0, p.stderr
    assert "event=import_done load=tail users=4" in authd.log_text()


def test_a_bad_line_in_a_file_refuses_the_whole_file(authd, tmpdir_path):
    """A regular file is checked whole before any call: a bad line after many good batches
    imports nothing, and the line is named by its number in the file (blank lines counted)."""
    path = os.path.join(tmpdir_path, "users.jsonl")
    with open(path, "w") as f:
        f.write("\n" + jsonl([{"email": f"whole{i}@import.example"} for i in range(10)]))
        f.write("\n\n{\"email\": \"late@import.example\", \"session\": 1}\n")
    p = ctl(authd, "user", "import", path, "--batch", "2")
    assert p.returncode == 4, p.stderr
    assert "line 14: inactive, email_verified and session must be true or false" in p.stderr
    with pytest.raises(grpc.RpcError) as e:
        user_by_email(authd, "whole0@import.example")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    # Mended, the same file loads, and a refusal by authd names the file's line too.
    with open(path, "w") as f:
        f.write("\n" + jsonl([{"email": f"whole{i}@import.example"} for i in range(10)]))
        f.write("\n\n" + jsonl([{"email": "whole3@import.example"}]))
    p = ctl(authd, "user", "import", path, "--batch", "4")
    assert p.returncode == 1 and "line 14 (8 users imported before" in p.stderr, p.stderr


def test_an_imported_session_is_never_a_recent_sign_in(env):
    """An imported session's auth_time is the source system's, or 0 (the epoch) when unknown,
    never the import's own time; and prompt=login and max_age always ask for the password
    again, even when the source's auth_time is within max_age (amr "import" is no sign-in
    authd saw). Without them the session signs in as any other, its ID token saying so."""
    now = int(time.time())
    r = env.call(U + "Import", users_pb2.ImportUsersRequest(load_id="oidc", last=True, users=[
        users_pb2.ImportUser(email="old@import.example", session=True),
        users_pb2.ImportUser(email="known@import.example", session=True, auth_time=now - 30)]),
        users_pb2.ImportUsersResponse)
    old, known = (u.session_token for u in r.users)
    s = env.call(S + "Get", sessions_pb2.GetSessionRequest(session_token=old),
                 sessions_pb2.SessionResponse).session
    assert s.auth_time == 0 and s.created_at >= now and list(s.amr) == ["import"]
    s = env.call(S + "Get", sessions_pb2.GetSessionRequest(session_token=known),
                 sessions_pb2.SessionResponse).session
    assert s.auth_time == now - 30

    def authorize(tok, **kw):
        return env.call(O + "Authorize", oauth_pb2.AuthorizeRequest(
            session_token=tok, max_age=kw.pop("max_age", -1),
            params=common_pb2.ClientContext(client_id=LEGACY, response_type="code",
                                            redirect_uri=LEGACY_CB, scope="openid",
                                            state="st", nonce="n-imp"), **kw),
            oauth_pb2.AuthorizeResponse)
    login = oauth_pb2.AuthorizeResponse.LOGIN
    for tok in (old, known):
        assert authorize(tok, max_age=3600).next == login
        assert authorize(tok, max_age=0).next == login
        assert authorize(tok, prompt="login").next == login
        # Back from the sign-in page with the imported session still: not the fresh one asked.
        a = authorize(tok, max_age=3600)
        ctx = common_pb2.ClientContext(client_id=LEGACY, response_type="code",
                                       redirect_uri=LEGACY_CB, scope="openid", state="st",
                                       nonce="n-imp", auth_after=a.auth_after)
        b = env.call(O + "Authorize", oauth_pb2.AuthorizeRequest(
            session_token=tok, max_age=-1, params=ctx), oauth_pb2.AuthorizeResponse)
        assert b.next == login
    for tok, want in ((old, 0), (known, now - 30)):
        a = authorize(tok)
        assert a.next == oauth_pb2.AuthorizeResponse.REDIRECT, a
        code = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(a.redirect_url).query))["code"]
        t = token_req(env, {"grant_type": "authorization_code", "code": code,
                            "redirect_uri": LEGACY_CB}, auth=(LEGACY, LEGACY_SECRET))
        assert t.status_code == 200, t.text
        claims = verify_jwt(env, t.json()["id_token"], LEGACY)
        assert claims["auth_time"] == want and claims["amr"] == ["import"]


def test_auth_time_in_the_future_and_a_session_of_an_inactive_user_are_refused(authd):
    for bad, why in ((users_pb2.ImportUser(email="f@import.example", session=True,
                                           auth_time=int(time.time()) + 3600), "auth_time"),
                     (users_pb2.ImportUser(email="f@import.example", session=True,
                                           auth_time=-5), "auth_time"),
                     (users_pb2.ImportUser(email="f@import.example", session=True,
                                           inactive=True), "session")):
        with pytest.raises(grpc.RpcError) as e:
            authd.call(U + "Import", users_pb2.ImportUsersRequest(
                users=[users_pb2.ImportUser(email="ok@import.example"), bad]),
                users_pb2.ImportUsersResponse)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert e.value.details().startswith("users[1]: " + why), e.value.details()
    # authctl refuses such a line itself, by its number in the file (blank lines counted).
    p = ctl(authd, "user", "import", "-", stdin='{"email": "ok@import.example"}\n\n'
            '{"email": "f@import.example", "session": true, "inactive": true}\n')
    assert p.returncode == 4 and "line 3: session and inactive" in p.stderr, p.stderr
    p = ctl(authd, "user", "import", "-", stdin='{"email": "f@import.example", "auth_time": "x"}\n')
    assert p.returncode == 4 and "line 1: auth_time" in p.stderr, p.stderr
    for email in ("ok@import.example", "f@import.example"):
        with pytest.raises(grpc.RpcError) as e:
            user_by_email(authd, email)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
