"""Shared fixtures for the pam_mfa end-to-end tests.

The tests drive the built artefacts (build/pam_mfa.so, build/mfa-enroll)
through real libpam, with fake users from nss_wrapper and syslog captured by
an LD_PRELOAD shim.  TOTP codes always come from oathtool, an independent
implementation; Python never computes a code itself.

Everything a test creates lives in its own directory under /tmp (made
world-traversable, because the module reads a user's secret file with that
user's privileges) and is removed when the test ends.
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"


def _stage() -> Path:
    """A world-readable directory for copies of the built files: tests run them as other users
    (and sshd's privilege-separated children open them), and the checkout may be where only
    root can enter, as in root's 0700 home.  Removed when the test run ends."""
    stage = Path(tempfile.mkdtemp(prefix="pam_mfa-e2e-bin."))
    os.chmod(stage, 0o755)
    atexit.register(shutil.rmtree, stage, True)
    return stage


STAGE = _stage()


def staged(built: Path) -> Path:
    """built's copy in STAGE (same name, same mode, owned by root), or STAGE's path for it."""
    copy = STAGE / built.relative_to(BUILD)
    if built.exists():
        copy.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        shutil.copy2(built, copy)
    return copy


# MFA_E2E_MODULE / MFA_E2E_ENROLL point the tests at other builds (e.g. installed ones).
MODULE = Path(os.environ["MFA_E2E_MODULE"]).resolve() if "MFA_E2E_MODULE" in os.environ \
    else staged(BUILD / "pam_mfa.so")
ENROLL = Path(os.environ["MFA_E2E_ENROLL"]).resolve() if "MFA_E2E_ENROLL" in os.environ \
    else staged(BUILD / "mfa-enroll")
PLUGIN = staged(BUILD / "pam_mfa" / "store_ldap.so")
# Built by `make test-tools` (make e2e-test and make test build them first).
PAMDRIVE = staged(BUILD / "test-tools" / "pamdrive")
SYSLOGCAP = staged(BUILD / "test-tools" / "syslogcap.so")

NSS_WRAPPER = "libnss_wrapper.so"
PAM_WRAPPER = "libpam_wrapper.so"

PROMPT = "Verification code: "
SERVICE = "mfa-test"

ALICE_UID = 4242
BOB_UID = 4243

# ---------------------------------------------------------------------------
# test tools (pamdrive, syslogcap.so)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def test_tools() -> None:
    for tool in (PAMDRIVE, SYSLOGCAP):
        if not tool.exists():
            pytest.fail(f"{tool.name} was not built: run make test-tools (make e2e-test does)")


@pytest.fixture(scope="session")
def module_so(test_tools) -> Path:
    if not MODULE.exists():
        pytest.fail(f"{MODULE} does not exist: build it first (make)")
    return MODULE


@pytest.fixture(scope="session")
def enroll_bin() -> Path:
    if not ENROLL.exists():
        pytest.fail(f"{ENROLL} does not exist: build it first (make)")
    return ENROLL


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


# ---------------------------------------------------------------------------
# TOTP helpers (oathtool is the reference)
# ---------------------------------------------------------------------------


def new_secret(nbytes: int = 20) -> str:
    """A random base32 secret without padding."""
    return base64.b32encode(os.urandom(nbytes)).decode().rstrip("=")


def code(secret_b32: str, t: float | None = None, digits: int = 6,
         algorithm: str = "SHA1", period: int = 30) -> str:
    """The TOTP code for time t (default now), computed by oathtool."""
    if t is None:
        t = time.time()
    alg = algorithm.lower()
    if alg not in ("sha1", "sha256", "sha512"):
        raise ValueError(algorithm)
    cmd = ["oathtool", f"--totp={alg}", "-d", str(digits), "-s", f"{period}s",
           "-b", secret_b32, "-N", f"@{int(t)}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    assert re.fullmatch(r"\d{%d}" % digits, out), out
    return out


def wrong_code(secret_b32: str, t: float | None = None, digits: int = 6,
               algorithm: str = "SHA1", period: int = 30) -> str:
    """A well-formed code that is not valid for any step within +-3 of t."""
    if t is None:
        t = time.time()
    valid = {code(secret_b32, t + k * period, digits, algorithm, period) for k in range(-3, 4)}
    n = int(code(secret_b32, t, digits, algorithm, period))
    while True:
        n = (n + 1) % (10 ** digits)
        candidate = str(n).zfill(digits)
        if candidate not in valid:
            return candidate


_LIBC = ctypes.CDLL(None)
_LIBC.time.restype = ctypes.c_long


def time_now() -> int:
    """time(2), as the module and mfa-enroll read the clock: for a lower bound on a time they
    record. int(time.time()) may be a second ahead of it for a few ms after each tick."""
    return _LIBC.time(None)


def fresh_step(period: int = 30, margin: float = 2.0) -> float:
    """Return the current time, first sleeping into the next step when fewer
    than `margin` seconds are left in the current one."""
    now = time.time()
    left = period - (now % period)
    if left < margin:
        time.sleep(left + 0.05)
        now = time.time()
    return now


def wait_next_step(t_used: float, period: int = 30) -> float:
    """Sleep until the step after the one containing t_used has started."""
    step = int(t_used) // period
    while int(time.time()) // period <= step:
        target = (step + 1) * period
        time.sleep(max(0.05, target - time.time() + 0.05))
    return fresh_step(period)


# ---------------------------------------------------------------------------
# secret files
# ---------------------------------------------------------------------------


def secret_text(secret_b32: str, algorithm: str = "SHA1", digits: int = 6,
                period: int = 30, name: str = "default") -> str:
    return (
        "# pam_mfa secret file; see pam_mfa.conf(5)\n"
        "pam_mfa 1\n"
        f"totp name={name} algorithm={algorithm} digits={digits} period={period} "
        f"secret={secret_b32}\n"
    )


def make_dirs(path: Path, owner_uid: int, mode: int = 0o700) -> None:
    """Create the missing directories of path (owned by owner_uid, mode)."""
    missing = []
    p = Path(path)
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir()
        os.chown(d, owner_uid, owner_uid)
        os.chmod(d, mode)


def write_secret(path, secret_b32: str, algorithm: str = "SHA1", digits: int = 6,
                 period: int = 30, owner_uid: int = ALICE_UID, mode: int = 0o600,
                 text: str | None = None) -> Path:
    """Write a secret file (or the raw `text`) owned by owner_uid with mode."""
    path = Path(path)
    make_dirs(path.parent, owner_uid)
    if text is None:
        text = secret_text(secret_b32, algorithm, digits, period)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chown(path, owner_uid, owner_uid)
    os.chmod(path, mode)
    return path


# ---------------------------------------------------------------------------
# running a PAM transaction
# ---------------------------------------------------------------------------


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
               if not k.startswith(("NSS_WRAPPER", "PAM_WRAPPER", "LD_PRELOAD"))}
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
        before = self.syslog_path.stat().st_size
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env(),
                              timeout=timeout, errors="replace")
        with open(self.syslog_path, "rb") as f:
            f.seek(before)
            new = f.read().decode(errors="replace")
        return pam_result(proc.stdout, proc.stderr, proc.returncode,
                          [line for line in new.split("\n") if line])

    def spawn_pam(self, cmd: list, **popen_kw) -> subprocess.Popen:
        """Start a pamdrive command (from pam_command) without waiting for it;
        stdout and stderr are pipes unless given.  Finish it with pam_result."""
        popen_kw.setdefault("stdout", subprocess.PIPE)
        popen_kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(cmd, env=self.env(), **popen_kw)

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


def _world():
    base = Path(tempfile.mkdtemp(prefix="pam_mfa_e2e."))
    try:
        os.chmod(base, 0o755)
        e = Env(base)
        yield e
        e.check_no_leaks()
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def env(test_tools, module_so):
    """A fresh world for one module test; checks the syslog for leaks at the end."""
    yield from _world()


@pytest.fixture
def stock_env(test_tools):
    """The same world without needing pam_mfa.so (for checking the test tools)."""
    yield from _world()


@pytest.fixture
def tmpdir_world():
    """A bare world-traversable temp dir, removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="pam_mfa_e2e."))
    try:
        os.chmod(base, 0o755)
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


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
