"""Issue 18, goal 5: where one login's work goes, in instructions.

One login in a fresh process (Tests/tools/pamdrive through pam_start_confdir with the pamtester
rounds' service files and the same untimed state put back) under valgrind --tool=callgrind, whose
instruction counts (Ir) are the same from run to run on a noisy machine, summed by the shared
object the instructions ran in: the module itself, libcrypto, libpam, the dynamic linker
(loading and relocating libraries: where a dlopen's cost shows), libc, and the rest (pamdrive,
valgrind's preload, syslogcap).  Instructions only: time spent waiting (fsync, the disk, the
scheduler) is not in them.  Works through bench.World, passed in."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from benchutil import (GA, GA_REUSE, MFA, OSSL_GA_REUSE, OSSL_START, PAMDRIVE, die, run,
                       wait_for_step_margin)
from cycle_rows import cycle_env, first_login_argv, first_login_result

PARTS = ("module", "libcrypto", "libpam", "ld.so", "libc", "other")
PART_LABELS = {
    "module": "the module itself", "libcrypto": "libcrypto", "libpam": "libpam",
    "ld.so": "ld.so (loading, relocation)", "libc": "libc", "other": "other",
}


def own_objects(world, name: str) -> set[str]:
    """The file names of what counts as the row's own code."""
    own = {MFA: {world.modules[MFA].name}, GA_REUSE: {world.modules[GA].name},
           OSSL_GA_REUSE: {world.modules[GA].name, OSSL_START.name}}
    return own[name]


def part_of(obj: str, own: set[str]) -> str:
    name = obj.rsplit("/", 1)[-1]
    if name in own:
        return "module"
    for part, pattern in (("libcrypto", r"libcrypto\.so"), ("libpam", r"libpam(_misc)?\.so"),
                          ("ld.so", r"ld-linux.*\.so"), ("libc", r"libc\.so")):
        if re.match(pattern, name):
            return part
    return "other"


def self_cost_by_object(path: Path) -> tuple[dict[str, int], int]:
    """({object: Ir spent in its own code}, the file's total) from a callgrind output file."""
    names: dict[str, str] = {}  # "(n)" -> object: callgrind's name compression (ob= and cob=)
    costs: dict[str, int] = {}
    obj, skip_next, total = "?", False, 0
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith(("ob=", "cob=")):
                m = re.match(r"c?ob=(\(\d+\))?\s*(.*)", line.rstrip("\n"))
                ref, text = m.group(1), m.group(2)
                if ref and text:
                    names[ref] = text
                if line.startswith("ob="):
                    obj = names.get(ref, text) if ref else text
            elif line.startswith("calls="):
                skip_next = True  # the next cost line is the call's inclusive cost
            elif line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
            elif line[:1].isdigit() or line[:1] in "+-*":
                fields = line.split()
                if skip_next:
                    skip_next = False
                elif len(fields) > 1:
                    costs[obj] = costs.get(obj, 0) + int(fields[1])
    return costs, total


SSHD_LIKE = "first login in an sshd-like host"
# In the sshd-like host only libpam's calls of the login are counted, not the process's start,
# nor the OpenSSL start-up it runs first (cycle_host --crypto-started).
LOGIN_CALLS = ["--collect-atstart=no", "--toggle-collect=pam_start_confdir",
               "--toggle-collect=pam_authenticate", "--toggle-collect=pam_end"]


def profile_login(world, name: str, sshd_like: bool = False) -> dict:
    """One login through row `name` under callgrind: {"parts": {part: Ir}, "total": Ir}.
    sshd_like: in cycle_host --crypto-started, counting only pam_start_confdir,
    pam_authenticate and pam_end: what the module itself costs a host such as sshd."""
    work = world.base / "profile"
    work.mkdir(exist_ok=True)
    out = work / f"callgrind.{world.services[name]}{'.sshd-like' if sshd_like else ''}"
    wait_for_step_margin(20)  # a login under valgrind takes seconds: keep the code's step
    if sshd_like:
        argv, options = first_login_argv(world, name, work / f"host-{world.services[name]}"), LOGIN_CALLS
    else:
        world.prepare(name)
        argv = [PAMDRIVE, "--confdir", world.pamd, "--service", world.services[name],
                "--user", "root", "--answer", world.codes.at(time.time())]
        options = []
    proc = run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                "--trace-children=no", *options, *argv], env=cycle_env(world), timeout=600)
    if sshd_like:
        first_login_result(name, proc)
    elif proc.returncode != 0 or "RESULT PAM_SUCCESS 0" not in proc.stdout:
        die(f"callgrind of a login through {name} failed:\n{proc.stdout}{proc.stderr[-3000:]}")
    costs, total = self_cost_by_object(out)
    own = own_objects(world, name)
    parts = dict.fromkeys(PARTS, 0)
    for obj, ir in costs.items():
        parts[part_of(obj, own)] += ir
    counted = sum(parts.values())
    if total and counted != total:
        die(f"callgrind of {name}: the objects add up to {counted} Ir, the file says {total}")
    return {"parts": parts, "total": counted}


def profile_rows(world, names: list[str], sshd_like: list[str]) -> dict[str, dict] | str:
    """{row: profile} for names in a fresh process and for sshd_like in an sshd-like host, or,
    without valgrind, why not."""
    if shutil.which("valgrind") is None:
        return "valgrind is missing (apt-get install valgrind; make bench installs it)"
    rows = {name: profile_login(world, name) for name in names}
    rows.update({f"{name}, {SSHD_LIKE}": profile_login(world, name, True) for name in sshd_like})
    return rows


def section(profiles: dict[str, dict] | str) -> list[str]:
    """The report's table (Markdown lines)."""
    out = ["## Where one login's instructions go (callgrind)", ""]
    if isinstance(profiles, str):
        return out + [f"Not measured: {profiles}.", ""]
    out += ["One right-code login in a fresh process (pamdrive, pam_start_confdir with the "
            "pamtester rounds' service files, the state put back before it) under "
            "`valgrind --tool=callgrind`: instructions executed (Ir, millions; the same from run to "
            "run), by the shared object they ran in. Waiting (fsync, disk, scheduler) is not "
            "counted. *The module itself*: pam_mfa.so, or google-authenticator (with "
            f"ossl_start.so in the reference row). *{SSHD_LIKE}*: the process has loaded "
            "libcrypto and started OpenSSL first (cycle_host --crypto-started), and only "
            "pam_start_confdir, pam_authenticate and pam_end are counted: the module's own first "
            "login, as sshd pays it.", ""]
    head = " | ".join(PART_LABELS[p] for p in PARTS)
    out += [f"| row | total | {head} |", "| --- | ---: |" + " ---: |" * len(PARTS)]
    for name, x in profiles.items():
        cells = " | ".join(f"{x['parts'][p] / 1e6:.2f} ({x['parts'][p] / x['total']:.0%})"
                           for p in PARTS)
        out.append(f"| {name} | {x['total'] / 1e6:.2f} | {cells} |")
    return out + [""]
