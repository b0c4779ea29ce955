#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The edge -> authd path under load: the gRPC Token and Introspect rows (h2load straight to
authd) next to the same calls through the edge (wrk), in one run, so that the edge rows can be
read as a ratio of the gRPC rows (issue 13's target: >= 0.8), plus /healthz as the HTTP ceiling.
Reuses h2bench.py's row drivers (same method, same validity checks); only the choice of rows and
of the edge binary is new. Several --edge binaries are run one right after the other against the
same authd, so that a before/after comparison shares the machine's load.

  edge_rpc.py [--build DIR] [--edge BIN ...] [--seconds S] [--connections N] [--rounds R]
              [--perf DIR] [--edge-args "FLAGS"]

--perf DIR records the edge under the token and introspect rows (perf record -g) into
DIR/<n>.perf.data, one file per edge binary.
"""
import argparse
import base64
import inspect
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2bench  # noqa: E402


def start_edge(bin_path, eport, port, tmp, extra):
    pf = os.path.join(tmp, "edge.port")
    if os.path.exists(pf):
        os.unlink(pf)
    p = subprocess.Popen(
        [bin_path, "--listen", f"127.0.0.1:{eport}", "--authd", f"127.0.0.1:{port}",
         "--port-file", pf, "--log-level", "warn", "--per-ip-limit", "0"] + shlex.split(extra),
        stdout=open(os.path.join(tmp, "edge.log"), "a"), stderr=subprocess.STDOUT)
    h2bench.wait_file(pf, p, "authd-edge")
    return p


def table(authd, edge):
    """h2bench's Table, whatever its version wants beyond the two processes (no RSS bound)."""
    n = len(inspect.signature(h2bench.Table.__init__).parameters) - 3
    return h2bench.Table(authd, edge, *([(float("nan"), "not read")] * n))


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    return p.returncode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("AUTHD_BUILD_DIR",
                                                      os.path.join(h2bench.REPO, "build")))
    ap.add_argument("--edge", action="append", default=[],
                    help="an authd-edge binary (repeatable; default: the build's)")
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--streams", type=int, default=32)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--perf", default=None)
    ap.add_argument("--edge-args", default="")
    a = ap.parse_args()
    edges = a.edge or [os.path.join(a.build, "edge", "authd-edge")]
    sys.path.insert(0, os.path.join(a.build, "python"))
    import grpc
    from authd.v1 import oauth_pb2

    tmp = tempfile.mkdtemp(prefix="edge_rpc.")
    authd = None
    try:
        eport = h2bench.free_port()
        authd = subprocess.Popen(
            [os.path.join(a.build, "authd", "authd"), "--listen", "127.0.0.1:0", "--data-dir",
             os.path.join(tmp, "data"), "--port-file", os.path.join(tmp, "authd.port"),
             "--metrics-listen", "127.0.0.1:0", "--metrics-port-file",
             os.path.join(tmp, "metrics.port"), "--issuer", f"http://127.0.0.1:{eport}",
             "--log-level", "warn"],
            stdout=open(os.path.join(tmp, "authd.log"), "w"), stderr=subprocess.STDOUT)
        port = h2bench.wait_file(os.path.join(tmp, "authd.port"), authd, "authd")
        metrics = h2bench.Metrics(h2bench.wait_file(os.path.join(tmp, "metrics.port"), authd,
                                                    "authd metrics"))
        ch = grpc.insecure_channel(f"127.0.0.1:{port}")

        def call(path, req, resp):
            return ch.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=resp.FromString)(req, timeout=60)

        C, S = h2bench.CLIENT, h2bench.SECRET
        call("/authd.v1.ClientAdmin/Put", oauth_pb2.Client(
            id=C, secret=S, first_party=True, grant_types=["client_credentials"]),
            oauth_pb2.ClientResponse)
        token_req = oauth_pb2.OAuthTokenRequest(grant_type="client_credentials",
                                                client_id=C, client_secret=S)
        token = call("/authd.v1.OAuth/Token", token_req,
                     oauth_pb2.OAuthTokenResponse).access_token
        intro_req = oauth_pb2.IntrospectRequest(token=token, client_id=C, client_secret=S)
        ch.close()
        basic = "Basic " + base64.b64encode(f"{C}:{S}".encode()).decode()
        form = {"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"}
        url = f"http://127.0.0.1:{eport}"
        print(f"== edge -> authd ({os.cpu_count()} cores, load average "
              f"{' '.join(open('/proc/loadavg').read().split()[:3])}, {a.seconds} s per run)",
              flush=True)
        for rnd in range(a.rounds):
            for i, eb in enumerate(edges):
                edge = start_edge(eb, eport, port, tmp, a.edge_args)
                print(f"-- round {rnd + 1}, edge {i}: {eb}", flush=True)
                t = table(authd, edge)
                ceil = h2bench.grpc_row(t, a, tmp, metrics, "grpc_health", port,
                                        "/grpc.health.v1.Health/Check", b"\x00" * 5, None)
                h2bench.grpc_row(t, a, tmp, metrics, "grpc_token_cc", port,
                                 "/authd.v1.OAuth/Token", h2bench.frame(token_req), ceil)
                h2bench.grpc_row(t, a, tmp, metrics, "grpc_introspect", port,
                                 "/authd.v1.OAuth/Introspect", h2bench.frame(intro_req), ceil)
                hceil = h2bench.http_row(t, a, "edge_healthz", url + "/healthz", "GET", {}, "",
                                         "", None)
                perf = None
                if a.perf:
                    os.makedirs(a.perf, exist_ok=True)
                    perf = subprocess.Popen(
                        ["perf", "record", "-g", "-F", "499", "-p", str(edge.pid), "-o",
                         os.path.join(a.perf, f"{i}.perf.data")],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                h2bench.http_row(t, a, "edge_token_cc", url + "/auth/token", "POST", form,
                                 "grant_type=client_credentials", '"access_token"', hceil)
                h2bench.http_row(t, a, "edge_introspect", url + "/auth/introspect", "POST", form,
                                 "token=" + token, '"active":true', hceil)
                if perf is not None:
                    perf.send_signal(signal.SIGINT)
                    perf.wait(timeout=60)
                rc = stop(edge)
                print(f"edge exit status {rc}", flush=True)
    finally:
        if authd is not None:
            stop(authd)
        for name in ("authd.log", "edge.log"):
            try:
                lines = open(os.path.join(tmp, name)).read().splitlines()
            except OSError:
                continue
            if lines:
                print(f"-- last lines of {name} ({len(lines)} in all)", file=sys.stderr)
                for line in lines[-10:]:
                    print(line, file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
