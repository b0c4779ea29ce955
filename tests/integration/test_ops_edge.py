# SPDX-License-Identifier: Apache-2.0
"""What an operator sees of authd-edge outside the pages: a clean start-up (no libmicrohttpd
warning about a thread pool of size 0 in the default thread-per-connection mode, and a pool of
the size asked for with --threads), and the console mailer's lines on the stream the help and
the docs name (standard error; nothing on standard output)."""
import os
import re
import subprocess
import time

from conftest import EDGE, csrf_of, new_session, stop, wait_port_file


class SplitEdge:
    """An authd-edge with its standard output and standard error in separate files."""

    def __init__(self, tmp, authd, extra=()):
        self.out_path = os.path.join(tmp, "edge.stdout")
        self.err_path = os.path.join(tmp, "edge.stderr")
        port_file = os.path.join(tmp, "edge.port")
        self.out = open(self.out_path, "wb")
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [EDGE, "--listen", "127.0.0.1:0", "--authd", authd.target, "--port-file", port_file]
            + list(extra), stdout=self.out, stderr=self.err)
        try:
            self.port = wait_port_file(port_file, self.proc)
        except RuntimeError:
            self.stop()
            raise
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self):
        stop(self.proc)
        self.out.close()
        self.err.close()

    def text(self, which):
        with open(self.out_path if which == "out" else self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def threads_settle(self, name, want, bound=30.0):
        """threads(name), waited for until it is want (bounded): libmicrohttpd names each pool
        thread from inside it, which may come just after the edge logged that it listens. A
        count above want is returned at once (more threads never become fewer here)."""
        deadline = time.monotonic() + bound
        while True:
            n = self.threads(name)
            if n >= want or time.monotonic() > deadline:
                return n
            time.sleep(0.05)

    def threads(self, name):
        """How many of the process's threads are called name (Linux: /proc/PID/task/*/comm)."""
        n = 0
        for t in os.listdir(f"/proc/{self.proc.pid}/task"):
            try:
                with open(f"/proc/{self.proc.pid}/task/{t}/comm") as f:
                    n += f.read().strip() == name
            except FileNotFoundError:
                pass  # a thread that just ended
        return n


def test_default_start_up_has_no_thread_pool_warning(authd, tmpdir_path):
    # The default is a pool of 4 (calls to authd wait without a thread: issue 13); a thread per
    # connection (--threads 0) must start without libmicrohttpd's pool warning too.
    for flags, threads, workers in (([], 4, 4), (["--threads", "0"], 0, 0)):
        e = SplitEdge(tmpdir_path, authd, flags)
        try:
            err = e.text("err")
            assert "event=listening" in err and f"threads={threads}" in err
            assert "thread pool" not in err.lower(), err
            assert "level=warn" not in err, err
            assert e.threads_settle("MHD-worker", workers) == workers
        finally:
            e.stop()


def test_threads_option_makes_a_pool_of_that_size(authd, tmpdir_path):
    e = SplitEdge(tmpdir_path, authd, ["--threads", "3"])
    try:
        assert "threads=3" in e.text("err") and "level=warn" not in e.text("err")
        assert e.threads_settle("MHD-worker", 3) == 3
        s = new_session()
        assert s.get(e.base + "/healthz").status_code == 200
    finally:
        e.stop()


def test_console_mail_lines_are_on_standard_error(authd, tmpdir_path):
    e = SplitEdge(tmpdir_path, authd)
    try:
        s = new_session()
        r = s.get(e.base + "/auth/signup")
        r = s.post(e.base + "/auth/signup", data={"email": "stream@example.com",
                                                  "csrf": csrf_of(r.text)})
        assert r.status_code == 200 and "check your e-mail" in r.text.lower()
        deadline = time.monotonic() + 10
        while "event=mail " not in e.text("err") and time.monotonic() < deadline:
            time.sleep(0.05)  # the mail leaves from the edge's mail queue thread
        line = [ln for ln in e.text("err").splitlines() if "event=mail " in ln]
        assert len(line) == 1 and "provider=console" in line[0], e.text("err")
        assert re.search(r"link=http://127\.0\.0\.1:\d+/auth/signup/confirm/", line[0])
        assert e.text("out") == ""
    finally:
        e.stop()
    # ... which is what the help says (and README's usage block, which check-usage compares).
    h = subprocess.run([EDGE, "--help"], capture_output=True, text=True, check=True).stdout
    assert "console: each mail is one info log line on standard\n" in h
    assert "log threshold (logfmt lines on standard error)" in h
