"""A real screen locker: xsecurelock under Xvfb, run as an enrolled user, typed at with xdotool.

xsecurelock's PAM child (authproto_pam) runs as the user, so pam_mfa.so hands the code to the
setuid helper mfa_chkcode.  The stack is the usual one for a locker: the user's password
(pam_unix, which in turn runs unix_chkpwd), then the code.  A wrong code leaves the screen
locked; the right one ends xsecurelock with status 0 (it exits only when it unlocks).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from mfatest.desk import helper_lines
from mfatest.totp import code, fresh_step, wrong_code
from mfatest.world import MODULE

TIMEOUT = 60
PAM_SERVICE = Path("/etc/pam.d/pam_mfa-e2e-xlock")


@pytest.fixture
def display():
    """Xvfb on a display number it picks itself; the number as ":N"."""
    read, write = os.pipe()
    # -noreset: no server reset (refusing connections meanwhile) when the last client leaves
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-nolisten", "tcp", "-ac",
                               "-noreset", "-screen", "0", "800x600x24"], pass_fds=(write,),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as f:
            number = f.readline().strip()
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        server.kill()
        server.wait()


def xdotool(display: str, *args) -> None:
    subprocess.run(["xdotool", *args], env={"PATH": os.environ["PATH"], "DISPLAY": display},
                   check=True, timeout=TIMEOUT, capture_output=True)


def conversation(user: str) -> str | None:
    """The pid of xsecurelock's PAM child (authproto_pam) for `user`, if one runs."""
    proc = subprocess.run(["pgrep", "-u", user, "-x", "authproto_pam"], capture_output=True,
                          text=True)
    pids = proc.stdout.split()
    return pids[-1] if pids else None


def wake(display: str, user: str) -> str:
    """Wakes the locker's dialog with a key that types nothing until its PAM child runs; its
    pid."""
    deadline = time.time() + TIMEOUT
    while True:
        pid = conversation(user)
        if pid is not None:
            time.sleep(0.5)     # its first prompt reaches the dialog
            return pid
        assert time.time() < deadline, "xsecurelock started no PAM conversation"
        xdotool(display, "key", "Right")
        time.sleep(0.5)


def type_line(display: str, text: str) -> None:
    xdotool(display, "type", "--delay", "60", text)
    xdotool(display, "key", "Return")


def window_shown(display: str, name: str) -> bool:
    """A window of that name is mapped (xsecurelock's: "background", "saver", "auth")."""
    proc = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", f"^{name}$"],
                          capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], "DISPLAY": display})
    return proc.returncode == 0 and proc.stdout.strip() != ""


class Locker:
    """Starts xsecurelock as mfalocka on the display; each start is a fresh lock screen."""

    def __init__(self, display: str, password: str):
        self.display = display
        self.password = password
        self.proc: subprocess.Popen | None = None

    def start(self) -> subprocess.Popen:
        env = {"PATH": "/usr/bin:/bin", "DISPLAY": self.display, "HOME": "/home/mfalocka",
               "USER": "mfalocka", "LOGNAME": "mfalocka", "XSECURELOCK_NO_COMPOSITE": "1",
               "XSECURELOCK_PAM_SERVICE": PAM_SERVICE.name}
        self.proc = subprocess.Popen(["setpriv", "--reuid", "mfalocka", "--regid", "mfalocka",
                                      "--init-groups", "xsecurelock"], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        # locked once its full-screen windows are up (it grabs the keyboard before mapping them)
        deadline = time.time() + TIMEOUT
        while self.proc.poll() is None and not window_shown(self.display, "background"):
            assert time.time() < deadline, "xsecurelock did not lock the screen"
            time.sleep(0.3)
        assert self.proc.poll() is None, self.proc.stdout.read().decode(errors="replace")
        return self.proc

    def stop(self) -> None:
        """Ends the locker and its children (saver, dialog, PAM child)."""
        subprocess.run(["pkill", "-KILL", "-u", "mfalocka"], capture_output=True)
        if self.proc is not None:
            self.proc.wait(timeout=TIMEOUT)
        deadline = time.time() + TIMEOUT
        while subprocess.run(["pgrep", "-u", "mfalocka"], capture_output=True).returncode == 0:
            assert time.time() < deadline, "the locker's processes did not end"
            time.sleep(0.1)


@pytest.fixture
def locker(desk, display):
    password = "pw-locker-" + os.urandom(4).hex()
    subprocess.run(["chpasswd"], input=f"mfalocka:{password}\n", text=True, check=True,
                   timeout=TIMEOUT)
    PAM_SERVICE.write_text("auth requisite pam_unix.so\n"
                           f"auth required {MODULE} helper={desk.helper}\n"
                           "account required pam_permit.so\n")
    screen = Locker(display, password)
    try:
        yield screen
    finally:
        screen.stop()
        PAM_SERVICE.unlink(missing_ok=True)


def still_locked_after(proc, seconds: float) -> bool:
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        return True


def test_xsecurelock_unlocks_with_password_and_code_and_not_with_a_wrong_code(
        desk, locker, display):
    secret = desk.enroll("mfalocka")
    proc = locker.start()
    mark = desk.syslog.mark()
    wake(display, "mfalocka")
    type_line(display, locker.password)
    time.sleep(2)
    type_line(display, wrong_code(secret))
    assert still_locked_after(proc, 8), proc.stdout.read().decode(errors="replace")
    log = helper_lines(desk.syslog.since(mark))
    assert any("user=mfalocka service=pam_mfa-e2e-xlock: wrong code (failure 1 of 3)" in ln
               for ln in log), desk.syslog.lines[mark:]

    # a fresh lock screen (xsecurelock's own retry after a failure is its business)
    locker.stop()
    proc = locker.start()
    mark = desk.syslog.mark()
    wake(display, "mfalocka")
    type_line(display, locker.password)
    time.sleep(2)
    type_line(display, code(secret, fresh_step()))
    try:
        status = proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still locked: {desk.syslog.lines[mark:]}")
    assert status == 0, proc.stdout.read().decode(errors="replace")
    assert any("user=mfalocka service=pam_mfa-e2e-xlock: accepted totp code" in ln
               for ln in helper_lines(desk.syslog.since(mark))), desk.syslog.lines[mark:]
