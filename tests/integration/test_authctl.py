# SPDX-License-Identifier: Apache-2.0
"""authctl against a real authd: manifests and user administration, with exit codes."""
import json
import os
import subprocess

from conftest import AUTHCTL, REPO, admin_pb2, users_pb2


def ctl(authd, *args, stdin=None):
    return subprocess.run([AUTHCTL, "--authd", authd.target] + list(args), input=stdin,
                          capture_output=True, text=True, timeout=30)


def test_apply_demo_manifest(authd):
    p = ctl(authd, "apply", "-f", os.path.join(REPO, "deploy", "demo.yaml"))
    assert p.returncode == 0, p.stderr
    assert "AuthConfig/app" in p.stdout
    cfg = authd.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                     admin_pb2.AuthConfig)
    assert cfg.id == "app" and cfg.theme.title and cfg.asid_cookie_max_age == 86400
    u = authd.call("/authd.v1.Users/Get", users_pb2.GetUserRequest(email="demo@example.com"),
                   users_pb2.UserResponse).user
    assert u.email == "demo@example.com"
    # Applying again is idempotent.
    p = ctl(authd, "apply", "-f", os.path.join(REPO, "deploy", "demo.yaml"))
    assert p.returncode == 0, p.stderr


def test_apply_aidbox_style_auth_config(authd, tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("""
resourceType: AuthConfig
id: app
asidCookieMaxAge: 3600
theme:
  title: Aidbox-like
  brand: Brand
  styleUrl: https://cdn.example/style.css
twoFactor:
  issuerName: My Org
  validPastTokensCount: 3
  webhook:
    endpoint: https://hooks.example/2fa
    timeout: 2000
    headers:
      Authorization: Bearer abc
""")
    p = ctl(authd, "apply", "-f", str(m))
    assert p.returncode == 0, p.stderr
    cfg = authd.call("/authd.v1.Admin/GetAuthConfig", admin_pb2.GetAuthConfigRequest(),
                     admin_pb2.AuthConfig)
    assert cfg.two_factor.issuer_name == "My Org"
    assert cfg.two_factor.valid_past_tokens_count == 3
    assert cfg.two_factor.webhook.headers["Authorization"] == "Bearer abc"
    assert cfg.two_factor.webhook.timeout == 2000
    assert cfg.theme.style_url == "https://cdn.example/style.css"


def test_bad_manifests(authd, tmp_path):
    cases = {
        "unknown.yaml": "resourceType: Nope\nid: x\n",
        "field.yaml": "resourceType: AuthConfig\nid: app\nthemme: {}\n",
        "syntax.yaml": "resourceType: AuthConfig\n  id: [unclosed\n",
    }
    for name, text in cases.items():
        f = tmp_path / name
        f.write_text(text)
        p = ctl(authd, "apply", "-f", str(f))
        assert p.returncode == 4, (name, p.returncode, p.stderr)
        assert p.stderr.strip(), name
    # The server refusing a value is exit code 1, with its reason.
    f = tmp_path / "bad-value.yaml"
    f.write_text("resourceType: AuthConfig\nid: app\ntheme:\n  styleUrl: 'javascript:x'\n")
    p = ctl(authd, "apply", "-f", str(f))
    assert p.returncode == 1 and "styleUrl" in p.stderr


def test_user_commands(authd):
    p = ctl(authd, "user", "create", "--email", "Ida@Example.com", "--password-stdin",
            stdin="ida password 1\n")
    assert p.returncode == 0, p.stderr
    p = ctl(authd, "-o", "json", "user", "get", "--email", "ida@example.com")
    assert p.returncode == 0, p.stderr
    u = json.loads(p.stdout)
    uid = u["id"]
    assert u["email"] == "ida@example.com"
    p = ctl(authd, "user", "create", "--email", "ida@example.com")
    assert p.returncode == 1 and "already_exists" in p.stderr
    p = ctl(authd, "user", "list")
    assert p.returncode == 0 and "ida@example.com" in p.stdout
    assert ctl(authd, "user", "deactivate", "--id", uid).returncode == 0
    p = ctl(authd, "-o", "json", "user", "get", "--id", uid)
    assert json.loads(p.stdout).get("inactive") is True
    assert ctl(authd, "user", "delete", "--id", uid).returncode == 0
    assert ctl(authd, "user", "get", "--id", uid).returncode == 1
    assert ctl(authd, "user", "frobnicate").returncode == 2


def test_unreachable_authd(authd):
    p = subprocess.run([AUTHCTL, "--authd", "127.0.0.1:1", "--timeout", "1000", "user", "list"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 3
