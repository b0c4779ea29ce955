# SPDX-License-Identifier: Apache-2.0
"""Publish before sign (authd/signkeys.c) with the edge's JWKS cache (edge/jwks_cache.c): a
rotated-in key is in authd's JWKS at once but signs only after --key-publish-delay, and the
edge never serves a key set older than authd allows (JwksResponse.cache_max_ms), so a resource
server that verifies against the edge's JWKS - refetching on an unknown kid, as PyJWKClient
does - always finds the key that signed its token. Waits are bounded and wait for an event (a
token signed by the new key), never for a timer; no assertion depends on how fast anything
answers."""
import base64
import json
import os
import time

import jwt
import pytest
import requests

from conftest import FAST_ARGON2, Authd, Edge

from authd.v1 import oauth_pb2  # noqa: E402

CA = "/authd.v1.ClientAdmin/"
O = "/authd.v1.OAuth/"
JWKS = "/.well-known/jwks.json"
SECRET = "publication-secret-123"


class Env:
    def __init__(self, tmp, authd_extra=(), edges=((),)):
        os.makedirs(tmp)
        self.authd = Authd(tmp, FAST_ARGON2 + list(authd_extra))
        self.edges = []
        try:
            for i, extra in enumerate(edges):
                d = os.path.join(tmp, f"edge{i}")
                os.makedirs(d)
                self.edges.append(Edge(d, self.authd, extra=list(extra)))
            self.authd.call(CA + "Put", oauth_pb2.Client(
                id="svc", secret=SECRET, grant_types=["client_credentials"], scope=["read"],
                first_party=True), oauth_pb2.ClientResponse)
        except Exception:
            self.close()
            raise

    def close(self):
        for e in self.edges:
            e.stop()
        self.authd.stop()

    def token(self):
        return self.authd.call(O + "Token", oauth_pb2.OAuthTokenRequest(
            grant_type="client_credentials", client_id="svc", client_secret=SECRET),
            oauth_pb2.OAuthTokenResponse).access_token

    def rotate(self, now=False):
        return self.authd.call(CA + "RotateKeys", oauth_pb2.RotateKeysRequest(alg="ES256",
                                                                               now=now),
                               oauth_pb2.RotateKeysResponse)


@pytest.fixture
def make_env(tmp_path):
    made = []

    def make(*a, **kw):
        made.append(Env(str(tmp_path / f"env{len(made)}"), *a, **kw))
        return made[-1]
    yield make
    for e in made:
        e.close()


def kid_of(tok):
    h = tok.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))["kid"]


def edge_keys(edge):
    r = requests.get(edge.base + JWKS, timeout=60)
    assert r.status_code == 200, (r.status_code, r.text)
    return {k["kid"]: k for k in r.json()["keys"]}


def verify_at_edge(edge, tok):
    """A resource server: the key named by the token's kid, from the edge's JWKS, fetched now."""
    keys = edge_keys(edge)
    kid = kid_of(tok)
    assert kid in keys, f"the edge's JWKS lacks {kid}, the key that signed the token"
    key = jwt.PyJWK(keys[kid]).key
    return jwt.decode(tok, key, algorithms=["ES256"], options={"verify_aud": False})


def test_right_after_a_rotation_the_old_key_signs_and_the_edge_has_it(make_env):
    """The defaults (authd: 5-minute delay; edge: a cached copy): a token minted right after a
    rotation is still signed by the old key, which the edge's (cached) JWKS holds; authd itself
    publishes the new key at once. Before, the new key signed at once, and an edge serving a
    copy would lack it."""
    env = make_env()
    edge = env.edges[0]
    old = kid_of(env.token())
    assert old in edge_keys(edge)  # the edge has a copy now
    rot = env.rotate()
    assert rot.kid != old and rot.active_from > time.time() + 60
    tok = env.token()
    assert kid_of(tok) == old
    assert verify_at_edge(edge, tok)["client_id"] == "svc"
    assert rot.kid in env.authd.call(O + "Jwks", oauth_pb2.JwksRequest(),
                                     oauth_pb2.JwksResponse).jwks_json
    # authd tells the edge how long its copy may serve: less than the delay.
    j = env.authd.call(O + "Jwks", oauth_pb2.JwksRequest(), oauth_pb2.JwksResponse)
    assert 0 < j.cache_max_ms < 300 * 1000, j.cache_max_ms


def test_a_cached_edge_never_lacks_the_key_signing_now(make_env):
    """authd with a short delay (4 s: too short for any copy once the delay leaves --refresh-ms,
    margins and the 60 s of HTTP caches behind the edge: cache_max_ms 0), edges asked to keep copies an hour and the default: every token, before and after
    the new key takes over, verifies at every edge the moment it is minted - the first token
    from the new key included, which a resource server fetching the JWKS right then must find
    there. Before, an edge with a copy served it for its whole max age."""
    env = make_env(["--key-publish-delay", "4"],
                   edges=(["--jwks-max-age-ms", "3600000"], ()))
    for e in env.edges:
        edge_keys(e)  # warm copies, made before the rotation
    old = kid_of(env.token())
    rot = env.rotate()
    deadline = time.monotonic() + 120
    seen_new = False
    while not seen_new:
        assert time.monotonic() < deadline, "the rotated key never signed"
        tok = env.token()
        kid = kid_of(tok)
        assert kid in (old, rot.kid)
        seen_new = kid == rot.kid
        for e in env.edges:
            assert verify_at_edge(e, tok)["client_id"] == "svc"
        time.sleep(0.05)


def test_at_once_rotation_signs_at_once(make_env):
    """`--now` (an emergency): the new key signs the very next token."""
    env = make_env()
    old = kid_of(env.token())
    rot = env.rotate(now=True)
    assert rot.kid != old and rot.active_from <= time.time() + 1
    assert kid_of(env.token()) == rot.kid
