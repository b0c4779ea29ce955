# SPDX-License-Identifier: Apache-2.0
"""The edge's SMTP provider against a real SMTP server (aiosmtpd) on loopback."""
import socket
import time
import urllib.parse

import pytest
from aiosmtpd.controller import Controller

from conftest import Edge, csrf_of, new_session


class Sink:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.content.decode("utf-8", "replace")))
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    sink = Sink()
    c = Controller(sink, hostname="127.0.0.1", port=free_port())
    c.start()
    yield c, sink
    c.stop()


def wait_messages(sink, n, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline and len(sink.messages) < n:
        time.sleep(0.05)
    assert len(sink.messages) >= n, sink.messages
    return sink.messages


def post_signup(e, s, email):
    r = s.get(e.base + "/auth/signup")
    return s.post(e.base + "/auth/signup", data={"email": email, "csrf": csrf_of(r.text)})


def test_signup_mail_over_smtp(tmpdir_path, authd, smtp):
    c, sink = smtp
    e = Edge(tmpdir_path, authd, ["--mail-provider", "smtp", "--smtp-url",
                                   f"smtp://127.0.0.1:{c.port}", "--smtp-from",
                                   "authd <no-reply@example.com>", "--smtp-starttls", "none"])
    try:
        s = new_session()
        r = post_signup(e, s, "gus@example.com")
        assert r.status_code == 200 and "check your e-mail" in r.text.lower()
        frm, to, body = wait_messages(sink, 1)[0]
        assert to == ["gus@example.com"] and "no-reply@example.com" in frm
        assert "Subject:" in body
        link = [w for w in body.split() if "/auth/signup/confirm/" in w][0]
        assert link.startswith(e.base)
        # The console provider is off: the link is not in the edge's log.
        assert link not in e.log_text()
        r = s.get(link)
        r = s.post(link, data={"password": "gus password 1", "password_confirmation":
                               "gus password 1", "csrf": csrf_of(r.text)}, allow_redirects=False)
        assert r.status_code == 303
        assert "gus@example.com" in s.get(e.base + "/").text
    finally:
        e.stop()


def test_mail_failure_is_reported_and_registration_kept(tmpdir_path, authd, smtp):
    c, sink = smtp
    dead = free_port()  # nothing listens there
    e = Edge(tmpdir_path, authd, ["--mail-provider", "smtp", "--smtp-url",
                                   f"smtp://127.0.0.1:{dead}", "--smtp-starttls", "none"])
    try:
        s = new_session()
        r = post_signup(e, s, "hal@example.com")
        assert "could not" in r.text.lower() or "not be sent" in r.text.lower()
        assert "mail" in e.log_text().lower()
    finally:
        e.stop()
    # A working mailer later: signing up again sends a link, and the flow completes.
    e2 = Edge(tmpdir_path, authd, ["--mail-provider", "smtp", "--smtp-url",
                                    f"smtp://127.0.0.1:{c.port}", "--smtp-starttls", "none"])
    try:
        s = new_session()
        assert post_signup(e2, s, "hal@example.com").status_code == 200
        wait_messages(sink, 1)
    finally:
        e2.stop()
