#!/usr/bin/env python3
"""`make bench`: pam_mfa beside pam_google_authenticator and pam_oath.

Measures, for each module, a password + code login through a real sshd on
127.0.0.1 (sshd_rounds.py), a whole pamtester login (interleaved with the
other modules, with pam_permit, the floor, and with the reference of issue
18: OpenSSL's start-up before google-authenticator with DISALLOW_REUSE), the
nullok path and whether libcrypto is loaded where no code is computed
(no_code_paths.py), what one dlopen() costs in time and memory, a first login
in an sshd-like host and whether a long-lived host's memory grows over
thousands of logins (cycle_rows.py), where one login's instructions go
(login_profile.py, callgrind); and for pam_mfa alone its core costs (from
mfa-bench) and 200 concurrent logins over 50 users.  The whole-login rounds
also run pam_mfa with store=ldap against a private slapd on 127.0.0.1
(Tests/e2e/mfatest/ldapdir.py); without slapd or the store plugin that row
reads "not measured: <reason>".  Then the fleet (fleet.py, issue 19): K = 4, 16, 64
simulated hosts, each a long-lived process with its own state, configuration and client
certificate, logging in through pam_mfa store=ldap against one slapd, with same-code races
between hosts (a double acceptance makes the bench exit non-zero), the directory's CPU per
login and where one login's time goes.  Prints a Markdown report with issue 18's
targets first (goals.py; they are printed again at the end) and writes it to
BENCHMARKS.md (--output), with the command, the date and the machine.

Runs as root.  Everything lives in one temporary directory, removed at the
end, with two exceptions the sshd logins need, both undone at the end also on
failure: two throwaway users with passwords and homes (real_users.py, useradd
and userdel -r) and their PAM files /etc/pam.d/sshd-{mfa,ga}-bench (and
/run/sshd when missing).  Nothing else in /etc is written, and only sshd reads
it (its stack includes common-auth and the others; pamtester runs under
pam_wrapper with its own service directory, the helpers use
pam_start_confdir).  Secrets, TOTP codes and backup codes are made at run time
and never stored in the repository.  TOTP codes come from oathtool.

    python3 Tests/Bench/bench.py            # full run (make bench)
    python3 Tests/Bench/bench.py --quick    # a few rounds, to try the script
    MFA_BENCH_QUICK=1 make bench            # the same through make
"""

from __future__ import annotations

import argparse
import collections
import base64
import datetime
import hashlib
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchutil import (BUILD, CRYPTO_ALONE, CYCLE_HOST, DLOPEN_PROBE, GA, GA_REUSE, LIBCRYPTO, MFA,
                       MFA_CRYPTO_LOADED, MFA_LDAP, NSS_WRAPPER, OATH, OSSL_GA_REUSE, OSSL_START,
                       PAMDRIVE, PAM_WRAPPER, PERIOD, PERMIT, REPO, SYSLOGCAP, TEST_TOOLS, Codes,
                       b32, die, disk_counters, e2e_helpers, last_line, median, new_secret, one_line, percentile,
                       ratio, restore, run, wait_for_step_margin, write_file)
from cycle_rows import first_login_section, measure_cycle, measure_first_login
from fleet import doubles as fleet_doubles
from fleet import measure as measure_fleet
from fleet import section as fleet_section
from goals import goal_lines
from login_profile import profile_rows
from login_profile import section as profile_section
from no_code_paths import libcrypto_facts, measure_nullok
from no_code_paths import section as no_code_section
from real_users import RealUsers
from sshd_rounds import SshdRounds
from sshd_rounds import section as sshd_section

STORE_PLUGIN = BUILD / "pam_mfa" / "store_ldap.so"
# the long-lived host's rows
CYCLE_ROWS = (PERMIT, GA, GA_REUSE, OATH, MFA)
GROWTH_LIMIT_KB = 64
BACKUP_ALPHABET = "23456789abcdefghijkmnpqrstuvwxyz"
BACKUP_ITERATIONS = 10_000
BACKUP_COUNT = 10  # per user, as mfa-enroll makes them; the module checks every one


# ---------------------------------------------------------------------------
# the machine and the modules
# ---------------------------------------------------------------------------


def package_so(package: str, name: str) -> Path | None:
    proc = run(["dpkg", "-L", package])
    if proc.returncode != 0:
        return None
    for line in proc.stdout.splitlines():
        if line.endswith("/" + name) and Path(line).exists():
            return Path(line)
    return None


def package_version(package: str) -> str:
    proc = run(["dpkg-query", "-W", "-f=${Version}", package])
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else "not installed"


def libldap_package(plugin: Path) -> str:
    """'libldap-2.5-0 2.5.13+dfsg-5': the package of the libldap the store plugin links."""
    if not plugin.exists():
        return "?"
    m = re.search(r"^\s*(libldap\S*) => ", run(["ldd", plugin]).stdout, re.M)
    if not m:
        return "?"
    owner = run(["dpkg", "-S", m.group(1)]).stdout.split(":", 1)[0].strip()
    return f"{owner} {package_version(owner)}" if owner else m.group(1)


def needed(path: Path) -> list[str]:
    out = run(["readelf", "-d", path]).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def system_library(soname: str) -> Path | None:
    """Where the dynamic linker finds soname (ldconfig's cache), whoever loads it and however:
    pam_mfa may link libcrypto.so.3 or dlopen() it on first use."""
    arch = "x86-64" if os.uname().machine == "x86_64" else os.uname().machine
    found = []
    for m in re.finditer(rf"^\s*{re.escape(soname)} \(([^)]*)\) => (\S+)$",
                         run(["ldconfig", "-p"]).stdout, re.M):
        found.append((arch not in m.group(1), Path(m.group(2))))
    return min(found)[1] if found else None


def machine_facts() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": os.uname().release,
        "os": _os_release(),
    }


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "unknown"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def pam_mfa_identity(module: Path) -> str:
    version = "?"
    try:
        first = (REPO / "debian" / "changelog").read_text().splitlines()[0]
        m = re.search(r"\(([^)]+)\)", first)
        if m:
            version = m.group(1)
    except (OSError, IndexError):
        pass
    commit = run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]).stdout.strip() or "?"
    dirty = run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
    digest = hashlib.sha256(module.read_bytes()).hexdigest()[:12]
    return (f"{version} (source), commit {commit}{' with local changes' if dirty else ''}, "
            f"{module.name} sha256 {digest}…")


# ---------------------------------------------------------------------------
# helpers in C
# ---------------------------------------------------------------------------


def check_helpers() -> None:
    """The C helpers are built by `make test-tools` (`make bench` runs it first), never here."""
    missing = [p.name for p in (PAMDRIVE, SYSLOGCAP, DLOPEN_PROBE, CYCLE_HOST, OSSL_START)
               if not p.exists()]
    if missing:
        die(f"{', '.join(missing)} not built in {TEST_TOOLS}: run make test-tools (make bench does)")


# ---------------------------------------------------------------------------
# store=ldap: a private slapd for the LDAP-store row
# ---------------------------------------------------------------------------


class LdapStore:
    """The directory of the `pam_mfa store=ldap` row: Tests/e2e/mfatest/ldapdir.py's slapd on
    127.0.0.1 (its test CA, StartTLS; the module binds with host-a's client certificate,
    SASL EXTERNAL) and root's entry uid=root,<base>.

    Never fatal: whatever keeps the row from working is kept in `reason`, and the row
    reads "not measured: <reason>" while the rest of the bench goes on."""

    USER = "root"  # whom pamtester logs in, as in the other rows
    AUTHENTICATOR = "default"

    def __init__(self, base: Path, plugin: Path = STORE_PLUGIN):
        self.dir = base / "ldap"
        self.plugin = plugin
        self.directory = None
        self.reason: str | None = None
        self.dn = ""
        self.cert = self.key = None
        self.ops: dict | None = None  # what slapd's log shows for one login (set up in World)

    @property
    def ok(self) -> bool:
        return self.directory is not None and self.reason is None

    def fail(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            print(f"bench: pam_mfa store=ldap not measured: {reason}", file=sys.stderr, flush=True)

    def _missing(self) -> str | None:
        try:
            st = self.plugin.stat()
        except OSError as e:
            return f"{self.plugin}: {e.strerror} (make build)"
        if st.st_uid != 0 or st.st_mode & 0o022:
            return (f"{self.plugin.name} must be owned by root and writable by no one else "
                    "(pam_mfa refuses it)")
        for tool in ("ldapmodify", "ldapsearch", "ldapwhoami", "openssl"):
            if shutil.which(tool) is None:
                return f"{tool} is missing (apt-get install ldap-utils openssl; make deps)"
        return None

    def start(self) -> bool:
        """Start slapd (ldapdir.Directory); False, with `reason`, when that is not possible."""
        why = self._missing()
        if why:
            self.fail(why)
            return False
        try:
            e2e_helpers()
            from mfatest import ldapdir  # noqa: E402 (Tests/e2e, only now: the bench runs without it)
        except Exception as e:  # noqa: BLE001
            self.fail(f"cannot import Tests/e2e/mfatest/ldapdir.py: {one_line(e)}")
            return False
        for path in (ldapdir.SLAPD, ldapdir.SLAPADD):
            if not Path(path).exists():
                self.fail(f"{path} is missing (apt-get install slapd; make deps)")
                return False
        try:
            self.dir.mkdir(mode=0o755)
            os.chmod(self.dir, 0o755)
            self.directory = ldapdir.Directory(self.dir)
            self.directory.start()
            self.cert, self.key = self.directory.host_cert("host-a")
        except Exception as e:  # noqa: BLE001
            print(f"bench: slapd: {e}", file=sys.stderr)
            self.fail(f"slapd did not start: {one_line(e)}")
            self.stop()
            return False
        self.dn = f"uid={self.USER},{self.directory.base}"
        return True

    def stop(self) -> None:
        if self.directory is not None:
            try:
                self.directory.stop()
            except Exception as e:  # noqa: BLE001
                print(f"bench: stopping slapd: {e}", file=sys.stderr)

    def settings(self, conf: Path, state_dir: Path) -> str:
        """The module arguments of the row (the same conf= as pam_mfa's file row: empty)."""
        d = self.directory
        return (f"conf={conf} store=ldap ldap_uri={d.uri} ldap_base={d.base} ldap_ca={d.ca} "
                f"ldap_cert={self.cert} ldap_key={self.key} store_plugin={self.plugin} "
                f"state_dir={state_dir} window=1")

    def enroll(self, secret: str) -> None:
        """uid=root,<base> with the enrollment (the secret file's text in one value)."""
        text = (f"pam_mfa 1\ntotp name={self.AUTHENTICATOR} algorithm=SHA1 digits=6 "
                f"period={PERIOD} secret={secret}\n")
        value = base64.b64encode(text.encode()).decode()
        self.directory.modify(f"dn: {self.dn}\nchangetype: add\nobjectClass: pamMfaAccount\n"
                              f"uid: {self.USER}\npamMfaEnrollment:: {value}\n")

    def prepare(self, step: int) -> None:
        """Untimed, as the file row's pristine state file: the last accepted step is the one
        before `step` (so the login takes the steady path: the old value deleted, the new one
        added) and no failure count is left."""
        self.directory.modify(
            f"dn: {self.dn}\nchangetype: modify\n"
            f"replace: pamMfaStep\npamMfaStep: totp:{self.AUTHENTICATOR}:{step - 1}\n-\n"
            "replace: pamMfaFailures\n-\n")

    def marks(self) -> list[str]:
        entry = self.directory.search(self.dn, "pamMfaStep") or {}
        return sorted(v.decode(errors="replace") for v in entry.get("pamMfaStep", []))

    def log_size(self) -> int:
        try:
            return self.directory.log.stat().st_size
        except OSError:
            return 0

    def count_ops(self, since: int) -> dict:
        """The requests slapd logged (stats level) from `since` on, for connections over TCP:
        {"connections": n, "ops": {"SRCH": n, ...}, "errors": [...], "tls": "..."}."""
        time.sleep(0.3)  # let slapd log the unbind and the close
        with open(self.directory.log, "rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
        tcp = set(re.findall(r"conn=(\d+) fd=\d+ ACCEPT from IP=", text))
        seen: dict[tuple[str, str], str] = {}
        for conn, op, verb in re.findall(
                r"conn=(\d+) op=(\d+) (EXT|STARTTLS|BIND|SRCH|MOD|ADD|DEL|CMP|MODRDN|UNBIND|ABANDON)\b",
                text):
            if conn in tcp:
                seen.setdefault((conn, op), verb)
        starttls = set(re.findall(r"conn=(\d+) op=(\d+) EXT oid=1\.3\.6\.1\.4\.1\.1466\.20037\b",
                                  text))
        ops: dict[str, int] = {}
        for key, verb in seen.items():
            verb = "EXT (StartTLS)" if verb == "EXT" and key in starttls else verb
            ops[verb] = ops.get(verb, 0) + 1
        errors = [f"op={op} {m}" for conn, op, m in re.findall(
            r"conn=(\d+) op=(\d+) RESULT (tag=\d+ err=[1-9]\d*[^\n]*)", text) if conn in tcp]
        tls = re.search(r"conn=\d+ fd=\d+ TLS established (tls_ssf=\S+ ssf=\S+)?\s*(tls_proto=\S+)?"
                        r"\s*(tls_cipher=\S+)?", text)
        tls_text = " ".join(g for g in (tls.groups() if tls else ()) if g)
        return {"connections": len(tcp), "ops": ops, "errors": errors, "tls": tls_text}


# ---------------------------------------------------------------------------
# the world: service files, secrets, pristine copies
# ---------------------------------------------------------------------------


class World:
    def __init__(self, base: Path, modules: dict[str, Path], ldap: LdapStore | None = None):
        self.base = base
        self.modules = modules
        self.ldap = ldap
        self.step = int(time.time()) // PERIOD  # the TOTP step of the current round's code
        # Per module, per timed login: the disk's (writes, KiB, flushes, discards) deltas.
        self.disk: dict[str, list[tuple]] = collections.defaultdict(list)
        self.secret = new_secret()
        self.codes = Codes(self.secret)
        self.syslog_null = {"MFA_TEST_SYSLOG": "/dev/null"}

        # pamtester's service directory: only what the rounds use (pam_wrapper
        # copies every file of it at each start, the same for every module).
        self.pamd = base / "pam.d"
        self.pamd.mkdir()
        (self.pamd / "other").write_text("auth required pam_deny.so\naccount required pam_deny.so\n")

        # pam_google_authenticator: no RATE_LIMIT, no DISALLOW_REUSE, so it never
        # rewrites the file and the same code logs in again.
        self.ga_secret = base / "ga" / "secret"
        write_file(self.ga_secret, f'{self.secret}\n" TOTP_AUTH\n', 0o400)
        # ... and for reference with reuse protection, as pam_mfa and pam_oath have.
        self.gar_secret = base / "ga-reuse" / "secret"
        self.gar_pristine = base / "ga-reuse" / "pristine"
        write_file(self.gar_pristine, f'{self.secret}\n" TOTP_AUTH\n" DISALLOW_REUSE\n', 0o400)
        restore(self.gar_pristine, self.gar_secret)

        # pam_oath: it records the last code and rewrites its usersfile, so a
        # pristine copy goes back before each login.
        hexkey = base64.b32decode(self.secret + "=" * (-len(self.secret) % 8)).hex()
        self.oath_pristine = base / "oath" / "users.pristine"
        self.oath_users = base / "oath" / "users"
        write_file(self.oath_pristine, f"HOTP/T30/6\troot\t-\t{hexkey}\n")
        restore(self.oath_pristine, self.oath_users)

        # pam_mfa: its own (empty) configuration file, so /etc/security is not read.
        self.mfa_conf = base / "mfa" / "pam_mfa.conf"
        write_file(self.mfa_conf, "", 0o644)
        self.mfa_secret = base / "mfa" / "secret"
        write_file(self.mfa_secret, f"pam_mfa 1\ntotp secret={self.secret}\n")
        self.mfa_state = base / "mfa" / "state"
        self.mfa_state_pristine = base / "mfa" / "state.pristine"

        self.lines = {
            PERMIT: "pam_permit.so",
            GA: f"{modules[GA]} secret={self.ga_secret}",
            GA_REUSE: f"{modules[GA]} secret={self.gar_secret}",
            OATH: f"{modules[OATH]} usersfile={self.oath_users} window=1 digits=6",
            MFA: self.mfa_line(self.mfa_state),
        }
        self.services = {PERMIT: "permit", GA: "ga", GA_REUSE: "ga-reuse", OATH: "oath", MFA: "mfa"}
        # Each row's auth lines: its module as `required`, except the reference of issue 18's
        # goal 1, google-authenticator with DISALLOW_REUSE after a module that only starts
        # OpenSSL 3 (Tests/tools/ossl_start.c), sharing the DISALLOW_REUSE file.
        self.stacks = {name: [f"auth required {line}"] for name, line in self.lines.items()}
        self.stacks[OSSL_GA_REUSE] = [f"auth optional {OSSL_START}", *self.stacks[GA_REUSE]]
        self.services[OSSL_GA_REUSE] = "ossl-ga-reuse"
        # pam_mfa with store=ldap: the same secret in root's directory entry; the module's own
        # state directory holds only what stays per host (nothing, in these logins).
        if ldap is not None and ldap.ok:
            self.mfa_ldap_state = base / "mfa-ldap" / "state"
            self.lines[MFA_LDAP] = f"{modules[MFA]} {ldap.settings(self.mfa_conf, self.mfa_ldap_state)}"
            self.stacks[MFA_LDAP] = [f"auth required {self.lines[MFA_LDAP]}"]
            self.services[MFA_LDAP] = "mfa-ldap"
        for name, svc in self.services.items():
            self.add_row(name, svc, self.stacks[name])
        self.make_mfa_pristine_state()
        if MFA_LDAP in self.services:
            self.setup_ldap()

    def add_row(self, name: str, service: str, auth: list[str]) -> None:
        """A row pamtester can log in through: its service file, with the auth lines and an
        account stack that permits."""
        self.services[name] = service
        self.stacks[name] = auth
        (self.pamd / service).write_text("".join(line + "\n" for line in auth)
                                         + "account required pam_permit.so\n")

    @property
    def measure_ldap(self) -> bool:
        return MFA_LDAP in self.services and self.ldap.ok

    def setup_ldap(self) -> None:
        """root's entry, then one login to see that the row works (and which requests it
        makes); on any failure the row is not measured and the bench goes on."""
        ldap = self.ldap
        syslog = self.base / "mfa-ldap" / "setup-syslog.txt"
        try:
            syslog.parent.mkdir(exist_ok=True)
            ldap.enroll(self.secret)
            wait_for_step_margin(3)
            t = time.time()
            self.step = int(t) // PERIOD
            ldap.prepare(self.step)
            since = ldap.log_size()
            env = self.pamtester_env()
            # pam_wrapper keeps pam_syslog() to itself unless asked; then syslogcap takes it.
            env.update(MFA_TEST_SYSLOG=str(syslog), PAM_WRAPPER_USE_SYSLOG="1")
            ok, text, _ = self.pamtester(MFA_LDAP, self.codes.at(t), env)
            ops = ldap.count_ops(since)
            if not ok:
                log = syslog.read_text(errors="replace").strip() if syslog.exists() else ""
                log = re.sub(r"(?m)^\d+ ", "", log)  # syslogcap's priority number
                ldap.fail(f"the first login was refused: {last_line(log or text)}")
                return
            want = f"totp:{ldap.AUTHENTICATOR}:{self.step}"
            marks = ldap.marks()
            if marks != [want]:
                ldap.fail(f"after the first login pamMfaStep is {marks}, not [{want!r}]")
                return
            ldap.ops = ops
        except Exception as e:  # noqa: BLE001 (ldapmodify, ldapsearch, a log that is not there)
            ldap.fail(f"setting up root's entry failed: {last_line(e)}")

    def mfa_line(self, state_dir: Path, secret: Path | str | None = None, extra: str = "") -> str:
        secret = self.mfa_secret if secret is None else secret
        return (f"{self.modules[MFA]} conf={self.mfa_conf} secret={secret} "
                f"state_dir={state_dir} window=1{extra}")

    def make_mfa_pristine_state(self) -> None:
        """A state file as a user who logged in one step ago has: every login with
        the current code then takes the steady path (update in place + fdatasync)."""
        wait_for_step_margin(3)
        code = self.codes.at(time.time() - PERIOD)
        out = self.pamtester(MFA, code)
        if not out[0]:
            die(f"pam_mfa refused the setup login:\n{out[1]}")
        shutil.copy2(self.mfa_state / "root", self.mfa_state_pristine)

    def pamtester_env(self) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("NSS_WRAPPER", "PAM_WRAPPER", "LD_PRELOAD", "MFA_TEST_SYSLOG"))}
        # syslogcap: every module's syslog() goes to /dev/null, not to a console.
        env.update(LD_PRELOAD=f"{PAM_WRAPPER} {SYSLOGCAP}", PAM_WRAPPER="1",
                   PAM_WRAPPER_SERVICE_DIR=str(self.pamd), **self.syslog_null)
        return env

    def prepare(self, name: str) -> None:
        """Untimed: undo what the previous login recorded."""
        if name == OATH:
            restore(self.oath_pristine, self.oath_users)
        elif name in (GA_REUSE, OSSL_GA_REUSE):
            restore(self.gar_pristine, self.gar_secret)
        elif name == MFA:
            restore(self.mfa_state_pristine, self.mfa_state / "root")
        elif name == MFA_LDAP:
            self.ldap.prepare(self.step)

    def pamtester(self, name: str, code: str, env: dict | None = None, user: str = "root",
                  items=()) -> tuple[bool, str, int]:
        """One timed login: (succeeded, pamtester's output, ns).  items: -I item=value."""
        cmd = ["pamtester", *(f"-I{item}" for item in items), self.services[name], user,
               "authenticate"]
        start = time.perf_counter_ns()
        proc = subprocess.run(cmd, input=(code + "\n").encode(), capture_output=True,
                              env=env or self.pamtester_env())
        elapsed = time.perf_counter_ns() - start
        text = (proc.stdout + proc.stderr).decode(errors="replace")
        return proc.returncode == 0 and "successfully authenticated" in text, text, elapsed


# ---------------------------------------------------------------------------
# measurements
# ---------------------------------------------------------------------------


def measure_pamtester(world: World, rounds: int, warmup: int = 3) -> dict[str, list[float]]:
    names = [PERMIT, GA, GA_REUSE, OSSL_GA_REUSE, OATH, MFA] + (
        [MFA_LDAP] if world.measure_ldap else [])
    env = world.pamtester_env()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(warmup + rounds):
        t = time.time()
        code = world.codes.at(t)
        world.step = int(t) // PERIOD
        order = names[:]
        random.shuffle(order)
        for name in order:
            if name == MFA_LDAP:
                # The LDAP row never stops the bench: a failure is reported in its row.
                try:
                    world.prepare(name)
                    ok, text, ns = world.pamtester(name, code, env)
                except Exception as e:  # noqa: BLE001 (ldapmodify failed: slapd gone?)
                    ok, text, ns = False, f"putting back root's entry: {last_line(e)}", 0
                if not ok:
                    world.ldap.fail(f"the login of round {r} failed: {last_line(text)}")
                    names.remove(MFA_LDAP)
                    del times[MFA_LDAP]
                    continue
            else:
                world.prepare(name)
                before = disk_counters(world.base)
                ok, text, ns = world.pamtester(name, code, env)
                if r >= warmup:
                    after = disk_counters(world.base)
                    world.disk[name].append(tuple(b - a for a, b in zip(before, after)))
            if not ok:
                die(f"pamtester login through {name} failed (round {r}):\n{text}")
            if r >= warmup:
                times[name].append(ns / 1e6)
    return times


def measure_dlopen(targets: list[tuple[str, list[str]]], samples: int) -> dict[str, dict]:
    raw: dict[str, list[tuple]] = {label: [] for label, _ in targets}
    loaded: dict[str, bool] = {}  # libcrypto.so.3 in the process after the dlopen
    for k in range(samples + 1):
        order = targets[:]
        random.shuffle(order)
        for label, args in order:
            proc = run([DLOPEN_PROBE, *args])
            m = re.search(r"DLOPEN ns=(\d+) rss_before_kb=(\d+) anon_before_kb=(\d+) "
                          r"rss_after_kb=(\d+) anon_after_kb=(\d+)", proc.stdout)
            if proc.returncode != 0 or not m:
                die(f"dlopen_probe {label} failed:\n{proc.stdout}{proc.stderr}")
            ns, rb, ab, ra, aa = map(int, m.groups())
            loaded[label] = "LIBCRYPTO loaded=1" in proc.stdout
            sample = [ns, aa - ab, (ra - aa) - (rb - ab)]
            h = re.search(r"HMAC ns=(\d+) rss_after_kb=(\d+) anon_after_kb=(\d+)", proc.stdout)
            if h:
                hns, hr, ha = map(int, h.groups())
                sample += [hns, ha - aa, (hr - ha) - (ra - aa)]
            if k > 0:  # the first pass only warms the page cache
                raw[label].append(sample)
    result = {}
    for label, v in raw.items():
        result[label] = {"us": median([x[0] for x in v]) / 1000, "anon": median([x[1] for x in v]),
                         "file": median([x[2] for x in v]), "n": len(v), "libcrypto": loaded[label]}
        if v and len(v[0]) > 3:
            result[label].update(hmac_us=median([x[3] for x in v]) / 1000,
                                 hmac_anon=median([x[4] for x in v]),
                                 hmac_file=median([x[5] for x in v]))
    return result


def writable_sections_kb(path: Path) -> dict[str, float]:
    """Sizes of the sections that relocation and start-up make private (anonymous) pages."""
    out = run(["readelf", "-SW", path]).stdout
    sizes = {}
    for m in re.finditer(r"\]\s+(\.data\.rel\.ro|\.got|\.got\.plt|\.data|\.bss)\s+\S+\s+\S+\s+\S+\s+"
                         r"([0-9a-f]+)", out):
        sizes[m.group(1)] = int(m.group(2), 16) / 1024
    return sizes


def make_backup_code() -> str:
    while True:
        code = "".join(random.SystemRandom().choice(BACKUP_ALPHABET) for _ in range(12))
        if not code.isdigit():
            return code


def backup_line(salt: bytes, digest: bytes) -> str:
    return (f"backup kdf=pbkdf2-sha256 iterations={BACKUP_ITERATIONS} "
            f"salt={b32(salt)} hash={b32(digest)}")


def measure_concurrency(world: World, users: int, bursts: int = 1, codes: str = "steps") -> dict:
    """users x (3 TOTP codes + 1 backup code) logins, all started at once.

    codes="steps": each user's TOTP codes are those of steps t-30 s, t, t+30 s of
    one authenticator (pam_mfa refuses a step at or below the last accepted one,
    so some of them lose to a newer step: replays).  codes="authenticators": each
    user has three authenticators and logs in with each one's current code, so
    every login can succeed in any order."""
    n_auth = 3 if codes == "authenticators" else 1
    base = world.base / "burst"
    homes = base / "home"
    homes.mkdir(parents=True)
    os.chmod(base, 0o755)
    os.chmod(homes, 0o755)
    confdir = base / "pam.d"
    confdir.mkdir()
    (confdir / "other").write_text("auth required pam_deny.so\naccount required pam_deny.so\n")
    passwd, group = ["root:x:0:0:root:/root:/bin/sh\n"], ["root:x:0:\n"]
    people = []
    for n in range(users):
        name, uid = f"bench{n:02d}", 5100 + n
        home = homes / name
        home.mkdir(mode=0o700)
        os.chown(home, uid, uid)
        passwd.append(f"{name}:x:{uid}:{uid}:{name}:{home}:/bin/sh\n")
        group.append(f"{name}:x:{uid}:\n")
        secrets = [new_secret() for _ in range(n_auth)]
        # One real backup code (its hash made here, the code kept in memory only)
        # among BACKUP_COUNT entries: the module hashes the typed code with every salt.
        code = make_backup_code()
        salt = os.urandom(16)
        lines = [backup_line(salt, hashlib.pbkdf2_hmac("sha256", code.encode(), salt,
                                                       BACKUP_ITERATIONS))]
        lines += [backup_line(os.urandom(16), os.urandom(32)) for _ in range(BACKUP_COUNT - 1)]
        random.shuffle(lines)
        text = "pam_mfa 1\n" + "".join(f"totp name=a{k} secret={sec}\n" for k, sec in enumerate(secrets))
        text += "".join(line + "\n" for line in lines)
        pristine = base / "pristine" / name
        write_file(pristine, text, 0o600, uid)
        people.append({"name": name, "uid": uid, "home": home, "codes": [Codes(x) for x in secrets],
                       "backup": code, "pristine": pristine})
    (base / "passwd").write_text("".join(passwd))
    (base / "group").write_text("".join(group))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NSS_WRAPPER", "PAM_WRAPPER", "LD_PRELOAD", "MFA_TEST_SYSLOG"))}
    env.update(LD_PRELOAD=f"{NSS_WRAPPER} {SYSLOGCAP}", NSS_WRAPPER_PASSWD=str(base / "passwd"),
               NSS_WRAPPER_GROUP=str(base / "group"))

    results = []
    for k in range(bursts):
        state = base / f"state{k}"  # fresh replay state for each burst
        (confdir / "mfa").write_text(
            f"auth required {world.mfa_line(state, '~/mfa-secret', ' deny=100')}\n"
            "account required pam_permit.so\n")
        syslog = base / f"syslog{k}.txt"
        syslog.touch()
        os.chmod(syslog, 0o666)
        env["MFA_TEST_SYSLOG"] = str(syslog)
        for p in people:
            restore(p["pristine"], p["home"] / "mfa-secret")
        # All codes of a burst must stay in the window: start well inside a step.
        wait_for_step_margin(12)
        now = time.time()
        jobs = []
        for p in people:
            if codes == "authenticators":
                for c in p["codes"]:
                    jobs.append(("totp", p["name"], c.at(now)))
            else:
                for d in (-1, 0, 1):
                    jobs.append(("totp", p["name"], p["codes"][0].at(now + d * PERIOD)))
            jobs.append(("backup", p["name"], p["backup"]))
        random.shuffle(jobs)
        outdir = base / f"out{k}"
        outdir.mkdir()
        latencies, wall = _burst(jobs, confdir, env, outdir)
        kinds = {"totp": [0, 0], "backup": [0, 0]}
        for i, (kind, _, _) in enumerate(jobs):
            out = (outdir / f"{i}.out").read_text(errors="replace")
            ok = "RESULT PAM_SUCCESS 0" in out
            if "RESULT " not in out:
                die(f"burst login {i} ended without a RESULT line:\n{out}")
            kinds[kind][0 if ok else 1] += 1
        log = syslog.read_text(errors="replace")
        results.append({
            "logins": len(jobs), "wall": wall, "latencies": [ms for _, ms in latencies],
            "totp_latencies": [ms for i, ms in latencies if jobs[i][0] == "totp"],
            "backup_latencies": [ms for i, ms in latencies if jobs[i][0] == "backup"],
            "totp_ok": kinds["totp"][0], "totp_refused": kinds["totp"][1],
            "backup_ok": kinds["backup"][0], "backup_refused": kinds["backup"][1],
            "replays": log.count("replay: an already used code was refused"),
            "wrong": log.count(": wrong code") + log.count("wrong backup code"),
        })
    return {"users": users, "bursts": results, "codes": codes}


def _burst(jobs, confdir: Path, env: dict, outdir: Path) -> tuple[list[tuple[int, float]], float]:
    """Fork one pamdrive per job; all wait on one pipe and start when it closes.
    Latency: from the start signal to the process's exit, in ms, as (job, ms);
    and the wall time in s."""
    r, w = os.pipe()
    pids = {}
    for i, (_, user, answer) in enumerate(jobs):
        argv = [str(PAMDRIVE), "--confdir", str(confdir), "--service", "mfa",
                "--user", user, "--answer", answer]
        out = os.open(outdir / f"{i}.out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        pid = os.fork()
        if pid == 0:  # the child: wait for the signal, then become pamdrive
            try:
                os.close(w)
                os.dup2(out, 1)
                os.dup2(out, 2)
                os.read(r, 1)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        os.close(out)
        pids[pid] = i
    os.close(r)
    start = time.perf_counter_ns()
    os.close(w)
    latencies = []
    while pids:
        pid, status = os.waitpid(-1, 0)
        end = time.perf_counter_ns()
        i = pids.pop(pid, None)
        if i is None:
            continue
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            die(f"burst login {i} ended with status {status:#x}: "
                f"{(outdir / f'{i}.out').read_text(errors='replace')}")
        latencies.append((i, (end - start) / 1e6))
    return latencies, max(ms for _, ms in latencies) / 1000


def run_mfa_bench(path: Path) -> tuple[str, dict[str, tuple[float, str]]]:
    proc = run([path], timeout=900)
    if proc.returncode != 0:
        die(f"{path} failed:\n{proc.stdout}{proc.stderr}")
    rows = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"^(.+?)\s+([\d.]+) (µs|ms)(?:\s+(.*))?$", line)
        if m:
            value = float(m.group(2)) * (1000 if m.group(3) == "ms" else 1)
            rows[m.group(1).strip()] = (value, (m.group(4) or "").strip())
    return proc.stdout, rows


def mfa_row(rows: dict, prefix: str):
    for name, value in rows.items():
        if name.startswith(prefix):
            return name, value[0]
    return None, None


def fmt_us(us) -> str:
    if us is None:
        return "–"
    return f"{us / 1000:.1f} ms" if us >= 1000 else f"{us:.1f} µs"


# ---------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------


def report(ctx: dict) -> str:
    out = []
    w = out.append
    cfg = ctx["cfg"]
    w("# Benchmarks: pam_mfa beside pam_google_authenticator and pam_oath")
    w("")
    if cfg["quick"]:
        w("**Quick run (`--quick`): few rounds, for trying the script; not for comparing.**")
        w("")
    w(f"Command: `{ctx['command']}`  ")
    w(f"Date: {ctx['date']}  ")
    m = ctx["machine"]
    w(f"Machine: {m['nproc']} cores, {m['cpu']}, kernel {m['kernel']}, {m['os']}; "
      f"load average {ctx['load_before']} before, {ctx['load_after']} after  ")
    v = ctx["versions"]
    w(f"Modules: pam_google_authenticator {v['libpam-google-authenticator']} "
      f"(libpam-google-authenticator), pam_oath {v['libpam-oath']} (libpam-oath, liboath0 "
      f"{v['liboath0']}), pam_permit {v['libpam-modules']} (libpam-modules), pam_mfa "
      f"{ctx['mfa_identity']}; libpam0g {v['libpam0g']}, pamtester {v['pamtester']}, "
      f"libssl3 {v['libssl3']}; for store=ldap: slapd {v['slapd']}, {ctx['libldap']}")
    w("")

    # -- targets, then the sshd login (issue 18: the number a sysadmin cares about) --
    w("## Targets (issue 18)")
    w("")
    for line in ctx["targets"]:
        w(f"- {line}")
    w("")
    out.extend(sshd_section(ctx["sshd"], cfg["sshd_rounds"]))

    # -- pamtester --------------------------------------------------------
    t = ctx["pamtester"]
    ga_med = median(t[GA])
    permit_med = median(t[PERMIT])
    w(f"## Whole logins: `pamtester SERVICE root authenticate` ({cfg['rounds']} interleaved rounds)")
    w("")
    w("Each round runs every module once, in a new random order, with the current TOTP code "
      "on pamtester's standard input; a fresh process each time (exec, libpam, service file, "
      "dlopen, the check, exit). Untimed before each login: pam_oath's usersfile, pam_mfa's "
      "state file (last step: one ago, so the login takes the steady path: update in place and "
      "fdatasync) and the DISALLOW_REUSE file are put back; for store=ldap, root's directory "
      "entry gets the same state back (pamMfaStep: one step ago, no pamMfaFailures) through "
      "ldapmodify as the rootdn.")
    w("")
    w("The disk column counts, per login (median), the block device's writes, KiB written, "
      "cache flushes and discards from /proc/diskstats around the login: what the module makes "
      "the disk do, which does not depend on how fast this machine's disk is today.")
    w("")
    w("| module | median ms | p90 ms | × google-authenticator | above pam_permit, ms "
      "| disk per login: writes / KiB / flushes / discards |")
    w("| --- | ---: | ---: | ---: | ---: | --- |")
    ldap = ctx["ldap"]
    for name in (PERMIT, GA, OATH, MFA, MFA_LDAP, GA_REUSE, OSSL_GA_REUSE):
        if name == MFA_LDAP and not t.get(name):
            w(f"| {name} (not measured: {ldap['reason'] or 'no logins'}) | – | – | – | – | – |")
            continue
        med = median(t[name])
        label = name + (" (floor)" if name == PERMIT else "") + (
            " (reference)" if name in (GA_REUSE, OSSL_GA_REUSE) else "")
        m = disk_medians(ctx, name)
        disk = " / ".join(f"{x:g}" for x in m) if m else "–"
        w(f"| {label} | {med:.2f} | {percentile(t[name], 90):.2f} | {ratio(med, ga_med)} "
          f"| {med - permit_med:+.2f} | {disk} |")
    w("")
    w(ldap_paragraph(ctx))
    w("")
    out.extend(no_code_section(ctx["nullok"], ctx["no_code"], cfg["rounds"], ctx["base"]))

    # -- dlopen -----------------------------------------------------------
    d = ctx["dlopen"]
    dga = d[GA]
    w(f"## dlopen(module, RTLD_NOW) in a fresh process linked with libpam "
      f"({cfg['dlopen_samples']} samples each, interleaved)")
    w("")
    w("Memory from /proc/self/smaps_rollup just before and after: anonymous = `Anonymous`, "
      "file-backed = `Rss` − `Anonymous`. Medians.")
    w("")
    w("| what is loaded | time µs | × g-a | anon KB added | × g-a | file-backed KB added | × g-a "
      "| libcrypto.so.3 in the process after |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for label in ctx["dlopen_order"]:
        x = d[label]
        w(f"| {label} | {x['us']:.0f} | {ratio(x['us'], dga['us'])} | {x['anon']:.0f} "
          f"| {ratio(x['anon'], dga['anon'])} | {x['file']:.0f} | {ratio(x['file'], dga['file'])} "
          f"| {'yes' if x['libcrypto'] else 'no'} |")
        if "hmac_us" in x:
            w(f"| … then the first HMAC-SHA1 in the process (OpenSSL 3 start-up) | {x['hmac_us']:.0f} "
              f"| | {x['hmac_anon']:.0f} | | {x['hmac_file']:.0f} | | |")
    w("")
    w("NEEDED: " + "; ".join(f"{n}: {', '.join(libs)}" for n, libs in ctx["needed"].items()))
    w("")
    out.extend(first_login_section(ctx["first_login"]))

    # -- cycle --------------------------------------------------------------
    c = ctx["cycle"]
    w(f"## Long-lived host: {cfg['threads']} threads × {cfg['iterations']} × "
      f"(pam_start_confdir, pam_authenticate, pam_end)")
    w("")
    w(f"One process (`cycle_host`). *Warm* is after the first 100 logins (libpam, libc, the "
      f"module's one-time setup and every thread's malloc arena exist by then), *end* after "
      f"the last, while the threads still live. **Growth** means end − warm > "
      f"{GROWTH_LIMIT_KB} KB of RSS or of anonymous memory. Modules that record each login "
      f"get their file put back (durably: fsync'd, as a file written long ago) before every "
      f"login, untimed: *logins/s* counts the time the threads spent in the logins.")
    w("")
    w("| module | logins ok | RSS KB warm → end | Δ RSS | anon KB warm → end | Δ anon | logins/s | growth |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name in CYCLE_ROWS:
        x = c[name]
        drss = x["end"][0] - x["warm"][0]
        danon = x["end"][1] - x["warm"][1]
        grows = drss > GROWTH_LIMIT_KB or danon > GROWTH_LIMIT_KB
        label = name + (" (floor)" if name == PERMIT else "")
        w(f"| {label} | {x['success']}/{x['logins']} | {x['warm'][0]:,} → {x['end'][0]:,} "
          f"| {drss:+,} | {x['warm'][1]:,} → {x['end'][1]:,} | {danon:+,} "
          f"| {x['logins'] / x['login_seconds']:,.0f} | {'**yes**' if grows else 'no'} |")
    w("")

    out.extend(profile_section(ctx["profile"]))

    # -- pam_mfa's own costs -------------------------------------------------
    rows = ctx["mfa_rows"]
    w("## pam_mfa's own costs")
    w("")
    w("| what | value | note |")
    w("| --- | ---: | --- |")
    for prefix, label in (("TOTP check", "one TOTP check in process (window 1: 3 HMAC-SHA1)"),
                          ("backup code check, right", "one backup-code check (right code; all 10 hashed)"),
                          ("backup code check, wrong", "one backup-code check (wrong code; all 10 hashed)"),
                          ("state update in place", "one state rewrite (pwrite + fdatasync)"),
                          ("secret file rewrite", "secret file rewrite (lock, tmp, fsync, rename)")):
        name, value = mfa_row(rows, prefix)
        w(f"| {label} | {fmt_us(value)} | mfa-bench median{'' if name else ': row missing'} |")
    b = ctx["burst"]
    bs = b["bursts"]
    walls = [x["wall"] for x in bs]
    p50s = [median(x["latencies"]) for x in bs]
    p99s = [percentile(x["latencies"], 99) for x in bs]
    n = bs[0]["logins"]
    ok = [x["totp_ok"] + x["backup_ok"] for x in bs]
    w(f"| {n} concurrent logins over {b['users']} users: accepted | "
      f"{' / '.join(str(o) for o in ok)} of {n} | per burst; refused: "
      f"{' / '.join(str(x['replays']) for x in bs)} as replays, "
      f"{' / '.join(str(x['wrong']) for x in bs)} as wrong codes |")
    w(f"| … wall time (start signal → last exit) | {median(walls):.2f} s | "
      f"median of {len(bs)} burst(s): {', '.join(f'{x:.2f}' for x in walls)} |")
    w(f"| … throughput | {n / median(walls):,.0f} logins/s | {os.cpu_count()} cores |")
    w(f"| … latency p50 | {median(p50s):.0f} ms | from the start signal to pamdrive's exit |")
    w(f"| … latency p99 | {median(p99s):.0f} ms | |")
    for kind, label in (("totp", "TOTP logins"), ("backup", "backup-code logins")):
        p50 = median([median(x[kind + "_latencies"]) for x in bs])
        p99 = median([percentile(x[kind + "_latencies"], 99) for x in bs])
        w(f"| … {label} only: p50 / p99 | {p50:.0f} / {p99:.0f} ms | |")
    w("")
    if b["codes"] == "authenticators":
        how = ("with the current codes of its three authenticators (each keeps its own last "
               "step, so every login can succeed)")
        after = ""
    else:
        how = "with the codes of steps t−30 s, t and t+30 s of its authenticator"
        after = (" pam_mfa keeps the last accepted step per user and refuses any step at or "
                 "below it, so when a newer step wins the user's lock first, the older codes of "
                 "that user are refused as replays: only the backup-code logins are certain to "
                 "succeed (`--burst-codes authenticators` gives each user three authenticators "
                 "instead).")
    w(f"Each of the {b['users']} users (nss_wrapper) logs in 4 times at once: {how}, and with one "
      f"of its {BACKUP_COUNT} backup codes (PBKDF2-HMAC-SHA256, {BACKUP_ITERATIONS:,} rounds); "
      f"one pamdrive process per login, all forked first and released together.{after}")
    w("")
    out.extend(fleet_section(ctx["fleet"]))

    if ctx["notes"]:
        w("## Notes: why, and what else was seen")
        w("")
        for line in ctx["notes"]:
            w(f"- {line}")
        w("")
    w("## Set-up")
    w("")
    w("Service lines (one temporary directory, pamtester under pam_wrapper, everything else "
      "through pam_start_confdir; syslog() of every module goes to /dev/null through "
      "Tests/tools/syslogcap.so, as there is no syslog daemon here):")
    w("")
    w("```")
    for name in (PERMIT, GA, GA_REUSE, OSSL_GA_REUSE, OATH, MFA, MFA_LDAP):
        for line in ctx["stacks"].get(name, ()):
            w(line.replace(ctx["base"], "$BENCH_DIR").replace(str(REPO) + "/", ""))
    w("```")
    w("")
    w("google-authenticator's file: the secret and `\" TOTP_AUTH` (no RATE_LIMIT, no "
      "DISALLOW_REUSE: the same code logs in again and the file is never rewritten; the "
      "reference row adds DISALLOW_REUSE). pam_oath's usersfile: `HOTP/T30/6 root - HEX`. "
      "pam_mfa's: `pam_mfa 1` and `totp secret=BASE32`. pam_mfa store=ldap: slapd from "
      "Tests/e2e/mfatest/ldapdir.py (its own CA, cn=config and mdb database under $BENCH_DIR/ldap, the "
      "schema ldap/pam_mfa.ldif and the access rules of ldap/acl-example.ldif), listening on "
      "127.0.0.1 only; the module binds as host-a (client certificate, SASL EXTERNAL, member of "
      "cn=pam-mfa-hosts); root's entry `uid=root,ou=mfa,dc=pam-mfa,dc=test` (objectClass "
      "pamMfaAccount) holds the same secret in pamMfaEnrollment. Helpers: Tests/tools/dlopen_probe.c, "
      "Tests/tools/cycle_host.c, Tests/tools/pamdrive.c, Tests/tools/ossl_start.c (the "
      "reference's OpenSSL start-up); driver: Tests/Bench/bench.py with the sshd logins, the "
      "no-code paths, the hosts, the profile and the targets beside it in Tests/Bench/.")
    w("")
    return "\n".join(out)


def ldap_paragraph(ctx: dict) -> str:
    """The store=ldap row in words: its ratios and what one of its logins does."""
    t, ldap = ctx["pamtester"], ctx["ldap"]
    if not t.get(MFA_LDAP):
        return (f"**{MFA_LDAP}: not measured: {ldap['reason'] or 'no logins'}.** (It needs slapd and "
                f"ldap-utils, `make deps`, and {STORE_PLUGIN.relative_to(REPO)}, `make build`.)")
    x = t[MFA_LDAP]
    med, p90 = median(x), percentile(x, 90)
    files, ga = median(t[MFA]), median(t[GA])
    text = (f"**{MFA_LDAP}**: median {med:.2f} ms, p90 {p90:.2f} ms: {ratio(med, files)} pam_mfa with "
            f"the file store ({med - files:+.2f} ms), {ratio(med, ga)} google-authenticator. "
            f"What one such login adds (Login.run → Login.withStore → PluginConnection.open → "
            f"DirectoryCredentialStore, Sources/MFACore/Login/Login.swift; "
            f"plugins/ldap/store_ldap.c): in the new process, dlopen of "
            f"store_ldap.so with libldap, liblber, libsasl2 and GnuTLS; a TCP connection to slapd "
            f"on 127.0.0.1; StartTLS (TLS handshake with host-a's client certificate); a SASL "
            f"EXTERNAL bind; one base search of {ldap['dn']} (enrollment and state, read once and "
            f"kept for the login); two modifies, each committed by slapd to its mdb database: the "
            f"attempt counted before the code is checked (pamMfaFailures added under the assertion "
            f"`(!(pamMfaFailures=*))`), then the step moved (the value read deleted, the new one "
            f"added) with pamMfaFailures cleared and pamMfaLastSuccess set; then an unbind. Five "
            f"requests the server answers (StartTLS, bind, search, two modifies), one round trip "
            f"each, plus the TCP and TLS handshakes.")
    ops = ldap.get("ops")
    if ops:
        order = ("EXT (StartTLS)", "EXT", "STARTTLS", "BIND", "SRCH", "MOD", "ADD", "DEL", "CMP", "MODRDN",
                 "UNBIND", "ABANDON")
        counted = ", ".join(f"{verb} {ops['ops'][verb]}" for verb in order if verb in ops["ops"])
        text += (f" slapd's log for the set-up login: {ops['connections']} connection(s); "
                 f"{counted or 'no requests'}"
                 + (f"; {ops['tls']}" if ops["tls"] else "")
                 + (f"; errors: {'; '.join(ops['errors'])}" if ops["errors"] else "") + ".")
    return text


def disk_medians(ctx: dict, name: str) -> tuple | None:
    """A row's median disk work per login: (writes, KiB, flushes, discards), or None."""
    io = ctx["disk"].get(name)
    return tuple(median([x[i] for x in io]) for i in range(4)) if io else None


def disk_text(ctx: dict, name: str) -> str:
    """A row's median disk work per login: 'W writes (K KiB), F flush(es), D discard(s)'."""
    m = disk_medians(ctx, name)
    return f"{m[0]:g} writes ({m[1]:g} KiB), {m[2]:g} flush(es), {m[3]:g} discard(s)" if m else "not measured"


def evaluate(ctx: dict) -> tuple[list[str], list[str]]:
    targets, notes = [], []
    t, d, c, rows = ctx["pamtester"], ctx["dlopen"], ctx["cycle"], ctx["mfa_rows"]

    # What google-authenticator's replay protection costs it (issue 18 asks which figure is
    # right): the same module with and without DISALLOW_REUSE, both rows interleaved.
    ga, gar, permit = median(t[GA]), median(t[GA_REUSE]), median(t[PERMIT])
    _, upd = mfa_row(rows, "state update in place")
    notes.append(
        f"google-authenticator's DISALLOW_REUSE: {gar:.2f} ms against {ga:.2f} ms without it "
        f"({gar - ga:+.2f} ms; {gar - permit:+.2f} ms above pam_permit) in the pamtester rounds "
        f"(its file put back before each login, untimed); with it each accepted code rewrites "
        f"the secret file: a new temp file, write, fsync, rename (no fsync of the directory); "
        f"pam_mfa's one state write (pwrite + fdatasync) takes "
        f"{(upd or 0) / 1000:.2f} ms in mfa-bench. In the long-lived host: "
        f"{c[GA]['logins'] / c[GA]['login_seconds']:,.0f} logins/s without it, "
        f"{c[GA_REUSE]['logins'] / c[GA_REUSE]['login_seconds']:,.0f} with it. "
        f"An earlier independent run found 1.8–2.3 ms above pam_permit for the same rewrite, this "
        f"bench 0.5–1.1 ms: both are right for their moment. What the rewrite makes the disk do "
        f"is fixed (the disk column: {disk_text(ctx, GA_REUSE)} per login for it, "
        f"{disk_text(ctx, MFA)} for pam_mfa), how long that takes is not: this machine's "
        f"virtual disk (ext4 without a journal, mounted with discard) took 6.6–8.1 ms for the "
        f"same login while another process wrote heavily, and under strace 1.6–2.1 ms. How the "
        f"file is put back does not change google-authenticator's cost (five ways measured: "
        f"+0.76 to +1.02 ms); files are put back durably here, as a steady-state login finds "
        f"them.")

    # Where pam_mfa's dlopen memory comes from, while it links libcrypto.
    if d[MFA]["libcrypto"]:
        a_ga, a_mfa = d[GA]["anon"], d[MFA]["anon"]
        crypto = d[CRYPTO_ALONE]
        pre = d[MFA_CRYPTO_LOADED]
        notes.append(
            f"dlopen memory: pam_mfa needs {', '.join(ctx['needed'][MFA])}; google-authenticator "
            f"needs only {', '.join(ctx['needed'][GA])} (it carries its own SHA-1/HMAC). "
            f"libcrypto.so.3 alone adds {crypto['anon']:.0f} KB anonymous and {crypto['file']:.0f} KB "
            f"file-backed ({crypto['us']:.0f} µs), "
            f"{crypto['anon'] / a_mfa * 100 if a_mfa else 0:.0f}% of pam_mfa's {a_mfa:.0f} KB: "
            f"the dynamic linker relocates its "
            f"{', '.join(f'{k} ({v:.0f} KB)' for k, v in ctx['crypto_sections'].items())}, "
            f"which become private pages. "
            f"pam_mfa itself, loaded into a host that has libcrypto already (sshd links "
            f"libcrypto.so.3), adds {pre['anon']:.0f} KB anonymous ({ratio(pre['anon'], a_ga)} "
            f"google-authenticator) and {pre['file']:.0f} KB file-backed."
            + (f" At the first login OpenSSL's start-up adds another {crypto['hmac_anon']:.0f} KB "
               f"anonymous and {crypto['hmac_file']:.0f} KB file-backed." if "hmac_anon" in crypto else ""))

    # No growth over the cycle.
    grew = []
    for name in CYCLE_ROWS:
        x = c[name]
        drss, danon = x["end"][0] - x["warm"][0], x["end"][1] - x["warm"][1]
        if drss > GROWTH_LIMIT_KB or danon > GROWTH_LIMIT_KB:
            grew.append((name, drss, danon, x))
    x = c[MFA]
    drss, danon = x["end"][0] - x["warm"][0], x["end"][1] - x["warm"][1]
    after = x["logins"] - 100
    if x["success"] != x["logins"]:
        targets.append(f"MISS pam_mfa in the long-lived host: only {x['success']} of {x['logins']} "
                       f"logins succeeded (first failure: {x['first_failure']}).")
    if drss > GROWTH_LIMIT_KB or danon > GROWTH_LIMIT_KB:
        targets.append(f"MISS no growth over the cycle (pam_mfa): RSS {drss:+,} KB, anonymous "
                       f"{danon:+,} KB over {after:,} logins after warm-up (limit "
                       f"{GROWTH_LIMIT_KB} KB), about {max(drss, danon) * 1024 / after:.0f} bytes per login.")
    else:
        targets.append(f"PASS no growth over the cycle (pam_mfa): RSS {drss:+,} KB, anonymous "
                       f"{danon:+,} KB over {after:,} logins after warm-up (limit {GROWTH_LIMIT_KB} KB).")
    for name, r_, a_, y in grew:
        if name != MFA:
            notes.append(f"{name} grew in the long-lived host: RSS {r_:+,} KB, anonymous {a_:+,} KB "
                         f"over {y['logins'] - 100:,} logins after warm-up (not ours; shown for "
                         f"comparison).")
    g = c[GA]
    notes.append(f"Memory held by the long-lived host (not a target): with pam_mfa it holds "
                 f"{x['end'][0] - g['end'][0]:+,} KB RSS and {x['end'][1] - g['end'][1]:+,} KB "
                 f"anonymous more than with google-authenticator: pam_mfa stays loaded (-z nodelete) "
                 f"and with it libcrypto and OpenSSL's state after its start-up.")
    for name in (PERMIT, GA, GA_REUSE, OATH):
        y = c[name]
        if y["success"] != y["logins"]:
            notes.append(f"{name} in the long-lived host: {y['success']} of {y['logins']} logins "
                         f"succeeded (first failure: {y['first_failure']}).")
    return targets, notes


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def main() -> None:
    # A terminated bench still removes its users, PAM files, servers and directory (finally).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    quick_env = os.environ.get("MFA_BENCH_QUICK", "") not in ("", "0")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", default=quick_env,
                    help="few rounds, to try the script (also MFA_BENCH_QUICK=1)")
    ap.add_argument("--rounds", type=int, help="interleaved pamtester and nullok rounds (default 200, quick 12)")
    ap.add_argument("--sshd-rounds", type=int,
                    help="interleaved sshd login rounds (default 50, quick 4)")
    ap.add_argument("--first-logins", type=int,
                    help="fresh sshd-like processes per module for the first login (default 100, quick 5)")
    ap.add_argument("--dlopen-samples", type=int, help="fresh processes per module (default 60, quick 8)")
    ap.add_argument("--threads", type=int, help="long-lived host threads (default 4, quick 2)")
    ap.add_argument("--iterations", type=int,
                    help="logins per thread in the long-lived host (default 2500, quick 300)")
    ap.add_argument("--users", type=int, default=50, help="users in the concurrent burst (default 50)")
    ap.add_argument("--bursts", type=int, help="concurrent bursts (default 3, quick 1)")
    ap.add_argument("--fleet-logins", type=int,
                    help="logins per simulated host in each fleet round (default 100, quick 6)")
    ap.add_argument("--burst-codes", choices=("steps", "authenticators"), default="steps",
                    help="each user's 3 TOTP logins: codes of steps t-30/t/t+30 (default) or "
                         "of 3 authenticators at t")
    ap.add_argument("--module", type=Path, default=BUILD / "pam_mfa.so", help="pam_mfa.so to measure")
    ap.add_argument("--mfa-bench", type=Path, default=REPO / ".build" / "release" / "mfa-bench",
                    help="the mfa-bench executable (swift build -c release --product mfa-bench)")
    ap.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md",
                    help="where to write the report (default: BENCHMARKS.md in the repository)")
    ap.add_argument("--no-write", action="store_true", help="print the report only")
    args = ap.parse_args()
    q = args.quick
    cfg = {
        "quick": q,
        "rounds": args.rounds or (12 if q else 200),
        "sshd_rounds": args.sshd_rounds or (4 if q else 50),
        "first_logins": args.first_logins or (5 if q else 100),
        "dlopen_samples": args.dlopen_samples or (8 if q else 60),
        "threads": args.threads or (2 if q else 4),
        "iterations": args.iterations or (300 if q else 2500),
        "bursts": args.bursts or (1 if q else 3),
        "fleet_logins": args.fleet_logins or (6 if q else 100),
    }
    if cfg["threads"] * cfg["iterations"] <= 200:
        die("the long-lived host needs more than 200 logins (100 are warm-up)")

    if os.geteuid() != 0:
        die("run as root (the module reads users' files with their privileges; sudo make bench)")
    module = args.module.resolve()
    if not module.exists():
        die(f"{module} does not exist: make build")
    if not args.mfa_bench.exists():
        die(f"{args.mfa_bench} does not exist: swift build -c release --product mfa-bench")
    modules = {MFA: module}
    for name, pkg in ((GA, "libpam-google-authenticator"), (OATH, "libpam-oath"),
                      (PERMIT, "libpam-modules")):
        so = package_so(pkg, name + ".so")
        if so is None:
            die(f"{name}.so not found: apt-get install {pkg} (make bench installs it)")
        modules[name] = so
    for tool in ("pamtester", "oathtool", "readelf", "ldd", "ssh", "ssh-keygen", "useradd"):
        if shutil.which(tool) is None:
            die(f"{tool} is missing (make deps)")
    if not Path("/usr/sbin/sshd").exists():
        die("/usr/sbin/sshd is missing (apt-get install openssh-server; make bench installs it)")
    libcrypto = system_library(LIBCRYPTO)
    if libcrypto is None:
        die(f"ldconfig -p knows no {LIBCRYPTO} (apt-get install libssl3)")
    check_helpers()

    if os.environ.get("MAKELEVEL"):
        command = "make bench" + (" (quick)" if q else "") + \
            f" → python3 Tests/Bench/bench.py {shlex.join(sys.argv[1:])}".rstrip()
    else:
        command = shlex.join(["python3", "Tests/Bench/bench.py", *sys.argv[1:]])
    ctx = {
        "cfg": cfg, "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_facts(), "load_before": loadavg(),
        "versions": {p: package_version(p) for p in (
            "libpam-google-authenticator", "libpam-oath", "liboath0", "libpam-modules",
            "libpam0g", "pamtester", "libssl3", "slapd")},
        "libldap": libldap_package(STORE_PLUGIN),
        "mfa_identity": pam_mfa_identity(module),
        "needed": {n: needed(modules[n]) for n in (GA, OATH, MFA)},
        "crypto_sections": writable_sections_kb(libcrypto),
    }

    base = Path(tempfile.mkdtemp(prefix="pam_mfa_bench."))
    ldap = LdapStore(base)
    try:
        os.chmod(base, 0o755)
        started = time.monotonic()

        print(f"== mfa-bench ({args.mfa_bench})", flush=True)
        text, ctx["mfa_rows"] = run_mfa_bench(args.mfa_bench)
        print(text, end="", flush=True)

        print("== slapd on 127.0.0.1 for pam_mfa store=ldap (Tests/e2e/mfatest/ldapdir.py)", flush=True)
        if ldap.start():
            print(f"   {ldap.directory.uri} (StartTLS), SASL EXTERNAL as host-a", flush=True)
        world = World(base, modules, ldap)
        ctx["stacks"] = world.stacks
        ctx["base"] = str(base)

        print(f"== pamtester: {cfg['rounds']} interleaved rounds", flush=True)
        ctx["pamtester"] = measure_pamtester(world, cfg["rounds"])
        ctx["disk"] = world.disk
        ldap.stop()  # the rest measures files only
        ctx["ldap"] = {"reason": ldap.reason, "ops": ldap.ops, "dn": ldap.dn,
                       "plugin": ldap.plugin}

        # Its own slapd, with a host identity per simulated host (fleet.py); never fatal: a
        # machine without slapd gets "not measured: <reason>" in the section.
        (base / "fleet").mkdir()
        ctx["fleet"] = measure_fleet(base / "fleet", q, logins=cfg["fleet_logins"],
                                     progress=lambda text: print(text, flush=True))

        with RealUsers() as users:
            print(f"== sshd on 127.0.0.1: {cfg['sshd_rounds']} interleaved rounds", flush=True)
            with SshdRounds(base, modules, world.mfa_conf, users, world.secret) as sshd:
                ctx["sshd"] = sshd.measure(cfg["sshd_rounds"])
            print(f"== nullok: {cfg['rounds']} interleaved pamtester rounds; libcrypto on the "
                  f"paths that compute no code", flush=True)
            ctx["nullok"] = measure_nullok(world, cfg["rounds"])
            ctx["no_code"] = libcrypto_facts(world)

        print(f"== dlopen: {cfg['dlopen_samples']} fresh processes per module", flush=True)
        targets = [(PERMIT, [str(modules[PERMIT])]), (GA, [str(modules[GA])]),
                   (OATH, [str(modules[OATH])]), (MFA, [str(module)]),
                   (CRYPTO_ALONE, ["--first-hmac", str(libcrypto)]),
                   (MFA_CRYPTO_LOADED, ["--preload", str(libcrypto), str(module)])]
        ctx["dlopen_order"] = [label for label, _ in targets]
        ctx["dlopen"] = measure_dlopen(targets, cfg["dlopen_samples"])

        print(f"== first login in an sshd-like host: {cfg['first_logins']} fresh processes per "
              f"module", flush=True)
        ctx["first_login"] = measure_first_login(world, [PERMIT, GA_REUSE, MFA], cfg["first_logins"])

        ctx["cycle"] = {}
        for name in CYCLE_ROWS:
            print(f"== long-lived host: {name}, {cfg['threads']} threads × {cfg['iterations']}",
                  flush=True)
            ctx["cycle"][name] = measure_cycle(world, name, cfg["threads"], cfg["iterations"])

        print(f"== {args.users * 4} concurrent logins over {args.users} users, "
              f"{cfg['bursts']} burst(s)", flush=True)
        ctx["burst"] = measure_concurrency(world, args.users, bursts=cfg["bursts"],
                                           codes=args.burst_codes)

        print("== callgrind: one login each", flush=True)
        ctx["profile"] = profile_rows(world, [MFA, GA_REUSE, OSSL_GA_REUSE], [MFA, GA_REUSE])

        ctx["load_after"] = loadavg()
        goals, goal_notes = goal_lines(ctx)
        targets, notes = evaluate(ctx)
        ctx["targets"], ctx["notes"] = goals + targets, goal_notes + notes
        text = report(ctx)
        text += f"\n_Run time: {time.monotonic() - started:.0f} s._\n"
    finally:
        ldap.stop()
        shutil.rmtree(base, ignore_errors=True)

    print()
    print(text)
    if not args.no_write:
        args.output.write_text(text)
        print(f"(written to {args.output})")
    print()
    for line in ctx["targets"]:
        print(line)
    if fleet_doubles(ctx["fleet"]):
        die(f"the fleet accepted one code twice ({fleet_doubles(ctx['fleet'])} time(s)): see its section")


if __name__ == "__main__":
    main()
