"""Issue 18, goal 5: where one login's work goes, in instructions.

One login in a fresh process (Tests/tools/pamdrive through pam_start_confdir with the pamtester
rounds' service files and the same untimed state put back) under valgrind --tool=callgrind, whose
instruction counts (Ir) are the same from run to run on a noisy machine, summed by the shared
object the instructions ran in: the module itself, libcrypto, libpam, the dynamic linker
(loading and relocating libraries: where a dlopen's cost shows), libc, and the rest (pamdrive,
valgrind's preload, syslogcap).  Instructions only: time spent waiting (fsync, the disk, the
scheduler) is not in them.  Works through bench.World, passed in."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from benchutil import (GA, GA_REUSE, MFA, OSSL_GA_REUSE, OSSL_START, PAMDRIVE, SYSLOGCAP, die, run,
                       wait_for_step_margin)

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


def profile_login(world, name: str) -> dict:
    """One login through row `name` under callgrind: {"parts": {part: Ir}, "total": Ir}."""
    work = world.base / "profile"
    work.mkdir(exist_ok=True)
    out = work / f"callgrind.{world.services[name]}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NSS_WRAPPER", "PAM_WRAPPER", "LD_PRELOAD", "MFA_TEST_SYSLOG"))}
    env.update(LD_PRELOAD=str(SYSLOGCAP), **world.syslog_null)
    wait_for_step_margin(20)  # a login under valgrind takes seconds: keep the code's step
    world.prepare(name)
    proc = run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--trace-children=no",
                PAMDRIVE, "--confdir", world.pamd, "--service", world.services[name],
                "--user", "root", "--answer", world.codes.at(time.time())], env=env, timeout=600)
    if proc.returncode != 0 or "RESULT PAM_SUCCESS 0" not in proc.stdout:
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


def profile_rows(world, names: list[str]) -> dict[str, dict] | str:
    """{row: profile} or, without valgrind, why not."""
    if shutil.which("valgrind") is None:
        return "valgrind is missing (apt-get install valgrind; make bench installs it)"
    return {name: profile_login(world, name) for name in names}


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
            "ossl_start.so in the reference row).", ""]
    head = " | ".join(PART_LABELS[p] for p in PARTS)
    out += [f"| row | total | {head} |", "| --- | ---: |" + " ---: |" * len(PARTS)]
    for name, x in profiles.items():
        cells = " | ".join(f"{x['parts'][p] / 1e6:.2f} ({x['parts'][p] / x['total']:.0%})"
                           for p in PARTS)
        out.append(f"| {name} | {x['total'] / 1e6:.2f} | {cells} |")
    return out + [""]
