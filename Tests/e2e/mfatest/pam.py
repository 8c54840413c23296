"""One test's world (Env: nss_wrapper's users, a PAM confdir, a state dir, a captured syslog)
and authentications through pamdrive: what a run returns and what it logged."""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .secretfile import make_dirs, write_secret
from .system import answer_as_it_asks
from .totp import new_secret
from .world import ALICE_UID, BOB_UID, MODULE, NSS_WRAPPER, PAMDRIVE, PROMPT, SERVICE, SYSLOGCAP

PROMPT_MSG = ("PROMPT_ECHO_OFF", PROMPT)
LOCK_MSG_5MIN = ("ERROR_MSG", "Too many wrong codes. Try again in 5 minutes.")
# a wrong code that does not lock the user out yet is named as such
WRONG_MSG = ("ERROR_MSG", "Wrong code.")


def info(text: str) -> tuple:
    return ("TEXT_INFO", text)


def accepted_msg(left: int) -> tuple:
    """What the module says after a backup code was accepted, with `left` codes left."""
    if left <= 2:
        noun = "backup code" if left == 1 else "backup codes"
        return info(f"Backup code accepted. Only {left} {noun} left: "
                    "run 'mfa-enroll backup-codes' to make a new set.")
    return info(f"Backup code accepted. You have {left} backup codes left.")


@dataclass
class PamRun:
    result: str
    number: int
    messages: list = field(default_factory=list)   # [(style, text)]
    syslog: list = field(default_factory=list)     # lines captured during the run
    setcred: str | None = None
    acct: str | None = None
    direct_context: str | None = None
    stdout: str = ""
    stderr: str = ""
    returncode: int = 0

    @property
    def prompts(self) -> list:
        return [m for m in self.messages if m[0].startswith("PROMPT_")]

    def syslog_text(self) -> str:
        return "\n".join(self.syslog)

    def __str__(self) -> str:  # for assertion messages: assert ..., str(run)
        return (f"RESULT {self.result} ({self.number}); acct={self.acct}; setcred={self.setcred}; "
                f"messages={self.messages}; syslog={self.syslog}; stderr={self.stderr!r}")


@dataclass
class Parallel:
    """Logins started at once (Env.run_all)."""
    runs: list                   # PamRun of each, in the order started
    log: str                     # the syslog written meanwhile
    still_running: int           # how many were still running when the last had started


def parse_pamdrive(stdout: str) -> tuple:
    result, number, setcred, ctx, acct = None, None, None, None, None
    messages = []
    for line in stdout.split("\n"):
        if line.startswith("MSG "):
            parts = line.split(" ", 2)
            text = parts[2] if len(parts) > 2 else ""
            text = text.replace("\\n", "\n").replace("\\r", "\r")
            messages.append((parts[1], text))
        elif line.startswith("RESULT "):
            _, result, num = line.split(" ")
            number = int(num)
        elif line.startswith("SETCRED "):
            setcred = line.split(" ")[1]
        elif line.startswith("ACCT "):
            acct = line.split(" ")[1]
        elif line.startswith("DIRECT context="):
            ctx = line.split("=", 1)[1]
    return result, number, messages, setcred, ctx, acct


class Env:
    """One test's world: fake users, a PAM confdir, a state dir, a syslog file."""

    def __init__(self, base: Path):
        self.base = base
        self.confdir = base / "pam.d"
        self.state_dir = base / "state"
        self.syslog_path = base / "syslog.txt"
        self.passwd = base / "passwd"
        self.group = base / "group"
        self.homes = base / "home"
        self.sensitive: set[str] = set()   # secrets and typed codes: never in syslog
        # pamdrive calls setlocale(LC_ALL, ""), as login and su do: C unless a test says otherwise.
        self.locale: dict = {"LANG": "C"}

        self.confdir.mkdir()
        (self.confdir / "other").write_text("auth required pam_deny.so\n"
                                            "account required pam_deny.so\n")
        self.state_dir.mkdir(mode=0o700)
        self.syslog_path.touch()
        os.chmod(self.syslog_path, 0o666)   # writable after a setfsuid() too
        self.homes.mkdir(mode=0o755)
        self.users = {}
        for name, uid in (("alice", ALICE_UID), ("bob", BOB_UID)):
            home = self.homes / name
            home.mkdir()
            os.chown(home, uid, uid)
            os.chmod(home, 0o700)
            self.users[name] = (uid, home)
        self.passwd.write_text(
            "root:x:0:0:root:/root:/bin/sh\n"
            + "".join(f"{n}:x:{u}:{u}:{n.title()}:{h}:/bin/sh\n"
                      for n, (u, h) in self.users.items()))
        self.group.write_text(
            "root:x:0:\n" + "".join(f"{n}:x:{u}:\n" for n, (u, _) in self.users.items()))

    # -- users and files -------------------------------------------------
    def home(self, user: str = "alice") -> Path:
        return self.users[user][1]

    def uid(self, user: str = "alice") -> int:
        return self.users[user][0]

    def default_secret_path(self, user: str = "alice") -> Path:
        return self.home(user) / ".config" / "pam_mfa" / "secret"

    def secret_path(self, user: str = "alice") -> Path:
        """The per-test explicit secret location used by most tests."""
        return self.base / "secrets" / user / "secret"

    def write_secret(self, path=None, secret_b32: str | None = None, user: str = "alice",
                     **kw) -> tuple:
        """Write a secret file for user; returns (path, secret)."""
        if path is None:
            path = self.secret_path(user)
        if secret_b32 is None:
            secret_b32 = new_secret()
        self.remember(secret_b32)
        kw.setdefault("owner_uid", self.uid(user))
        parent = Path(path).parent
        if not (self.base / "secrets").exists():
            (self.base / "secrets").mkdir(mode=0o755)
        make_dirs(parent, kw["owner_uid"])
        return write_secret(path, secret_b32, **kw), secret_b32

    def remember(self, sensitive: str) -> None:
        if sensitive:
            self.sensitive.add(sensitive)

    # -- environment ----------------------------------------------------
    def env(self, extra_preload=()) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("NSS_WRAPPER", "PAM_WRAPPER", "LD_PRELOAD", "LC_", "LANG"))}
        env.update(self.locale)
        env["LD_PRELOAD"] = " ".join([NSS_WRAPPER, str(SYSLOGCAP), *extra_preload])
        env["NSS_WRAPPER_PASSWD"] = str(self.passwd)
        env["NSS_WRAPPER_GROUP"] = str(self.group)
        env["MFA_TEST_SYSLOG"] = str(self.syslog_path)
        return env

    def read_syslog(self) -> str:
        return self.syslog_path.read_text(errors="replace")

    # -- PAM ------------------------------------------------------------
    def module_args(self, module_args, add_state_dir: bool = True) -> list:
        if isinstance(module_args, str):
            args = module_args.split()
        else:
            args = list(module_args or [])
        if add_state_dir and not any(a.startswith("state_dir=") for a in args):
            args.append(f"state_dir={self.state_dir}")
        return args

    def write_service(self, lines, name: str = SERVICE) -> Path:
        path = self.confdir / name
        text = "".join(line + "\n" for line in lines)
        # Unchanged text is not rewritten: a pamdrive still starting may be reading it.
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        return path

    def pam_command(self, module_args=(), user: str | None = "alice", answers=(),
                    rhost: str | None = None, stack=None, direct: bool = False,
                    setcred: bool = False, add_state_dir: bool = True,
                    service: str = SERVICE, acct_mgmt: bool = False,
                    account=("account required pam_permit.so",)) -> list:
        """Write the service file and return the pamdrive command line for one
        authentication (the arguments are those of run_pam)."""
        args = self.module_args(module_args, add_state_dir)
        joined = " ".join(args)
        if direct:
            lines = ["auth required pam_echo.so PAMDRIVE_DIRECT_HOOK"]
        elif stack is not None:
            lines = [s.replace("{module}", str(MODULE)).replace("{args}", joined) for s in stack]
        else:
            lines = [f"auth required {MODULE} {joined}".rstrip()]
        lines += [s.replace("{module}", str(MODULE)) for s in account]
        self.write_service(lines, service)

        cmd = [str(PAMDRIVE), "--confdir", str(self.confdir), "--service", service]
        if user is not None:
            cmd += ["--user", user]
        if rhost is not None:
            cmd += ["--rhost", rhost]
        for a in answers:
            if a is None:
                cmd += ["--answer-null"]
            elif isinstance(a, bytes):
                cmd += ["--answer-hex", a.hex()]
                self._remember_answer(a.decode("latin-1"))
            else:
                cmd += ["--answer", a]
                self._remember_answer(a)
        if setcred:
            cmd += ["--setcred"]
        if acct_mgmt:
            cmd += ["--acct-mgmt"]
        if direct:
            cmd += ["--direct", str(MODULE) if direct is True else str(direct)]
            for a in args:
                cmd += ["--arg", a]
        return cmd

    def run_pam(self, module_args=(), user: str | None = "alice", answers=(),
                rhost: str | None = None, stack=None, direct: bool = False,
                setcred: bool = False, add_state_dir: bool = True,
                service: str = SERVICE, timeout: float = 30, prefix=(),
                **command_kw) -> PamRun:
        """Run one authentication through pamdrive.

        module_args: str or list of pam_mfa arguments (state_dir is added).
        answers: str (sent as is) or bytes (sent raw via --answer-hex) or None
                 (a NULL response).
        stack: list of auth lines for the service file; "{module}" is replaced
               by the module path and "{args}" by the arguments.  Default:
               "auth required {module} {args}".
        direct: call pam_sm_authenticate directly (raw return code); True
                means pam_mfa.so, a string names another module.
        prefix: a command that runs pamdrive (e.g. in a private mount namespace).
        """
        cmd = [*prefix] + self.pam_command(module_args, user=user, answers=answers, rhost=rhost,
                                        stack=stack, direct=direct, setcred=setcred,
                                        add_state_dir=add_state_dir, service=service, **command_kw)
        return self.run_command(cmd, timeout)

    def run_command(self, cmd: list, timeout: float = 30) -> PamRun:
        """Run one pamdrive command line; its result with the syslog lines it wrote."""
        before = self.syslog_size()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env(),
                              timeout=timeout, errors="replace")
        return pam_result(proc.stdout, proc.stderr, proc.returncode, self.syslog_lines(before))

    def spawn_pam(self, cmd: list, **popen_kw) -> subprocess.Popen:
        """Start a pamdrive command (from pam_command) without waiting for it;
        stdout and stderr are pipes unless given.  Finish it with pam_result."""
        popen_kw.setdefault("stdout", subprocess.PIPE)
        popen_kw.setdefault("stderr", subprocess.PIPE)
        popen_kw.setdefault("env", self.env())
        return subprocess.Popen(cmd, **popen_kw)

    def drive(self, cmd: list, answer, timeout: float = 30, **popen_kw) -> PamRun:
        """Run a pamdrive command line with --answer-stdin: answer(messages so far) gives the
        reply to each prompt as it comes (None closes stdin: the conversation fails)."""
        before = self.syslog_size()
        proc = self.spawn_pam(cmd + ["--answer-stdin"], stdin=subprocess.PIPE, **popen_kw)
        messages, seen = [], 0

        def replies_for(out: bytes):
            nonlocal seen
            lines = out.split(b"\n")[:-1]
            for raw in lines[seen:]:
                seen += 1
                line = raw.decode(errors="replace")
                if not line.startswith("MSG "):
                    continue
                parts = line.split(" ", 2)
                text = (parts[2] if len(parts) > 2 else "").replace("\\n", "\n")
                messages.append((parts[1], text))
                if parts[1].startswith("PROMPT_"):
                    reply = answer(list(messages))
                    if reply is not None:
                        self._remember_answer(reply)
                    yield reply

        out, err = answer_as_it_asks(proc, replies_for, timeout, "pamdrive")
        return pam_result(out, err, proc.returncode, self.syslog_lines(before))

    def run_all(self, cmds: list, timeout: float = 30) -> Parallel:
        """Start every pamdrive command line at once, then wait for them all."""
        before = self.syslog_size()
        procs = [self.spawn_pam(cmd) for cmd in cmds]
        still_running = sum(p.poll() is None for p in procs)
        runs = []
        try:
            for p in procs:
                out, err = p.communicate(timeout=timeout)
                runs.append(pam_result(out, err, p.returncode))
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        return Parallel(runs, self.syslog_since(before), still_running)

    # -- the captured syslog --------------------------------------------
    def syslog_size(self) -> int:
        """Where the syslog ends now: the start of what comes next (syslog_since)."""
        return self.syslog_path.stat().st_size

    def syslog_since(self, before: int) -> str:
        with open(self.syslog_path, "rb") as f:
            f.seek(before)
            return f.read().decode(errors="replace")

    def syslog_lines(self, before: int) -> list:
        return [line for line in self.syslog_since(before).split("\n") if line]

    def _remember_answer(self, a: str) -> None:
        # Only things that look like codes are checked against the log:
        # the garbage answers ("abc", "") could appear in any text.
        compact = a.replace(" ", "").split("\x00")[0]
        if re.fullmatch(r"\d{6,}", compact):
            self.sensitive.add(compact)
            if a != compact:
                self.sensitive.add(a.split("\x00")[0])

    def check_no_leaks(self) -> None:
        text = self.read_syslog()
        for s in sorted(self.sensitive):
            for line in text.split("\n"):
                assert s not in line, f"syslog line leaks a secret or code {s!r}: {line!r}"


def read_to_prompt(proc, deadline: float) -> bytes:
    """Reads pamdrive's output up to its prompt line; returns what it read."""
    buf = b""
    fd = proc.stdout.fileno()
    while b"MSG PROMPT_ECHO_OFF" not in buf and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
    return buf


def pam_result(stdout, stderr, returncode: int, syslog=()) -> PamRun:
    """A PamRun from one pamdrive's output (str or bytes); it must have ended normally."""
    if isinstance(stdout, bytes):
        stdout = stdout.decode(errors="replace")
    if isinstance(stderr, bytes):
        stderr = stderr.decode(errors="replace")
    stdout, stderr = stdout or "", stderr or ""
    result, number, messages, sc, ctx, acct = parse_pamdrive(stdout)
    assert returncode == 0, (
        f"pamdrive exited {returncode} (crash?)\nstdout:\n{stdout}\n"
        f"stderr:\n{stderr}")
    assert result is not None, f"no RESULT line\nstdout:\n{stdout}\nstderr:\n{stderr}"
    return PamRun(result=result, number=number, messages=messages, syslog=list(syslog),
                  setcred=sc, acct=acct, direct_context=ctx, stdout=stdout, stderr=stderr,
                  returncode=returncode)


def pam_lines(run: PamRun) -> list:
    """Syslog lines of the run that come from pam_mfa."""
    return [line for line in run.syslog if "pam_mfa" in line]


def mfa_lines(run_or_text) -> list:
    """The module's syslog lines of a run (or of a text)."""
    text = run_or_text if isinstance(run_or_text, str) else "\n".join(run_or_text.syslog)
    return [ln for ln in text.split("\n") if "pam_mfa(" in ln]


def syslog_has(run, needle: str) -> bool:
    """A syslog line of the run has needle (with --direct, libpam names the hook module)."""
    return any(needle in ln for ln in run.syslog)


def count_lines(text: str, needle: str) -> int:
    return sum(1 for ln in mfa_lines(text) if needle in ln)


def error_msgs(run) -> list:
    return [m for m in run.messages if m[0] == "ERROR_MSG"]


def sarg(env, user="alice") -> str:
    return f"secret={env.secret_path(user)}"


def template_arg(env) -> str:
    """A secret= that works for both alice and bob."""
    return f"secret={env.base}/secrets/${{USER}}/secret"


def write_conf(env, text: str, name: str = "pam_mfa.conf", mode: int = 0o644,
               owner: int = 0) -> Path:
    """A configuration file in the test's world (root's, 0644 unless told)."""
    path = env.base / name
    path.write_text(text)
    os.chown(path, owner, owner)
    os.chmod(path, mode)
    return path


class RealEnv(Env):
    """An Env for users from the real /etc/passwd: only the syslog shim is preloaded."""

    def env(self, extra_preload=()) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("NSS_WRAPPER", "PAM_WRAPPER", "LD_PRELOAD", "MFA_TEST"))}
        env.update(LANG="C", LC_ALL="C", MFA_TEST_SYSLOG=str(self.syslog_path),
                   LD_PRELOAD=" ".join([str(SYSLOGCAP), *extra_preload]))
        return env

    def run_stack(self, lines, user: str, answers=(), authtok: str | None = None, timeout=20):
        """One pam_authenticate through pamdrive with the given auth lines."""
        self.write_service([*lines, "account required pam_permit.so"])
        cmd = [str(PAMDRIVE), "--confdir", str(self.confdir), "--service", SERVICE,
               "--user", user]
        for a in answers:
            cmd += ["--answer", a]
        if authtok is not None:
            cmd += ["--authtok", authtok]
        return self.run_command(cmd, timeout)


def world(kind=Env):
    """A generator for a fixture: a fresh world of `kind` under /tmp, its syslog checked for
    leaks at the end, then removed."""
    base = Path(tempfile.mkdtemp(prefix="pam_mfa_e2e."))
    try:
        os.chmod(base, 0o755)
        e = kind(base)
        yield e
        e.check_no_leaks()
    finally:
        shutil.rmtree(base, ignore_errors=True)


# -- policy: groups and configuration files ---------------------------------------------------

PERMIT_AFTER = ["auth required {module} {args}", "auth required pam_permit.so"]


def add_groups(env, *lines: str) -> None:
    """More entries for nss_wrapper's group file (NAME:x:GID:MEMBERS)."""
    with open(env.group, "a") as f:
        for line in lines:
            f.write(line + "\n")


def standard_groups(env) -> None:
    add_groups(env, "mfa:x:5000:alice", "breakglass:x:5001:bob", "admins:x:5002:alice,bob")


def policy_conf(env, *extra, name="policy.conf"):
    """A configuration file with the test's secret template and state dir, plus extra lines."""
    text = f"secret = {env.base}/secrets/${{USER}}/secret\nstate_dir = {env.state_dir}\n"
    return write_conf(env, text + "".join(e + "\n" for e in extra), name=name)
