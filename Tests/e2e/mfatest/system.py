"""The real system: clean environments, commands, real users (useradd), conversations under a
pty (pexpect), answering a program on a pipe as it asks, and dpkg."""

from __future__ import annotations

import io
import os
import secrets
import select
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pexpect

TIMEOUT = 30


def clean_env(**extra) -> dict:
    """This process's environment without the test shims (nss_wrapper, pam_wrapper, the syslog
    capture), in the C locale, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NSS_WRAPPER", "PAM_WRAPPER", "LD_PRELOAD", "MFA_TEST"))}
    env.update({"LANG": "C", "LC_ALL": "C", **extra})
    return env


def run(cmd, check=True, timeout=60, **kw) -> subprocess.CompletedProcess:
    """cmd with text output captured (in clean_env() unless env= is given); check: exit 0."""
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


def kill9(proc) -> bool:
    """SIGKILL proc unless it has already been reaped; True if the signal was sent.
    (A finished but unreaped child is a zombie; its pid cannot be reused.)"""
    if proc.returncode is not None:
        return False
    try:
        os.kill(proc.pid, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False


# -- real users ----------------------------------------------------------------------------------


def user_exists(name: str) -> bool:
    return run(["getent", "passwd", name], check=False).returncode == 0


def passwd_entry(name: str) -> list:
    """The user's /etc/passwd fields."""
    return run(["getent", "passwd", name]).stdout.strip().split(":")


def home_of(name: str) -> Path:
    return Path(passwd_entry(name)[5])


def delete_user(name: str) -> str | None:
    """userdel -r, after ending whatever the user still runs (a locker's children, say);
    returns an error text, or None."""
    if not user_exists(name):
        return None
    run(["pkill", "-KILL", "-u", name], check=False)
    for _ in range(50):
        if run(["pgrep", "-u", name], check=False).returncode != 0:
            break
        time.sleep(0.1)
    proc = run(["userdel", "-r", name], check=False)
    if user_exists(name):
        return f"userdel -r {name} failed ({proc.returncode}): {proc.stderr}"
    return None


def create_user(name: str) -> str:
    """A real user with a home and a random password (a left-over of a killed earlier run is
    removed first); returns the password."""
    err = delete_user(name)
    assert err is None, err
    run(["useradd", "-m", "-s", "/bin/sh", name])
    password = "pw-" + secrets.token_urlsafe(12)
    run(["chpasswd"], input=f"{name}:{password}\n")
    return password


# -- conversations -------------------------------------------------------------------------------

PASSWORD_RE = r"[Pp]assword: ?"
CODE_RE = r"Verification code: ?"


@dataclass
class Conversation:
    asked: list                  # "password" / "code" / "<pattern>", in order
    output: str
    status: int | None           # exit status (-signal), None when it had to be killed
    seconds: float = 0.0         # from the start to the end of the output (or the kill)

    @property
    def ok(self) -> bool:
        """pamtester's success."""
        return self.status == 0 and "successfully authenticated" in self.output

    def __str__(self) -> str:
        return f"asked={self.asked} status={self.status}\n--- client output ---\n{self.output}"


def converse(argv: list, answers: dict, then=(), timeout: float = TIMEOUT,
             env: dict | None = None, hang_up: bool = False,
             send_delay: float | None = 0.05) -> Conversation:
    """Run argv under a pty and answer the password and code prompts from answers (each
    at most once; a prompt asked again, or not answered, ends the run: the program is killed,
    or with hang_up it gets an end of file and may end by itself).  `then` is a list of
    (regex, line): when regex shows up, line is sent (each once, in order).  send_delay: the
    pause before each answer (pexpect's delaybeforesend; the benchmark, which times the run,
    passes None for ssh, whose prompts are written after the terminal is set up)."""
    log = io.StringIO()
    start = time.perf_counter()
    child = pexpect.spawn(argv[0], [str(a) for a in argv[1:]], env=env or clean_env(),
                          encoding="utf-8", codec_errors="replace", timeout=timeout)
    child.delaybeforesend = send_delay
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
                if hang_up:
                    child.sendcontrol("d")
                    child.expect(pexpect.EOF)
                else:
                    killed = True
                break
            child.sendline(answers[kind])
    except pexpect.TIMEOUT:
        asked.append("TIMEOUT")
        killed = True
    finally:
        seconds = time.perf_counter() - start  # closing sleeps (delayafterclose): not counted
        child.close(force=True)
    status = None if killed else (
        child.exitstatus if child.exitstatus is not None else -child.signalstatus)
    return Conversation(asked, log.getvalue().replace("\r\n", "\n"), status, seconds)


def answer_as_it_asks(proc: subprocess.Popen, replies_for, timeout: float, what: str) -> tuple:
    """Reads proc's stdout to its end (within timeout); after each chunk, replies_for(all the
    output so far) gives the lines to send now (None closes stdin).  Returns (stdout, stderr)
    as bytes; proc is reaped and its pipes are closed whatever happens."""
    out = b""
    deadline = time.monotonic() + timeout
    try:
        fd = proc.stdout.fileno()
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"{what} did not finish: {out!r}"
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            out += chunk
            for reply in replies_for(out):
                if reply is None:
                    proc.stdin.close()
                else:
                    proc.stdin.write((reply + "\n").encode())
                    proc.stdin.flush()
        err = proc.stderr.read()
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for f in (proc.stdin, proc.stdout, proc.stderr):
            if f and not f.closed:
                try:
                    f.close()
                except BrokenPipeError:
                    pass
    return out, err


# -- dpkg ------------------------------------------------------------------------------------------


def _dpkg_owner(path: Path) -> str | None:
    proc = subprocess.run(["dpkg-query", "-S", str(path)], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if not line.startswith("diversion ") and line.endswith(f": {path}"):
            return line.split(":")[0].split(",")[0].strip()
    return None


def owning_package(path: Path) -> str | None:
    """dpkg's package for path, following alternatives and other links until one is owned."""
    for _ in range(10):
        # dpkg records a merged-/usr system's /bin and /lib files under either name.
        twin = Path(str(path)[4:]) if str(path).startswith("/usr/") else Path("/usr" + str(path))
        for candidate in (path, twin):
            owner = _dpkg_owner(candidate)
            if owner:
                return owner
        if not path.is_symlink():
            return None
        path = Path(os.path.normpath(path.parent / os.readlink(path)))
    return None
