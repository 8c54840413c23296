"""store=ldap: enrollments and login state in an LDAP directory shared by several hosts.

A private slapd (ldapdir.Directory) runs on 127.0.0.1 with a test CA. Each "host" is its own
pamdrive process with its own local state directory and its own identity (host-a: client
certificate, SASL EXTERNAL; host-b: bind DN + password file); both talk to the one directory.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pexpect
import pytest

from conftest import BUILD, ENROLL, code, fresh_step, new_secret, wrong_code
from ldapdir import Directory

PLUGIN = BUILD / "pam_mfa" / "store_ldap.so"


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    base = tmp_path_factory.mktemp("ldap")
    os.chmod(base, 0o755)
    d = Directory(base)
    d.start()
    yield d
    d.stop()


class Host:
    """One machine of the fleet: its own PAM confdir/state (from env) and its own identity."""

    def __init__(self, env, directory: Directory, name: str):
        self.env = env
        self.name = name
        self.state = env.base / f"state-{name}"
        self.state.mkdir(mode=0o700, exist_ok=True)
        settings = [
            "store=ldap", f"ldap_uri={directory.uri}", f"ldap_base={directory.base}",
            f"ldap_ca={directory.ca}", f"store_plugin={PLUGIN}", "ldap_timeout=2",
        ]
        if name == "host-b":
            password = env.base / "ldap-password"
            password.write_text(directory.bind_password + "\n")
            os.chmod(password, 0o600)
            settings += [f"ldap_bind_dn={directory.bind_dn}", f"ldap_password_file={password}"]
        else:
            cert, key = directory.host_cert(name)
            settings += [f"ldap_cert={cert}", f"ldap_key={key}"]
        self.conf = env.base / f"pam_mfa-{name}.conf"
        self.conf.write_text("".join(s + "\n" for s in settings))
        os.chmod(self.conf, 0o644)

    def login(self, *answers, user="alice", extra=(), timeout=30):
        return self.env.run_pam(
            [f"conf={self.conf}", f"state_dir={self.state}", *extra], user=user, answers=list(answers),
            service=f"mfa-{self.name}", add_state_dir=False, timeout=timeout)

    def cli(self, *args, input_text=None, timeout=60):
        return subprocess.run(
            [str(ENROLL), "--config", str(self.conf), *args], input=input_text, capture_output=True, text=True,
            env=self.env.env(), timeout=timeout)


def enroll(host: Host, user="alice", backup_codes=0):
    """Root enrolls the user into the directory with mfa-enroll under a tty (the real CLI path).
    Returns (key, time the confirming code was made, everything printed)."""
    child = pexpect.spawn(
        str(ENROLL), ["--config", str(host.conf), "--user", user, "--qr", "none", "--backup-codes", str(backup_codes)],
        env=host.env.env(), encoding="utf-8", codec_errors="replace", timeout=30, dimensions=(200, 300))
    child.expect(r"[Cc]ode[^\r\n]*: ?\Z")
    out = child.before + child.after
    m = re.search(r"secret=([A-Z2-7]+)", out)
    assert m, out
    key = m.group(1)
    host.env.remember(key)
    t = fresh_step(margin=5)
    child.sendline(code(key, t))
    child.expect(pexpect.EOF)
    out += child.before
    child.close()
    assert child.exitstatus == 0, out
    return key, t, out.replace("\r\n", "\n")


def test_smoke_enroll_and_login_through_two_hosts(env, directory):
    a, b = Host(env, directory, "host-a"), Host(env, directory, "host-b")
    key, used, _ = enroll(a)
    t = fresh_step(margin=3)
    if int(t // 30) <= int(used // 30):
        from conftest import wait_next_step
        t = wait_next_step(used)
    c = code(key, t)
    first = a.login(c)
    assert first.result == "PAM_SUCCESS", str(first)
    second = b.login(c)
    assert second.result != "PAM_SUCCESS", str(second)
    assert "replay" in second.syslog_text(), str(second)
