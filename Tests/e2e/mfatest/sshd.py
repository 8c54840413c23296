"""A private OpenSSH server on 127.0.0.1 for the tests: pam/sshd and pam/sshd_config made into
a test's stack and configuration, starting and stopping the server, the ssh client's argv."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

from .system import clean_env
from .world import MODULE, REPO

SSHD_BIN = Path("/usr/sbin/sshd")
SSH_BIN = "/usr/bin/ssh"
PRIVSEP_DIR = Path("/run/sshd")
STATE_ROOT = Path("/var/lib/pam_mfa")
PAM_SSHD = REPO / "pam/sshd"
SSHD_CONFIG = REPO / "pam/sshd_config"


@contextlib.contextmanager
def privsep_dir(errors: list):
    """sshd's /run/sshd for the duration, removed afterwards when made here (a failure to
    remove it goes to errors)."""
    made = not PRIVSEP_DIR.exists()
    if made:
        PRIVSEP_DIR.mkdir(mode=0o755)
    try:
        yield
    finally:
        if made:
            try:
                PRIVSEP_DIR.rmdir()
            except OSError as e:
                errors.append(f"removing {PRIVSEP_DIR}: {e}")


def state_snapshot() -> dict:
    """The host's default state dir (which these tests must not touch)."""
    snap = {}
    if STATE_ROOT.exists():
        for p in sorted(STATE_ROOT.rglob("*")):
            st = os.lstat(p)
            snap[str(p)] = (st.st_size, st.st_mtime_ns)
    return snap


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert port > 1024, port
    return port


def pam_stack_text(state_dir: Path, extra=(), key_first: bool = False,
                   permit: bool = False, module: Path = MODULE, other: str | None = None) -> str:
    """pam/sshd with the built module (or `module`) and a private state dir; key_first comments
    out `@include common-auth`; permit adds `auth required pam_permit.so` after pam_mfa.
    other: a whole module spec (path and arguments) in pam_mfa's auth line instead, with
    pam_mfa's account line left out: the same stack with another module (the benchmark)."""
    out, mfa_lines, includes = [], 0, 0
    args = other or " ".join([str(module), f"state_dir={state_dir}", *extra])
    for line in PAM_SSHD.read_text().split("\n"):
        s = line.strip()
        if s.startswith("account") and re.search(r"(?<!\S)pam_mfa\.so(?!\S)", s):
            if other is None:
                out.append(re.sub(r"(?<!\S)pam_mfa\.so(?!\S)", str(module), line))
            continue
        if not s.startswith("#") and re.search(r"(?<!\S)pam_mfa\.so(?!\S)", s):
            assert s.split()[0] == "auth", line
            out.append(re.sub(r"(?<!\S)pam_mfa\.so(?!\S)", args, line))
            mfa_lines += 1
            if permit:
                out.append("auth       required     pam_permit.so")
            continue
        if key_first and s == "@include common-auth":
            out.append("# " + line)
            includes += 1
            continue
        out.append(line)
    assert mfa_lines == 1, f"pam/sshd should have one pam_mfa line:\n{PAM_SSHD.read_text()}"
    assert includes == (1 if key_first else 0), "pam/sshd has no `@include common-auth` line"
    return "\n".join(out)


def names_pam_service_in_config() -> bool:
    """OpenSSH 10 runs PAM in sshd-session, whose service is "sshd" unless sshd_config says
    otherwise (PAMServiceName); older sshd takes its own program name, hence the symlink."""
    return b"pamservicename" in SSHD_BIN.read_bytes().lower()


def shipped_settings(key_first: bool = False) -> list:
    """pam/sshd_config's settings, or its key-first alternative when key_first."""
    src = SSHD_CONFIG.read_text().split("\n")
    settings = [ln.strip() for ln in src if ln.strip() and not ln.strip().startswith("#")]
    if key_first:
        alternative = [ln.strip().lstrip("#").strip() for ln in src
                       if re.match(r"\s*#\s*AuthenticationMethods\s+publickey", ln)]
        assert len(alternative) == 1, "pam/sshd_config lacks the key-first alternative"
        settings = [s for s in settings if not s.startswith("AuthenticationMethods")]
        settings += alternative
    return settings


def sshd_config_text(key_first: bool, port: int, host_key: Path, work: Path,
                     keys_dir: Path, service: str, allow_users) -> str:
    """pam/sshd_config's settings (its key-first alternative when key_first) plus what a
    private test server needs, with PAM service `service`."""
    settings = shipped_settings(key_first)
    for needed in ("UsePAM yes", "KbdInteractiveAuthentication yes"):
        assert needed in settings, f"pam/sshd_config lacks {needed!r}"
    assert any(s.startswith("AuthenticationMethods") for s in settings), settings
    settings += [
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {host_key}",
        f"PidFile {work}/sshd.pid",
        f"AuthorizedKeysFile {keys_dir}/%u",
        "StrictModes no",
        "PasswordAuthentication no",
        "PermitRootLogin no",
        f"AllowUsers {' '.join(allow_users)}",
        "UseDNS no",
        "LogLevel VERBOSE",
    ]
    if names_pam_service_in_config():
        settings.append(f"PAMServiceName {service}")
    return "\n".join(settings) + "\n"


def start_sshd(link: Path, config: Path, log_path: Path, port: int) -> subprocess.Popen:
    """sshd -D (through `link`, named after its PAM service) in a session of its own, once it
    greets on 127.0.0.1:port; its output goes to log_path."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(link), "-D", "-e", "-f", str(config)],
                                stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=clean_env(),
                                start_new_session=True)
    deadline = time.monotonic() + 15
    while True:
        assert proc.poll() is None, f"sshd exited {proc.returncode}:\n{read_log(log_path)}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.settimeout(2)
                if s.recv(64).startswith(b"SSH-2.0-"):
                    return proc
        except OSError:
            pass
        assert time.monotonic() < deadline, f"sshd does not listen:\n{read_log(log_path)}"
        time.sleep(0.1)


def stop_sshd(proc: subprocess.Popen | None) -> None:
    """SIGTERM to sshd's session, SIGKILL when it does not end within 5 s."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


def read_log(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return "(no sshd log)"


def ssh_argv(port: int, user: str, methods: str, key: Path | None = None,
             command: str | None = None, tty: bool = False) -> list:
    """The ssh client to user@127.0.0.1:port, nothing from ~/.ssh or an agent, one try."""
    argv = [SSH_BIN, "-F", "/dev/null", "-p", str(port),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentityAgent=none",
            "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10",
            "-o", f"PreferredAuthentications={methods}",
            "-o", "NumberOfPasswordPrompts=1"]
    if key is not None:
        argv += ["-i", str(key)]
    else:
        argv += ["-o", "PubkeyAuthentication=no"]
    if tty:
        argv += ["-tt"]
    argv += [f"{user}@127.0.0.1"]
    if command is not None:
        argv += [command]
    return argv


def token_command() -> tuple:
    """(remote command, what it prints): the output exists only if the command ran remotely
    as the user (the expansion of $(id -un) is not in the command line)."""
    tok = secrets.token_hex(8)
    return f"echo MFA-{tok}-$(id -un)", f"MFA-{tok}-"
