# SPDX-License-Identifier: Apache-2.0
"""A forgotten password reset by a user whose second factor is a key (issue 15): the reset
link's own ceremony (WebAuthn.BeginAssertion with reset_token) answered in
PasswordReset.Complete, bound to that link and its user, single use, judged with the same
lockout and audit as every other second factor; a user with TOTP and a key may use either."""
import time

import grpc

from conftest import signup_pb2
from softauthn import SoftAuthenticator, tamper_signature
from test_webauthn_login import (ORIGIN, S, W, audit_lines, authd, begin, enroll_totp,  # noqa: F401
                                 key_login, locked_after_failures, login, new_user, oath, refused,
                                 sessions_pb2, small_lockout, user_with_key, webauthn_pb2)

PR = "/authd.v1.PasswordReset/"
NEW = "a brand new password 7"


def reset_link(authd, email):
    return authd.call(PR + "Start", signup_pb2.StartResetRequest(email=email),
                      signup_pb2.StartResetResponse).token


def begin_reset(authd, token):
    return authd.call(W + "BeginAssertion", webauthn_pb2.BeginAssertionRequest(
        reset_token=token, client_ip="127.0.0.5"), webauthn_pb2.CeremonyResponse)


def complete(authd, token, **proof):
    return authd.call(PR + "Complete", signup_pb2.CompleteResetRequest(
        token=token, password=NEW, client_ip="127.0.0.5", **proof),
        signup_pb2.CompleteResetResponse)


def test_keys_only_user_resets_with_the_key(authd):
    u, auth, cred = user_with_key(authd, "reset-key@example.com")
    tok = reset_link(authd, "reset-key@example.com")
    g = authd.call(PR + "Get", signup_pb2.TokenRequest(token=tok), signup_pb2.GetResetResponse)
    assert g.second_factor_required and g.passkeys and not g.totp
    refused(lambda: complete(authd, tok), grpc.StatusCode.UNAUTHENTICATED,
            "second_factor_required")
    c = begin_reset(authd, tok)
    assert cred.id in c.options_json  # allowCredentials: the link's user's keys
    done = complete(authd, tok, ceremony_id=c.ceremony_id,
                    credential_json=auth.get(c.options_json, ORIGIN))
    assert done.user.id == u.id and not done.used_recovery_code
    assert audit_lines(authd, action="second_factor", outcome="success", user=u.id)
    # The new password works (with the key after it); the old one does not.
    refused(lambda: login(authd, "reset-key@example.com"), grpc.StatusCode.UNAUTHENTICATED)
    p = authd.call(S + "Login", sessions_pb2.LoginRequest(email="reset-key@example.com",
                                                          password=NEW),
                   sessions_pb2.SessionResponse)
    assert not p.session.authenticated
    # The link is spent, and with it its ceremony's purpose.
    refused(lambda: begin_reset(authd, tok), grpc.StatusCode.UNAUTHENTICATED)


def test_reset_ceremony_is_bound_to_its_link_and_purpose(authd):
    u, auth, cred = user_with_key(authd, "reset-bound@example.com")
    v, auth2, _ = user_with_key(authd, "reset-other@example.com")
    tok = reset_link(authd, "reset-bound@example.com")
    # A sign-in's ceremony does not confirm a reset.
    pending = login(authd, "reset-bound@example.com").session_token
    c = begin(authd, pending)
    refused(lambda: complete(authd, tok, ceremony_id=c.ceremony_id,
                             credential_json=auth.get(c.options_json, ORIGIN)),
            grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    # Another user's reset ceremony, answered by that user's key, does not confirm this link.
    other = reset_link(authd, "reset-other@example.com")
    c = begin_reset(authd, other)
    refused(lambda: complete(authd, tok, ceremony_id=c.ceremony_id,
                             credential_json=auth2.get(c.options_json, ORIGIN)),
            grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    # A reset ceremony does not sign in.
    c = begin_reset(authd, tok)
    refused(lambda: authd.call(W + "FinishAssertion", webauthn_pb2.FinishAssertionRequest(
        session_token=pending, ceremony_id=c.ceremony_id,
        credential_json=auth.get(c.options_json, ORIGIN), client_ip="127.0.0.5"),
        sessions_pb2.SessionResponse), grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    # A tampered answer is refused and audited (four failures: under the default's five free).
    c = begin_reset(authd, tok)
    refused(lambda: complete(authd, tok, ceremony_id=c.ceremony_id,
                             credential_json=tamper_signature(auth.get(c.options_json, ORIGIN))),
            grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    assert audit_lines(authd, action="second_factor", outcome="failure", reason="key_refused",
                       user=u.id)
    # The link still works with a fresh ceremony.
    c = begin_reset(authd, tok)
    complete(authd, tok, ceremony_id=c.ceremony_id,
             credential_json=auth.get(c.options_json, ORIGIN))


def test_no_key_no_reset_ceremony(authd):
    new_user(authd, "reset-nokey@example.com")
    tok = reset_link(authd, "reset-nokey@example.com")
    refused(lambda: begin_reset(authd, tok), grpc.StatusCode.FAILED_PRECONDITION)
    refused(lambda: begin_reset(authd, tok + "x"), grpc.StatusCode.UNAUTHENTICATED)


def test_totp_or_key_on_reset_and_one_lockout(authd):
    small_lockout(authd)
    u, auth, cred = user_with_key(authd, "reset-both@example.com")
    tok = key_login(authd, "reset-both@example.com", auth).session_token
    secret, _ = enroll_totp(authd, tok)
    link = reset_link(authd, "reset-both@example.com")
    g = authd.call(PR + "Get", signup_pb2.TokenRequest(token=link), signup_pb2.GetResetResponse)
    assert g.passkeys and g.totp

    def wrong_key():
        c = begin_reset(authd, link)
        complete(authd, link, ceremony_id=c.ceremony_id,
                 credential_json=tamper_signature(auth.get(c.options_json, ORIGIN)))
    locked_after_failures(authd, u.id, wrong_key)
    # Wrong keys on the reset lock codes too (one counter for every second factor).
    refused(lambda: complete(authd, link, code=oath(secret, time.time() + 30)),
            grpc.StatusCode.RESOURCE_EXHAUSTED, "locked")


def test_passwordless_for_an_inactive_user_is_audited(authd):
    from conftest import common_pb2, users_pb2
    u, auth, cred = user_with_key(authd, "gone@example.com")
    authd.call("/authd.v1.Users/Update", users_pb2.UpdateUserRequest(
        id=u.id, inactive=common_pb2.BoolValue(value=True)), users_pb2.UserResponse)
    c = begin(authd)
    refused(lambda: authd.call(W + "FinishAssertion", webauthn_pb2.FinishAssertionRequest(
        ceremony_id=c.ceremony_id, credential_json=auth.get(c.options_json, ORIGIN),
        client_ip="127.0.0.5"), sessions_pb2.SessionResponse), grpc.StatusCode.UNAUTHENTICATED)
    assert audit_lines(authd, action="login", outcome="failure", reason="inactive", user=u.id)


def test_counter_regression_metric_is_zero_from_start(authd):
    import requests
    text = requests.get(f"http://127.0.0.1:{authd.metrics_port}/metrics", timeout=5).text
    assert "authd_webauthn_counter_regressions_total 0" in text.splitlines(), text
