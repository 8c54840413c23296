"""Running the built mfa-enroll: with the fake users, on a pipe (reading up to the otpauth URI,
then answering), or under a tty as root for a user."""

from __future__ import annotations

import os
import re
import select
import stat
import subprocess
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pexpect

from .secretfile import make_dirs, printed_codes, remember_codes
from .system import clean_env, home_of, passwd_entry
from .totp import code, fresh_step
from .world import ALICE_UID, ENROLL

TIMEOUT = 20
URI_RE = re.compile(rb"^(otpauth://totp/\S+)$", re.M)
OTP_URI_RE = re.compile(rb"^(otpauth://(?:totp|hotp)/\S+)$", re.M)
# The CLI's prompts all start with "Enter" (a line such as "Scan this QR code ... below):"
# must not pass for one when a read happens to end at its colon).
PROMPT_RE = r"Enter [^\r\n]*[Cc]ode[^\r\n]*: ?\Z"


def enroll_cmd(*args) -> list:
    return [str(ENROLL), *[str(a) for a in args]]


def as_user(uid: int) -> dict:
    """subprocess keywords that run a command as uid, with that uid as its only group."""
    return dict(user=uid, group=uid, extra_groups=[])


def as_alice() -> dict:
    return as_user(ALICE_UID)


def run_cli(env, *args, user_uid: int | None = None, timeout: float = TIMEOUT):
    """mfa-enroll with the fake users (nss_wrapper); as user_uid when given."""
    kw = as_user(user_uid) if user_uid is not None else {}
    return subprocess.run(enroll_cmd(*args), capture_output=True, text=True, env=env.env(),
                          timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def mode_of(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def read_until_uri(proc, deadline: float, uri_re=URI_RE) -> tuple:
    """Reads the CLI's stdout until the otpauth URI line; (uri or None at EOF, bytes read)."""
    buf = b""
    fd = proc.stdout.fileno()
    while True:
        m = uri_re.search(buf)
        if m:
            return m.group(1).decode(), buf
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no otpauth URI from mfa-enroll in time: {buf!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return None, buf
        buf += chunk


def uri_params(uri: str) -> dict:
    """The query of an otpauth URI as a dict."""
    q = urllib.parse.urlsplit(uri).query
    return {k: v[0] for k, v in urllib.parse.parse_qs(q, keep_blank_values=True).items()}


def uri_secret(uri: str) -> str:
    m = re.search(r"[?&]secret=([A-Z2-7]+)", uri)
    assert m, uri
    return m.group(1)


@dataclass
class Enrolled:
    """One enrollment by mfa-enroll: what it printed and where the secret went."""
    secret: str
    out: str
    err: str = ""
    rc: int = 0
    uri: str = ""
    codes: list = field(default_factory=list)   # backup codes as printed: "k7dq-2mxp-w9fh"
    path: Path | None = None                    # the secret file
    user: str = "alice"
    password: str = ""                          # a real user's
    steps: object = None                        # a real user's codes to come (test_package)

    @property
    def args(self) -> list:
        return [f"secret={self.path}"]

    def result(self) -> tuple:
        return self.uri, self.out, self.err, self.rc


def enroll_on_pipe(argv: list, answer_for=None, timeout: float = TIMEOUT, uri_re=URI_RE,
                   **popen) -> Enrolled:
    """mfa-enroll with its answer on a pipe: reads up to the otpauth URI, answers
    answer_for(uri) (default: the code of now, from oathtool) and reads to the end."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **popen)
    try:
        uri, buf = read_until_uri(proc, time.monotonic() + timeout, uri_re)
        assert uri, (buf, proc.stderr.read())
        answer = answer_for(uri) if answer_for else code(uri_secret(uri), fresh_step())
        out, err = proc.communicate((answer + "\n").encode(), timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = (buf + out).decode(errors="replace")
    return Enrolled(uri_secret(uri), out, err.decode(errors="replace"), proc.returncode, uri,
                    printed_codes(out))


def enroll_through_pipe(env, args, timeout=TIMEOUT, answer_for=None, uri_re=URI_RE,
                        **popen) -> Enrolled:
    """An enrollment in env's world (nss_wrapper) with answers on a pipe; the secret, the
    answer and the printed backup codes go to the leak check."""
    def answer(uri: str) -> str:
        env.remember(uri_secret(uri))
        reply = answer_for(uri) if answer_for else code(uri_secret(uri), fresh_step())
        env.remember(reply)
        return reply

    enr = enroll_on_pipe(enroll_cmd(*args), answer, timeout, uri_re, env=env.env(), **popen)
    remember_codes(env, enr.codes)
    return enr


def enroll_under_tty(args: list, env: dict, backup_codes: int = 0) -> tuple:
    """Root enrolls a user with mfa-enroll under a tty (the real CLI path), `args` naming the
    user and the configuration.  Returns (key, time of the confirming code, the output)."""
    child = pexpect.spawn(str(ENROLL), [*map(str, args), "--qr", "none", "--backup-codes",
                                        str(backup_codes)],
                          env=env, encoding="utf-8", codec_errors="replace", timeout=30,
                          dimensions=(200, 300))
    child.expect(PROMPT_RE)     # the prompt, never an earlier line
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


def secret_path(env, name: str = "secret") -> Path:
    """A file in alice's own directory (she owns it, 0700) under the test's world."""
    secrets = env.base / "secrets"
    if not secrets.exists():
        secrets.mkdir(mode=0o755)
    make_dirs(secrets / "alice", ALICE_UID)
    return secrets / "alice" / name


def enroll(env, *extra, path=None, expect_rc=0) -> Enrolled:
    """`mfa-enroll` run by alice with answers on a pipe: the secret from the printed URI, the
    first code from oathtool.  The printed backup codes are remembered for the leak check."""
    path = path or secret_path(env)
    enr = enroll_through_pipe(env, ["--secret-file", path, "--qr", "none", *extra], **as_alice())
    assert enr.rc == expect_rc, (enr.rc, enr.out, enr.err)
    enr.path = path
    return enr


def disable(env, conf, answers, uid=ALICE_UID):
    """`mfa-enroll disable` as uid, with answers on stdin."""
    return subprocess.run(enroll_cmd("--config", conf, "disable"),
                          input="".join(a + "\n" for a in answers), capture_output=True,
                          text=True, env=env.env(), timeout=TIMEOUT, **as_user(uid))


def enroll_user(name: str, password: str = "", world=None) -> Enrolled:
    """Root enrolls a real user: `mfa-enroll --user NAME --qr none`, the code answered on a pipe
    (oathtool), in a clean environment or in `world` (an Env, whose leak check then learns the
    secret and codes).  The secret file is the user's own, 0600; ten backup codes are shown."""
    args = ["--user", name, "--qr", "none"]
    if world is None:
        enr = enroll_on_pipe(enroll_cmd(*args), env=clean_env())
    else:
        enr = enroll_through_pipe(world, args)
    assert enr.rc == 0, (enr.rc, enr.out, enr.err)
    assert len(enr.codes) == 10, enr.out
    path = home_of(name) / ".config/pam_mfa/secret"
    st = os.lstat(path)
    uid = int(passwd_entry(name)[2])
    assert st.st_uid == uid and stat.S_IMODE(st.st_mode) == 0o600, (
        f"{path}: uid {st.st_uid} mode {oct(st.st_mode)}")
    enr.path, enr.user, enr.password = path, name, password
    return enr
