"""The world of the setuid helper (mfa_chkcode): its syslog lines captured from /dev/log, real
enrolled users, the staged module and helper, /etc/security/pam_mfa.conf and a PAM service."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from .pam import parse_pamdrive
from .secretfile import write_secret
from .system import passwd_entry
from .totp import new_secret
from .world import HELPER_BUILT, MODULE, PAMDRIVE, staged

TIMEOUT = 60
SERVICE = "lock"
CONF = Path("/etc/security/pam_mfa.conf")


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
            pw = passwd_entry(name)
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

    def login(self, answers, as_user: str | None = "self", user: str | None = None,
              locale: dict | None = None):
        """One authentication; as_user "self" is the user themself, None is root; locale: the
        client's LANG and the like (pamdrive calls setlocale(LC_ALL, ""))."""
        user = user or next(iter(self.users))
        who = user if as_user == "self" else as_user
        mark = self.syslog.mark()
        proc = subprocess.run(self.command(who, user, answers), capture_output=True, text=True,
                              timeout=TIMEOUT, env={"PATH": os.environ["PATH"], **(locale or {})})
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        result, _, messages, *_ = parse_pamdrive(proc.stdout)
        return result, messages, self.syslog.since(mark)


def helper_lines(lines) -> list[str]:
    return [line for line in lines if "mfa_chkcode[" in line]
