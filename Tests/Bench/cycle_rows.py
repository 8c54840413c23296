"""Long-lived hosts (Tests/tools/cycle_host.c): one process that serves many logins.

measure_cycle: threads x iterations logins in one process; memory at warm-up and at the end
(growth) and logins/s.  measure_first_login: a fresh process whose libcrypto is loaded and
started already, as in sshd (cycle_host --crypto-started), times its very first login: what the
module itself costs a new host process (dlopen, one-time set-up, the check and its writes),
without OpenSSL's start-up.

Modules that record each login (pam_oath, pam_mfa, google-authenticator with DISALLOW_REUSE) get
one file per thread, put back from a pristine copy by cycle_host before every login (its work,
not the module's), so that every login is accepted and writes.  Both work through bench.World
(its module lines, codes and pristine files), passed in."""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

from benchutil import CYCLE_HOST, GA, GA_REUSE, MFA, OATH, PERMIT, SYSLOGCAP, die, median, run


def cycle_setup(world, name: str, base: Path, threads: int) -> list:
    """The service directory under base (one service, or one per thread with a file of its own
    that --reset puts back) and cycle_host's arguments for it."""
    confdir = base / "pam.d"
    confdir.mkdir(parents=True)
    (confdir / "other").write_text("auth required pam_deny.so\n")
    per_thread = {  # row: (directory prefix, module line for a directory, pristine, file)
        OATH: ("oath", lambda d: f"{world.modules[OATH]} usersfile={d}/users window=1 digits=6",
               world.oath_pristine, "users"),
        MFA: ("state", world.mfa_line, world.mfa_state_pristine, "root"),
        GA_REUSE: ("ga", lambda d: f"{world.modules[GA]} secret={d}/secret",
                   world.gar_pristine, "secret"),
    }
    if name in per_thread:
        prefix, line, pristine, file = per_thread[name]
        for i in range(threads):
            d = base / f"{prefix}{i}"
            d.mkdir(mode=0o700)
            (confdir / f"svc{i}").write_text(f"auth required {line(d)}\n")
        args = ["--service", "svc{i}", "--reset", pristine, f"{base}/{prefix}{{i}}/{file}"]
    else:
        (confdir / "svc").write_text(f"auth required {world.lines[name]}\n")
        args = ["--service", "svc"]
    codes = []
    for step, code in world.codes.steps_from_now(40):
        codes += ["--code-at", str(step), code]
    return [CYCLE_HOST, "--confdir", confdir, "--user", "root", *args, *codes]


def cycle_env(world) -> dict:
    """The environment of a host process: no test shims but syslogcap (syslog to /dev/null)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NSS_WRAPPER", "PAM_WRAPPER", "LD_PRELOAD", "MFA_TEST_SYSLOG"))}
    env.update(LD_PRELOAD=str(SYSLOGCAP), **world.syslog_null)
    return env


def measure_cycle(world, name: str, threads: int, iterations: int) -> dict:
    """One long-lived host process: threads x iterations logins."""
    base = world.base / "cycle" / name.replace(" ", "_")
    cmd = cycle_setup(world, name, base, threads) + [
        "--threads", threads, "--iterations", iterations, "--warmup", 100]
    proc = run(cmd, env=cycle_env(world), timeout=1800)
    if proc.returncode != 0:
        die(f"cycle_host {name} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    mem = {}
    for m in re.finditer(r"MEM phase=(\w+) iter=(\d+) rss_kb=(-?\d+) anon_kb=(-?\d+)", proc.stdout):
        mem.setdefault(m.group(1), []).append((int(m.group(2)), int(m.group(3)), int(m.group(4))))
    res = re.search(r"RESULTS success=(\d+) failure=(\d+) first_failure=(.*)", proc.stdout)
    el = re.search(r"ELAPSED ns=(\d+) logins_ns=(\d+)", proc.stdout)
    if not res or not el or "warm" not in mem or "end" not in mem:
        die(f"cycle_host {name}: unexpected output:\n{proc.stdout}{proc.stderr}")
    _, warm_rss, warm_anon = mem["warm"][0]
    _, end_rss, end_anon = mem["end"][0]
    _, start_rss, start_anon = mem["start"][0]
    total = threads * iterations
    return {
        "logins": total, "threads": threads, "success": int(res.group(1)),
        "failure": int(res.group(2)), "first_failure": res.group(3).strip(),
        "start": (start_rss, start_anon), "warm": (warm_rss, warm_anon), "end": (end_rss, end_anon),
        "progress": [(i, r, a) for i, r, a in mem.get("progress", [])],
        "seconds": int(el.group(1)) / 1e9,
        # Time in the logins themselves, per thread (the resets between them are the host's).
        "login_seconds": int(el.group(2)) / 1e9 / threads,
    }


def first_login_argv(world, name: str, base: Path) -> list:
    """cycle_host for one login in a process whose OpenSSL is started (sshd-like)."""
    return cycle_setup(world, name, base, 1) + [
        "--threads", 1, "--iterations", 1, "--warmup", 1, "--crypto-started"]


def first_login_result(name: str, proc) -> re.Match:
    """cycle_host's FIRST line, which must tell of a successful login."""
    m = re.search(r"FIRST ns=(\d+) rc=(.*)", proc.stdout)
    if proc.returncode != 0 or not m or m.group(2).strip() != "Success":
        die(f"cycle_host --crypto-started {name} failed:\n{proc.stdout}{proc.stderr}")
    return m


def measure_first_login(world, names: list[str], samples: int) -> dict[str, dict]:
    """samples fresh sshd-like processes per row, interleaved: {row: {"us": median, "n"}}."""
    env = cycle_env(world)
    raw: dict[str, list[float]] = {name: [] for name in names}
    for k in range(samples + 1):
        order = names[:]
        random.shuffle(order)
        for name in order:
            base = world.base / "first-login" / f"{name.replace(' ', '_')}-{k}"
            proc = run(first_login_argv(world, name, base), env=env, timeout=60)
            m = first_login_result(name, proc)
            if k > 0:  # the first pass only warms the page cache
                raw[name].append(int(m.group(1)) / 1000)
    return {name: {"us": median(v), "n": len(v)} for name, v in raw.items()}


def first_login_section(first: dict[str, dict]) -> list[str]:
    """The report's table of first logins in an sshd-like host (Markdown lines)."""
    n = next(iter(first.values()))["n"]
    floor = first[PERMIT]["us"]
    out = [f"## First login in a host whose libcrypto is loaded and started, as sshd's "
           f"({n} fresh processes each, interleaved)", "",
           "`cycle_host --crypto-started --threads 1`: the process loads libcrypto.so.3 and runs "
           "one HMAC (OpenSSL 3's start-up) before anything else, as sshd's key exchange does "
           "before PAM runs; then its first pam_start_confdir + pam_authenticate + pam_end is "
           "timed: the module's dlopen, its one-time set-up, the check and its writes, without "
           "OpenSSL's start-up. The state is put back before it, as in the rounds.", "",
           "| row | median µs | above pam_permit, µs |", "| --- | ---: | ---: |"]
    for name, x in first.items():
        out.append(f"| {name} | {x['us']:.0f} | {x['us'] - floor:+.0f} |")
    return out + [""]
