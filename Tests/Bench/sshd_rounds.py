"""Issue 18, goal 3: password + code logins through OpenSSH's sshd on 127.0.0.1, pam_mfa beside
google-authenticator with DISALLOW_REUSE (both refuse a replayed code).

The e2e tests' fixture (Tests/e2e/mfatest/sshd.py) makes each server: the system's sshd through
a symlink named after its PAM service, pam/sshd_config's settings (password, then code, both over
keyboard-interactive) plus a private port, host key and pid file, and pam/sshd as the stack
(`@include common-auth`, i.e. pam_unix, then the module; for google-authenticator its line in
pam_mfa's place and pam_mfa's account line left out).  The client is the tests' driver too:
mfatest.system.converse (pexpect) answers the password and the code prompt, without pexpect's
pause before each answer; a login counts only when the remote command ran as the user.

Each round logs in once through each server, in a new random order, with the current code; before
each login, untimed, the module's state is put back: pam_mfa's state file (the last accepted step
one ago, so the login takes the steady path) and ~/.google_authenticator (no code used yet).  The
time is the client's, from its start to the end of its output: TCP, key exchange, both prompts,
the session and the command.

Writes /etc/pam.d/sshd-{mfa,ga}-bench (sshd reads only /etc/pam.d) and, when missing, sshd's
/run/sshd: `with SshdRounds(...) as rounds` stops the servers and removes both when it ends, also
on failure."""

from __future__ import annotations

import contextlib
import os
import random
import time
from pathlib import Path

from benchutil import (GA, GA_REUSE, MFA, PERIOD, Codes, die, e2e_helpers, restore, run,
                       timing_table)
from real_users import ENROLLED, RealUsers

SERVICES = {MFA: "sshd-mfa-bench", GA_REUSE: "sshd-ga-bench"}
PAM_DIR = Path("/etc/pam.d")
MFA_SECRET = ".config/pam_mfa/secret"  # pam_mfa's default secret=
GA_SECRET = ".google_authenticator"    # google-authenticator's default


class SshdRounds(contextlib.ExitStack):
    def __init__(self, base: Path, modules: dict[str, Path], mfa_conf: Path, users: RealUsers,
                 secret: str):
        super().__init__()
        e2e_helpers()
        from mfatest import sshd  # noqa: E402 (Tests/e2e, only now)
        from mfatest.system import converse  # noqa: E402
        self.fixture, self.converse = sshd, converse
        self.dir = base / "sshd"
        self.users = users
        self.codes = Codes(secret)
        self.servers: dict[str, tuple[int, Path]] = {}  # row: port, sshd's log
        self.errors: list[str] = []
        self.dir.mkdir(mode=0o755)
        self.state_dir = self.dir / "mfa-state"
        self.state_dir.mkdir(mode=0o700)
        self.stacks = {
            MFA: sshd.pam_stack_text(self.state_dir, [f"conf={mfa_conf}"], module=modules[MFA]),
            GA_REUSE: sshd.pam_stack_text(self.state_dir, other=str(modules[GA])),
        }
        # The user's files: pam_mfa's secret; google-authenticator's with DISALLOW_REUSE, kept
        # pristine outside the home; pam_mfa's state made by the first (untimed) login.
        users.put(ENROLLED, MFA_SECRET, f"pam_mfa 1\ntotp secret={secret}\n", 0o600)
        self.ga_file = users.put(ENROLLED, GA_SECRET,
                                 f'{secret}\n" TOTP_AUTH\n" DISALLOW_REUSE\n', 0o400)
        self.ga_pristine = self.dir / "ga.pristine"
        users.keep(self.ga_file, self.ga_pristine)
        self.mfa_state = self.state_dir / ENROLLED
        self.mfa_pristine = self.dir / "mfa-state.pristine"

    # -- servers ------------------------------------------------------------------------------

    def __enter__(self) -> SshdRounds:
        """Both servers, started; ended (and their PAM files removed) when the block ends."""
        super().__enter__()
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        sshd = self.fixture
        self.callback(self._report_errors)  # last: after everything below is undone
        self.enter_context(sshd.privsep_dir(self.errors))
        host_key = self.dir / "host_ed25519"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", host_key], check=True)
        keys = self.dir / "keys"  # no authorized keys: password and code only
        keys.mkdir(mode=0o755)
        for name, service in SERVICES.items():
            work = self.dir / service
            work.mkdir(mode=0o755)
            link = work / service
            link.symlink_to(sshd.SSHD_BIN)
            port = sshd.free_port()
            config = work / "sshd_config"
            config.write_text(sshd.sshd_config_text(False, port, host_key, work, keys, service,
                                                    [ENROLLED]))
            pam_file = PAM_DIR / service
            self.callback(self._remove, pam_file)
            pam_file.write_text(self.stacks[name])
            os.chmod(pam_file, 0o644)
            check = run([link, "-t", "-f", config])
            if check.returncode != 0:
                die(f"sshd -t -f {config}: {check.stdout}{check.stderr}")
            self.callback(sshd.stop_sshd, sshd.start_sshd(link, config, work / "sshd.log", port))
            self.servers[name] = (port, work / "sshd.log")

    def _remove(self, path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError as e:
            self.errors.append(f"removing {path}: {e}")

    def _report_errors(self) -> None:
        for error in self.errors:
            print(f"bench: sshd: {error}", flush=True)

    # -- logins -------------------------------------------------------------------------------

    def prepare(self, name: str) -> None:
        """Untimed: undo what the previous login recorded."""
        if name == MFA:
            restore(self.mfa_pristine, self.mfa_state)
        else:
            restore(self.ga_pristine, self.ga_file)

    def login(self, name: str, code: str):
        """One ssh login with the password and code: (ok, seconds, why it failed)."""
        sshd = self.fixture
        port, log = self.servers[name]
        command, printed = sshd.token_command()
        conv = self.converse(sshd.ssh_argv(port, ENROLLED, "keyboard-interactive", command=command),
                             {"password": self.users.passwords[ENROLLED], "code": code},
                             send_delay=None)
        ok = (conv.status == 0 and conv.asked == ["password", "code"]
              and (printed + ENROLLED) in conv.output)
        return ok, conv.seconds, "" if ok else f"{conv}\n--- sshd log ---\n{sshd.read_log(log)}"

    def set_up(self) -> None:
        """One untimed login each with the previous step's code: it shows the servers work and
        leaves pam_mfa's state as a user who logged in a step ago has it (the pristine copy)."""
        for name in SERVICES:
            if name == GA_REUSE:
                self.prepare(name)
            ok, _, why = self.login(name, self.codes.at(time.time() - PERIOD))
            if not ok:
                die(f"sshd set-up login through {name} failed:\n{why}")
        self.users.keep(self.mfa_state, self.mfa_pristine)

    def measure(self, rounds: int, warmup: int = 2) -> dict[str, list[float]]:
        """rounds interleaved rounds: {row: [ms, ...]}."""
        self.set_up()
        times: dict[str, list[float]] = {name: [] for name in SERVICES}
        for r in range(warmup + rounds):
            order = list(SERVICES)
            random.shuffle(order)
            for name in order:
                self.prepare(name)
                code = self.codes.at(time.time())
                ok, seconds, why = self.login(name, code)
                if not ok:
                    die(f"sshd login through {name} failed (round {r}):\n{why}")
                if r >= warmup:
                    times[name].append(seconds * 1000)
        return times


def section(times: dict[str, list[float]], rounds: int) -> list[str]:
    """The report's first table (Markdown lines)."""
    out = [f"## A real sshd login: password + code through OpenSSH on 127.0.0.1 "
           f"({rounds} interleaved rounds)", "",
           "`ssh -o PreferredAuthentications=keyboard-interactive user@127.0.0.1 'echo …'` to a "
           "private sshd per module (pam/sshd_config's settings, pam/sshd's stack: "
           "`@include common-auth`, i.e. pam_unix with the user's password, then the module); "
           "the password and the current code are typed as the prompts appear (the e2e tests' "
           "pexpect driver); a login counts only when the remote command ran as the user. The "
           "client's time from its start to the end of its output (TCP, key exchange, both "
           "prompts, the session, the command). Both modules refuse a replayed code: before each "
           "login, untimed, pam_mfa's state file goes back to the last accepted step one ago and "
           "~/.google_authenticator (with DISALLOW_REUSE) to no code used.", ""]
    out += timing_table(times, (MFA, GA_REUSE), GA_REUSE)
    return out + [""]
