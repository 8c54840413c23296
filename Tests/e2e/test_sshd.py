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

import io
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest

from conftest import ENROLL, MODULE, REPO, code, fresh_step, wrong_code
from test_backup_codes import printed_codes
from test_hardening import read_until_uri, uri_secret

TIMEOUT = 30
SSHD_BIN = Path("/usr/sbin/sshd")
SSH_BIN = "/usr/bin/ssh"
SERVICE = "sshd-mfa-test"
PAM_FILE = Path("/etc/pam.d") / SERVICE
PRIVSEP_DIR = Path("/run/sshd")
STATE_ROOT = Path("/var/lib/pam_mfa")

PAM_SSHD = REPO / "pam/sshd"
SSHD_CONFIG = REPO / "pam/sshd_config"

USER = "mfasshd"          # enrolled
USER2 = "mfasshd2"        # never enrolled

PASSWORD_RE = r"[Pp]assword: ?"
CODE_RE = r"Verification code: ?"
LOCK_TEXT = "Too many wrong codes. Try again in"


# ---------------------------------------------------------------------------
# helpers shared with test_sudo.py
# ---------------------------------------------------------------------------


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NSS_WRAPPER", "PAM_WRAPPER", "LD_PRELOAD", "MFA_TEST"))}
    env.update(LANG="C", LC_ALL="C", **extra)
    return env


def run(cmd, check=True, timeout=60, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("env", clean_env())
    if "input" not in kw:
        kw.setdefault("stdin", subprocess.DEVNULL)
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=timeout, **kw)
    if check:
        assert proc.returncode == 0, (
            f"{shlex.join(str(c) for c in cmd)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def user_exists(name: str) -> bool:
    return run(["getent", "passwd", name], check=False).returncode == 0


def delete_user(name: str) -> str | None:
    """userdel -r; returns an error text, or None."""
    if not user_exists(name):
        return None
    proc = run(["userdel", "-r", name], check=False)
    if user_exists(name):
        return f"userdel -r {name} failed ({proc.returncode}): {proc.stderr}"
    return None


def create_user(name: str) -> str:
    """A real user with a home and a random password; returns the password."""
    run(["useradd", "-m", "-s", "/bin/sh", name])
    password = "pw-" + secrets.token_urlsafe(12)
    run(["chpasswd"], input=f"{name}:{password}\n")
    return password


def home_of(name: str) -> Path:
    return Path(run(["getent", "passwd", name]).stdout.split(":")[5])


@dataclass
class Enrolled:
    user: str
    password: str
    secret: str
    codes: list                 # backup codes as printed
    secret_file: Path
    output: str = ""


def enroll_user(name: str, password: str) -> Enrolled:
    """`mfa-enroll --user NAME --qr none` as root, the code answered on a pipe (oathtool)."""
    proc = subprocess.Popen([str(ENROLL), "--user", name, "--qr", "none"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=clean_env())
    try:
        uri, buf = read_until_uri(proc, time.monotonic() + TIMEOUT)
        assert uri, (buf, proc.stderr.read())
        secret = uri_secret(uri)
        out, err = proc.communicate((code(secret, fresh_step()) + "\n").encode(),
                                    timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = (buf + out).decode(errors="replace")
    assert proc.returncode == 0, (proc.returncode, text, err.decode(errors="replace"))
    codes = printed_codes(text)
    assert len(codes) == 10, text
    path = home_of(name) / ".config/pam_mfa/secret"
    st = os.stat(path)
    pw = run(["getent", "passwd", name]).stdout.split(":")
    assert st.st_uid == int(pw[2]) and stat.S_IMODE(st.st_mode) == 0o600, (
        f"{path}: uid {st.st_uid} mode {oct(st.st_mode)}")
    return Enrolled(name, password, secret, codes, path, text)


def login_code(secret: str) -> str:
    """A code no earlier login used, for a fresh state dir: the next step's (window=1).
    The step typed at enrollment (confirmed=) is always older than this one."""
    return code(secret, time.time() + 30)


def state_snapshot() -> dict:
    """The host's default state dir (which these tests must not touch)."""
    snap = {}
    if STATE_ROOT.exists():
        for p in sorted(STATE_ROOT.rglob("*")):
            st = os.lstat(p)
            snap[str(p)] = (st.st_size, st.st_mtime_ns)
    return snap


@dataclass
class Conversation:
    asked: list                  # "password" / "code" / "<pattern>", in order
    output: str
    status: int | None           # exit status, None when it had to be killed

    def __str__(self) -> str:
        return f"asked={self.asked} status={self.status}\n--- client output ---\n{self.output}"


def converse(argv: list, answers: dict, then=(), timeout: float = TIMEOUT,
             env: dict | None = None) -> Conversation:
    """Run argv under a pty and answer the password and code prompts from answers (each
    at most once; a prompt asked again, or not answered, ends the run).  `then` is a list
    of (regex, line): when regex shows up, line is sent (each once, in order)."""
    log = io.StringIO()
    child = pexpect.spawn(argv[0], [str(a) for a in argv[1:]], env=env or clean_env(),
                          encoding="utf-8", codec_errors="replace", timeout=timeout)
    child.logfile_read = log
    asked = []
    pending = list(then)
    killed = False
    try:
        while True:
            patterns = [PASSWORD_RE, CODE_RE, pexpect.EOF] + ([pending[0][0]] if pending else [])
            i = child.expect(patterns)
            if i == 2:
                break
            if i == 3:
                pattern, line = pending.pop(0)
                asked.append(pattern)
                child.sendline(line)
                continue
            kind = ("password", "code")[i]
            again = kind in asked
            asked.append(kind)
            if again or kind not in answers:
                killed = True
                break
            child.sendline(answers[kind])
    except pexpect.TIMEOUT:
        asked.append("TIMEOUT")
        killed = True
    finally:
        child.close(force=True)
    status = None if killed else child.exitstatus
    return Conversation(asked, log.getvalue().replace("\r\n", "\n"), status)


# ---------------------------------------------------------------------------
# the sshd world
# ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert port > 1024, port
    return port


def pam_stack_text(state_dir: Path, extra=(), key_first: bool = False,
                   permit: bool = False) -> str:
    """pam/sshd with the built module and a private state dir; key_first comments out
    `@include common-auth`; permit adds `auth required pam_permit.so` after pam_mfa."""
    out, mfa_lines, includes = [], 0, 0
    args = " ".join([str(MODULE), f"state_dir={state_dir}", *extra])
    for line in PAM_SSHD.read_text().split("\n"):
        s = line.strip()
        if s.startswith("account") and re.search(r"(?<!\S)pam_mfa\.so(?!\S)", s):
            out.append(re.sub(r"(?<!\S)pam_mfa\.so(?!\S)", str(MODULE), line))
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


def sshd_config_text(key_first: bool, port: int, host_key: Path, work: Path,
                     keys_dir: Path, service: str = SERVICE) -> str:
    """pam/sshd_config's settings (its key-first alternative when key_first) plus what a
    private test server needs, with PAM service `service`."""
    src = SSHD_CONFIG.read_text().split("\n")
    settings = [ln.strip() for ln in src if ln.strip() and not ln.strip().startswith("#")]
    if key_first:
        alternative = [ln.strip().lstrip("#").strip() for ln in src
                       if re.match(r"\s*#\s*AuthenticationMethods\s+publickey", ln)]
        assert len(alternative) == 1, "pam/sshd_config lacks the key-first alternative"
        settings = [s for s in settings if not s.startswith("AuthenticationMethods")]
        settings += alternative
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
        f"AllowUsers {USER} {USER2}",
        "UseDNS no",
        "LogLevel VERBOSE",
    ]
    if names_pam_service_in_config():
        settings.append(f"PAMServiceName {service}")
    return "\n".join(settings) + "\n"


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
    # A killed earlier run may have left things behind.
    for name in (USER, USER2):
        err = delete_user(name)
        assert err is None, err
    if PAM_FILE.exists():
        PAM_FILE.unlink()
    before = state_snapshot()
    made_privsep = False
    base = Path(tempfile.mkdtemp(prefix="pam_mfa_sshd."))
    try:
        os.chmod(base, 0o755)        # the users' sshd children read the authorized keys
        if not PRIVSEP_DIR.exists():
            PRIVSEP_DIR.mkdir(mode=0o755)
            made_privsep = True
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
        if made_privsep:
            try:
                PRIVSEP_DIR.rmdir()
            except OSError as e:
                errors.append(f"removing {PRIVSEP_DIR}: {e}")
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
                                                host.keys_dir))
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
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen([str(self.host.link), "-D", "-e", "-f", str(self.config)],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=clean_env(),
                                         start_new_session=True)
        finally:
            log.close()
        deadline = time.monotonic() + 15
        while True:
            assert self.proc.poll() is None, f"sshd exited {self.proc.returncode}:\n{self.log()}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.settimeout(2)
                    if s.recv(64).startswith(b"SSH-2.0-"):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"sshd does not listen:\n{self.log()}"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=5)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "(no sshd log)"

    def ssh(self, user: str, answers: dict, methods: str, key: Path | None = None,
            command: str | None = None, tty: bool = False, then=()) -> Conversation:
        argv = [SSH_BIN, "-F", "/dev/null", "-p", str(self.port),
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
        return converse(argv, answers, then=then)

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


def token_command() -> tuple:
    """(remote command, what it prints): the output exists only if the command ran remotely
    as the user (the expansion of $(id -un) is not in the command line)."""
    tok = secrets.token_hex(8)
    return f"echo MFA-{tok}-$(id -un)", f"MFA-{tok}-"


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
    cmd, printed = token_command()
    conv = server.ssh(USER, {"password": enr.password, "code": login_code(enr.secret)},
                      "keyboard-interactive", command=cmd)
    assert conv.asked == ["password", "code"], server.why(conv)
    assert logged_in(conv, printed, USER), server.why(conv)
    assert f"Accepted keyboard-interactive/pam for {USER}" in server.log(), server.why(conv)

    # a wrong password ends the stack before the code is asked
    cmd, printed = token_command()
    conv = server.ssh(USER, {"password": enr.password + "x", "code": login_code(enr.secret)},
                      "keyboard-interactive", command=cmd)
    assert conv.asked == ["password"], server.why(conv)
    assert refused(conv, printed), server.why(conv)


def test_wrong_code_is_refused(host, sshd):
    server = sshd()
    enr = host.enrolled
    cmd, printed = token_command()
    conv = server.ssh(USER, {"password": enr.password, "code": wrong_code(enr.secret)},
                      "keyboard-interactive", command=cmd)
    assert conv.asked == ["password", "code"], server.why(conv)
    assert refused(conv, printed), server.why(conv)
    # the user learns it was the code, not the password (the password was right to get here)
    assert "Wrong code." in conv.output, server.why(conv)
    # the password alone never gets in either (no code typed)
    cmd, printed = token_command()
    conv = server.ssh(USER, {"password": enr.password, "code": ""},
                      "keyboard-interactive", command=cmd)
    assert conv.asked == ["password", "code"], server.why(conv)
    assert refused(conv, printed), server.why(conv)


def test_code_is_not_accepted_twice(host, sshd):
    server = sshd()
    enr = host.enrolled
    c = login_code(enr.secret)
    cmd, printed = token_command()
    conv = server.ssh(USER, {"password": enr.password, "code": c}, "keyboard-interactive",
                      command=cmd)
    assert logged_in(conv, printed, USER), server.why(conv)
    cmd, printed = token_command()
    conv = server.ssh(USER, {"password": enr.password, "code": c}, "keyboard-interactive",
                      command=cmd)
    assert conv.asked == ["password", "code"], server.why(conv)
    assert refused(conv, printed), server.why(conv)
    assert "That code was already used: wait for a new one." in conv.output, server.why(conv)


def test_key_then_code(host, sshd):
    server = sshd(key_first=True)
    enr = host.enrolled
    methods = "publickey,keyboard-interactive"
    # the authorized key, then only the code (the stack has no password any more)
    cmd, printed = token_command()
    conv = server.ssh(USER, {"code": login_code(enr.secret)}, methods,
                      key=host.client_key, command=cmd)
    assert conv.asked == ["code"], server.why(conv)
    assert logged_in(conv, printed, USER), server.why(conv)
    log = server.log()
    assert f"Partial publickey for {USER}" in log, server.why(conv)
    assert f"Accepted keyboard-interactive/pam for {USER}" in log, server.why(conv)

    # the key alone is not enough: a wrong code after it is refused
    cmd, printed = token_command()
    conv = server.ssh(USER, {"code": wrong_code(enr.secret)}, methods, key=host.client_key,
                      command=cmd)
    assert conv.asked == ["code"], server.why(conv)
    assert refused(conv, printed), server.why(conv)

    # without the authorized key: refused before any code is asked
    for key in (host.other_key, None):
        cmd, printed = token_command()
        conv = server.ssh(USER, {"code": login_code(enr.secret), "password": enr.password},
                          methods, key=key, command=cmd)
        assert conv.asked == [], server.why(conv)
        assert refused(conv, printed), server.why(conv)


def test_key_first_with_nullok(host, sshd):
    """pam/sshd's advice for key + code with nullok: pam_permit after pam_mfa lets users
    without a secret file in with their key alone; enrolled users still give a code."""
    server = sshd(key_first=True, extra=["nullok"], permit=True)
    enr = host.enrolled
    methods = "publickey,keyboard-interactive"
    cmd, printed = token_command()
    conv = server.ssh(USER2, {}, methods, key=host.client_key, command=cmd)
    assert conv.asked == [], server.why(conv)
    assert logged_in(conv, printed, USER2), server.why(conv)

    cmd, printed = token_command()
    conv = server.ssh(USER, {"code": wrong_code(enr.secret)}, methods, key=host.client_key,
                      command=cmd)
    assert conv.asked == ["code"], server.why(conv)
    assert refused(conv, printed), server.why(conv)

    cmd, printed = token_command()
    conv = server.ssh(USER, {"code": login_code(enr.secret)}, methods, key=host.client_key,
                      command=cmd)
    assert conv.asked == ["code"], server.why(conv)
    assert logged_in(conv, printed, USER), server.why(conv)

    # nullok as the stack's only auth module (no pam_permit): libpam refuses the user
    server.set_pam(["nullok"], permit=False)
    cmd, printed = token_command()
    conv = server.ssh(USER2, {}, methods, key=host.client_key, command=cmd)
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

    cmd, printed = token_command()
    conv = server.ssh(USER, {"password": enr.password, "code": backup}, "keyboard-interactive",
                      command=cmd)
    assert conv.asked == ["password", "code"], server.why(conv)
    assert refused(conv, printed), server.why(conv)
    assert "Backup code accepted" not in conv.output, server.why(conv)


def test_lockout_reaches_the_client(host, sshd):
    server = sshd(extra=["deny=2"])
    enr = host.enrolled
    outputs = []
    for _ in range(2):
        cmd, printed = token_command()
        conv = server.ssh(USER, {"password": enr.password, "code": wrong_code(enr.secret)},
                          "keyboard-interactive", command=cmd)
        assert conv.asked == ["password", "code"], server.why(conv)
        assert refused(conv, printed), server.why(conv)
        outputs.append(conv.output)
    assert LOCK_TEXT not in outputs[0], outputs[0]
    assert LOCK_TEXT in outputs[1], server.why(conv)

    # locked: the right code does not get in; the message comes before any code prompt
    cmd, printed = token_command()
    conv = server.ssh(USER, {"password": enr.password, "code": login_code(enr.secret)},
                      "keyboard-interactive", command=cmd)
    assert conv.asked == ["password"], server.why(conv)
    assert LOCK_TEXT in conv.output, server.why(conv)
    assert refused(conv, printed), server.why(conv)


def test_user_without_enrollment(host, sshd):
    server = sshd(extra=["nullok"])
    cmd, printed = token_command()
    conv = server.ssh(USER2, {"password": host.password2}, "keyboard-interactive", command=cmd)
    assert conv.asked == ["password"], server.why(conv)
    assert logged_in(conv, printed, USER2), server.why(conv)

    # without nullok the password alone is not enough
    server.set_pam([])
    cmd, printed = token_command()
    conv = server.ssh(USER2, {"password": host.password2, "code": "123456"},
                      "keyboard-interactive", command=cmd)
    assert conv.asked[:1] == ["password"], server.why(conv)
    assert refused(conv, printed), server.why(conv)


def test_a_remembered_host_is_not_asked_again_until_forgotten(host, sshd):
    """remember=: after a right code from 127.0.0.1 the same user from there gives only the
    password; `mfa-enroll forget`, run by the user, brings the code back."""
    server = sshd(extra=("remember=1h", "window=2"))
    enr = host.enrolled
    cmd, printed = token_command()
    conv = server.ssh(USER, {"password": enr.password, "code": login_code(enr.secret)},
                      "keyboard-interactive", command=cmd)
    assert conv.asked == ["password", "code"], server.why(conv)
    assert logged_in(conv, printed, USER), server.why(conv)
    # the root-owned state remembers the client's address
    state = (server.state_dir / USER).read_bytes()
    assert b"remember 127.0.0.1 " in state, state
    assert os.stat(server.state_dir / USER).st_uid == 0

    cmd, printed = token_command()
    conv = server.ssh(USER, {"password": enr.password}, "keyboard-interactive", command=cmd)
    assert conv.asked == ["password"], server.why(conv)
    assert logged_in(conv, printed, USER), server.why(conv)

    # the user revokes it from their own account (they cannot write the root-owned state)
    forget = run(["runuser", "-u", USER, "--", str(ENROLL), "forget"], check=False)
    assert forget.returncode == 0, (forget.stdout, forget.stderr)
    assert "forget before=" in enr.secret_file.read_text()
    cmd, printed = token_command()
    # a step newer than the one used above (window=2 accepts t+60)
    conv = server.ssh(USER, {"password": enr.password, "code": code(enr.secret, time.time() + 60)},
                      "keyboard-interactive", command=cmd)
    assert conv.asked == ["password", "code"], server.why(conv)
    assert logged_in(conv, printed, USER), server.why(conv)
