# SPDX-License-Identifier: Apache-2.0
"""HAProxy in front of two edges for the deploy and cluster tests (one launcher for both)."""
import http.client
import os
import shutil
import signal
import subprocess
import time

from conftest import REPO, free_port, stop

HAPROXY_CFG = os.path.join(REPO, "deploy", "haproxy", "authd-edge.cfg")


class Haproxy:
    """Debian's HAProxy with the deployment's own configuration (deploy/haproxy/authd-edge.cfg,
    checked with -c first) in front of two edges, addresses from the environment, each edge's
    /readyz checked every 100 ms; on a free loopback port, base its URL. cfg: another
    configuration file taking the same environment (a test's own)."""

    def __init__(self, tmp, edges, cfg=HAPROXY_CFG):
        self.tool = shutil.which("haproxy") or "/usr/sbin/haproxy"
        self.log_path = os.path.join(tmp, "haproxy.log")
        self.proc = None
        for _ in range(20):  # someone may take the free port before HAProxy binds it
            self.port = free_port()
            env = dict(os.environ, HAPROXY_BIND=f"127.0.0.1:{self.port}",
                       EDGE1_ADDR=f"127.0.0.1:{edges[0].port}",
                       EDGE2_ADDR=f"127.0.0.1:{edges[1].port}", HAPROXY_CHECK_INTER="100ms")
            check = subprocess.run([self.tool, "-c", "-f", cfg], env=env,
                                   capture_output=True, text=True, timeout=60)
            assert check.returncode == 0, check.stdout + check.stderr
            self.log = open(self.log_path, "ab")
            self.proc = subprocess.Popen([self.tool, "-db", "-f", cfg], env=env,
                                         stdout=self.log, stderr=self.log)
            self.base = f"http://127.0.0.1:{self.port}"
            if self.wait_listening():
                return
            stop(self.proc)
            self.log.close()
        raise RuntimeError("HAProxy did not start:\n" + self.log_text()[-3000:])

    def wait_listening(self, tries=600):
        for _ in range(tries):
            if self.proc.poll() is not None:
                return False
            try:
                if self.get("/healthz")[0] == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def get(self, path, source="127.0.0.1", headers=None):
        """(status, body) of GET path through HAProxy, from the loopback address source."""
        status, _, body = self.request("GET", path, source=source, headers=headers)
        return status, body

    def request(self, method, path, source="127.0.0.1", headers=None, body=None):
        """(status, headers, body) of one request through HAProxy from the loopback address
        source. headers: a dict, or a list of (name, value) pairs to send a name twice."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30,
                                          source_address=(source, 0))
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            items = headers.items() if isinstance(headers, dict) else (headers or [])
            for k, v in items:
                conn.putheader(k, v)
            data = body.encode() if isinstance(body, str) else body
            if data is not None:
                conn.putheader("Content-Length", str(len(data)))
            conn.endheaders(data)
            r = conn.getresponse()
            return r.status, r.getheaders(), r.read()
        finally:
            conn.close()

    def stop(self):
        stop(self.proc, signal.SIGTERM)
        self.log.close()

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")
