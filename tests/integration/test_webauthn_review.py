# SPDX-License-Identifier: Apache-2.0
"""Checks found missing by a review of authd's WebAuthn side (issue 15): an assertion whose BE
flag differs from the one the key was registered with is refused (WebAuthn L3 §7.2: a
credential's backup eligibility never changes; hwk/swk and acr phrh rest on it), as a second
factor and passwordless, and its ceremony is spent."""
import grpc

from test_webauthn_login import (ORIGIN, audit_lines, authd, begin, finish,  # noqa: F401
                                 key_login, refused, user_with_key)
from test_webauthn_rpc import ORIGIN as SITE_ORIGIN, Person, site  # noqa: F401
from test_webauthn_rpc import err as rpc_err
from softauthn import SoftAuthenticator


def test_hardware_key_turned_syncable_is_refused(authd):
    u, auth, cred = user_with_key(authd, "be-hwk@example.com")
    assert cred.kind == "hwk"
    # The same key now claims backup eligibility (BE, BS clear): refused, counted, audited.
    e = refused(lambda: key_login(authd, "be-hwk@example.com", auth, be=True, bs=False),
                grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    assert "backup" in e.details(), e.details()
    assert audit_lines(authd, action="second_factor", outcome="failure", reason="key_refused",
                       user=u.id)
    # Passwordless too; and the refused answer spent its ceremony.
    c = begin(authd)
    bad = auth.get(c.options_json, ORIGIN, be=True, bs=True)
    refused(lambda: finish(authd, c.ceremony_id, bad), grpc.StatusCode.UNAUTHENTICATED,
            "key_refused")
    refused(lambda: finish(authd, c.ceremony_id, auth.get(c.options_json, ORIGIN)),
            grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    # With the flags it was registered with, the key signs in.
    r = key_login(authd, "be-hwk@example.com", auth)
    assert list(r.session.amr) == ["pwd", "hwk", "mfa"]


def test_synced_passkey_turned_hardware_is_refused(authd):
    u, auth, cred = user_with_key(authd, "be-swk@example.com", backup_eligible=True)
    assert cred.kind == "swk"
    refused(lambda: key_login(authd, "be-swk@example.com", auth, be=False, bs=False),
            grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    c = begin(authd)
    refused(lambda: finish(authd, c.ceremony_id, auth.get(c.options_json, ORIGIN, be=False,
                                                          bs=False)),
            grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    # Backed up or not (BS) may change; BE may not.
    r = key_login(authd, "be-swk@example.com", auth, bs=False)
    assert list(r.session.amr) == ["pwd", "swk", "mfa"]


def test_refused_duplicate_spends_its_registration_ceremony(site):
    """A registration refused after verification (the id is another user's) spends its
    challenge like any refused answer: the ceremony cannot be answered again."""
    a = Person(site, "spent-a@example.com")
    b = Person(site, "spent-b@example.com")
    cid = b"a credential id taken by a"
    a.register(SoftAuthenticator(), cred_id=cid)
    auth = SoftAuthenticator()
    c = b.begin()
    dup = auth.create(c.options_json, SITE_ORIGIN, strict=False, cred_id=cid)
    rpc_err(lambda: b.finish(c.ceremony_id, dup), grpc.StatusCode.ALREADY_EXISTS,
            "already_exists")
    rpc_err(lambda: b.finish(c.ceremony_id, auth.create(c.options_json, SITE_ORIGIN)),
            grpc.StatusCode.UNAUTHENTICATED, "key_refused")
    assert b.keys() == []
