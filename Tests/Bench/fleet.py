#!/usr/bin/env python3
"""Load across a fleet (issue 19): K simulated hosts log in through pam_mfa store=ldap
against one slapd, and how much of the directory one login costs.

One private slapd (Tests/e2e/mfatest/ldapdir.py) on 127.0.0.1.  Each simulated host is a
long-lived process of its own (Tests/tools/fleet_host.c) with its own state directory,
pam_mfa.conf and client certificate (CN=fleet-NN, made a member of the hosts group through
ldapmodify as the rootdn), which runs M whole logins one after the other through libpam and
the real pam_mfa.so: every login opens the store (StartTLS, SASL EXTERNAL bind), reads the
user's entry and writes it (the attempt counted, then the counter moved), as a real login does;
the module and its store plugin are loaded once per process, as they stay loaded.  K = 4, 16,
64 hosts, all started together after one untimed warm-up login each.

Users are written straight into the directory as the rootdn, each with an HOTP key (a counter
makes as many right codes as wanted; TOTP allows one per user per 30 s) and its counter mark,
so every login takes the steady path.  Each host logs in its own users in turn (no two hosts
wait on one entry), and every RACE_EVERY-th login of every host is a race: the hosts pair up
and both of a pair send the same code for the same user at the same moment (a semaphore
between them).  Exactly one of each pair may be accepted: a double acceptance fails the run
(exit status 1); every other number is reported, never asserted.

Reported per K: sustained logins/s (while all K hosts were busy) and over the whole run,
p50/p99 latency, accepted / refused / "directory unavailable", the races, slapd's CPU per login
(utime+stime from /proc/PID/stat around the run) and the hosts'.  Then one directory core in
logins per second and per hour, and where one login's time goes: a fresh process's first login,
a long-lived host's login split per libldap call (Tests/tools/ldap_phases.so, LD_PRELOAD), the
server's etime per request from its stats log, and slapd's CPU per TLS+bind connection, per
search and per modify measured with ldap-utils.

Runs as root; everything lives in one temporary directory, removed at the end, and every
process started here is stopped.  Loopback only.

    python3 Tests/Bench/fleet.py            # full run
    python3 Tests/Bench/fleet.py --quick    # a few logins, to try it
    python3 Tests/Bench/fleet.py --hosts 16 --json before.json   # one round, numbers kept
    python3 Tests/Bench/fleet.py --hosts "" # the one-host breakdown only
    python3 Tests/Bench/fleet.py --ldaps    # ldaps:// instead of StartTLS
(make bench runs it through bench.py, which puts its section into BENCHMARKS.md.)  Exit status:
0, 1 when a code was accepted twice, 2 when the measurement could not be completed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import (BUILD, NSS_WRAPPER, SYSLOGCAP, TEST_TOOLS, die, e2e_helpers,  # noqa: E402
                       median, one_line, percentile, run)

FLEET_HOST = TEST_TOOLS / "fleet_host"
LDAP_PHASES = TEST_TOOLS / "ldap_phases.so"
STORE_PLUGIN = BUILD / "pam_mfa" / "store_ldap.so"
MODULE = BUILD / "pam_mfa.so"

HOST_COUNTS = (4, 16, 64)
AUTHENTICATOR = "default"
UID_BASE = 21000
READY_TIMEOUT = 300.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
# PAM return codes fleet_host prints
PAM_SUCCESS = 0


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def hotp(key: bytes, counter: int, digits: int = 6) -> str:
    """RFC 4226."""
    digest = hmac.new(key, counter.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = int.from_bytes(digest[offset:offset + 4], "big") & 0x7FFFFFFF
    return str(number % 10 ** digits).zfill(digits)


def counter_key(key: bytes) -> str:
    """The name pam_mfa keeps an HOTP counter under: NAME.<first 4 bytes of sha256(key), hex>
    (Authenticator.counterKey)."""
    return f"{AUTHENTICATOR}.{hashlib.sha256(key).digest()[:4].hex()}"


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a whole process (all threads), from /proc/PID/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def ms(ns: float) -> float:
    return ns / 1e6


# ---------------------------------------------------------------------------
# the directory and the fleet
# ---------------------------------------------------------------------------


class User:
    def __init__(self, name: str, uid: int):
        self.name = name
        self.uid = uid
        self.key = os.urandom(20)
        self.next = 0  # the next counter the directory expects (its pamMfaStep mark)

    def take(self) -> tuple[int, str]:
        """The next right code, and the counter it belongs to."""
        counter = self.next
        self.next += 1
        return counter, hotp(self.key, counter)


class Host:
    """One simulated host: its directory identity, state directory, pam_mfa.conf and PAM
    service file, all under base/hosts/NAME."""

    def __init__(self, fleet: Fleet, index: int):
        self.index = index
        self.name = f"fleet-{index:02d}"
        d = fleet.directory
        self.dir = fleet.base / "hosts" / self.name
        self.state = self.dir / "state"
        self.state.mkdir(parents=True, mode=0o700)
        self.cert, self.key = d.host_cert(self.name)
        self.conf = self.dir / "pam_mfa.conf"
        settings = ["store=ldap", f"ldap_uri={d.ldaps_uri if fleet.ldaps else d.uri}", f"ldap_base={d.base}", f"ldap_ca={d.ca}",
                    f"ldap_cert={self.cert}", f"ldap_key={self.key}",
                    f"store_plugin={fleet.plugin}", f"state_dir={self.state}"]
        self.conf.write_text("".join(s + "\n" for s in settings))
        os.chmod(self.conf, 0o644)
        self.pamd = self.dir / "pam.d"
        self.pamd.mkdir()
        (self.pamd / "other").write_text("auth required pam_deny.so\naccount required pam_deny.so\n")
        (self.pamd / "fleet").write_text(f"auth required {fleet.module} conf={self.conf}\n"
                                         "account required pam_permit.so\n")
        self.users: list[User] = []

    @property
    def stack_line(self) -> str:
        return (self.pamd / "fleet").read_text().splitlines()[0]


class Fleet:
    """The slapd, the hosts (up to max_hosts) and the users: users_per_host of each host's own
    and max_hosts // 2 race users that pairs of hosts share."""

    def __init__(self, base: Path, max_hosts: int, users_per_host: int, module: Path = MODULE,
                 plugin: Path = STORE_PLUGIN, ldaps: bool = False):
        self.base = base
        self.ldaps = ldaps  # ldaps:// (TLS at once) instead of ldap:// with StartTLS
        self.module = module.resolve()
        self.plugin = plugin.resolve()
        self.max_hosts = max_hosts
        self.users_per_host = users_per_host
        self.directory = None
        self.hosts: list[Host] = []
        self.race_users: list[User] = []
        self.passwd = base / "passwd"
        self.group = base / "group"
        self.slapd_log_level = 256

    # -- set-up ------------------------------------------------------------

    def check(self) -> str | None:
        """Why the fleet cannot run here, or None."""
        for path, how in ((FLEET_HOST, "make test-tools"), (SYSLOGCAP, "make test-tools"),
                          (LDAP_PHASES, "make test-tools"),
                          (self.module, "make build"), (self.plugin, "make build")):
            if not Path(path).exists():
                return f"{path} is missing ({how})"
        st = self.plugin.stat()
        if st.st_uid != 0 or st.st_mode & 0o022:
            return f"{self.plugin.name} must be owned by root and writable by no one else"
        for tool in ("ldapmodify", "ldapsearch", "ldapwhoami", "openssl"):
            if shutil.which(tool) is None:
                return f"{tool} is missing (apt-get install ldap-utils openssl; make deps)"
        try:
            e2e_helpers()
            from mfatest import ldapdir  # noqa: F401
        except Exception as e:  # noqa: BLE001
            return f"cannot import Tests/e2e/mfatest/ldapdir.py: {one_line(e)}"
        for path in (ldapdir.SLAPD, ldapdir.SLAPADD):
            if not Path(path).exists():
                return f"{path} is missing (apt-get install slapd; make deps)"
        return None

    def start(self) -> None:
        e2e_helpers()
        from mfatest import ldapdir
        os.chmod(self.base, 0o755)
        ldap_dir = self.base / "ldap"
        ldap_dir.mkdir(mode=0o755)
        self.directory = ldapdir.Directory(ldap_dir)
        self.directory.start()
        self.hosts = [Host(self, i) for i in range(self.max_hosts)]
        uid = UID_BASE
        for host in self.hosts:
            for u in range(self.users_per_host):
                host.users.append(User(f"fu{host.index:02d}x{u}", uid))
                uid += 1
        self.race_users = [User(f"fr{p:02d}", uid + p) for p in range(max(1, self.max_hosts // 2))]
        self._add_hosts()
        self._add_users()
        self._write_nss()

    def _add_hosts(self) -> None:
        """Each host's entry under ou=hosts (the DN its certificate maps to) and its membership
        of the hosts group, which the access rules give write access to ou=mfa."""
        d = self.directory
        ldif = "".join(f"dn: cn={h.name},ou=hosts,{d.suffix}\nchangetype: add\n"
                       f"objectClass: applicationProcess\ncn: {h.name}\n"
                       f"description: pam_mfa fleet bench host\n\n" for h in self.hosts)
        ldif += (f"dn: {d.hosts_group}\nchangetype: modify\nadd: member\n"
                 + "".join(f"member: cn={h.name},ou=hosts,{d.suffix}\n" for h in self.hosts))
        d.modify(ldif)

    def _add_users(self) -> None:
        """Every user's entry as `mfa-enroll` leaves it after some logins: the enrollment (the
        secret file's text in pamMfaEnrollment) and the HOTP counter mark in pamMfaStep."""
        d = self.directory
        chunks = []
        for user in self.all_users():
            text = (f"pam_mfa 1\nhotp name={AUTHENTICATOR} algorithm=SHA1 digits=6 counter=0 "
                    f"secret={base64.b32encode(user.key).decode().rstrip('=')}\n")
            chunks.append(f"dn: uid={user.name},{d.base}\nchangetype: add\nobjectClass: pamMfaAccount\n"
                          f"uid: {user.name}\n"
                          f"pamMfaEnrollment:: {base64.b64encode(text.encode()).decode()}\n"
                          f"pamMfaStep: hotp:{counter_key(user.key)}:{user.next}\n\n")
        d.modify("".join(chunks))

    def _write_nss(self) -> None:
        """The users as local accounts (pam_mfa looks every user up with getpwnam), through
        nss_wrapper: nothing in /etc changes."""
        home = self.base / "home"
        home.mkdir(mode=0o755)
        users = self.all_users()
        self.passwd.write_text("root:x:0:0:root:/root:/bin/sh\n" + "".join(
            f"{u.name}:x:{u.uid}:{u.uid}:{u.name}:{home}:/bin/sh\n" for u in users))
        self.group.write_text("root:x:0:\n" + "".join(f"{u.name}:x:{u.uid}:\n" for u in users))

    def all_users(self) -> list[User]:
        return [u for h in self.hosts for u in h.users] + self.race_users

    def stop(self) -> None:
        if self.directory is not None:
            self.directory.stop()

    @property
    def slapd_pid(self) -> int:
        return self.directory.proc.pid

    def host_env(self, host: Host, preload: str = "") -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("NSS_WRAPPER", "PAM_WRAPPER", "LD_PRELOAD", "MFA_TEST_SYSLOG",
                                    "LDAP"))}
        env.update(LD_PRELOAD=" ".join(x for x in (preload, NSS_WRAPPER, str(SYSLOGCAP)) if x),
                   NSS_WRAPPER_PASSWD=str(self.passwd), NSS_WRAPPER_GROUP=str(self.group),
                   MFA_TEST_SYSLOG=str(host.dir / "syslog.txt"))
        return env

    # -- the directory as the rootdn sees it -----------------------------------

    def counters(self) -> dict[str, int]:
        """Every user's HOTP counter mark as the directory holds it now."""
        d = self.directory
        proc = run(["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", d.ldapi_uri, "-D", d.root_dn,
                    "-w", d.root_password, "-b", d.base, "-s", "one", "(objectClass=pamMfaAccount)",
                    "uid", "pamMfaStep"], env=d.client_env(), timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"ldapsearch: {proc.stderr.strip()}")
        from mfatest.ldapdir import parse_ldif
        out = {}
        for _, attrs in parse_ldif(proc.stdout):
            uid = attrs.get("uid", [b"?"])[0].decode()
            for value in attrs.get("pamMfaStep", []):
                kind, _, number = value.decode().rpartition(":")
                if kind.startswith("hotp:"):
                    out[uid] = int(number)
        return out


# ---------------------------------------------------------------------------
# one round: K hosts, M logins each
# ---------------------------------------------------------------------------


class Login:
    __slots__ = ("host", "index", "kind", "user", "counter", "race", "role", "start", "end", "cpu",
                 "rc", "verdict", "log")

    def __init__(self, host: int, index: int, kind: str, user: User, counter: int, race: int = -1,
                 role: int = 0):
        self.host, self.index, self.kind, self.user, self.counter = host, index, kind, user, counter
        self.race, self.role = race, role
        self.start = self.end = self.cpu = 0
        self.rc = -1
        self.verdict = "no result"
        self.log = ""


def scripts(fleet: Fleet, k: int, m: int, race_every: int) -> tuple[dict[int, list[Login]], int]:
    """Each host's logins: one warm-up (W), then m logins; every race_every-th of them is a race
    slot on every host at once, where the hosts pair up at random and each pair sends the same
    code of one race user.  Returns ({host: [Login]}, number of races)."""
    out: dict[int, list[Login]] = {}
    for h in range(k):
        host = fleet.hosts[h]
        user = host.users[0]
        out[h] = [Login(h, 0, "W", user, user.take()[0])]
    # codes are taken in login order per user, as the logins of one host run in order
    races = 0
    for i in range(m):
        race_slot = race_every > 0 and (i + 1) % race_every == 0 and k >= 2
        if race_slot:
            order = list(range(k))
            random.shuffle(order)
            for p in range(k // 2):
                user = fleet.race_users[p % len(fleet.race_users)]
                counter, _ = user.take()
                for role, h in enumerate(order[2 * p:2 * p + 2]):
                    out[h].append(Login(h, len(out[h]), "R", user, counter, races, role))
                races += 1
            if k % 2:  # the host left over logs in normally
                h = order[-1]
                host = fleet.hosts[h]
                user = host.users[i % len(host.users)]
                out[h].append(Login(h, len(out[h]), "L", user, user.take()[0]))
        else:
            for h in range(k):
                host = fleet.hosts[h]
                user = host.users[i % len(host.users)]
                out[h].append(Login(h, len(out[h]), "L", user, user.take()[0]))
    return out, races


def write_script(path: Path, logins: list[Login]) -> None:
    lines = []
    for x in logins:
        code = hotp(x.user.key, x.counter)
        lines.append(f"{x.kind} {x.user.name} {code}" + (f" {x.race} {x.role}" if x.kind == "R" else ""))
    path.write_text("\n".join(lines) + "\n")


def classify(rc: int, log: str) -> str:
    """What one login ended as, from its return code and what pam_mfa logged for it."""
    if "directory unavailable" in log:
        return "directory unavailable"
    if rc == PAM_SUCCESS:
        return "accepted"
    if "replay" in log:
        return "refused: replay"
    if "locked" in log or "lockout" in log:
        return "refused: locked out"
    if "wrong code" in log:
        return "refused: wrong code"
    if "kept changing" in log:
        return "refused: entry kept changing"
    if not log.strip():
        return f"other: PAM return code {rc}, nothing logged"
    # the last line, without who and where (so that the same failure counts as one kind)
    line = log.strip().splitlines()[-1]
    line = re.sub(r"^.*?service=\S+: ", "", line)
    line = re.sub(r"directory ldap\S* \([^)]*\) ", "", line)
    line = re.sub(r"ldaps?://[^\s:]+(:\d+)?:? ?", "", line)
    return "other: " + one_line(line, 160)


def split_syslog(path: Path) -> dict[int, str]:
    """Lines logged per login (fleet_host logs `fleet-mark N` before login N)."""
    out: dict[int, list[str]] = {}
    current = None
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {}
    for line in text.splitlines():
        m = re.search(r"fleet-mark (\d+)$", line)
        if m:
            current = int(m.group(1))
            out.setdefault(current, [])
        elif current is not None:
            out[current].append(line)
    return {i: "\n".join(v) for i, v in out.items()}


class Procs:
    """Host processes started here, stopped (each by its own handle) whatever happens."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []
        self.files = []

    def start(self, argv: list, env: dict, stderr: Path) -> subprocess.Popen:
        err = open(stderr, "wb")
        self.files.append(err)
        proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=err, env=env)
        self.procs.append(proc)
        return proc

    def wait_ready(self, procs: list[subprocess.Popen], timeout: float) -> None:
        pending = {p.stdout.fileno(): p for p in procs}
        deadline = time.monotonic() + timeout
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{len(pending)} host(s) not ready after {timeout:.0f} s")
            ready, _, _ = select.select(list(pending), [], [], left)
            for fd in ready:
                line = os.read(fd, 64)
                if not line.startswith(b"READY"):
                    raise RuntimeError(f"a host ended before READY (status {pending[fd].wait()})")
                del pending[fd]

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            for f in (p.stdin, p.stdout):
                if f is not None:
                    try:
                        f.close()
                    except OSError:
                        pass
        for f in self.files:
            f.close()
        self.procs, self.files = [], []


def run_round(fleet: Fleet, k: int, m: int, race_every: int) -> dict:
    """K hosts, each a fresh fleet_host process: a warm-up login, READY, then all start at once."""
    base = fleet.base / f"round-{k}"
    base.mkdir()
    plan, races = scripts(fleet, k, m, race_every)
    race_file = base / "races"
    proc = run([FLEET_HOST, "--init-races", race_file, max(races, 1)])
    if proc.returncode != 0:
        raise RuntimeError(f"fleet_host --init-races: {proc.stderr.strip()}")
    procs = Procs()
    try:
        started = []
        for h in range(k):
            host = fleet.hosts[h]
            (host.dir / "syslog.txt").unlink(missing_ok=True)
            script = base / f"{host.name}.script"
            write_script(script, plan[h])
            argv = [FLEET_HOST, "--confdir", host.pamd, "--service", "fleet", "--script", script,
                    "--out", base / f"{host.name}.out", "--races", race_file]
            started.append(procs.start(argv, fleet.host_env(host), base / f"{host.name}.err"))
        procs.wait_ready(started, READY_TIMEOUT)
        slapd_before = process_cpu_seconds(fleet.slapd_pid)
        t0 = time.monotonic_ns()
        for p in started:
            p.stdin.write(b"GO\n")
            p.stdin.flush()
        deadline = time.monotonic() + max(600.0, 2.0 * m * k)
        for p in started:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
        t_done = time.monotonic_ns()
        slapd_after = process_cpu_seconds(fleet.slapd_pid)
        load = loadavg()
    finally:
        procs.stop()

    # results
    logins: list[Login] = []
    host_cpu_ns = 0
    race_timeouts = 0
    warm: list[Login] = []
    for h in range(k):
        host = fleet.hosts[h]
        out = (base / f"{host.name}.out").read_text() if (base / f"{host.name}.out").exists() else ""
        if "DONE" not in out:
            err = (base / f"{host.name}.err").read_text(errors="replace")
            raise RuntimeError(f"{host.name} did not finish: {out[-500:]}{err[-1000:]}")
        logs = split_syslog(host.dir / "syslog.txt")
        for line in out.splitlines():
            f = line.split()
            if f[0] in ("LOGIN", "WARM"):
                x = plan[h][int(f[1])]
                x.start, x.end, x.cpu, x.rc = int(f[3]), int(f[4]), int(f[5]), int(f[6])
                x.log = logs.get(x.index, "")
                x.verdict = classify(x.rc, x.log)
                (warm if f[0] == "WARM" else logins).append(x)
            elif f[0] == "CPU":
                host_cpu_ns += int(f[1])
            elif f[0] == "RACE_TIMEOUT":
                race_timeouts += 1
    missing = sum(len(plan[h]) for h in range(k)) - len(logins) - len(warm)
    if missing:
        raise RuntimeError(f"{missing} login(s) without a result line")

    # double acceptances: any (user, counter) accepted more than once, in races or not
    accepted: dict[tuple[str, int], int] = {}
    for x in warm + logins:
        if x.verdict == "accepted":
            accepted[(x.user.name, x.counter)] = accepted.get((x.user.name, x.counter), 0) + 1
    doubles = sum(n - 1 for n in accepted.values() if n > 1)
    race_results = {"one": 0, "none": 0, "both": 0}
    by_race: dict[int, list[Login]] = {}
    for x in logins:
        if x.kind == "R":
            by_race.setdefault(x.race, []).append(x)
    for pair in by_race.values():
        n = sum(1 for x in pair if x.verdict == "accepted")
        race_results["one" if n == 1 else "both" if n > 1 else "none"] += 1

    # The directory agrees: each user's counter moved by exactly its accepted codes (a code is
    # one counter value, so a lost update or a second acceptance would show here too).
    now = fleet.counters()
    moved_wrong = []
    for u in fleet.all_users():
        used = [c for (name, c) in accepted if name == u.name]
        if used and now.get(u.name) != max(used) + 1:
            moved_wrong.append(u.name)
        # codes planned but refused leave the counter behind: later rounds start from the directory
        if u.name in now:
            u.next = now[u.name]

    verdicts: dict[str, int] = {}
    for x in logins:
        verdicts[x.verdict] = verdicts.get(x.verdict, 0) + 1
    first_done = min(max(x.end for x in logins if x.host == h) for h in range(k))
    busy = [x for x in logins if x.end <= first_done]
    last_end = max(x.end for x in logins)
    lat = [ms(x.end - x.start) for x in logins]
    return {
        "k": k, "m": m, "logins": len(logins), "races": races, "race_timeouts": race_timeouts,
        "seconds": (last_end - t0) / 1e9, "wall_seconds": (t_done - t0) / 1e9,
        "rate_all": len(logins) / ((last_end - t0) / 1e9),
        "rate_busy": len(busy) / ((first_done - t0) / 1e9) if first_done > t0 and busy else float("nan"),
        "busy_logins": len(busy),
        "p50": median(lat), "p90": percentile(lat, 90), "p99": percentile(lat, 99), "max": max(lat),
        "verdicts": verdicts,
        "accepted": verdicts.get("accepted", 0),
        "unavailable": verdicts.get("directory unavailable", 0),
        "refused": sum(n for v, n in verdicts.items() if v.startswith("refused")),
        "other": sum(n for v, n in verdicts.items() if v.startswith(("other", "no result"))),
        "doubles": doubles, "race_results": race_results, "moved_wrong": moved_wrong,
        "slapd_cpu": slapd_after - slapd_before,
        "host_cpu": host_cpu_ns / 1e9,
        "host_cpu_login_ms": median([ms(x.cpu) for x in logins]),
        "warm_ms": median([ms(x.end - x.start) for x in warm]),
        "load_after": load,
        "examples": {v: next(x.log for x in logins if x.verdict == v)
                     for v in verdicts if v != "accepted"},
    }


# ---------------------------------------------------------------------------
# where one login's cost goes
# ---------------------------------------------------------------------------


def slapd_ops(log: Path, since: int) -> dict[str, list[float]]:
    """etime (ms) of every request slapd logged from `since` on over TCP (the hosts', not the
    rootdn's over ldapi), by request kind."""
    with open(log, "rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    tcp = set(re.findall(r"conn=(\d+) fd=\d+ ACCEPT from IP=", text))
    verbs: dict[tuple[str, str], str] = {}
    for conn, op, verb, rest in re.findall(r"conn=(\d+) op=(\d+) (EXT|BIND|SRCH|MOD|ADD|DEL)\b(.*)", text):
        if conn in tcp and (conn, op) not in verbs:
            verbs[(conn, op)] = "StartTLS" if verb == "EXT" and "1.3.6.1.4.1.1466.20037" in rest else verb
    out: dict[str, list[float]] = {}
    for conn, op, etime in re.findall(r"conn=(\d+) op=(\d+) (?:SEARCH )?RESULT .*?etime=([\d.]+)", text):
        verb = verbs.get((conn, op))
        if verb:
            out.setdefault(verb, []).append(float(etime) * 1000)
    return out


def slapd_cpu_ns(pid: int) -> int:
    """Nanoseconds on a CPU of every thread slapd has now (/proc/PID/task/*/schedstat): finer
    than /proc/PID/stat's clock ticks, for the short measurements of the breakdown."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def breakdown(fleet: Fleet, fresh: int, sequential: int, server_ops: int) -> dict:
    """One host alone (nothing else runs): fresh processes' first logins, a long-lived host's
    logins split per libldap call, the server's etime per request, and slapd's CPU per
    connection (TLS+bind), per search and per modify."""
    host = fleet.hosts[0]
    base = fleet.base / "breakdown"
    base.mkdir()
    result: dict = {}

    # 1. fresh processes: the first login of a process (the module, libcrypto, the plugin,
    #    libldap and GnuTLS loaded and started), as sshd's per-connection process or sudo
    first = []
    for n in range(fresh + 1):
        user = host.users[n % len(host.users)]
        logins = [Login(0, 0, "L", user, user.take()[0])]
        x = _one_host(fleet, host, logins, base / f"fresh{n}")[0][0]
        if x.verdict != "accepted":
            raise RuntimeError(f"a fresh process's login was refused: {x.verdict}: {x.log}")
        if n:  # the first only warms the page cache
            first.append(x)
    result["fresh_ms"] = median([ms(x.end - x.start) for x in first])
    result["fresh_cpu_ms"] = median([ms(x.cpu) for x in first])
    result["fresh_n"] = len(first)

    # 2. one long-lived host, logins one after the other, per libldap call
    logins = []
    user = host.users[0]
    logins.append(Login(0, 0, "W", user, user.take()[0]))
    for i in range(sequential):
        user = host.users[i % len(host.users)]
        logins.append(Login(0, i + 1, "L", user, user.take()[0]))
    since = fleet.directory.log.stat().st_size
    slapd_before = slapd_cpu_ns(fleet.slapd_pid)
    done, phases, host_cpu = _one_host(fleet, host, logins, base / "sequential", phases=True)
    slapd_cpu = (slapd_cpu_ns(fleet.slapd_pid) - slapd_before) / 1e9
    timed = [x for x in done if x.kind == "L"]
    bad = [x for x in timed if x.verdict != "accepted"]
    if bad:
        raise RuntimeError(f"{len(bad)} sequential login(s) refused: {bad[0].verdict}: {bad[0].log}")
    n = len(timed)
    result.update(
        seq_n=n, seq_ms=median([ms(x.end - x.start) for x in timed]),
        seq_mean=sum(ms(x.end - x.start) for x in timed) / n,
        seq_p90=percentile([ms(x.end - x.start) for x in timed], 90),
        seq_cpu_ms=median([ms(x.cpu) for x in timed]),
        seq_slapd_cpu_ms=slapd_cpu * 1000 / (n + 1),  # the warm-up login too
        phases={name: (calls / n, wall / n / 1e6, cpu / n / 1e6) for name, (calls, wall, cpu) in phases.items()},
        etime={verb: (len(v) / (n + 1), median(v), percentile(v, 90)) for verb, v in
               slapd_ops(fleet.directory.log, since).items()},
        wall_s=(max(x.end for x in timed) - min(x.start for x in timed)) / 1e9,
    )

    # 3. slapd's CPU per kind of request, with ldap-utils as host fleet-00 (its certificate,
    #    SASL EXTERNAL over StartTLS, as the module)
    result["server"] = server_costs(fleet, host, base, server_ops)
    return result


def _one_host(fleet: Fleet, host: Host, logins: list[Login], base: Path, phases: bool = False):
    """Runs logins in one fleet_host process; returns (logins with results, phases, cpu ns)."""
    base.mkdir()
    script = base / "script"
    write_script(script, logins)
    (host.dir / "syslog.txt").unlink(missing_ok=True)
    env = fleet.host_env(host, preload=str(LDAP_PHASES) if phases else "")
    if phases:
        env["LDAP_PHASES_OUT"] = str(base / "phases")
    procs = Procs()
    try:
        p = procs.start([FLEET_HOST, "--confdir", host.pamd, "--service", "fleet", "--script", script,
                         "--out", base / "out"], env, base / "err")
        procs.wait_ready([p], READY_TIMEOUT)
        p.stdin.write(b"GO\n")
        p.stdin.flush()
        p.wait(timeout=600)
    finally:
        procs.stop()
    out = (base / "out").read_text()
    if "DONE" not in out:
        raise RuntimeError(f"fleet_host did not finish: {out[-500:]}{(base / 'err').read_text()[-1000:]}")
    logs = split_syslog(host.dir / "syslog.txt")
    cpu = 0
    for line in out.splitlines():
        f = line.split()
        if f[0] in ("LOGIN", "WARM"):
            x = logins[int(f[1])]
            x.start, x.end, x.cpu, x.rc = int(f[3]), int(f[4]), int(f[5]), int(f[6])
            x.log = logs.get(x.index, "")
            x.verdict = classify(x.rc, x.log)
        elif f[0] == "CPU":
            cpu = int(f[1])
    counted = {}
    if phases:
        for line in (base / "phases").read_text().splitlines():
            _, name, calls, wall, cpu_ns = line.split()
            counted[name] = (int(calls), int(wall), int(cpu_ns))
    now = fleet.counters()
    for u in host.users:
        u.next = now.get(u.name, u.next)
    return logins, counted, cpu


def server_costs(fleet: Fleet, host: Host, base: Path, n: int) -> dict:
    """slapd CPU (ms) per TLS connection with bind (ldapwhoami), per base search and per modify
    (one connection each, n requests), and the wall time of a modify (its commit)."""
    d = fleet.directory
    env = d.client_env(host.cert, host.key)
    auth = ["-ZZ", "-Y", "EXTERNAL", "-Q", "-H", d.uri]
    out = {}

    def slapd_cpu(body) -> tuple[float, float]:
        before, t = slapd_cpu_ns(fleet.slapd_pid), time.monotonic()
        body()
        return (slapd_cpu_ns(fleet.slapd_pid) - before) / 1e9, time.monotonic() - t

    # One connection each: with StartTLS, the client certificate and SASL EXTERNAL (as the
    # module), the same anonymous over StartTLS (no client certificate), and without TLS: what
    # the handshake and the client certificate cost the server.  In interleaved batches (other
    # load on the machine drifts), the median batch of each.
    kinds = {
        "connection": (auth, env),
        "connection_tls_anonymous": (["-x", "-ZZ", "-H", d.uri], d.client_env()),
        "connection_plain": (["-x", "-H", d.uri], d.client_env()),
    }
    batches = 5
    per_batch: dict[str, list[float]] = {name: [] for name in kinds}
    for b in range(batches):
        order = list(kinds)
        random.shuffle(order)
        for name in order:
            args, cenv = kinds[name]
            count = max(1, n // batches)

            def connect() -> None:
                for _ in range(count):
                    proc = run(["ldapwhoami", *args], env=cenv, timeout=60)
                    if proc.returncode != 0:
                        raise RuntimeError(f"ldapwhoami {' '.join(args)}: {proc.stderr.strip()}")
            cpu, _ = slapd_cpu(connect)
            per_batch[name].append(cpu * 1000 / count)
    out.update({name: median(v) for name, v in per_batch.items()})
    empty = out["connection"] / 1000  # one connection's CPU, taken off the search and modify runs

    user = host.users[0]
    names = base / "search-lines"
    names.write_text(f"{user.name}\n" * (n * 4))
    dn = f"uid={user.name},{d.base}"

    def search() -> None:
        proc = run(["ldapsearch", *auth, "-LLL", "-b", dn, "-s", "base", "-f", names,
                    "(&(objectClass=*)(uid=%s))"], env=env, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"ldapsearch -f: {proc.stderr.strip()}")
    cpu, _ = slapd_cpu(search)
    out["search"] = max(0.0, cpu - empty) * 1000 / (n * 4)

    # modifies as the module's success makes them: the counter mark moved (old value deleted,
    # new one added), pamMfaFailures cleared, pamMfaLastSuccess set; on a user of its own
    scratch = User("fx-modify", UID_BASE - 1)
    key = counter_key(scratch.key)
    sdn = f"uid={scratch.name},{d.base}"
    d.modify(f"dn: {sdn}\nchangetype: add\nobjectClass: pamMfaAccount\nuid: {scratch.name}\n"
             f"pamMfaStep: hotp:{key}:0\n")
    ldif = base / "modifies.ldif"
    ldif.write_text("".join(
        f"dn: {sdn}\nchangetype: modify\ndelete: pamMfaStep\npamMfaStep: hotp:{key}:{i}\n-\n"
        f"add: pamMfaStep\npamMfaStep: hotp:{key}:{i + 1}\n-\nreplace: pamMfaFailures\n-\n"
        f"replace: pamMfaLastSuccess\npamMfaLastSuccess: {1700000000 + i}\n\n" for i in range(n)))

    def modify() -> None:
        proc = run(["ldapmodify", *auth, "-f", ldif], env=env, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"ldapmodify: {proc.stderr.strip()}")
    cpu, wall = slapd_cpu(modify)
    out["modify"] = max(0.0, cpu - empty) * 1000 / n
    out["modify_wall"] = wall * 1000 / n
    out["n"] = n
    return out


# ---------------------------------------------------------------------------
# the whole measurement and its report
# ---------------------------------------------------------------------------


def measure(base: Path, quick: bool, host_counts=HOST_COUNTS, logins: int | None = None,
            race_every: int | None = None, users_per_host: int = 4, progress=print,
            ldaps: bool = False) -> dict:
    """Everything fleet.py measures, under base (removed by the caller).  Never raises for a
    machine that cannot run it: {"reason": why} instead."""
    m = logins or (6 if quick else 100)
    race_every = race_every if race_every is not None else (3 if quick else 10)
    fleet = Fleet(base, max([2, *host_counts]), users_per_host, ldaps=ldaps)
    result: dict = {"quick": quick, "ldaps": ldaps, "m": m, "race_every": race_every, "users_per_host": users_per_host,
                    "host_counts": list(host_counts), "load_before": loadavg(), "rounds": []}
    why = fleet.check()
    if why:
        return {"reason": why}
    try:
        progress(f"== fleet: slapd on 127.0.0.1, {fleet.max_hosts} host identities, "
                 f"{fleet.max_hosts * users_per_host} host users + {max(1, fleet.max_hosts // 2)} "
                 f"race users")
        fleet.start()
        result["uri"] = fleet.directory.ldaps_uri if ldaps else fleet.directory.uri
        result["stack"] = fleet.hosts[0].stack_line.replace(str(base), "$FLEET_DIR")
        result["conf"] = fleet.hosts[0].conf.read_text().replace(str(base), "$FLEET_DIR")
        result["users"] = len(fleet.all_users())
        for k in host_counts:
            progress(f"== fleet: {k} hosts × {m} logins")
            r = run_round(fleet, k, m, race_every)
            progress(f"   {r['rate_busy']:.0f} logins/s while all busy, p50 {r['p50']:.1f} ms, "
                     f"p99 {r['p99']:.1f} ms, slapd {r['slapd_cpu'] * 1000 / r['logins']:.2f} ms CPU/login, "
                     f"{r['verdicts']}, double acceptances {r['doubles']}")
            result["rounds"].append(r)
        progress("== fleet: one host alone: where a login's time goes")
        result["breakdown"] = breakdown(fleet, fresh=3 if quick else 20, sequential=20 if quick else 200,
                                        server_ops=20 if quick else 200)
    except Exception as e:  # noqa: BLE001 (the report says what stopped it)
        result["reason"] = one_line(e, 600)
        progress(f"fleet: {e}")
    finally:
        fleet.stop()
    result["load_after"] = loadavg()
    return result


def doubles(result: dict) -> int:
    return sum(r["doubles"] + len(r["moved_wrong"]) for r in result.get("rounds", []))


def section(result: dict) -> list[str]:
    """The report's Markdown lines."""
    out = []
    w = out.append
    w("## Load across a fleet: K hosts against one slapd (store=ldap, issue 19)")
    w("")
    if not result.get("rounds") and not result.get("breakdown"):
        w(f"**Not measured: {result.get('reason', 'no rounds')}.**")
        w("")
        return out
    m, every = result["m"], result["race_every"]
    tls = "ldaps://: TLS at once" if result.get("ldaps") else "StartTLS"
    w(f"`Tests/Bench/fleet.py`: one private slapd (Tests/e2e/mfatest/ldapdir.py: stats logging "
      f"on, mdb, 127.0.0.1, {tls}). Each host is a long-lived process of its own "
      f"(Tests/tools/fleet_host.c) with its own state directory, pam_mfa.conf and client "
      f"certificate (CN=fleet-NN, member of the hosts group), running {m} whole logins one "
      f"after the other through libpam and pam_mfa.so (pam_start_confdir, pam_authenticate, "
      f"pam_end): each opens the store (TCP, {tls}, SASL EXTERNAL bind), reads the user's "
      f"entry, counts the attempt (a modify) and moves the HOTP counter (a modify), then "
      f"unbinds. The module and its plugin stay loaded in the process. One untimed warm-up "
      f"login per host, then all hosts start together. {result['users']} users in the "
      f"directory (HOTP, {result['users_per_host']} of each host's own, taken in turn); one "
      f"login in {every} of every host is a race: the hosts pair up and both of a pair send the "
      f"same code for the same user at once (a race login's time starts when both are there). "
      f"Load average {result['load_before']} before, "
      f"{result['load_after']} after; {os.cpu_count()} cores shared by slapd and the hosts.")
    w("")
    if result["rounds"]:  # none with --hosts "": the breakdown only
        out.extend(rounds_section(result))
    b = result.get("breakdown")
    if b:
        out.extend(breakdown_section(b, result.get("ldaps", False)))
    if result.get("reason"):
        w(f"**Stopped early: {result['reason']}.**")
        w("")
    w("Stack line of a host (its pam_mfa.conf: " + ", ".join(
        x for x in result.get("conf", "").splitlines() if not x.startswith(("ldap_cert", "ldap_key")))
      + ", its own ldap_cert/ldap_key):")
    w("")
    w("```")
    w(result.get("stack", "").replace(str(BUILD.parent) + "/", ""))
    w("```")
    w("")
    return out


def rounds_section(result: dict) -> list[str]:
    """The rounds' table, the directory core and the two checks (Markdown lines)."""
    out = []
    w = out.append
    w("| hosts | logins | logins/s (all busy) | logins/s (whole run) | p50 ms | p99 ms | accepted "
      "| refused | directory unavailable | races: one / none / both accepted | double acceptances "
      "| slapd CPU ms/login | hosts' CPU ms/login | slapd CPU % |")
    w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    for r in result["rounds"]:
        rr = r["race_results"]
        w(f"| {r['k']} | {r['logins']} | {r['rate_busy']:.0f} | {r['rate_all']:.0f} | {r['p50']:.1f} "
          f"| {r['p99']:.1f} | {r['accepted']} | {r['refused']} | {r['unavailable']} "
          f"| {rr['one']} / {rr['none']} / {rr['both']} | {r['doubles'] + len(r['moved_wrong'])} "
          f"| {r['slapd_cpu'] * 1000 / r['logins']:.2f} | {r['host_cpu'] * 1000 / r['logins']:.2f} "
          f"| {r['slapd_cpu'] / r['seconds'] * 100:.0f} |")
    w("")
    others = {v: n for r in result["rounds"] for v, n in r["verdicts"].items()
              if v != "accepted"}
    if others:
        w("Refusals and failures by kind (all rounds): "
          + "; ".join(f"{v}: {n}" for v, n in sorted(others.items())) + ". A race's loser is "
          "refused as a replay: both read the same counter, one compare-and-swap wins.")
        w("")
    cap = capacity(result)
    if cap:
        w(f"**One directory core**: {cap['per_core']:.0f} logins per slapd CPU-second "
          f"({cap['ms']:.2f} ms of slapd CPU per login, the median of the rounds). At 50% of "
          f"one core that is {cap['half']:.0f} logins/s, {cap['half'] * 3600:,.0f} logins an "
          f"hour: e.g. {cap['half'] * 3600 / 20:,.0f} hosts at 20 logins an hour each, or "
          f"{cap['half'] * 3600 / 200:,.0f} hosts at 200. Here slapd shares {os.cpu_count()} "
          f"cores with all the hosts, so the logins/s columns are this machine's, not the "
          f"directory's limit."
          + (f" Writes have a limit of their own: mdb commits one write transaction at a time, "
             f"each synced to disk, and a login makes {cap['mods']:.0f}; at the {cap['commit']:.2f} "
             f"ms a modify took alone here (slapd's etime, median) one slapd writes for at most "
             f"about {cap['write_bound']:.0f} logins/s on this disk, however many cores it has."
             if cap.get("write_bound") else ""))
        w("")
    bad = doubles(result)
    unavailable = sum(r["unavailable"] for r in result["rounds"])
    w(f"- {'PASS' if not bad else 'FAIL'} no code accepted twice: {bad} double acceptance(s) in "
      f"{sum(r['races'] for r in result['rounds'])} same-code races and "
      f"{sum(r['logins'] for r in result['rounds'])} logins; every user's counter in the "
      f"directory moved by exactly the codes accepted.")
    w(f"- {'PASS' if not unavailable else 'MISS'} no \"directory unavailable\" at full load "
      f"(every host logging in back to back): {unavailable}.")
    w("")
    return out


def capacity(result: dict) -> dict | None:
    per_login = [r["slapd_cpu"] * 1000 / r["logins"] for r in result["rounds"] if r["logins"]]
    if not per_login or median(per_login) <= 0:
        return None
    ms_ = median(per_login)
    out = {"ms": ms_, "per_core": 1000 / ms_, "half": 500 / ms_}
    mod = (result.get("breakdown") or {}).get("etime", {}).get("MOD")
    if mod and mod[0] > 0 and mod[1] > 0:
        out.update(mods=mod[0], commit=mod[1], write_bound=1000 / (mod[0] * mod[1]))
    return out


PHASE_TEXT = {
    "initialize": "ldap_initialize",
    "tls_context": "TLS context (LDAP_OPT_X_TLS_NEWCTX: CA, certificate and key read)",
    "starttls": "TCP connect + StartTLS + TLS handshake (ldap_start_tls_s)",
    "bind": "SASL EXTERNAL bind",
    "search": "read the entry (base search)",
    "modify": "modifies (attempt counted; counter moved)",
    "add": "adds",
    "unbind": "unbind and close",
}


def breakdown_section(b: dict, ldaps: bool = False) -> list[str]:
    out = []
    w = out.append
    w(f"### Where one login goes (one host alone, nothing else running)")
    w("")
    w(f"- A long-lived host, {b['seq_n']} logins one after the other: median {b['seq_ms']:.2f} ms "
      f"(mean {b['seq_mean']:.2f}, p90 {b['seq_p90']:.2f}), host CPU {b['seq_cpu_ms']:.2f} ms per login, slapd CPU "
      f"{b['seq_slapd_cpu_ms']:.2f} ms per login.")
    w(f"- A fresh process's first login (the module, libcrypto, the store plugin with libldap and "
      f"GnuTLS loaded and started, as in sshd's per-connection process or sudo; "
      f"{b['fresh_n']} processes): median {b['fresh_ms']:.2f} ms, {b['fresh_cpu_ms']:.2f} ms CPU.")
    w("")
    phases = b["phases"]
    total = sum(v[1] for v in phases.values())
    w("Client side, per login, by libldap call (Tests/tools/ldap_phases.so around the plugin's "
      "calls; wall time and the calling thread's CPU):")
    w("")
    w("| step | calls/login | wall ms | CPU ms | share of the login's mean wall time |")
    w("| --- | ---: | ---: | ---: | ---: |")
    for name, (calls, wall, cpu) in phases.items():
        if calls == 0:
            continue
        text = PHASE_TEXT.get(name, name)
        if ldaps and name == "bind":  # with ldaps:// the first request connects and shakes hands
            text = "TCP connect + TLS handshake (ldaps://) + SASL EXTERNAL bind"
        w(f"| {text} | {calls:.2f} | {wall:.3f} | {cpu:.3f} "
          f"| {wall / b['seq_mean'] * 100:.0f}% |")
    w(f"| everything else (libpam, pam_mfa's checks, the plugin's set-up thread, syslog) | | "
      f"{b['seq_mean'] - total:.3f} | | {(b['seq_mean'] - total) / b['seq_mean'] * 100:.0f}% |")
    w("")
    et = b.get("etime") or {}
    if et:
        w("Server side: slapd's etime per request in the same logins (its stats log; from the "
          "request's arrival to its answer, the mdb commit included): " + "; ".join(
              f"{verb} {n:.2f}/login, median {med:.3f} ms (p90 {p90:.3f})"
              for verb, (n, med, p90) in sorted(et.items())) + ".")
        w("")
    s = b.get("server")
    if s:
        split = (f" (the same without the client certificate, anonymous: {s['connection_tls_anonymous']:.2f} "
                 f"ms; without TLS: {s['connection_plain']:.2f} ms)" if "connection_plain" in s else "")
        w(f"slapd's CPU per request kind (ldap-utils as host fleet-00, {s['n']} each): one "
          f"connection with StartTLS, TLS handshake and SASL EXTERNAL bind (ldapwhoami) "
          f"{s['connection']:.2f} ms{split}; one base search over an open connection {s['search']:.3f} ms; "
          f"one modify like the module's success (counter value deleted and added, "
          f"pamMfaFailures cleared, pamMfaLastSuccess set) {s['modify']:.3f} ms CPU and "
          f"{s['modify_wall']:.2f} ms wall each, one after the other (mdb commits each one to "
          f"disk).")
        w("")
    return out


def main() -> int:
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few logins per host, to try it")
    ap.add_argument("--hosts", default=",".join(map(str, HOST_COUNTS)),
                    help="host counts, comma-separated (default 4,16,64; \"\": the one-host breakdown only)")
    ap.add_argument("--logins", type=int, help="logins per host and round (default 100, quick 6)")
    ap.add_argument("--race-every", type=int,
                    help="every Nth login of every host is a same-code race (default 10, quick 3; 0: none)")
    ap.add_argument("--users-per-host", type=int, default=4, help="each host's own users (default 4)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (it is named)")
    ap.add_argument("--ldaps", action="store_true",
                    help="the hosts use ldaps:// (TLS at once) instead of ldap:// with StartTLS")
    ap.add_argument("--json", type=Path, help="also write the numbers as JSON here (for before/after)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        die("run as root (sudo python3 Tests/Bench/fleet.py)")
    counts = tuple(int(x) for x in args.hosts.split(",") if x.strip())
    base = Path(tempfile.mkdtemp(prefix="pam_mfa_fleet."))
    try:
        result = measure(base, args.quick, counts, args.logins, args.race_every, args.users_per_host,
                         progress=lambda text: print(text, flush=True), ldaps=args.ldaps)
    finally:
        if args.keep:
            print(f"(kept {base})")
        else:
            shutil.rmtree(base, ignore_errors=True)
    print()
    print("\n".join(section(result)))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str) + "\n")
    if doubles(result):
        print(f"fleet: FAIL: {doubles(result)} double acceptance(s) of one code", file=sys.stderr)
        return 1
    if result.get("reason"):
        print(f"fleet: not complete: {result['reason']}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
