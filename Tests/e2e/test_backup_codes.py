"""Backup codes end to end, through the built mfa-enroll and pam_mfa.so: what enrollment
prints and stores (only salted PBKDF2 hashes, checked here with Python's own PBKDF2), single
use through the real module, the countdown, the lockout, replacing the set, parallel logins
with one code, kill -9 while a code is being used up, --backup-codes-file, status, and the
audit lines.

No plain backup code is ever written to a file by these tests: the codes come from
mfa-enroll's stdout (or its --backup-codes-file, in a directory of its own) and stay in
memory.  Every code is handed to the env fixture's leak check (env.remember) in all the
spellings that are typed here.
"""

from __future__ import annotations

import calendar
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from mfatest.cli import (Enrolled, TIMEOUT, as_alice, enroll, enroll_cmd, enroll_through_pipe,
                         mode_of, run_cli, secret_path)
from mfatest.pam import (LOCK_MSG_5MIN, PROMPT_MSG, WRONG_MSG, accepted_msg, count_lines,
                         error_msgs, mfa_lines, pam_result, read_to_prompt, write_conf)
from mfatest.secretfile import (ALPHABET, BLOCK_HEAD, assert_codes_stored, canonical, dashed,
                                make_dirs, matching, parse_secret_file, printed_codes, random_code,
                                remember_code)
from mfatest.system import kill9
from mfatest.totp import code, time_now, wrong_code
from mfatest.world import ALICE_UID


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def backup_codes_cmd(env, path, *extra, answers=None, root_for=None):
    """`mfa-enroll backup-codes`: by alice with `answers` on stdin, or by root for a user."""
    if root_for:
        proc = run_cli(env, "--user", root_for, "backup-codes", "--secret-file", path, *extra)
    else:
        proc = subprocess.run(enroll_cmd("backup-codes", "--secret-file", path, *extra),
                              input="".join(a + "\n" for a in (answers or [])),
                              capture_output=True, text=True, env=env.env(), timeout=TIMEOUT,
                              **as_alice())
    codes = printed_codes(proc.stdout)
    for c in codes:
        remember_code(env, c)
    return proc, codes


def login(env, enr: Enrolled, answer: str, *args):
    return env.run_pam([*enr.args, *args], answers=[answer])


# ---------------------------------------------------------------------------
# 1. enrollment: shown once, stored as salted hashes
# ---------------------------------------------------------------------------


def test_enroll_prints_ten_codes_and_stores_only_their_hashes(env):
    enr = enroll(env)
    assert "not shown again" in enr.out, enr.out
    assert len(enr.codes) == 10 and len({canonical(c) for c in enr.codes}) == 10, enr.codes
    for c in enr.codes:
        cc = canonical(c)
        assert len(cc) == 12 and set(cc) <= set(ALPHABET) and not cc.isdigit(), c
    assert (os.lstat(enr.path).st_uid, mode_of(enr.path)) == (ALICE_UID, 0o600)

    text = enr.path.read_text()
    secret, backups = parse_secret_file(enr.path)
    assert secret == enr.secret
    assert len(backups) == 10, text
    assert all(b.iterations == 10000 for b in backups), text
    assert len({b.salt for b in backups}) == 10, "salts are not unique"
    # no code in the file in any spelling
    lowered = text.lower()
    compact = re.sub(r"[\s-]", "", lowered)
    for c in enr.codes:
        assert canonical(c) not in lowered and dashed(c) not in lowered, c
        assert canonical(c) not in compact, c
    # each printed code is the PBKDF2 input of exactly one line, and every line has its code
    assert_codes_stored(enr.path, enr.codes)
    # control: the check is not vacuous
    assert matching(random_code(enr.codes), backups) == []


# ---------------------------------------------------------------------------
# 2. single use through the module; typing variants
# ---------------------------------------------------------------------------


def test_each_backup_code_works_exactly_once(env):
    enr = enroll(env)
    c = enr.codes
    run = login(env, enr, c[0])
    assert run.result == "PAM_SUCCESS", str(run)
    assert run.messages == [PROMPT_MSG, accepted_msg(9)], str(run)
    assert count_lines("\n".join(run.syslog), "accepted backup code (9 left)") == 1, str(run)
    after_first = enr.path.read_bytes()
    assert_codes_stored(enr.path, c[1:])
    # the same code again
    run = login(env, enr, c[0])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert run.messages == [PROMPT_MSG, WRONG_MSG], str(run)
    assert any("wrong backup code (failure 1 of 3); denied" in ln for ln in mfa_lines(run)), str(run)
    assert enr.path.read_bytes() == after_first
    # typing variants: upper case, spaces for dashes, no separators, stray blanks
    variants = [
        dashed(c[1]).upper(),
        " ".join((canonical(c[2])[0:4], canonical(c[2])[4:8], canonical(c[2])[8:12])),
        canonical(c[3]),
        "  " + dashed(c[4])[:7].upper() + dashed(c[4])[7:] + " ",
    ]
    for n, typed in enumerate(variants):
        env.remember(typed.strip())
        run = login(env, enr, typed)
        assert run.result == "PAM_SUCCESS", (typed, str(run))
        assert run.messages == [PROMPT_MSG, accepted_msg(8 - n)], str(run)
        # and used up, in any spelling
        run = login(env, enr, dashed(typed))
        assert run.result == "PAM_AUTH_ERR", (typed, str(run))
    assert_codes_stored(enr.path, c[5:])


# ---------------------------------------------------------------------------
# 3. countdown and the warning
# ---------------------------------------------------------------------------


def test_countdown_warns_when_few_are_left(env):
    enr = enroll(env, "--backup-codes", "3")
    assert len(enr.codes) == 3, enr.out
    assert_codes_stored(enr.path, enr.codes)
    for n, c in enumerate(enr.codes):
        run = login(env, enr, c, "deny=10")
        assert run.result == "PAM_SUCCESS", str(run)
        assert run.messages == [PROMPT_MSG, accepted_msg(2 - n)], str(run)
    assert accepted_msg(2)[1] == ("Backup code accepted. Only 2 backup codes left: "
                                  "run 'mfa-enroll backup-codes' to make a new set.")
    secret, backups = parse_secret_file(enr.path)
    assert backups == [] and secret == enr.secret
    for n, c in enumerate(enr.codes):
        run = login(env, enr, c, "deny=10")
        assert run.result == "PAM_AUTH_ERR", str(run)
        assert any(f"wrong backup code (failure {n + 1} of 10)" in ln for ln in mfa_lines(run)), str(run)
    # the file is still a working enrollment
    run = login(env, enr, code(enr.secret, time.time() + 30), "deny=10")
    assert run.result == "PAM_SUCCESS", str(run)


# ---------------------------------------------------------------------------
# 4. wrong backup codes count toward the lockout
# ---------------------------------------------------------------------------


def test_wrong_backup_codes_lock_out_and_a_locked_login_uses_up_nothing(env):
    enr = enroll(env)
    before = enr.path.read_bytes()
    for n in (1, 2):
        guess = random_code(enr.codes)
        remember_code(env, guess)
        run = login(env, enr, guess)
        assert run.result == "PAM_AUTH_ERR" and error_msgs(run) == [WRONG_MSG], str(run)
        assert any(f"wrong backup code (failure {n} of 3); denied" in ln
                   for ln in mfa_lines(run)), str(run)
    guess = random_code(enr.codes)
    remember_code(env, guess)
    run = login(env, enr, guess)
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert error_msgs(run) == [LOCK_MSG_5MIN], str(run)
    assert any("wrong backup code (failure 3 of 3)" in ln for ln in mfa_lines(run)), str(run)
    assert any("lockout: too many failures; locked for 300 s" in ln for ln in mfa_lines(run)), str(run)
    assert enr.path.read_bytes() == before
    # locked: a valid backup code is refused without a prompt and stays in the file
    run = login(env, enr, enr.codes[0])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert run.messages == [LOCK_MSG_5MIN], str(run)
    assert any("refused: locked out for another" in ln for ln in mfa_lines(run)), str(run)
    assert enr.path.read_bytes() == before
    assert_codes_stored(enr.path, enr.codes)
    # root unlocks: the very same code works now (it was refused, not used up)
    conf = write_conf(env, f"state_dir = {env.state_dir}\n")
    proc = run_cli(env, "--user", "alice", "--config", conf, "unlock")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    run = login(env, enr, enr.codes[0])
    assert run.result == "PAM_SUCCESS", str(run)
    assert run.messages == [PROMPT_MSG, accepted_msg(9)], str(run)


# ---------------------------------------------------------------------------
# 5. a new set replaces the old one
# ---------------------------------------------------------------------------


def test_new_set_invalidates_the_old_one(env):
    enr = enroll(env)
    old = enr.codes
    assert login(env, enr, old[0]).result == "PAM_SUCCESS"

    # alice, confirming with a current code from her app
    proc, new = backup_codes_cmd(env, enr.path, answers=[code(enr.secret)])
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "A new set of 10 backup codes replaced the old one." in proc.stdout, proc.stdout
    assert len(new) == 10 and not {canonical(c) for c in new} & {canonical(c) for c in old}
    secret, _ = parse_secret_file(enr.path)
    assert secret == enr.secret
    assert_codes_stored(enr.path, new)
    run = login(env, enr, old[1])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert any("wrong backup code" in ln for ln in mfa_lines(run)), str(run)
    run = login(env, enr, new[0])
    assert run.result == "PAM_SUCCESS", str(run)
    assert run.messages == [PROMPT_MSG, accepted_msg(9)], str(run)

    # three wrong confirmations: exit 1, the file untouched, no codes shown
    before, inode = enr.path.read_bytes(), os.stat(enr.path).st_ino
    wrong = wrong_code(enr.secret)
    proc, shown = backup_codes_cmd(env, enr.path, answers=[wrong] * 3)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "no correct code after 3 tries" in proc.stderr, proc.stderr
    assert shown == [] and BLOCK_HEAD not in proc.stdout, proc.stdout
    assert enr.path.read_bytes() == before and os.stat(enr.path).st_ino == inode
    # no answer at all (stdin at its end) does not skip the confirmation either
    proc, shown = backup_codes_cmd(env, enr.path)
    assert proc.returncode == 1 and shown == [], (proc.stdout, proc.stderr)
    assert enr.path.read_bytes() == before

    # root for alice: no confirmation (stdin is /dev/null), the file stays alice's 0600
    proc, newer = backup_codes_cmd(env, enr.path, "--backup-codes", "4", root_for="alice")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "A new set of 4 backup codes replaced the old one." in proc.stdout, proc.stdout
    assert len(newer) == 4
    st = os.lstat(enr.path)
    assert (st.st_uid, st.st_gid, mode_of(enr.path)) == (ALICE_UID, ALICE_UID, 0o600), (
        st.st_uid, st.st_gid, oct(mode_of(enr.path)))
    assert parse_secret_file(enr.path)[0] == enr.secret
    assert_codes_stored(enr.path, newer)
    assert "by=root: new backup codes user=alice count=4" in env.read_syslog(), env.read_syslog()
    run = login(env, enr, new[1])
    assert run.result == "PAM_AUTH_ERR", str(run)
    run = login(env, enr, newer[0])
    assert run.result == "PAM_SUCCESS", str(run)
    assert run.messages == [PROMPT_MSG, accepted_msg(3)], str(run)


# ---------------------------------------------------------------------------
# 6. one code, many logins at once
# ---------------------------------------------------------------------------


def test_parallel_logins_with_one_backup_code_succeed_once(env):
    enr = enroll(env)
    cmd = env.pam_command([*enr.args, "deny=100"], answers=[enr.codes[0]])
    parallel = env.run_all([cmd] * 20, timeout=TIMEOUT)
    results = Counter(r.result for r in parallel.runs)
    assert results == {"PAM_SUCCESS": 1, "PAM_AUTH_ERR": 19}, results
    winner, = [r for r in parallel.runs if r.result == "PAM_SUCCESS"]
    assert winner.messages == [PROMPT_MSG, accepted_msg(9)], str(winner)
    log = parallel.log
    assert count_lines(log, "accepted backup code (9 left)") == 1, log
    assert count_lines(log, "wrong backup code") == 19, log
    assert_codes_stored(enr.path, enr.codes[1:])


# ---------------------------------------------------------------------------
# 7. kill -9 while a code is being used up
# ---------------------------------------------------------------------------


def kill_on_change(proc, path: Path, when: str, deadline: float) -> bool:
    """Polls the secret file's directory and kills proc the moment the module's rewrite
    reaches `when`: "temp" (its temporary file exists) or "renamed" (the new file is in
    place).  False if proc ended (or time ran out) first."""
    temp = path.parent / ".secret.tmp"
    inode = os.stat(path).st_ino
    while proc.poll() is None and time.monotonic() < deadline:
        if (os.path.lexists(temp) if when == "temp" else os.stat(path).st_ino != inode):
            return kill9(proc)
    return False


def test_kill9_while_a_backup_code_is_used(env):
    """kill -9 at random moments (0-30 ms after the start, or after the prompt) and right
    inside the rewrite (while the temporary file exists, and just after the rename): the
    file is always whole, and the code is either still there and works, or gone and fails."""
    enr = enroll(env)
    path = enr.path
    args = [*enr.args, "deny=100", "fail_interval=1s"]
    unused = list(enr.codes)
    rng = random.Random()
    stats = Counter()
    iterations = 48
    modes = ["from the start", "from the prompt", "temp", "renamed"]
    for i in range(iterations):
        if not unused:
            proc, unused = backup_codes_cmd(env, path, root_for="alice")
            assert proc.returncode == 0 and len(unused) == 10, (proc.stdout, proc.stderr)
            stats["new sets (root, no confirmation)"] += 1
        c = unused.pop(0)
        _, before = parse_secret_file(path)
        index, = matching(c, before)
        mode = modes[i % 4]
        if mode == "temp" and os.path.lexists(path.parent / ".secret.tmp"):
            mode = "renamed"        # a leftover from an earlier kill would trigger at once
        proc = env.spawn_pam(env.pam_command(args, answers=[c]), stderr=subprocess.DEVNULL)
        try:
            head = b""
            if mode != "from the start":
                head = read_to_prompt(proc, time.monotonic() + TIMEOUT)
            if mode in ("from the start", "from the prompt"):
                time.sleep(rng.uniform(0, 0.030))
                kill9(proc)
            else:
                kill_on_change(proc, path, mode, time.monotonic() + TIMEOUT)
            out, _ = proc.communicate(timeout=TIMEOUT)
            out = head + out
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        killed = proc.returncode == -signal.SIGKILL

        # always one whole file: the old one, or the old one minus exactly this code's line
        st = os.lstat(path)
        assert (st.st_uid, mode_of(path)) == (ALICE_UID, 0o600), (st.st_uid, oct(mode_of(path)))
        secret, after = parse_secret_file(path)
        assert secret == enr.secret
        gone = [b.text for b in after] != [b.text for b in before]
        if gone:
            assert [b.text for b in after] == [b.text for k, b in enumerate(before) if k != index], (
                f"iteration {i}: the backup lines changed in another way")
        extra = sorted(p.name for p in path.parent.iterdir() if p.name not in ("secret", "secret.lock"))
        assert extra in ([], [".secret.tmp"]), extra

        if not killed:
            assert proc.returncode == 0, proc.returncode
            run = pam_result(out, b"", proc.returncode)
            assert run.result == "PAM_SUCCESS" and gone, (i, str(run))
            assert run.messages == [PROMPT_MSG, accepted_msg(len(before) - 1)], str(run)
            stats["finished"] += 1
            continue
        stats[f"killed ({mode}), code " + ("used up" if gone else "kept")] += 1
        if extra:
            stats["killed with the temp file left"] += 1
        if gone:
            # used up by the killed login: it must not work any more
            stats["killed after the code was used up"] += 1
            run = env.run_pam(args, answers=[c])
            assert run.result == "PAM_AUTH_ERR", (i, str(run))
            assert any("wrong backup code" in ln for ln in mfa_lines(run)), str(run)
        else:
            # still there: it must still work, exactly once
            stats["killed before the code was used up"] += 1
            run = env.run_pam(args, answers=[c])
            assert run.result == "PAM_SUCCESS", (i, str(run))
            assert run.messages == [PROMPT_MSG, accepted_msg(len(before) - 1)], str(run)
            assert len(parse_secret_file(path)[1]) == len(before) - 1
    print(f"\nkill -9 backup codes ({iterations} logins): {dict(stats)}")
    # the kills must have landed on both sides of the rename, and inside the rewrite
    assert stats["killed before the code was used up"] >= 5, stats
    assert stats["killed after the code was used up"] >= 3, stats
    assert stats["killed with the temp file left"] >= 1, stats


# ---------------------------------------------------------------------------
# 8. --backup-codes-file and --backup-codes N
# ---------------------------------------------------------------------------


@pytest.fixture
def codes_dir():
    """A directory of its own for --backup-codes-file (never beside the secret file)."""
    d = Path(tempfile.mkdtemp(prefix="pam_mfa_codes."))
    try:
        os.chown(d, ALICE_UID, ALICE_UID)
        os.chmod(d, 0o700)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_root_writes_a_users_backup_codes_file_as_the_user(env):
    """`mfa-enroll --user alice --backup-codes-file ~alice/...`: the path is alice's to name, so
    root writes it as alice and never through a link she planted into a place only root may
    write; into a directory only root controls it still writes as root (codes to hand over)."""
    # under /run: root's all the way down, so root alone controls it
    root_only = Path(tempfile.mkdtemp(prefix="pam_mfa_rootonly.", dir="/run"))
    try:
        os.chmod(root_only, 0o700)
        home = env.home("alice")
        link = home / "out"
        link.symlink_to(root_only)
        os.lchown(link, ALICE_UID, ALICE_UID)
        planted = link / "codes.txt"
        # Outside a root-owned store the secret file is alice's, in her directory (the module
        # reads it as alice, and mfa-enroll --user writes it as alice).
        (env.base / "secrets").mkdir(mode=0o755, exist_ok=True)
        make_dirs(env.secret_path().parent, ALICE_UID)
        uri, out, err, rc = enroll_through_pipe(
            env, ["--user", "alice", "--secret-file", env.secret_path(), "--qr", "none",
                  "--backup-codes-file", planted]).result()
        assert rc == 1 and "the codes above are valid" in err, (rc, out, err)
        assert list(root_only.iterdir()) == [], "root followed alice's link into a root-only directory"
        # the admin's own directory: written as root
        mine = root_only / "alice-codes.txt"
        uri, out, err, rc = enroll_through_pipe(
            env, ["--user", "alice", "--secret-file", env.secret_path(), "--qr", "none", "--force",
                  "--backup-codes-file", mine]).result()
        assert rc == 0 and mine.stat().st_uid == 0, (rc, out, err)
    finally:
        shutil.rmtree(root_only, ignore_errors=True)


def test_backup_codes_file_and_count(env, codes_dir):
    target = codes_dir / "codes.txt"
    enr = enroll(env, "--backup-codes-file", target)
    assert f"Also written to {target}." in enr.out, enr.out
    st = os.lstat(target)
    assert (st.st_uid, mode_of(target)) == (ALICE_UID, 0o600), (st.st_uid, oct(mode_of(target)))
    lines = target.read_text().split("\n")
    assert lines[0].startswith("#") and lines[-1] == "", lines[:1]
    assert lines[1:-1] == enr.codes
    assert_codes_stored(enr.path, enr.codes)
    assert sorted(p.name for p in codes_dir.iterdir()) == ["codes.txt"]

    # an existing file is never overwritten; the enrollment is saved and the codes shown work
    existing = codes_dir / "existing.txt"
    existing.write_text("# someone else's file\n")
    os.chown(existing, ALICE_UID, ALICE_UID)
    os.chmod(existing, 0o640)
    enr2 = enroll(env, "--force", "--backup-codes-file", existing, expect_rc=1)
    assert "the codes above are valid" in enr2.err and str(existing) in enr2.err, enr2.err
    assert existing.read_text() == "# someone else's file\n" and mode_of(existing) == 0o640
    assert len(enr2.codes) == 10
    assert parse_secret_file(enr.path)[0] == enr2.secret != enr.secret
    assert_codes_stored(enr.path, enr2.codes)
    run = login(env, enr2, enr2.codes[0])
    assert run.result == "PAM_SUCCESS", str(run)
    # the failed write leaves no lock file behind either
    assert sorted(p.name for p in codes_dir.iterdir()) == ["codes.txt", "existing.txt"]

    # --backup-codes 0 with a codes file is a contradiction: refused before anything happens
    proc = subprocess.run(enroll_cmd("--secret-file", secret_path(env, "zero"), "--qr", "none",
                                     "--backup-codes", "0", "--backup-codes-file", codes_dir / "z"),
                          capture_output=True, text=True, env=env.env(), timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL, **as_alice())
    assert proc.returncode != 0 and "needs at least one backup code" in proc.stderr, proc.stderr
    assert "otpauth://" not in proc.stdout

    # --backup-codes 0: no backup lines, no code block
    enr3 = enroll(env, "--force", "--backup-codes", "0")
    assert enr3.codes == [] and BLOCK_HEAD not in enr3.out and "backup codes" not in enr3.out.lower()
    secret, backups = parse_secret_file(enr.path)
    assert secret == enr3.secret and backups == []

    # out of range: refused before anything happens
    fresh = secret_path(env, "never")
    for bad in ("11", "-1"):
        proc = subprocess.run(enroll_cmd("--secret-file", fresh, "--qr", "none",
                                         f"--backup-codes={bad}"),
                              capture_output=True, text=True, env=env.env(), timeout=TIMEOUT,
                              stdin=subprocess.DEVNULL, **as_alice())
        assert proc.returncode != 0, (bad, proc.stdout, proc.stderr)
        assert "--backup-codes must be from 0 to 10" in proc.stderr, proc.stderr
        assert "otpauth://" not in proc.stdout and not fresh.exists()
    before = enr.path.read_bytes()
    proc, shown = backup_codes_cmd(env, enr.path, "--backup-codes", "11", root_for="alice")
    assert proc.returncode != 0 and shown == [], (proc.stdout, proc.stderr)
    assert enr.path.read_bytes() == before


# ---------------------------------------------------------------------------
# 9. status
# ---------------------------------------------------------------------------


STATUS_AUTH = "Authenticator: default: time-based (TOTP), SHA1, 6 digits, every 30 s"


def status(env, *argv, root=False):
    if root:
        proc = run_cli(env, *argv)
    else:
        proc = subprocess.run(enroll_cmd(*argv), capture_output=True, text=True, env=env.env(),
                              timeout=TIMEOUT, stdin=subprocess.DEVNULL, **as_alice())
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout.split("\n")


def test_status_counts_codes_and_shows_the_last_login(env):
    missing = secret_path(env, "missing")
    out = status(env, "status", "--secret-file", missing)
    assert "User:          alice" in out, out
    assert any(ln.startswith("Enrolled:      no") for ln in out), out
    assert not any(ln.startswith("Backup codes:") for ln in out), out

    enr = enroll(env, "--backup-codes", "3")
    out = status(env, "status", "--secret-file", enr.path)
    assert f"Secret file:   {enr.path}" in out, out
    assert "Enrolled:      yes" in out and STATUS_AUTH in out, out
    assert "Backup codes:  3 left" in out, out
    assert "Last login:    recorded in root-only state (ask your administrator)" in out, out

    conf = write_conf(env, f"secret = {enr.path}\nstate_dir = {env.state_dir}\n")
    out = status(env, "--user", "alice", "--config", conf, "status", root=True)
    assert "Backup codes:  3 left" in out and "Last login:    none recorded" in out, out
    assert "Locked:        no" in out, out

    t0 = time_now()
    run = env.run_pam([f"conf={conf}"], answers=[enr.codes[0]])
    assert run.result == "PAM_SUCCESS", str(run)
    t1 = int(time.time())
    out = status(env, "status", "--secret-file", enr.path)
    assert "Backup codes:  2 left (make new ones: mfa-enroll backup-codes)" in out, out
    out = status(env, "--user", "alice", "--config", conf, "status", root=True)
    assert "Backup codes:  2 left (make new ones: mfa-enroll backup-codes)" in out, out
    last, = [ln for ln in out if ln.startswith("Last login:")]
    m = re.fullmatch(r"Last login:    (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", last)
    assert m, last
    when = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"))
    assert t0 - 1 <= when <= t1 + 1, (last, t0, t1)
    # a wrong code shows as a recent failure
    guess = random_code(enr.codes)
    remember_code(env, guess)
    assert env.run_pam([f"conf={conf}"], answers=[guess]).result == "PAM_AUTH_ERR"
    out = status(env, "--user", "alice", "--config", conf, "status", root=True)
    assert "Locked:        no (1 recent failed code(s))" in out, out
    assert "Backup codes:  2 left (make new ones: mfa-enroll backup-codes)" in out, out


# ---------------------------------------------------------------------------
# 10. audit lines: which method, never the code
# ---------------------------------------------------------------------------


def test_syslog_names_the_method_and_never_a_backup_code(env):
    enr = enroll(env)
    run = login(env, enr, code(enr.secret, time.time() + 30))
    assert run.result == "PAM_SUCCESS", str(run)
    lines = mfa_lines(run)
    assert any("user=alice service=mfa-test: accepted totp code (authenticator default)" in ln
               for ln in lines), str(run)
    assert not any("backup" in ln for ln in lines), str(run)
    run = login(env, enr, enr.codes[0].upper())
    assert run.result == "PAM_SUCCESS", str(run)
    lines = mfa_lines(run)
    assert any("user=alice service=mfa-test: accepted backup code (9 left)" in ln
               for ln in lines), str(run)
    assert not any("totp" in ln for ln in lines), str(run)
    run = login(env, enr, enr.codes[0])
    assert any("wrong backup code (failure 1 of 3); denied" in ln for ln in mfa_lines(run)), str(run)
    # a new set made by root is audited too
    proc, new = backup_codes_cmd(env, enr.path, root_for="alice")
    assert proc.returncode == 0 and len(new) == 10, (proc.stdout, proc.stderr)
    assert login(env, enr, new[0]).result == "PAM_SUCCESS"
    # no code in any spelling, old set or new (the fixture checks the remembered spellings too)
    log = env.read_syslog()
    assert "accepted backup code" in log and "new backup codes" in log
    squeezed = re.sub(r"[\s-]", "", log.lower())
    for c in enr.codes + new:
        assert canonical(c) not in squeezed, c
