# SPDX-License-Identifier: Apache-2.0
"""Mutual TLS between authd and its callers: authd started with --tls-*, grpcio clients with
each development certificate, the edge and authctl over mTLS, the clients that must be refused
(wrong CA, expired, plaintext), and authd's refusal of plaintext off loopback."""
import os
import subprocess

import grpc
import pytest
import requests

from conftest import (AUTHCTL, AUTHD, EDGE, FAST_ARGON2, REPO, Authd, Edge, admin_pb2,
                      health_pb2, new_session, stop, tls_channel, wait_port_file)
from test_edge import confirm, login, signup

DEMO = os.path.join(REPO, "deploy", "demo.yaml")
HEALTH = "/grpc.health.v1.Health/Check"


@pytest.fixture
def tls_authd(tmpdir_path, certs):
    a = Authd(tmpdir_path, FAST_ARGON2, tls=certs)
    yield a
    a.stop()


def health(channel, timeout=10):
    fn = channel.unary_unary(HEALTH, request_serializer=lambda m: m.SerializeToString(),
                             response_deserializer=health_pb2.HealthCheckResponse.FromString)
    return fn(health_pb2.HealthCheckRequest(), timeout=timeout)


def refused(channel):
    with pytest.raises(grpc.RpcError) as e:
        health(channel, timeout=5)
    return e.value.code()


@pytest.mark.parametrize("identity", ["edge", "authctl", "service", None])
def test_health_with_each_client_certificate(tls_authd, identity):
    r = tls_authd.call(HEALTH, health_pb2.HealthCheckRequest(), health_pb2.HealthCheckResponse,
                       identity=identity)
    assert r.status == health_pb2.HealthCheckResponse.SERVING


def test_logs_say_mtls(tls_authd):
    text = tls_authd.log_text()
    assert "event=tls_grpc" in text and "mtls=1" in text
    assert "plaintext_grpc" not in text


def test_plaintext_authd_warns(authd):
    line = [ln for ln in authd.log_text().splitlines() if "event=plaintext_grpc" in ln]
    assert line and "level=warn" in line[0] and "loopback" in line[0]


def test_wrong_ca_client_certificate_is_refused(tls_authd, certs):
    # The edge's own identity, signed by a CA authd does not trust.
    with tls_channel(tls_authd.target, certs, "rogue") as ch:
        assert refused(ch) == grpc.StatusCode.UNAVAILABLE


def test_expired_client_certificate_is_refused(tls_authd, certs):
    with tls_channel(tls_authd.target, certs, "expired") as ch:
        assert refused(ch) == grpc.StatusCode.UNAVAILABLE


def test_plaintext_to_tls_port_is_refused(tls_authd):
    with grpc.insecure_channel(tls_authd.target) as ch:
        assert refused(ch) == grpc.StatusCode.UNAVAILABLE


def test_server_name_must_match(tls_authd, certs):
    creds = grpc.ssl_channel_credentials(root_certificates=certs.read(certs.ca),
                                         private_key=certs.read(certs.key("edge")),
                                         certificate_chain=certs.read(certs.cert("edge")))
    opts = [("grpc.ssl_target_name_override", "authd.example.com")]
    with grpc.secure_channel(tls_authd.target, creds, options=opts) as ch:
        assert refused(ch) == grpc.StatusCode.UNAVAILABLE
    # localhost is in authd's certificate too.
    opts = [("grpc.ssl_target_name_override", "localhost")]
    with grpc.secure_channel(tls_authd.target, creds, options=opts) as ch:
        assert health(ch).status == health_pb2.HealthCheckResponse.SERVING


def test_edge_signup_and_login_over_mtls(tmpdir_path, tls_authd, certs):
    e = Edge(tmpdir_path, tls_authd, tls=certs)
    try:
        assert "authd_mtls=1" in e.log_text()
        assert requests.get(e.base + "/readyz").status_code == 200
        s = new_session()
        link = signup(e, s, "tls-user@example.com")
        r = confirm(e, s, link)
        assert r.status_code == 303
        s2 = new_session()
        r = login(e, s2, "tls-user@example.com")
        assert r.status_code == 303
        assert "tls-user@example.com" in s2.get(e.base + "/").text
    finally:
        e.stop()


def test_edge_without_tls_cannot_reach_a_tls_authd(tmpdir_path, tls_authd):
    e = Edge(tmpdir_path, tls_authd, tls=False)
    try:
        assert requests.get(e.base + "/readyz", timeout=20).status_code == 503
    finally:
        e.stop()


def test_edge_tls_flags_go_together(tmpdir_path, tls_authd, certs):
    p = subprocess.run([EDGE, "--listen", "127.0.0.1:0", "--authd", tls_authd.target,
                        "--authd-ca", certs.ca, "--authd-cert", certs.cert("edge")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert "--authd-cert and --authd-key go together" in p.stderr


def ctl(authd, *args, tls=()):
    return subprocess.run([AUTHCTL, "--authd", authd.target] + list(tls) + list(args),
                          capture_output=True, text=True, timeout=30)


def test_authctl_applies_demo_over_mtls(tls_authd, certs):
    tls = ["--ca", certs.ca, "--cert", certs.cert("authctl"), "--key", certs.key("authctl")]
    p = ctl(tls_authd, "apply", "-f", DEMO, tls=tls)
    assert p.returncode == 0, p.stderr
    assert "AuthConfig/app" in p.stdout
    cfg = tls_authd.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                         admin_pb2.AuthConfig)
    assert cfg.id == "app"
    # The same through the environment, with the server name spelled out.
    env = dict(os.environ, AUTHCTL_CA=certs.ca, AUTHCTL_CERT=certs.cert("authctl"),
               AUTHCTL_KEY=certs.key("authctl"), AUTHCTL_SERVER_NAME="localhost")
    p = subprocess.run([AUTHCTL, "--authd", tls_authd.target, "config", "get"],
                       capture_output=True, text=True, timeout=30, env=env)
    assert p.returncode == 0, p.stderr
    assert 'id: "app"' in p.stdout


def test_authctl_refused_or_misconfigured(tls_authd, certs):
    # Plaintext to a TLS authd: unreachable, with a hint.
    p = ctl(tls_authd, "config", "get")
    assert p.returncode == 3 and "--ca" in p.stderr
    # A certificate from the wrong CA.
    p = ctl(tls_authd, "config", "get",
            tls=["--ca", certs.ca, "--cert", certs.cert("rogue"), "--key", certs.key("rogue")])
    assert p.returncode == 3
    # Usage errors.
    p = ctl(tls_authd, "config", "get", tls=["--ca", certs.ca, "--cert", certs.cert("authctl")])
    assert p.returncode == 2 and "--cert and --key go together" in p.stderr
    p = ctl(tls_authd, "config", "get", tls=["--cert", certs.cert("authctl"),
                                             "--key", certs.key("authctl")])
    assert p.returncode == 2 and "need --ca" in p.stderr
    p = ctl(tls_authd, "config", "get", tls=["--ca", "/nonexistent/ca.pem"])
    assert p.returncode == 2 and "/nonexistent/ca.pem" in p.stderr


def run_authd(tmpdir_path, *args):
    return subprocess.run([AUTHD, "--data-dir", os.path.join(tmpdir_path, "data")] + list(args),
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0", "192.0.2.1:50051"])
def test_plaintext_off_loopback_is_refused(tmpdir_path, listen):
    p = run_authd(tmpdir_path, "--listen", listen)
    assert p.returncode == 2
    assert "refusing plaintext gRPC on non-loopback address" in p.stderr
    assert "--tls-ca" in p.stderr


def test_allow_insecure_remote_is_gone(tmpdir_path):
    p = run_authd(tmpdir_path, "--listen", "0.0.0.0:0", "--allow-insecure-remote")
    assert p.returncode == 2


def test_tls_off_loopback_is_served(tmpdir_path, certs):
    port_file = os.path.join(tmpdir_path, "port")
    log = open(os.path.join(tmpdir_path, "authd.log"), "wb")
    proc = subprocess.Popen(
        [AUTHD, "--listen", "0.0.0.0:0", "--data-dir", os.path.join(tmpdir_path, "data"),
         "--port-file", port_file, "--tls-ca", certs.ca, "--tls-cert", certs.cert("authd"),
         "--tls-key", certs.key("authd")] + FAST_ARGON2, stdout=log, stderr=log)
    try:
        port = wait_port_file(port_file, proc)
        with tls_channel(f"127.0.0.1:{port}", certs, "edge") as ch:
            assert health(ch).status == health_pb2.HealthCheckResponse.SERVING
    finally:
        assert stop(proc) == 0
        log.close()


@pytest.mark.parametrize("drop", ["--tls-ca", "--tls-cert", "--tls-key"])
def test_tls_flags_go_together(tmpdir_path, certs, drop):
    flags = {"--tls-ca": certs.ca, "--tls-cert": certs.cert("authd"),
             "--tls-key": certs.key("authd")}
    del flags[drop]
    args = [x for kv in flags.items() for x in kv]
    p = run_authd(tmpdir_path, "--listen", "127.0.0.1:0", *args)
    assert p.returncode == 2
    assert "--tls-ca, --tls-cert and --tls-key go together" in p.stderr


def test_tls_flags_from_the_environment_go_together(tmpdir_path, certs):
    env = dict(os.environ, AUTHD_TLS_CA=certs.ca, AUTHD_TLS_CERT=certs.cert("authd"))
    p = subprocess.run([AUTHD, "--listen", "127.0.0.1:0", "--data-dir",
                        os.path.join(tmpdir_path, "data")],
                       capture_output=True, text=True, timeout=30, env=env)
    assert p.returncode == 2
    assert "go together" in p.stderr


def test_unreadable_tls_file_is_a_clear_error(tmpdir_path, certs):
    p = run_authd(tmpdir_path, "--listen", "127.0.0.1:0", "--tls-ca", certs.ca,
                  "--tls-cert", certs.cert("authd"), "--tls-key", "/nonexistent/authd.key")
    assert p.returncode != 0
    assert "cannot read --tls-key /nonexistent/authd.key" in p.stderr
    # A key that does not belong to the certificate does not load either.
    p = run_authd(tmpdir_path, "--listen", "127.0.0.1:0", "--tls-ca", certs.ca,
                  "--tls-cert", certs.cert("authd"), "--tls-key", certs.key("edge"))
    assert p.returncode != 0
    assert "TLS certificate and key" in p.stderr
