"""The fleet of the store=ldap tests: hosts (each its own pamdrive configuration, local state and
directory identity) sharing one directory, and what the tests read back from it."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Sequence

from mfatest.cli import enroll_under_tty
from mfatest.ldapdir import Directory, LDAPError
from mfatest.pam import pam_result
from mfatest.secretfile import printed_codes, remember_codes
from mfatest.totp import code
from mfatest.world import ENROLL, LDAP_REFUSE, PLUGIN


class Host:
    """One machine of the fleet: its own PAM confdir/state (from env) and its own identity."""

    def __init__(self, env, directory: Directory, name: str, uris: Sequence[str] = ()):
        """uris: the ldap_uri lines of its pam_mfa.conf, default the directory's StartTLS URI
        (a line may name several servers, separated by spaces)."""
        self.env = env
        self.name = name
        self.state = env.base / f"state-{name}"
        self.state.mkdir(mode=0o700, exist_ok=True)
        settings = [
            "store=ldap", *(f"ldap_uri={u}" for u in uris or [directory.uri]), f"ldap_base={directory.base}",
            f"ldap_ca={directory.ca}", f"store_plugin={PLUGIN}", "ldap_timeout=2",
            # for mfa-enroll (reset clears local state): never the system's /var/lib/pam_mfa
            f"state_dir={self.state}",
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

    def login(self, *answers, user="alice", extra=(), timeout=30, direct=False):
        """direct=True: pam_sm_authenticate's raw return (PAM_IGNORE is visible)."""
        return self.env.run_pam(
            [f"conf={self.conf}", f"state_dir={self.state}", *extra], user=user, answers=list(answers),
            service=f"mfa-{self.name}", add_state_dir=False, timeout=timeout, direct=direct)

    def login_refused(self, answer: str, refuse: str) -> tuple:
        """One login whose LDAP modifies the directory refuses as `refuse` says ("CODE:COUNT":
        the first COUNT answered CODE, nothing applied; Tests/tools/ldap_refuse.c). Returns the
        run and the shim's lines, one per modify ("refused 50", "sent 0")."""
        calls = self.env.base / f"ldap-refuse-{self.name}.log"
        calls.unlink(missing_ok=True)
        env = self.env.env(extra_preload=[str(LDAP_REFUSE)])
        env.update(LDAP_REFUSE=refuse, LDAP_REFUSE_LOG=str(calls))
        cmd = self.env.pam_command(
            [f"conf={self.conf}", f"state_dir={self.state}"], user="alice", answers=[answer],
            service=f"mfa-{self.name}", add_state_dir=False)
        before = self.env.syslog_size()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30, errors="replace")
        run = pam_result(proc.stdout, proc.stderr, proc.returncode, self.env.syslog_lines(before))
        return run, calls.read_text().splitlines() if calls.exists() else []

    def cli(self, *args, input_text=None, timeout=60):
        return subprocess.run(
            [str(ENROLL), "--config", str(self.conf), *args], input=input_text, capture_output=True, text=True,
            env=self.env.env(), timeout=timeout)


def enroll(host: Host, user="alice", backup_codes=0):
    """Root enrolls the user into the directory with mfa-enroll under a tty (the real CLI path).
    Returns (key, time the confirming code was made, everything printed)."""
    key, t, out = enroll_under_tty(["--config", host.conf, "--user", user], host.env.env(),
                                   backup_codes)
    host.env.remember(key)
    remember_codes(host.env, printed_codes(out))
    return key, t, out


PERIOD = 30


def entry_dn(d: Directory, user="alice") -> str:
    return f"uid={user},{d.base}"


def reset_user(d: Directory, user="alice") -> None:
    """Forget everything the directory holds for user (rootdn deletes the entry, if any)."""
    try:
        d.modify(f"dn: {entry_dn(d, user)}\nchangetype: delete\n")
    except LDAPError as e:
        if e.returncode != 32:  # noSuchObject: nothing to forget
            raise
    assert d.search(entry_dn(d, user)) is None


def fresh_hosts(env, d: Directory) -> tuple:
    """host-a and host-b of a directory that knows nothing of alice."""
    reset_user(d)
    return Host(env, d, "host-a"), Host(env, d, "host-b")


def entry(d: Directory, user="alice") -> dict:
    """The user's entry as the rootdn sees it, values decoded ({} when there is none)."""
    found = d.search(entry_dn(d, user))
    return {k: [v.decode() for v in vs] for k, vs in (found or {}).items()}


def steps(d: Directory, user="alice") -> list:
    return entry(d, user).get("pamMfaStep", [])


def step_of(t: float) -> int:
    return int(t) // PERIOD


def unused_code(key: str, last_used: float) -> tuple:
    """(code, its step) for the step after the one containing last_used, or the current step
    if time has moved past it. window=1 accepts the step after the current one, so this is
    valid now without waiting."""
    step = max(step_of(last_used) + 1, step_of(time.time()))
    assert step <= step_of(time.time()) + 1, "test too slow: the next step is outside the window"
    return code(key, step * PERIOD + 1), step



class LoopbackServer:
    """A TCP server on 127.0.0.1 that no slapd runs, for what a host does with an odd server:
    it accepts in a thread and hands each connection to handle(); connections it keeps in
    `held` are closed at the end."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.uri = f"ldap://127.0.0.1:{self.listener.getsockname()[1]}"
        self.held: list = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        except OSError:
            pass
        self.listener.close()
        for conn in self.held:
            conn.close()
        self.thread.join(timeout=5)

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.handle(conn)

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError
