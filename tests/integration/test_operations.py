# SPDX-License-Identifier: Apache-2.0
"""The operator's documents hold what they promise: docs/operations.md (linked from the README)
documents every AuthConfig field with its default, and authd's --production error says how to
make the encryption key - with a command that makes a key authd then accepts."""
import os
import re
import subprocess

from conftest import AUTHD, FAST_ARGON2, REPO, Authd, admin_pb2

OPS = os.path.join(REPO, "docs", "operations.md")
README = os.path.join(REPO, "README.md")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def json_paths(desc, prefix=""):
    """Every field of a message as its JSON path (twoFactor.webhook.timeout), recursively."""
    for f in desc.fields:
        path = prefix + f.json_name
        yield path
        if f.message_type is not None and not f.message_type.GetOptions().map_entry:
            yield from json_paths(f.message_type, path + ".")


def test_readme_links_the_operations_guide():
    assert "(docs/operations.md)" in read(README)
    ops = read(OPS)
    for heading in ("## The encryption key", "## AuthConfig: every field and its default",
                    "## authd-edge behind a reverse proxy with TLS", "## SMTP",
                    "## Logs and metrics", "## Backups and restore"):
        assert heading in ops, heading


def test_every_auth_config_field_is_documented_with_a_default():
    ops = read(OPS)
    readme = read(README)
    # The table's rows: `field` | default | meaning.
    rows = {}
    for m in re.finditer(r"^\| (`[^|]+`) \| ([^|]+) \|", ops, re.M):
        for name in re.findall(r"`([^`]+)`", m.group(1)):
            rows[name] = m.group(2).strip()
    missing = []
    for path in json_paths(admin_pb2.AuthConfig.DESCRIPTOR):
        leaf = path.split(".")[-1]
        if path.startswith("lockout."):
            # The lockout rules and their defaults are the README's table; the kinds are rows.
            if path.count(".") == 1:
                if path not in rows:
                    missing.append(path)
            elif leaf not in readme:
                missing.append(path)
            continue
        if path in ("twoFactor", "theme", "lockout", "twoFactor.webhook"):
            continue  # blocks; their fields are the rows
        if path in rows:
            assert rows[path], path  # a default is given
        elif not re.search(r"\b" + re.escape(leaf) + r"\b", readme):
            # A field another change added may document itself in the README instead (in
            # prose, a table or a YAML example).
            missing.append(path)
    assert not missing, missing


def test_production_error_says_how_to_make_the_key(tmpdir_path):
    p = subprocess.run([AUTHD, "--production", "--listen", "127.0.0.1:0", "--data-dir",
                        os.path.join(tmpdir_path, "data")], capture_output=True, text=True,
                       timeout=30, env={k: v for k, v in os.environ.items()
                                        if not k.startswith("AUTHD_")})
    assert p.returncode != 0
    assert "--totp-key-file" in p.stderr and "docs/operations.md" in p.stderr, p.stderr
    m = re.search(r"\(umask 077; (openssl rand -hex 32) > (\S+)\)", p.stderr)
    assert m, p.stderr
    # That command makes a key authd takes (written here instead of /etc/authd).
    key = os.path.join(tmpdir_path, "totp.key")
    with open(key, "w") as f:
        subprocess.run(m.group(1).split(), stdout=f, check=True)
    a = Authd(tmpdir_path, FAST_ARGON2 + ["--production", "--totp-key-file", key])
    try:
        assert "event=listening" in a.log_text() or a.port
        assert "development_totp_key" not in a.log_text()
    finally:
        a.stop()
