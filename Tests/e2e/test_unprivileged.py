"""Applications that do not run as root (screen lockers): pam_mfa.so runs mfa_chkcode.

The PAM client runs as a real, enrolled user (pamdrive or pamtester under pam_wrapper, dropped
with setpriv); the module finds it is not root and hands the check to the setuid-root helper,
staged here with mode 4755.  The helper reads only /etc/security/pam_mfa.conf, so each test
writes that file (and puts back whatever was there).  Its syslog lines go to /dev/log: a
datagram socket of the test's own, bound there for the test (or, where a syslog daemon owns
/dev/log, bound over it in a private mount namespace).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import (BUILD, ENROLL, MODULE, PAMDRIVE, PLUGIN, PROMPT, code, fresh_step, new_secret,
                      parse_pamdrive, staged, wait_next_step, write_secret, wrong_code)
from test_hardening import root_store  # noqa: F401 (a fixture)
from test_ldap import directory  # noqa: F401 (a fixture)

TIMEOUT = 60
SERVICE = "lock"
CONF = Path("/etc/security/pam_mfa.conf")
HELPER_BUILT = BUILD / "pam_mfa" / "mfa_chkcode"
LOCK_LINE = re.compile(r"refused: locked out for another")


def sh(cmd, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    proc = subprocess.run([str(c) for c in cmd], timeout=TIMEOUT, **kw)
    assert proc.returncode == 0, (cmd, proc.returncode, proc.stdout, proc.stderr)
    return proc


# The reader is a process of its own: a thread in the test process would make every later
# fork (pexpect's forkpty) happen in a multi-threaded process.
READER = """
import os, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sys.argv[1] + ".new")
os.chmod(sys.argv[1] + ".new", 0o666)
os.rename(sys.argv[1] + ".new", sys.argv[1])
with open(sys.argv[2], "a") as out:
    while True:
        data = sock.recv(65536).decode(errors="replace").replace("\\n", "\\\\n")
        out.write(data + "\\n")
        out.flush()
"""


class Syslog:
    """Every datagram sent to /dev/log (or `path`) while the test runs, one line each."""

    def __init__(self, path: Path, record: Path):
        self.path = path
        self.record = record
        record.touch()
        # It binds PATH.new and renames it into place: PATH exists only once it is read.
        self.reader = subprocess.Popen([sys.executable, "-c", READER, str(path), str(record)])
        deadline = time.time() + TIMEOUT
        while not os.path.exists(path):
            assert self.reader.poll() is None and time.time() < deadline, "no syslog reader"
            time.sleep(0.05)

    @property
    def lines(self) -> list[str]:
        return [line for line in self.record.read_text(errors="replace").split("\n") if line]

    def mark(self) -> int:
        return len(self.lines)

    def since(self, mark: int, settle: float = 0.3) -> list[str]:
        time.sleep(settle)   # datagrams already sent may still be in the socket
        return self.lines[mark:]

    def close(self) -> None:
        self.reader.kill()
        self.reader.wait()


class Desk:
    """A real enrolled user, the staged module and helper, pam_mfa.conf and a PAM service."""

    def __init__(self, base: Path, users: list[str], syslog: Syslog, prefix: list[str]):
        self.base = base
        self.syslog = syslog
        self.prefix = prefix
        self.state = base / "state"
        self.state.mkdir(mode=0o700)
        self.secrets = base / "secrets"
        self.secrets.mkdir(mode=0o755)
        self.confdir = base / "pam.d"
        self.confdir.mkdir(mode=0o755)
        (self.confdir / "other").write_text("auth required pam_deny.so\n")
        self.helper = staged(HELPER_BUILT)
        os.chown(self.helper, 0, 0)
        os.chmod(self.helper, 0o4755)
        self.users = {}
        for name in users:
            pw = sh(["getent", "passwd", name]).stdout.strip().split(":")
            self.users[name] = (int(pw[2]), int(pw[3]))
        self.write_conf()
        self.write_service()

    def write_conf(self, extra: str = "") -> None:
        CONF.parent.mkdir(parents=True, exist_ok=True)
        CONF.write_text(f"secret={self.secrets}/${{USER}}/secret\nstate_dir={self.state}\n"
                        f"deny=3\n{extra}")
        os.chmod(CONF, 0o644)

    def write_service(self, args: str = "", lines=None) -> None:
        helper = f"helper={self.helper}"
        if lines is None:
            lines = [f"auth required {MODULE} {helper} {args}".rstrip()]
        text = "".join(line.replace("{module}", str(MODULE)).replace("{helper}", helper) + "\n"
                       for line in lines)
        (self.confdir / SERVICE).write_text(text)

    def enroll(self, name: str) -> str:
        secret = new_secret()
        uid, _ = self.users[name]
        write_secret(self.secrets / name / "secret", secret, owner_uid=uid)
        return secret

    def command(self, as_user: str | None, user: str, answers) -> list[str]:
        cmd = [str(PAMDRIVE), "--confdir", str(self.confdir), "--service", SERVICE, "--user", user]
        for a in answers:
            cmd += ["--answer", a]
        if as_user is None:
            return self.prefix + cmd
        return self.prefix + ["setpriv", "--reuid", as_user, "--regid", as_user, "--init-groups"] + cmd

    def login(self, answers, as_user: str | None = "self", user: str | None = None):
        """One authentication; as_user "self" is the user themself, None is root."""
        user = user or next(iter(self.users))
        who = user if as_user == "self" else as_user
        mark = self.syslog.mark()
        proc = subprocess.run(self.command(who, user, answers), capture_output=True, text=True,
                              timeout=TIMEOUT, env={"PATH": os.environ["PATH"]})
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        result, _, messages, *_ = parse_pamdrive(proc.stdout)
        return result, messages, self.syslog.since(mark)


@pytest.fixture
def syslog():
    """A socket at /dev/log, or over it in a private mount namespace (the prefix to use)."""
    with tempfile.TemporaryDirectory(prefix="pam_mfa-syslog.") as tmp:
        os.chmod(tmp, 0o755)
        record = Path(tmp) / "lines"
        if os.path.lexists("/dev/log"):
            log = Syslog(Path(tmp) / "log", record)
            prefix = ["unshare", "-m", "sh", "-c",
                      f'mount --bind {tmp}/log /dev/log && exec "$@"', "sh"]
        else:
            log = Syslog(Path("/dev/log"), record)
            prefix = []
        try:
            yield log, prefix
        finally:
            log.close()
            if not prefix:
                os.unlink("/dev/log")


def remove_user(name: str) -> None:
    """userdel -r, after ending whatever the user still runs (a locker's children, say)."""
    subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True, timeout=TIMEOUT)
    for _ in range(50):
        if subprocess.run(["pgrep", "-u", name], capture_output=True).returncode != 0:
            break
        time.sleep(0.1)
    subprocess.run(["userdel", "-r", name], capture_output=True, timeout=TIMEOUT)


def make_user(name: str) -> None:
    remove_user(name)
    sh(["useradd", "-m", "-s", "/bin/sh", name])


@pytest.fixture
def desk(syslog, module_so):
    if not HELPER_BUILT.exists():
        pytest.fail(f"{HELPER_BUILT} was not built: run make build")
    log, prefix = syslog
    names = ["mfalocka", "mfalockb"]
    saved = CONF.read_bytes() if CONF.exists() else None
    base = Path(tempfile.mkdtemp(prefix="pam_mfa-lock."))
    os.chmod(base, 0o755)
    try:
        for name in names:
            make_user(name)
        yield Desk(base, names, log, prefix)
    finally:
        for name in names:
            remove_user(name)
        if saved is None:
            CONF.unlink(missing_ok=True)
        else:
            CONF.write_bytes(saved)
        shutil.rmtree(base, ignore_errors=True)


def helper_lines(lines) -> list[str]:
    return [line for line in lines if "mfa_chkcode[" in line]


def test_a_user_unlocks_with_a_right_code_and_not_with_a_wrong_one(desk):
    secret = desk.enroll("mfalocka")
    result, messages, log = desk.login([code(secret, fresh_step())])
    assert result == "PAM_SUCCESS", (messages, log)
    assert ("PROMPT_ECHO_OFF", PROMPT) in messages, messages
    accepted = helper_lines(log)
    assert any("user=mfalocka service=lock: accepted totp code" in ln for ln in accepted), log
    # the helper wrote root's state, which the user can neither read nor write
    state = desk.state / "mfalocka"
    assert state.is_file() and state.stat().st_uid == 0, list(desk.state.iterdir())
    assert stat.S_IMODE(state.stat().st_mode) & 0o077 == 0, oct(state.stat().st_mode)

    result, messages, log = desk.login([wrong_code(secret)])
    assert result == "PAM_AUTH_ERR", (messages, log)
    assert any(style == "ERROR_MSG" and "wrong" in text.lower() for style, text in messages), messages
    assert any("wrong code (failure 1 of 3)" in ln for ln in helper_lines(log)), log
    for line in log:
        assert secret not in line


def test_replays_are_refused_across_root_and_helper_logins(desk):
    secret = desk.enroll("mfalocka")
    t = fresh_step()
    first = code(secret, t)
    result, messages, _ = desk.login([first], as_user=None)
    assert result == "PAM_SUCCESS", messages
    result, messages, log = desk.login([first])
    assert result == "PAM_AUTH_ERR", (messages, log)
    assert any("replay" in ln for ln in helper_lines(log)), (log, desk.syslog.lines)

    t2 = wait_next_step(t)
    second = code(secret, t2)
    result, messages, log = desk.login([second])
    assert result == "PAM_SUCCESS", (messages, log)
    result, messages, log = desk.login([second], as_user=None)
    assert result == "PAM_AUTH_ERR", (messages, log)
    assert any("replay" in ln for ln in log), log


def test_asking_about_another_user_is_refused_and_logged(desk):
    secret_b = desk.enroll("mfalockb")
    desk.enroll("mfalocka")
    before = sorted(p.name for p in desk.state.iterdir())
    result, messages, log = desk.login([code(secret_b, fresh_step())], as_user="mfalocka",
                                       user="mfalockb")
    assert result == "PAM_AUTH_ERR", (messages, log)
    uid_a = desk.users["mfalocka"][0]
    assert any(f"user=mfalockb service=lock: asked by uid {uid_a}, who is not this user; refused" in ln
               for ln in helper_lines(log)), log
    # nothing about the other user was read or counted
    assert sorted(p.name for p in desk.state.iterdir()) == before


def run_helper_as(desk, user: str, argv, env=None, input_bytes=b""):
    """The helper run directly by `user`, with exactly `env` (set after the drop to the user)."""
    env = env if env is not None else {"PATH": "/usr/bin:/bin"}
    mark = desk.syslog.mark()
    proc = subprocess.run(desk.prefix + ["setpriv", "--reuid", user, "--regid", user, "--init-groups",
                                         "env", "-i", *(f"{k}={v}" for k, v in env.items()),
                                         str(desk.helper), *argv],
                          input=input_bytes, capture_output=True, timeout=TIMEOUT,
                          env={"PATH": "/usr/bin:/bin"})
    return proc, desk.syslog.since(mark)


def test_the_helper_refuses_misuse_without_leaking_or_crashing(desk, tmp_path):
    secret = desk.enroll("mfalocka")
    right = code(secret, fresh_step())
    # a code in argv
    proc, log = run_helper_as(desk, "mfalocka", ["mfalocka", SERVICE, right])
    assert proc.returncode == 1, proc
    assert proc.stdout == b"" and proc.stderr == b""
    assert any("inappropriate use by uid" in ln for ln in helper_lines(log)), log
    assert not any(right in ln for ln in log), log

    # a hostile environment: a preloaded library would leave a mark, PATH points elsewhere
    mark_file = tmp_path / "preloaded"
    evil = tmp_path / "evil.c"
    # (env, run as the user, loads it too: only a root process leaves the mark)
    evil.write_text('#include <stdio.h>\n#include <unistd.h>\n'
                    '__attribute__((constructor)) static void f(void) { if (geteuid() != 0) return;'
                    f' FILE *m = fopen("{mark_file}", "w"); if (m) fclose(m); }}\n')
    sh(["cc", "-shared", "-fPIC", "-o", tmp_path / "evil.so", evil])
    os.chmod(tmp_path, 0o755)
    hostile = {"LD_PRELOAD": str(tmp_path / "evil.so"), "LD_LIBRARY_PATH": str(tmp_path),
               "PATH": f"{tmp_path}:/usr/bin:/bin", "GCONV_PATH": str(tmp_path),
               "MALLOC_CHECK_": "3", "TZ": "../../../etc/shadow"}
    frame = b"a" + len(right).to_bytes(2, "big") + right.encode()
    proc, log = run_helper_as(desk, "mfalocka", ["mfalocka", SERVICE], env=hostile,
                              input_bytes=frame)
    assert proc.returncode in (0, 1), proc   # an exit, not a signal
    assert not mark_file.exists(), "LD_PRELOAD reached the setuid helper"
    # the helper spoke only frames on stdout, nothing on stderr
    assert proc.stderr == b"", proc.stderr
    assert proc.stdout[:1] == b"p", proc.stdout

    # a closed stdin
    proc = subprocess.run(desk.prefix + ["setpriv", "--reuid", "mfalocka", "--regid", "mfalocka",
                                         "--init-groups", "sh", "-c",
                                         f'exec "$0" mfalocka {SERVICE} <&-', str(desk.helper)],
                          capture_output=True, timeout=TIMEOUT)
    assert proc.returncode == 1, proc
    # another user's name, directly
    proc, log = run_helper_as(desk, "mfalocka", ["mfalockb", SERVICE], input_bytes=frame)
    assert proc.returncode == 1, proc
    assert any("user=mfalockb" in ln and "who is not this user; refused" in ln
               for ln in helper_lines(log)), log
    for line in log:
        assert secret not in line and right not in line


def parallel(desk, cmd, n=20):
    """n logins at once; each one's result and messages."""
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={"PATH": os.environ["PATH"]}) for _ in range(n)]
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=TIMEOUT)
            assert p.returncode == 0, (out, err)
            result, _, messages, *_ = parse_pamdrive(out)
            results.append((result, [text for _, text in messages]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return results


def test_parallel_wrong_codes_get_exactly_deny_tries_like_root_logins(desk):
    counts = {}
    for name, as_user in (("mfalocka", "mfalocka"), ("mfalockb", None)):
        secret = desk.enroll(name)
        mark = desk.syslog.mark()
        runs = parallel(desk, desk.command(as_user, name, [wrong_code(secret)]))
        assert [result for result, _ in runs] == ["PAM_AUTH_ERR"] * 20, runs
        # the helper's lockout message reaches the user through the module
        told = sum(any(t.startswith("Too many wrong codes.") for t in texts) for _, texts in runs)
        assert told == 18, runs      # the third failure locks; the 17 after it are refused
        log = [ln for ln in desk.syslog.since(mark, settle=1.0) if f"user={name}" in ln]
        counts[name] = (sum("wrong code (failure" in ln for ln in log),
                        sum(bool(LOCK_LINE.search(ln)) for ln in log))
        assert counts[name] == (3, 17), (name, [ln for ln in log if not LOCK_LINE.search(ln)], len(log))
    assert counts["mfalocka"] == (3, 17), counts
    assert counts["mfalockb"] == counts["mfalocka"], counts


def test_line_arguments_the_helper_would_not_see_are_a_configuration_error(desk):
    secret = desk.enroll("mfalocka")
    desk.write_service("window=3")
    result, messages, log = desk.login([code(secret, fresh_step())])
    assert result == "PAM_SERVICE_ERR", (messages, log)
    assert any("configuration error: window on this stack line" in ln for ln in log), log


def test_nullok_passes_a_user_without_enrollment_and_enroll_at_login_is_refused(desk):
    desk.write_service(lines=["auth required {module} {helper} nullok", "auth required pam_permit.so"])
    result, messages, log = desk.login([])
    assert result == "PAM_SUCCESS", (messages, log)
    assert any("not enrolled" in ln and "nullok: no code asked" in ln for ln in helper_lines(log)), log

    desk.write_conf("enroll=login\n")
    result, messages, log = desk.login([])
    assert result == "PAM_AUTH_ERR", (messages, log)
    assert any("cannot be set up here" in text for _, text in messages), messages
    assert not (desk.secrets / "mfalocka").exists()


def test_a_helper_without_the_setuid_bit_denies_and_says_why(desk):
    secret = desk.enroll("mfalocka")
    os.chmod(desk.helper, 0o755)
    result, messages, log = desk.login([code(secret, fresh_step())])
    assert result == "PAM_AUTH_ERR", (messages, log)
    assert any("must be installed setuid root" in ln for ln in helper_lines(log)), log
    assert any("gave no verdict" in ln for ln in log), log


def test_pamtester_under_pam_wrapper_as_the_user(desk):
    secret = desk.enroll("mfalocka")
    env = {"PATH": os.environ["PATH"]}
    # pam_wrapper is preloaded only after the drop to the user: preloaded into setpriv (root),
    # it would make a /tmp/pam.X directory that nothing removes, setpriv being replaced by exec
    cmd = desk.prefix + ["setpriv", "--reuid", "mfalocka", "--regid", "mfalocka", "--init-groups",
                         "env", "LD_PRELOAD=libpam_wrapper.so", "PAM_WRAPPER=1",
                         f"PAM_WRAPPER_SERVICE_DIR={desk.confdir}",
                         "pamtester", SERVICE, "mfalocka", "authenticate"]
    proc = subprocess.run(cmd, input=code(secret, fresh_step()) + "\n", capture_output=True,
                          text=True, timeout=TIMEOUT, env=env)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "successfully authenticated" in proc.stdout + proc.stderr
    proc = subprocess.run(cmd, input=wrong_code(secret) + "\n", capture_output=True, text=True,
                          timeout=TIMEOUT, env=env)
    assert proc.returncode != 0 and "Authentication failure" in proc.stdout + proc.stderr, proc


def test_the_callers_limits_do_not_reach_the_helper(desk):
    """Soft limits of one byte of file size (every state write would fail half-way) and one
    second of CPU: the helper sets its own, and the login works.  (A lowered hard limit binds
    where root lacks CAP_SYS_RESOURCE, as in containers: then the login fails, closed.)"""
    secret = desk.enroll("mfalocka")
    cmd = desk.command("mfalocka", "mfalocka", [code(secret, fresh_step())])
    at = cmd.index("setpriv")
    cmd = cmd[:at] + ["prlimit", "--fsize=1:unlimited", "--cpu=1:unlimited",
                                 "--core=unlimited", "--"] + cmd[at:]
    mark = desk.syslog.mark()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT,
                          env={"PATH": os.environ["PATH"]})
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert parse_pamdrive(proc.stdout)[0] == "PAM_SUCCESS", (proc.stdout, desk.syslog.since(mark))


def test_the_callers_terminal_cannot_stop_or_interrupt_the_helper(desk):
    """The helper in the foreground of a terminal the user controls (stdin a pipe, so it is not
    refused as a person): ^C, ^Z and ^\\ from the terminal reach it, and it runs on."""
    import pexpect
    desk.enroll("mfalocka")
    script = f"sleep 60 | exec {desk.helper} mfalocka {SERVICE}"
    child = pexpect.spawn("setpriv", ["--reuid", "mfalocka", "--regid", "mfalocka", "--init-groups",
                                      "sh", "-c", script], env={"PATH": "/usr/bin:/bin"},
                          timeout=TIMEOUT)
    try:
        child.expect("Verification code: ")
        helpers = helper_processes(desk)
        assert len(helpers) == 1, helpers
        status = helpers[0] / "status"
        for key in ("c", "z", "\\"):
            child.sendcontrol(key)
        time.sleep(1)
        state = next(ln for ln in status.read_text().splitlines() if ln.startswith("State:"))
        assert "S (sleeping)" in state, state     # not stopped (T), not gone
    finally:
        child.terminate(force=True)
        for p in helper_processes(desk):
            try:
                os.kill(int(p.name), 9)
            except OSError:
                pass


def helper_processes(desk) -> list[Path]:
    """/proc entries of running copies of the staged helper."""
    found = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and os.readlink(p / "exe") == str(desk.helper):
                found.append(p)
        except OSError:
            pass
    return found


def enroll_with_cli(user: str, backup_codes: int = 0) -> tuple:
    """Root enrolls `user` with mfa-enroll and /etc/security/pam_mfa.conf, as an admin would
    (into whatever store the file names). Returns (key, time of the confirming code, output)."""
    import pexpect
    child = pexpect.spawn(str(ENROLL), ["--user", user, "--qr", "none", "--backup-codes",
                                        str(backup_codes)],
                          env={"PATH": os.environ["PATH"]}, encoding="utf-8",
                          codec_errors="replace", timeout=TIMEOUT, dimensions=(200, 300))
    child.expect(r"Enter [^\r\n]*[Cc]ode[^\r\n]*: ?\Z")
    out = child.before + child.after
    m = re.search(r"secret=([A-Z2-7]+)", out)
    assert m, out
    t = fresh_step(margin=5)
    child.sendline(code(m.group(1), t))
    child.expect(pexpect.EOF)
    out += child.before
    child.close()
    assert child.exitstatus == 0, out
    return m.group(1), t, out.replace("\r\n", "\n")


def test_a_backup_code_works_once_through_the_helper_and_says_how_many_are_left(  # noqa: F811
        desk, root_store):
    from test_ldap import printed_backup_codes
    desk.write_conf(f"secret={root_store}/${{USER}}\n")
    _, _, out = enroll_with_cli("mfalocka", backup_codes=2)
    first = printed_backup_codes(out)[0]
    # a root-owned store: the user cannot read their secret, the helper can
    secret_file = root_store / "mfalocka"
    assert secret_file.stat().st_uid == 0 and stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    result, messages, log = desk.login([first])
    assert result == "PAM_SUCCESS", (messages, log)
    assert any("Backup code accepted" in text and "1" in text for _, text in messages), messages
    assert any("accepted backup code (1 left)" in ln for ln in helper_lines(log)), log
    result, messages, log = desk.login([first], as_user=None)
    assert result == "PAM_AUTH_ERR", (messages, log)


def test_store_ldap_through_the_helper_uses_the_hosts_credentials(desk, directory):  # noqa: F811
    cert, key = directory.host_cert("host-a")
    # the host's key is root's alone: the user could never reach the directory as the host
    assert key.stat().st_uid == 0 and stat.S_IMODE(key.stat().st_mode) & 0o077 == 0
    desk.write_conf(f"store=ldap\nldap_uri={directory.uri}\nldap_base={directory.base}\n"
                    f"ldap_ca={directory.ca}\nstore_plugin={PLUGIN}\nldap_cert={cert}\n"
                    f"ldap_key={key}\nldap_timeout=5\n")
    secret, used, _ = enroll_with_cli("mfalocka")
    t = wait_next_step(used)
    result, messages, log = desk.login([code(secret, t)])
    assert result == "PAM_SUCCESS", (messages, log)
    assert any("user=mfalocka service=lock: accepted totp code" in ln for ln in helper_lines(log)), log
    # and it is the directory's replay watermark: a root login on this host refuses the code
    result, messages, log = desk.login([code(secret, t)], as_user=None)
    assert result == "PAM_AUTH_ERR", (messages, log)
