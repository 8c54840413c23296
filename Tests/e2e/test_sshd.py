"""pam_mfa behind a real OpenSSH server, end to end.

A private sshd (the system's /usr/sbin/sshd, reached through a symlink named
sshd-mfa-test so that OpenSSH 9 takes /etc/pam.d/sshd-mfa-test as its PAM
service; OpenSSH 10 is told so with PAMServiceName) listens on 127.0.0.1 and a free high port with its own host key and a
configuration built from pam/sshd_config.  The PAM service is made from
pam/sshd with the built module and a private state_dir.  Real users are
created with useradd and enrolled as root with the built mfa-enroll; the ssh
client is driven with pexpect and a login only counts when the remote command
(or shell) really ran and echoed a token back.

Everything is undone at the end, also when a test fails: sshd is stopped (its
whole process group), /etc/pam.d/sshd-mfa-test is removed, the users are
deleted with their homes, /run/sshd is removed when this module created it,
and the temp directory goes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from mfatest.cli import Enrolled, enroll_user
from mfatest.sshd import (SSHD_BIN, STATE_ROOT, free_port, pam_stack_text, privsep_dir, read_log,
                          ssh_argv, sshd_config_text, start_sshd, state_snapshot, stop_sshd,
                          token_command)
from mfatest.system import Conversation, converse, create_user, delete_user, run
from mfatest.totp import code, next_step_code, wrong_code
from mfatest.world import ENROLL

TIMEOUT = 30
SERVICE = "sshd-mfa-test"
PAM_FILE = Path("/etc/pam.d") / SERVICE


USER = "mfasshd"          # enrolled
USER2 = "mfasshd2"        # never enrolled

LOCK_TEXT = "Too many wrong codes. Try again in"


# ---------------------------------------------------------------------------
# the sshd world
# ---------------------------------------------------------------------------


@dataclass
class Host:
    base: Path
    enrolled: Enrolled
    password2: str               # USER2's password (not enrolled)
    host_key: Path
    keys_dir: Path
    client_key: Path             # authorized for USER and USER2
    other_key: Path              # authorized for nobody
    link: Path                   # TMP/sshd-mfa-test -> /usr/sbin/sshd


@pytest.fixture(scope="module")
def host():
    """Users (USER enrolled, USER2 not), keys and the sshd symlink; all undone afterwards."""
    errors = []
    if PAM_FILE.exists():
        PAM_FILE.unlink()
    before = state_snapshot()
    base = Path(tempfile.mkdtemp(prefix="pam_mfa_sshd."))
    with privsep_dir(errors):
        try:
            os.chmod(base, 0o755)        # the users' sshd children read the authorized keys
            host_key = base / "host_ed25519"
            client_key = base / "client_ed25519"
            other_key = base / "other_ed25519"
            for k in (host_key, client_key, other_key):
                run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", k.name, "-f", k])
            keys_dir = base / "keys"
            keys_dir.mkdir(mode=0o755)
            pub = (base / "client_ed25519.pub").read_text()
            for name in (USER, USER2):
                (keys_dir / name).write_text(pub)
                os.chmod(keys_dir / name, 0o644)
            link = base / SERVICE
            link.symlink_to(SSHD_BIN)

            password = create_user(USER)
            password2 = create_user(USER2)
            enrolled = enroll_user(USER, password)
            yield Host(base, enrolled, password2, host_key, keys_dir, client_key, other_key, link)
        finally:
            try:
                if PAM_FILE.exists():
                    PAM_FILE.unlink()
            except OSError as e:
                errors.append(f"removing {PAM_FILE}: {e}")
            for name in (USER2, USER):
                err = delete_user(name)
                if err:
                    errors.append(err)
            shutil.rmtree(base, ignore_errors=True)
            if base.exists():
                errors.append(f"{base} is still there")
            after = state_snapshot()
            if after != before:
                errors.append(f"{STATE_ROOT} changed: {before} -> {after}")
    assert not errors, "\n".join(errors)


class Sshd:
    """One running private sshd with its own config, PAM file and state dir."""

    def __init__(self, host: Host, work: Path, key_first: bool):
        self.host = host
        self.work = work
        self.key_first = key_first
        self.state_dir = work / "state"
        self.state_dir.mkdir(mode=0o700)
        self.port = free_port()
        self.config = work / "sshd_config"
        self.config.write_text(sshd_config_text(key_first, self.port, host.host_key, work,
                                                host.keys_dir, SERVICE, [USER, USER2]))
        self.log_path = work / "sshd.log"
        self.proc: subprocess.Popen | None = None

    def set_pam(self, extra=(), permit: bool = False, key_first: bool | None = None) -> str:
        """(Re)writes /etc/pam.d/sshd-mfa-test; sshd reads it at each connection."""
        kf = self.key_first if key_first is None else key_first
        text = pam_stack_text(self.state_dir, extra, key_first=kf, permit=permit)
        PAM_FILE.write_text(text)
        os.chmod(PAM_FILE, 0o644)
        return text

    def start(self) -> None:
        check = run([self.host.link, "-t", "-f", self.config], check=False)
        assert check.returncode == 0 and not check.stderr.strip(), (
            f"sshd -t: {check.returncode}\n{check.stdout}{check.stderr}\n"
            f"{self.config.read_text()}")
        self.proc = start_sshd(self.host.link, self.config, self.log_path, self.port)

    def stop(self) -> None:
        stop_sshd(self.proc)

    def log(self) -> str:
        return read_log(self.log_path)

    def ssh(self, user: str, answers: dict, methods: str, key: Path | None = None,
            command: str | None = None, tty: bool = False, then=()) -> Conversation:
        return converse(ssh_argv(self.port, user, methods, key, command, tty), answers, then=then)

    def ssh_token(self, user: str, answers: dict, methods: str = "keyboard-interactive",
                  **kw) -> tuple:
        """ssh running token_command() as the user: (the conversation, what the command prints
        when it did run there)."""
        cmd, printed = token_command()
        return self.ssh(user, answers, methods, command=cmd, **kw), printed

    def why(self, conv: Conversation) -> str:
        return f"{conv}\n--- {PAM_FILE} ---\n{PAM_FILE.read_text() if PAM_FILE.exists() else '(none)'}" \
               f"\n--- sshd log ---\n{self.log()}"


@pytest.fixture
def sshd(host):
    """A factory: sshd(key_first=False) -> a started Sshd; all stopped afterwards."""
    started = []
    work = Path(tempfile.mkdtemp(prefix="t.", dir=host.base))
    os.chmod(work, 0o755)

    def start(key_first: bool = False, extra=(), permit: bool = False) -> Sshd:
        d = work / f"sshd{len(started)}"
        d.mkdir(mode=0o755)
        server = Sshd(host, d, key_first)
        started.append(server)
        server.set_pam(extra, permit=permit)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()
        if PAM_FILE.exists():
            PAM_FILE.unlink()
        shutil.rmtree(work, ignore_errors=True)


def logged_in(conv: Conversation, printed: str, user: str) -> bool:
    return conv.status == 0 and (printed + user) in conv.output


def refused(conv: Conversation, printed: str) -> bool:
    return (conv.status == 255 and "Permission denied" in conv.output
            and printed not in conv.output)


# ---------------------------------------------------------------------------
# the cases
# ---------------------------------------------------------------------------


def test_password_then_code_logs_in(host, sshd):
    server = sshd()
    enr = host.enrolled
    conv, printed = server.ssh_token(USER, {"password": enr.password, "code": next_step_code(enr.secret)})
    assert conv.asked == ["password", "code"], server.why(conv)
    assert logged_in(conv, printed, USER), server.why(conv)
    assert f"Accepted keyboard-interactive/pam for {USER}" in server.log(), server.why(conv)

    # a wrong password ends the stack before the code is asked
    conv, printed = server.ssh_token(USER, {"password": enr.password + "x", "code": next_step_code(enr.secret)})
    assert conv.asked == ["password"], server.why(conv)
    assert refused(conv, printed), server.why(conv)


def test_wrong_code_is_refused(host, sshd):
    server = sshd()
    enr = host.enrolled
    conv, printed = server.ssh_token(USER, {"password": enr.password, "code": wrong_code(enr.secret)})
    assert conv.asked == ["password", "code"], server.why(conv)
    assert refused(conv, printed), server.why(conv)
    # the user learns it was the code, not the password (the password was right to get here)
    assert "Wrong code." in conv.output, server.why(conv)
    # the password alone never gets in either (no code typed)
    conv, printed = server.ssh_token(USER, {"password": enr.password, "code": ""})
    assert conv.asked == ["password", "code"], server.why(conv)
    assert refused(conv, printed), server.why(conv)


def test_code_is_not_accepted_twice(host, sshd):
    server = sshd()
    enr = host.enrolled
    c = next_step_code(enr.secret)
    conv, printed = server.ssh_token(USER, {"password": enr.password, "code": c})
    assert logged_in(conv, printed, USER), server.why(conv)
    conv, printed = server.ssh_token(USER, {"password": enr.password, "code": c})
    assert conv.asked == ["password", "code"], server.why(conv)
    assert refused(conv, printed), server.why(conv)
    assert "That code was already used: wait for a new one." in conv.output, server.why(conv)


def test_key_then_code(host, sshd):
    server = sshd(key_first=True)
    enr = host.enrolled
    methods = "publickey,keyboard-interactive"
    # the authorized key, then only the code (the stack has no password any more)
    conv, printed = server.ssh_token(USER, {"code": next_step_code(enr.secret)}, methods,
                                     key=host.client_key)
    assert conv.asked == ["code"], server.why(conv)
    assert logged_in(conv, printed, USER), server.why(conv)
    log = server.log()
    assert f"Partial publickey for {USER}" in log, server.why(conv)
    assert f"Accepted keyboard-interactive/pam for {USER}" in log, server.why(conv)

    # the key alone is not enough: a wrong code after it is refused
    conv, printed = server.ssh_token(USER, {"code": wrong_code(enr.secret)}, methods, key=host.client_key)
    assert conv.asked == ["code"], server.why(conv)
    assert refused(conv, printed), server.why(conv)

    # without the authorized key: refused before any code is asked
    for key in (host.other_key, None):
        conv, printed = server.ssh_token(USER, {"code": next_step_code(enr.secret), "password": enr.password},
                                         methods, key=key)
        assert conv.asked == [], server.why(conv)
        assert refused(conv, printed), server.why(conv)


def test_key_first_with_nullok(host, sshd):
    """pam/sshd's advice for key + code with nullok: pam_permit after pam_mfa lets users
    without a secret file in with their key alone; enrolled users still give a code."""
    server = sshd(key_first=True, extra=["nullok"], permit=True)
    enr = host.enrolled
    methods = "publickey,keyboard-interactive"
    conv, printed = server.ssh_token(USER2, {}, methods, key=host.client_key)
    assert conv.asked == [], server.why(conv)
    assert logged_in(conv, printed, USER2), server.why(conv)

    conv, printed = server.ssh_token(USER, {"code": wrong_code(enr.secret)}, methods, key=host.client_key)
    assert conv.asked == ["code"], server.why(conv)
    assert refused(conv, printed), server.why(conv)

    conv, printed = server.ssh_token(USER, {"code": next_step_code(enr.secret)}, methods, key=host.client_key)
    assert conv.asked == ["code"], server.why(conv)
    assert logged_in(conv, printed, USER), server.why(conv)

    # nullok as the stack's only auth module (no pam_permit): libpam refuses the user
    server.set_pam(["nullok"], permit=False)
    conv, printed = server.ssh_token(USER2, {}, methods, key=host.client_key)
    assert refused(conv, printed), server.why(conv)


def test_backup_code_works_once(host, sshd):
    server = sshd()
    enr = host.enrolled
    backup = enr.codes[0]
    cmd, printed = token_command()
    # an interactive session: sshd shows PAM's informational messages as the login message
    conv = server.ssh(USER, {"password": enr.password, "code": backup}, "keyboard-interactive",
                      tty=True, then=[(r"Backup code accepted\. You have 9 backup codes left\.",
                                       f"{cmd}; exit")])
    assert conv.asked[:2] == ["password", "code"], server.why(conv)
    assert "Backup code accepted. You have 9 backup codes left." in conv.output, server.why(conv)
    assert len(conv.asked) == 3, server.why(conv)
    assert logged_in(conv, printed, USER), server.why(conv)

    conv, printed = server.ssh_token(USER, {"password": enr.password, "code": backup})
    assert conv.asked == ["password", "code"], server.why(conv)
    assert refused(conv, printed), server.why(conv)
    assert "Backup code accepted" not in conv.output, server.why(conv)


def test_lockout_reaches_the_client(host, sshd):
    server = sshd(extra=["deny=2"])
    enr = host.enrolled
    outputs = []
    for _ in range(2):
        conv, printed = server.ssh_token(USER, {"password": enr.password, "code": wrong_code(enr.secret)})
        assert conv.asked == ["password", "code"], server.why(conv)
        assert refused(conv, printed), server.why(conv)
        outputs.append(conv.output)
    assert LOCK_TEXT not in outputs[0], outputs[0]
    assert LOCK_TEXT in outputs[1], server.why(conv)

    # locked: the right code does not get in; the message comes before any code prompt
    conv, printed = server.ssh_token(USER, {"password": enr.password, "code": next_step_code(enr.secret)})
    assert conv.asked == ["password"], server.why(conv)
    assert LOCK_TEXT in conv.output, server.why(conv)
    assert refused(conv, printed), server.why(conv)


def test_user_without_enrollment(host, sshd):
    server = sshd(extra=["nullok"])
    conv, printed = server.ssh_token(USER2, {"password": host.password2})
    assert conv.asked == ["password"], server.why(conv)
    assert logged_in(conv, printed, USER2), server.why(conv)

    # without nullok the password alone is not enough
    server.set_pam([])
    conv, printed = server.ssh_token(USER2, {"password": host.password2, "code": "123456"})
    assert conv.asked[:1] == ["password"], server.why(conv)
    assert refused(conv, printed), server.why(conv)


def test_a_remembered_host_is_not_asked_again_until_forgotten(host, sshd):
    """remember=: after a right code from 127.0.0.1 the same user from there gives only the
    password; `mfa-enroll forget`, run by the user, brings the code back."""
    server = sshd(extra=("remember=1h", "window=2"))
    enr = host.enrolled
    conv, printed = server.ssh_token(USER, {"password": enr.password, "code": next_step_code(enr.secret)})
    assert conv.asked == ["password", "code"], server.why(conv)
    assert logged_in(conv, printed, USER), server.why(conv)
    # the root-owned state remembers the client's address
    state = (server.state_dir / USER).read_bytes()
    assert b"remember 127.0.0.1 " in state, state
    assert os.stat(server.state_dir / USER).st_uid == 0

    conv, printed = server.ssh_token(USER, {"password": enr.password})
    assert conv.asked == ["password"], server.why(conv)
    assert logged_in(conv, printed, USER), server.why(conv)

    # the user revokes it from their own account (they cannot write the root-owned state)
    forget = run(["runuser", "-u", USER, "--", str(ENROLL), "forget"], check=False)
    assert forget.returncode == 0, (forget.stdout, forget.stderr)
    assert "forget before=" in enr.path.read_text()
    # a step newer than the one used above (window=2 accepts t+60)
    conv, printed = server.ssh_token(USER, {"password": enr.password, "code": code(enr.secret, time.time() + 60)})
    assert conv.asked == ["password", "code"], server.why(conv)
    assert logged_in(conv, printed, USER), server.why(conv)
