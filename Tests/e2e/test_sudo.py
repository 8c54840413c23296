"""pam_mfa in the real sudo, end to end.

/etc/pam.d/sudo is replaced by pam/sudo with the built module and a private
state_dir, /etc/sudoers.d/mfa-test lets a real, enrolled user run anything
with sudo, and that user runs sudo under a pty (pexpect): the password, then
the code.  A run only counts when the command really ran as root.

Everything is undone at the end, also when a test fails: /etc/pam.d/sudo is
restored byte for byte (with its mode and owner), /etc/sudoers.d/mfa-test is
removed, the user is deleted with its home, and sudo's files for the user
(timestamp, lecture mark) go.  A copy of the original /etc/pam.d/sudo is kept
in /var/tmp while the tests run, so that a killed run is repaired by the next.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from mfatest.cli import enroll_user
from mfatest.system import Conversation, clean_env, converse, create_user, delete_user, run
from mfatest.totp import next_step_code, wrong_code
from mfatest.world import MODULE, REPO

USER = "mfasudo"
PAM_SUDO = Path("/etc/pam.d/sudo")
SUDOERS = Path("/etc/sudoers.d/mfa-test")
SAVED = Path("/var/tmp/pam_mfa-e2e-sudo.saved")
MARKER = "# pam_mfa e2e test (test_sudo.py): the original is in " + str(SAVED)
SUDO_FILES = [Path("/run/sudo/ts") / USER, Path("/var/lib/sudo/lectured") / USER]
SRC = REPO / "pam/sudo"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_atomically(path: Path, data: bytes, mode: int, uid: int, gid: int) -> None:
    tmp = path.with_name(f".{path.name}.mfa-e2e-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chown(tmp, uid, gid)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def repair_killed_run() -> None:
    """An earlier run killed before its cleanup: put its saved original back."""
    if SAVED.exists():
        if PAM_SUDO.exists() and MARKER in PAM_SUDO.read_text(errors="replace"):
            st = os.stat(PAM_SUDO)
            write_atomically(PAM_SUDO, SAVED.read_bytes(), 0o644, st.st_uid, st.st_gid)
        SAVED.unlink()
    if SUDOERS.exists():
        SUDOERS.unlink()
    err = delete_user(USER)
    assert err is None, err


def sudo_stack(state_dir: Path) -> str:
    """pam/sudo with the module's full path and a private state dir."""
    out, n = [MARKER], 0
    for line in SRC.read_text().split("\n"):
        words = line.split()
        if words and not words[0].startswith("#") and "pam_mfa.so" in words:
            assert words[0] == "auth", line
            line = line.replace("pam_mfa.so", f"{MODULE} state_dir={state_dir}")
            n += 1
        out.append(line)
    assert n == 1, f"pam/sudo should have one pam_mfa line:\n{SRC.read_text()}"
    return "\n".join(out)


@pytest.fixture(scope="module")
def sudo_world():
    """(the enrolled user, temp dir) with sudoers.d/mfa-test in place; /etc/pam.d/sudo is
    saved here and restored at the end."""
    repair_killed_run()
    original = PAM_SUDO.read_bytes()
    st = os.stat(PAM_SUDO)
    meta = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    existed = {p: p.exists() for p in SUDO_FILES}
    errors = []
    base = Path(tempfile.mkdtemp(prefix="pam_mfa_sudo."))
    try:
        write_atomically(SAVED, original, 0o600, 0, 0)
        os.chmod(base, 0o755)
        password = create_user(USER)
        enrolled = enroll_user(USER, password)

        candidate = base / "sudoers"
        candidate.write_text(f"Defaults:{USER} passwd_tries=1, lecture=never, passprompt=\"Password: \"\n"
                             f"{USER} ALL=(ALL) ALL\n")
        os.chmod(candidate, 0o440)
        run(["visudo", "-cf", candidate])
        shutil.copyfile(candidate, SUDOERS)
        os.chmod(SUDOERS, 0o440)
        run(["visudo", "-cf", SUDOERS])
        run(["visudo", "-c"])
        yield enrolled, base
    finally:
        try:
            write_atomically(PAM_SUDO, original, *meta)
            now = os.stat(PAM_SUDO)
            if (PAM_SUDO.read_bytes() != original
                    or (stat.S_IMODE(now.st_mode), now.st_uid, now.st_gid) != meta):
                errors.append(f"{PAM_SUDO} is not as before")
            else:
                SAVED.unlink(missing_ok=True)
        except OSError as e:
            errors.append(f"restoring {PAM_SUDO}: {e} (the original is in {SAVED})")
        try:
            SUDOERS.unlink(missing_ok=True)
        except OSError as e:
            errors.append(f"removing {SUDOERS}: {e}")
        err = delete_user(USER)
        if err:
            errors.append(err)
        for p in SUDO_FILES:
            if not existed[p] and (p.exists() or p.is_symlink()):
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink()
        shutil.rmtree(base, ignore_errors=True)
    assert not errors, "\n".join(errors)


@pytest.fixture
def stack(sudo_world):
    """/etc/pam.d/sudo made from pam/sudo with a fresh state dir for this test."""
    enrolled, base = sudo_world
    state_dir = Path(tempfile.mkdtemp(prefix="state.", dir=base))
    os.chmod(state_dir, 0o700)
    text = sudo_stack(state_dir)
    st = os.stat(PAM_SUDO)
    write_atomically(PAM_SUDO, text.encode(), 0o644, st.st_uid, st.st_gid)
    assert PAM_SUDO.read_text() == text
    return enrolled, text


def sudo_as_user(answers: dict) -> tuple:
    """USER runs `sudo -k` with a command that prints a token and root's uid; returns
    (Conversation, what the command prints when it ran as root).  No -p: sudo would show
    its prompt for every PAM prompt; the sudoers file sets passprompt "Password: " instead,
    under which sudo shows PAM's own prompts."""
    tok = secrets.token_hex(8)
    argv = ["runuser", "-u", USER, "--", "sudo", "-k",
            "sh", "-c", f"echo SUDO-$(id -u)-{tok}"]
    conv = converse(argv, answers, env=clean_env())
    return conv, f"SUDO-0-{tok}"


def why(conv: Conversation, text: str) -> str:
    return f"{conv}\n--- {PAM_SUDO} ---\n{text}"


def test_sudo_asks_password_then_code(stack):
    enr, text = stack
    conv, printed = sudo_as_user({"password": enr.password, "code": next_step_code(enr.secret)})
    assert conv.asked == ["password", "code"], why(conv, text)
    assert conv.status == 0 and printed in conv.output, why(conv, text)


def test_sudo_refuses_a_wrong_code(stack):
    enr, text = stack
    conv, printed = sudo_as_user({"password": enr.password, "code": wrong_code(enr.secret)})
    assert conv.asked == ["password", "code"], why(conv, text)
    assert printed not in conv.output and "SUDO-0-" not in conv.output, why(conv, text)
    assert conv.status == 1 and "incorrect password attempt" in conv.output, why(conv, text)


def test_sudo_wrong_password_never_reaches_the_code(stack):
    enr, text = stack
    conv, printed = sudo_as_user({"password": enr.password + "x",
                                  "code": next_step_code(enr.secret)})
    assert conv.asked == ["password"], why(conv, text)
    assert conv.status == 1 and printed not in conv.output, why(conv, text)
    assert "incorrect password attempt" in conv.output, why(conv, text)
