"""Issue 18, goal 2: logins that compute no code.

measure_nullok: whole pamtester logins of a real user who has not enrolled (real_users.NOT_ENROLLED:
a home, no ~/.config/pam_mfa/secret, no ~/.google_authenticator), interleaved: pam_mfa with
`nullok` beside google-authenticator with `nullok` (which also lets a user without a secret file
through), each followed by pam_permit (a stack whose only module ignores fails), and the
pam_permit floor.

libcrypto_facts: for each path on which pam_mfa computes no code (not enrolled under nullok, an
exempt_group member, a non-member of require_group without a secret file, a locked-out user, a
remembered host), one pamtester login under LD_DEBUG=files: whether libcrypto.so.3 was loaded in
that process, and who loaded it (NEEDED by a module, or dlopen()ed).  A fact, not a timing.

Both work through bench.World (its pamtester, service directory and pam_mfa lines), passed in."""

from __future__ import annotations

import grp
import pwd
import random
import re
import time

from benchutil import GA, LIBCRYPTO, PERIOD, PERMIT, die, last_line, timing_table
from real_users import NOT_ENROLLED

MFA_NULLOK = "pam_mfa nullok"
GA_NULLOK = "pam_google_authenticator nullok"
REMOTE_HOST = "127.0.0.1"  # PAM_RHOST of the remembered-host path (an item, no traffic)

LOADED = re.compile(rf"file=(\S*{re.escape(LIBCRYPTO)}) \[\d+\];\s+(needed|dynamically loaded) by (\S+)")


def add_nullok_rows(world) -> None:
    if MFA_NULLOK in world.services:
        return
    state = world.base / "nullok" / "state"
    permit = "auth required pam_permit.so"
    world.add_row(MFA_NULLOK, "mfa-nullok",
                  [f"auth required {world.mfa_line(state, '~/.config/pam_mfa/secret', ' nullok')}",
                   permit])
    world.add_row(GA_NULLOK, "ga-nullok", [f"auth required {world.modules[GA]} nullok", permit])


def measure_nullok(world, rounds: int, warmup: int = 3) -> dict[str, list[float]]:
    """rounds interleaved rounds of NOT_ENROLLED's pamtester logins: {row: [ms, ...]}."""
    add_nullok_rows(world)
    names = [PERMIT, MFA_NULLOK, GA_NULLOK]
    env = world.pamtester_env()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(warmup + rounds):
        random.shuffle(names)
        for name in names:
            ok, text, ns = world.pamtester(name, "", env, user=NOT_ENROLLED)
            if not ok:
                die(f"pamtester login of {NOT_ENROLLED} through {name} failed (round {r}):\n{text}")
            if r >= warmup:
                times[name].append(ns / 1e6)
    return times


def _loaded(world, name: str, user: str, code: str = "", items=()) -> dict:
    """One login under LD_DEBUG=files: {"ok", "verdict", "libcrypto": None or (how, by whom)}."""
    env = world.pamtester_env()
    env["LD_DEBUG"] = "files"
    ok, text, _ = world.pamtester(name, code, env, user=user, items=items)
    m = LOADED.search(text)
    how = None if m is None else (
        "NEEDED by" if m.group(2) == "needed" else "dlopen()ed by", m.group(3).rsplit("/", 1)[-1])
    verdict = last_line("\n".join(x for x in text.splitlines() if not re.match(r"\s*\d+:", x)))
    return {"ok": ok, "verdict": verdict, "libcrypto": how, "prompted": "code:" in text}


def libcrypto_facts(world) -> list[dict]:
    """[{"path", "stack", "expect", "ok", "verdict", "libcrypto", "prompted"}] for pam_mfa's
    no-code paths (and google-authenticator's nullok path, for comparison)."""
    add_nullok_rows(world)
    base = world.base / "no-code"
    own_group = grp.getgrgid(pwd.getpwnam(NOT_ENROLLED).pw_gid).gr_name
    permit = "auth required pam_permit.so"
    secret = "~/.config/pam_mfa/secret"
    rows = [
        ("not enrolled, nullok", MFA_NULLOK, NOT_ENROLLED, True),
        ("google-authenticator: not enrolled, nullok", GA_NULLOK, NOT_ENROLLED, True),
    ]
    # exempt_group: NOT_ENROLLED's own (primary) group; require_group: root's, which it is not in.
    for path, extra in ((f"exempt_group member ({own_group})", f" exempt_group={own_group}"),
                        ("require_group non-member (root), not enrolled", " require_group=root")):
        name = f"pam_mfa {path}"
        world.add_row(name, f"mfa-{len(world.services)}",
                      [f"auth required {world.mfa_line(base / 'state-groups', secret, extra)}",
                       permit])
        rows.append((path, name, NOT_ENROLLED, True))
    facts = []
    for path, name, user, expect in rows:
        facts.append({"path": path, "stack": world.stacks[name], "expect": expect,
                      **_loaded(world, name, user)})

    # root (enrolled, world's secret file): locked out after one wrong code (deny=1) ...
    name = "pam_mfa locked out"
    world.add_row(name, "mfa-locked",
                  [f"auth required {world.mfa_line(base / 'state-locked', None, ' deny=1')}"])
    world.pamtester(name, wrong_code(world.codes.now()))
    facts.append({"path": "locked out (deny=1, after a wrong code)", "stack": world.stacks[name],
                  "expect": False, **_loaded(world, name, "root")})
    # ... and a remembered host: one login with the right code from REMOTE_HOST, then another.
    name = "pam_mfa remembered host"
    world.add_row(name, "mfa-remember",
                  [f"auth required {world.mfa_line(base / 'state-remember', None, ' remember=1h')}"])
    ok, text, _ = world.pamtester(name, world.codes.at(time.time() - PERIOD),
                                  items=[f"rhost={REMOTE_HOST}"])
    if not ok:
        die(f"the remembering login failed:\n{text}")
    facts.append({"path": f"remembered host (remember=1h, rhost={REMOTE_HOST})",
                  "stack": world.stacks[name], "expect": True,
                  **_loaded(world, name, "root", items=[f"rhost={REMOTE_HOST}"])})
    return facts


def wrong_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def section(times: dict[str, list[float]], facts: list[dict], rounds: int, base: str) -> list[str]:
    """The report's nullok table and the libcrypto facts (Markdown lines)."""
    out = [f"## Logins that compute no code: nullok ({rounds} interleaved rounds) and "
           f"libcrypto.so.3", "",
           f"`pamtester SERVICE {NOT_ENROLLED} authenticate`: a real user with a home and no "
           f"secret file of either module; each stack is the module with `nullok`, then "
           f"`auth required pam_permit.so`. A fresh process each time, as in the rounds above.", ""]
    out += timing_table(times, (PERMIT, MFA_NULLOK, GA_NULLOK), GA_NULLOK)
    out += ["", "Whether libcrypto.so.3 was loaded in the process of one login on each path that "
            "computes no code (LD_DEBUG=files; a fact, not a timing):", "",
            "| path | outcome | code asked | libcrypto.so.3 | stack |", "| --- | --- | --- | --- | --- |"]
    for x in facts:
        outcome = x["verdict"] + ("" if x["ok"] == x["expect"] else " (**not as expected**)")
        stack = "; ".join(line.replace(base, "$BENCH_DIR") for line in x["stack"])
        crypto = "not loaded" if x["libcrypto"] is None else f"loaded, {' '.join(x['libcrypto'])}"
        out.append(f"| {x['path']} | {outcome} | {'yes' if x['prompted'] else 'no'} | {crypto} "
                   f"| `{stack}` |")
    return out + [""]
