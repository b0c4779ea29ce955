"""The edge's JWKS and discovery cache (edge/jwks_cache.c): no 503 while authd is up, even on a
cold cache under concurrent requests; a copy is served while a background call refreshes it,
and a key rotation shows within the max age; with --jwks-max-age-ms 0 every key-set answer is
authd's current set, concurrent requests sharing calls; a 503 only when nothing was ever
fetched and authd is down. authd is paused with SIGSTOP to hold a call in flight; every wait is
bounded and waits for an event (a gauge, an answer), never for a timer. (That the copy never
lacks the key that signs now is test_key_publication.py.)"""
import json
import os
import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import AUTHCTL, FAST_ARGON2, Authd, Edge

DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/.well-known/jwks.json"


class Env:
    """authd with its issuer = the first edge's URL; edges are added with add_edge()."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.edges = []
        self.authd = None
        self.paused = False
        self.authd = Authd(tmp, FAST_ARGON2)

    def add_edge(self, *extra, timeout_ms=60000):
        d = os.path.join(self.tmp, f"edge{len(self.edges)}")
        os.makedirs(d)
        e = Edge(d, self.authd, extra=["--rpc-timeout-ms", str(timeout_ms)] + list(extra))
        self.edges.append(e)
        return e

    def pause(self):
        self.authd.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        if self.paused:
            self.authd.proc.send_signal(signal.SIGCONT)
            self.paused = False

    def close(self):
        self.resume()
        for e in self.edges:
            e.stop()
        if self.authd is not None:
            self.authd.stop()


@pytest.fixture
def env(tmp_path):
    e = Env(str(tmp_path))
    try:
        yield e
    finally:
        e.close()


def kids(edge):
    r = requests.get(edge.base + JWKS, timeout=60)
    assert r.status_code == 200, (r.status_code, r.text)
    return {k["kid"] for k in r.json()["keys"]}


def rotate(env):
    p = subprocess.run([AUTHCTL, "--authd", env.authd.target, "keys", "rotate"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def gauge(edge, name):
    text = requests.get(edge.base + "/metrics", timeout=20).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def wait_for(cond, what, timeout=30.0):
    """Polls cond() until true; bounded (the event it waits for needs no timer to happen)."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def fire(edge, paths):
    """One thread per path, all GETs at once; returns (threads, results list of (status, body))."""
    results = [None] * len(paths)
    start = threading.Barrier(len(paths))

    def get(i, path):
        start.wait()
        try:
            r = requests.get(edge.base + path, timeout=90)
            results[i] = (r.status_code, r.text)
        except requests.RequestException as e:
            results[i] = (0, str(e))

    threads = [threading.Thread(target=get, args=(i, p), daemon=True)
               for i, p in enumerate(paths)]
    for t in threads:
        t.start()
    return threads, results


def assert_all_ok(results):
    for status, body in results:
        assert status == 200, (status, body[:300])
        doc = json.loads(body)
        assert doc.get("keys") or doc.get("issuer"), body[:300]


def test_cold_cache_waits_for_the_call_instead_of_503(env):
    """Nothing fetched yet, authd slow (paused): every request waits for the one call (or the
    next one, for the key set) instead of answering 503; all get 200 once authd answers. Before,
    every request that found another one fetching got 503."""
    edge = env.add_edge()
    n = 16
    env.pause()
    threads, results = fire(edge, [DISCOVERY if i % 2 else JWKS for i in range(n)])
    # One request makes the call; the n - 1 others wait for it (or for the next).
    wait_for(lambda: any(r is not None for r in results)
             or gauge(edge, "edge_jwks_waiting") == n - 1, f"{n - 1} waiting requests")
    assert all(r is None for r in results), [r[0] for r in results if r is not None]
    env.resume()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive()
    assert_all_ok(results)
    assert gauge(edge, "edge_jwks_waiting") == 0


def test_copy_served_while_a_refresh_runs(env):
    """Once the copy is older than --jwks-max-age-ms, a background call refreshes it and every
    request is answered from the copy meanwhile (authd paused: they cannot have asked). Before
    the refresh ran in the background, the request that noticed the old copy made the call and
    waited for it."""
    edge = env.add_edge("--jwks-max-age-ms", "1")
    before = kids(edge)
    env.pause()
    n = 24
    threads, results = fire(edge, [DISCOVERY if i % 3 == 0 else JWKS for i in range(n)])
    # Nobody waits for authd: the refresh runs in the background.
    wait_for(lambda: all(r is not None for r in results), f"{n} answers")
    assert gauge(edge, "edge_jwks_waiting") == 0
    done = [r for r in results if r is not None]
    assert_all_ok(done)
    assert all({k["kid"] for k in json.loads(b)["keys"]} == before
               for s, b in done if "keys" in json.loads(b))
    env.resume()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive()
    assert_all_ok(results)


def test_rotation_shows_at_once_without_a_copy_and_within_the_max_age(env):
    fresh = env.add_edge("--jwks-max-age-ms", "0")
    cached = env.add_edge("--jwks-max-age-ms", "3600000")
    short = env.add_edge("--jwks-max-age-ms", "200")
    k1 = kids(fresh)
    assert kids(cached) == k1 and kids(short) == k1
    new = rotate(env)
    assert new not in k1
    # No copy: the current set, at once.
    assert new in kids(fresh)
    # An hour's max age: the copy, whatever authd did since (and discovery from it).
    assert kids(cached) == k1
    assert requests.get(cached.base + DISCOVERY, timeout=60).status_code == 200
    # 200 ms: the first request after the max age starts a refresh, so the key shows within
    # it (plus the call).
    wait_for(lambda: new in kids(short), "the rotated key in the 200 ms edge's JWKS")


def test_many_requests_during_rotations_all_200(env):
    """Bounded load on both documents while keys rotate, with no copy (--jwks-max-age-ms 0):
    every answer 200, and every key set holds each key whose rotation had finished when its
    request began."""
    edge = env.add_edge("--jwks-max-age-ms", "0")
    kids(edge)
    errors = []
    rotated = []  # kids whose rotation has returned, in order

    def load(i):
        s = requests.Session()
        for j in range(40):
            path = JWKS if (i + j) % 2 else DISCOVERY
            expect = set(rotated)
            r = s.get(edge.base + path, timeout=60)
            if r.status_code != 200:
                errors.append((path, r.status_code, r.text[:200]))
            elif path == JWKS and not expect <= {k["kid"] for k in r.json()["keys"]}:
                errors.append((path, "missing", expect))

    threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(16)]
    for t in threads:
        t.start()
    for _ in range(3):
        rotated.append(rotate(env))
    for t in threads:
        t.join(timeout=300)
        assert not t.is_alive()
    assert not errors, errors[:5]


def test_503_only_when_nothing_was_ever_fetched_and_authd_is_down(env):
    warm = env.add_edge(timeout_ms=3000)
    k = kids(warm)
    env.authd.stop()
    cold = env.add_edge(timeout_ms=3000)
    # The warm edge serves its last good copy, the key set and discovery alike.
    assert kids(warm) == k
    assert requests.get(warm.base + DISCOVERY, timeout=60).status_code == 200
    # The cold one has nothing: a clear 503, for both.
    for path in (JWKS, DISCOVERY):
        r = requests.get(cold.base + path, timeout=60)
        assert r.status_code == 503, (path, r.status_code, r.text)
