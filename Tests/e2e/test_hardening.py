"""The hardening of pam_mfa, proven through the built module and CLI:
root-owned secret store, crash safety (kill -9) of the state and secret files,
a full or read-only state file system, concurrency, lockout (brute force),
the configuration file, audit lines and the failure delay, and the root-only
unlock.  Every test is built so that it fails when the protection it names is
taken away.

The state-file format is parsed independently (mfatest.state); TOTP codes come from oathtool
(mfatest.totp).
"""

from __future__ import annotations

import errno
import os
import random
import re
import signal
import stat
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from mfatest.cli import (TIMEOUT, enroll, enroll_cmd, enroll_through_pipe, mode_of, read_until_uri,
                         run_cli, secret_path, uri_secret)
from mfatest.pam import (LOCK_MSG_5MIN, WRONG_MSG, count_lines, error_msgs, mfa_lines, pam_result,
                         read_to_prompt, sarg, template_arg, write_conf)
from mfatest.secretfile import parse_secret_file, write_secret
from mfatest.state import (PAYLOAD_AT, SLOT, STATE_SIZE, is_locked, parse_slot, parse_state_file,
                           slots_of)
from mfatest.system import kill9
from mfatest.totp import code, fresh_step, new_secret, wrong_code
from mfatest.world import ALICE_UID, BOB_UID, PROMPT


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def unlock(env, conf, user="alice", subcommand=False):
    if subcommand:
        proc = run_cli(env, "--user", user, "--config", conf, "unlock")
    else:
        proc = run_cli(env, "--user", user, "--unlock", "--config", conf)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    # the admin action is audited: who unlocked whom
    assert f"by=root: unlock user={user} " in env.read_syslog(), env.read_syslog()
    return proc


def open_as(uid: int, path) -> str:
    """Try to read path as uid (all groups dropped): 'READ', 'DENIED' or cat's error."""
    proc = subprocess.run(["/bin/cat", "--", str(path)], capture_output=True, text=True,
                          user=uid, group=uid, extra_groups=[], timeout=TIMEOUT)
    if proc.returncode == 0:
        return "READ"
    if "Permission denied" in proc.stderr:
        return "DENIED"
    return proc.stderr.strip()


# -- the state file, parsed independently of the module ----------------------


# ---------------------------------------------------------------------------
# 1. root-owned secret store
# ---------------------------------------------------------------------------


def test_root_store_file_is_read_as_root_and_hidden_from_the_user(env, root_store):
    secret = new_secret()
    env.remember(secret)
    path = write_secret(root_store / "alice", secret, owner_uid=0, mode=0o600)
    # the user herself cannot read her secret (the point of a root-owned store) ...
    assert open_as(ALICE_UID, path) == "DENIED"
    readable = env.base / "readable"
    readable.write_text("x")
    os.chmod(readable, 0o644)
    assert open_as(ALICE_UID, readable) == "READ"      # the helper itself works
    # ... but the module reads it as root and accepts a root-owned file
    t = fresh_step()
    run = env.run_pam(f"secret={root_store}/${{USER}}", answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)

    # a file owned by the user is accepted there as well
    os.chown(path, ALICE_UID, ALICE_UID)
    run = env.run_pam(f"secret={root_store}/${{USER}}", answers=[code(secret, t + 30)])
    assert run.result == "PAM_SUCCESS", str(run)

    # ... but not one owned by someone else, nor one with group bits, nor a symlink
    os.chown(path, BOB_UID, BOB_UID)
    run = env.run_pam(f"secret={root_store}/${{USER}}", answers=[code(secret, t)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert any("owned by uid 4243" in ln for ln in mfa_lines(run)), str(run)
    os.chown(path, 0, 0)
    os.chmod(path, 0o640)
    run = env.run_pam(f"secret={root_store}/${{USER}}", answers=[code(secret, t)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert any("mode 0640" in ln for ln in mfa_lines(run)), str(run)
    os.chmod(path, 0o600)
    real = root_store / "real-alice"
    os.rename(path, real)
    os.symlink(real, path)
    run = env.run_pam(f"secret={root_store}/${{USER}}", answers=[code(secret, t)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert any("symbolic link" in ln for ln in mfa_lines(run)), str(run)


def test_root_store_needs_every_directory_root_owned_and_closed(env, root_store):
    """A group-writable directory or a symlink anywhere above the file means it is not a
    root-owned store: the module then reads as the user, who cannot get in."""
    secret = new_secret()
    env.remember(secret)
    t = fresh_step()
    # control: the same layout with closed directories works
    good = root_store / "good" / "sub"
    good.mkdir(parents=True, mode=0o700)
    write_secret(good / "alice", secret, owner_uid=0)
    run = env.run_pam(f"secret={good}/${{USER}}", answers=[code(secret, t - 30)])
    assert run.result == "PAM_SUCCESS", str(run)

    # a group-writable directory two levels above the file
    gw = root_store / "gw"
    (gw / "sub").mkdir(parents=True, mode=0o700)
    os.chmod(gw, 0o770)
    write_secret(gw / "sub" / "alice", secret, owner_uid=0)
    run = env.run_pam(f"secret={gw}/sub/${{USER}}", answers=[code(secret, t)])
    assert run.result == "PAM_AUTH_ERR", str(run)

    # a symlink on the way to an otherwise perfect store
    link = root_store / "link"
    os.symlink(good.parent, link)
    run = env.run_pam(f"secret={link}/sub/${{USER}}", answers=[code(secret, t)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    # the step t is still unused: the refusals above were not code checks
    run = env.run_pam(f"secret={good}/${{USER}}", answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)


def test_root_owned_file_outside_a_root_store_is_refused(env):
    """Under /tmp (1777) the module reads as the user and wants the user as owner."""
    secret = new_secret()
    env.remember(secret)
    path = env.secret_path()
    env.write_secret(path, secret)           # alice's directories, alice's file
    t = fresh_step()
    os.chown(path, 0, 0)                     # now root's, 0600
    run = env.run_pam(sarg(env), answers=[code(secret, t)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    lines = [ln for ln in mfa_lines(run) if str(path) in ln]
    assert lines and all("denied" in ln for ln in lines), str(run)
    # readable by alice through the group: then the owner check itself refuses it
    os.chown(path, 0, ALICE_UID)
    os.chmod(path, 0o640)
    run = env.run_pam(sarg(env), answers=[code(secret, t)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert any("owned by uid 0, expected uid 4242" in ln for ln in mfa_lines(run)), str(run)
    # control: the same file owned by alice works
    os.chown(path, ALICE_UID, ALICE_UID)
    os.chmod(path, 0o600)
    run = env.run_pam(sarg(env), answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)


def test_acting_for_a_user_drops_roots_supplementary_groups(env):
    """`--user NAME` works with the user's own group only: a directory that only one of root's
    supplementary groups may write stays closed, also when the user's path leads there."""
    shared = env.base / "root-group-only"
    shared.mkdir()
    os.chown(shared, 0, 4299)
    os.chmod(shared, 0o770)
    # alice plants a link in her home to the directory of one of root's groups
    link = env.home("alice") / "planted"
    link.symlink_to(shared)
    os.lchown(link, ALICE_UID, ALICE_UID)
    target = link / "secret"
    uri, out, err, rc = enroll_through_pipe(
        env, ["--user", "alice", "--secret-file", target, "--qr", "none"], extra_groups=[4299]).result()
    assert rc != 0 and list(shared.iterdir()) == [], (rc, out, err, list(shared.iterdir()))
    assert "Permission denied" in err, err


def test_enroll_for_a_user_into_a_root_store(env, root_store):
    store = root_store / "store"           # does not exist yet
    conf = write_conf(env, f"secret = {store}/${{USER}}\nstate_dir = {env.state_dir}\n")
    uri, out, err, rc = enroll_through_pipe(env, ["--user", "alice", "--config", conf,
                                                  "--qr", "none"]).result()
    assert rc == 0, (out, err)
    assert "Enrolling alice" in out, out
    path = store / "alice"
    st_dir, st_file = os.lstat(store), os.lstat(path)
    assert (st_dir.st_uid, mode_of(store)) == (0, 0o700), (st_dir.st_uid, oct(mode_of(store)))
    assert stat.S_ISREG(st_file.st_mode)
    assert (st_file.st_uid, st_file.st_gid, mode_of(path)) == (0, 0, 0o600), (
        st_file.st_uid, st_file.st_gid, oct(mode_of(path)))
    assert f"secret={uri_secret(uri)}" in path.read_text()
    assert open_as(ALICE_UID, path) == "DENIED"
    run = env.run_pam([f"conf={conf}"], answers=[code(uri_secret(uri), fresh_step() + 30)])
    assert run.result == "PAM_SUCCESS", str(run)


def test_root_enrolls_a_user_where_the_module_reads_as_the_user(env):
    """Outside the home and outside a root-owned store (here below /tmp, 1777), the module reads
    the file as the user; mfa-enroll --user must write it as the user too (one rule for both,
    StoreLocation), not as root, or the user is locked out by their own enrollment."""
    store = env.base / "secrets"            # alice's directory, but not her home
    store.mkdir(mode=0o700)
    os.chown(store, ALICE_UID, ALICE_UID)
    path = store / "new" / "alice"          # "new" does not exist yet
    conf = write_conf(env, f"state_dir = {env.state_dir}\n")
    uri, out, err, rc = enroll_through_pipe(env, ["--user", "alice", "--config", conf,
                                                  "--secret-file", path, "--qr", "none"]).result()
    assert rc == 0, (out, err)
    st_dir, st_file = os.lstat(path.parent), os.lstat(path)
    assert (st_dir.st_uid, st_file.st_uid, mode_of(path)) == (ALICE_UID, ALICE_UID, 0o600), (
        st_dir.st_uid, st_file.st_uid, oct(mode_of(path)))
    run = env.run_pam([f"conf={conf}", f"secret={path}"],
                      answers=[code(uri_secret(uri), fresh_step() + 30)])
    assert run.result == "PAM_SUCCESS", str(run)


# ---------------------------------------------------------------------------
# 2. kill -9 at any moment
# ---------------------------------------------------------------------------


def test_kill9_during_logins_never_damages_the_state(env):
    _, secret = env.write_secret()
    # deny=100 and a 1 s interval: every attempt rewrites the state, none locks
    cmd = env.pam_command([sarg(env), "deny=100", "fail_interval=1s"],
                          answers=[wrong_code(secret)])
    state = env.state_dir / "alice"
    rng = random.Random()
    stats = Counter()
    prev_seq = 0
    missing = 0
    for i in range(160):
        if i in (60, 120) and state.exists():
            state.unlink()                  # exercise the create (temp + rename) path too
            prev_seq = 0
        missing = 0 if state.exists() else missing + 1
        if missing > 10:
            # Creating the file (temp, fsync, rename, directory fsync) outlasts most kill delays
            # on a slow machine: after 10 killed creations, let one login finish so the rest
            # of the kills hit the in-place update this test is about.
            created = subprocess.run(cmd, capture_output=True, env=env.env(), timeout=TIMEOUT)
            assert created.returncode == 0 and state.exists(), created
            stats["created by a finished login"] += 1
            prev_seq = parse_state_file(state)[0]
            missing = 0
        proc = env.spawn_pam(cmd, stderr=subprocess.DEVNULL)
        try:
            if i % 8 == 0:
                # any moment from the start (loading, reading, prompting, ...)
                time.sleep(rng.uniform(0, 0.006))
            else:
                # the prompt is the last thing before the locked update: wait for it,
                # then kill within the ~1.5 ms the update, sync and exit take
                read_to_prompt(proc, time.monotonic() + TIMEOUT)
                time.sleep(rng.uniform(0, 0.0015 if i % 2 else 0.0006))
            kill9(proc)
            proc.communicate(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        killed = proc.returncode == -signal.SIGKILL
        assert killed or proc.returncode == 0, proc.returncode
        if state.exists():
            seq, _, intact = parse_state_file(state)
            assert seq >= prev_seq, f"iteration {i}: sequence went back {prev_seq} -> {seq}"
            if intact == 1 and seq > 1:
                stats["one intact slot"] += 1
            if killed:
                stats["killed after the write" if seq > prev_seq else "killed before the write"] += 1
            prev_seq = seq
        else:
            stats["killed, no state file yet" if killed else "no state file"] += 1
        if not killed:
            stats["finished"] += 1
    leftovers = [p.name for p in env.state_dir.iterdir() if ".tmp" in p.name]
    print(f"\nkill -9 state: {dict(stats)}; temp files left by killed creations: {leftovers}")
    # a fixed temp name, replaced under the lock: killed creations cannot pile files up
    assert len(leftovers) <= 1, leftovers
    # the kills must really have hit the update window, or this test proves nothing
    assert stats["killed before the write"] >= 5 and stats["killed after the write"] >= 5, stats
    # afterwards a normal login works (no lockout, replay state intact)
    t = fresh_step()
    run = env.run_pam([sarg(env), "deny=100", "fail_interval=1s"], answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)
    seq, st, _ = parse_state_file(state)
    assert st["totp-step"]["default"] == int(t) // 30, st


def test_state_is_updated_in_place_in_the_older_slot(env):
    _, secret = env.write_secret()
    args = [sarg(env), "deny=10"]
    state = env.state_dir / "alice"
    env.run_pam(args, answers=[wrong_code(secret)])           # creates the file
    inode = os.stat(state).st_ino
    for k in range(4):
        before = slots_of(state)
        seqs = [(parse_slot(sl) or (0, b""))[0] for sl in before]
        run = env.run_pam(args, answers=[wrong_code(secret)])
        assert run.result == "PAM_AUTH_ERR", str(run)
        after = slots_of(state)
        assert os.stat(state).st_ino == inode, "the state file was replaced, not updated in place"
        older = seqs.index(min(seqs))
        assert after[1 - older] == before[1 - older], f"update {k} touched the newest slot"
        assert parse_slot(after[older])[0] == max(seqs) + 1, (k, seqs)
        _, st, intact = parse_state_file(state)
        assert intact == 2 and st["failures"][0] == k + 2, st


def logged_in_once(env) -> tuple:
    """alice's secret, her module arguments, her state file after one login with the code of
    the previous step, and the time of the current step (whose code is still unused)."""
    _, secret = env.write_secret()
    args = [sarg(env)]
    t = fresh_step()
    assert env.run_pam(args, answers=[code(secret, t - 30)]).result == "PAM_SUCCESS"
    return secret, args, env.state_dir / "alice", t


def test_torn_newest_slot_falls_back_to_the_older_one(env):
    secret, args, state, t = logged_in_once(env)
    assert env.run_pam(args, answers=[wrong_code(secret)]).result == "PAM_AUTH_ERR"
    seq, st, _ = parse_state_file(state)
    assert st["failures"][0] == 1, st
    with open(state, "r+b") as f:                   # tear the newest slot (its payload)
        f.seek((seq % 2) * SLOT + PAYLOAD_AT)
        f.write(b"X")
    run = env.run_pam(args, answers=[wrong_code(secret)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    # the older slot (no failures yet) was the state, and the torn slot was rewritten
    assert any("(failure 1 of 3)" in ln for ln in mfa_lines(run)), str(run)
    seq2, st, intact = parse_state_file(state)
    assert (seq2, intact, st["failures"][0]) == (seq, 2, 1), (seq2, intact, st)


def test_state_without_an_intact_slot_denies_and_is_kept(env):
    secret, args, state, t = logged_in_once(env)
    damaged = bytearray(state.read_bytes())
    for i in range(2):
        damaged[i * SLOT + PAYLOAD_AT] ^= 0x01
    state.write_bytes(bytes(damaged))
    run = env.run_pam(args, answers=[code(secret, t)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert any("state" in ln and "no intact state slot" in ln for ln in mfa_lines(run)), str(run)
    assert state.read_bytes() == bytes(damaged), "a damaged state file was silently reset"
    # a truncated file is refused the same way
    state.write_bytes(bytes(damaged[:SLOT]))
    run = env.run_pam(args, answers=[code(secret, t)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert state.stat().st_size == SLOT


def test_kill9_during_enrollment_never_damages_the_secret_file(env):
    d = env.base / "killenroll"
    d.mkdir(mode=0o700)
    path = d / "secret"
    current = new_secret()
    env.remember(current)
    write_secret(path, current, owner_uid=0)
    cli_env = {k: v for k, v in os.environ.items()
               if not k.startswith(("NSS_WRAPPER", "LD_PRELOAD", "MFA_TEST"))}
    rng = random.Random()
    stats = Counter()
    for i in range(48):
        from_start = i % 4 == 0
        delay = rng.uniform(0, 0.020) if from_start else rng.uniform(0, 0.004)
        proc = subprocess.Popen(enroll_cmd("--force", "--secret-file", path, "--qr", "none"),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=cli_env)
        moments = {}

        def killer():
            moments["kill"] = time.monotonic()
            kill9(proc)

        timer = threading.Timer(delay, killer) if from_start else None
        new = None
        try:
            if timer:
                timer.start()
            uri, _ = read_until_uri(proc, time.monotonic() + TIMEOUT)
            if uri:
                new = uri_secret(uri)
                env.remember(new)
                answer = code(new, fresh_step(margin=1)) + "\n"
                try:
                    proc.stdin.write(answer.encode())
                    proc.stdin.flush()
                    moments["sent"] = time.monotonic()
                except BrokenPipeError:
                    pass
                if not from_start and "sent" in moments:
                    time.sleep(delay)
                    killer()
            proc.communicate(timeout=TIMEOUT)
        finally:
            if timer:
                timer.join()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        killed = proc.returncode == -signal.SIGKILL
        assert killed or proc.returncode == 0, (proc.returncode, proc.stderr)
        # the file is always one whole version: the old one or the new one
        assert mode_of(path) == 0o600 and os.lstat(path).st_uid == 0, oct(mode_of(path))
        found = parse_secret_file(path)[0]
        assert found in (current, new), f"iteration {i}: secret is neither old nor new"
        if not killed:
            stats["finished"] += 1
            assert found == new
        elif "sent" in moments and moments["kill"] > moments["sent"]:
            stats["killed after the code was sent"] += 1
            stats["  ... and after the new file was in place" if found == new
                  else "  ... with the old file still in place"] += 1
        else:
            stats["killed before the code was sent"] += 1
        current = found
    leftovers = [p.name for p in d.iterdir() if p.name != "secret"]
    print(f"\nkill -9 enroll: {dict(stats)}; temp files left: {len(leftovers)}")
    assert stats["killed after the code was sent"] >= 8, stats


# ---------------------------------------------------------------------------
# 3. full and read-only state file system
# ---------------------------------------------------------------------------


@pytest.fixture
def small_tmpfs(env):
    mnt = env.base / "fullstate"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", str(mnt)],
                   check=True, capture_output=True)
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill_up(directory: Path) -> None:
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for size in (65536, 4096, 1):
            chunk = b"\xa5" * size
            while True:
                try:
                    if os.write(fd, chunk) == 0:
                        break
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    assert os.statvfs(directory).f_bavail == 0
    with pytest.raises(OSError) as exc:          # really full: a new 8 KiB file cannot be made
        with open(directory / "probe", "wb") as f:
            f.write(b"x" * STATE_SIZE)
            f.flush()
            os.fsync(f.fileno())
    assert exc.value.errno == errno.ENOSPC
    (directory / "probe").unlink(missing_ok=True)


def test_full_then_read_only_state_filesystem(env, small_tmpfs, enroll_bin):
    mnt = small_tmpfs
    path, secret = env.write_secret()
    _, bob_b32 = env.write_secret(user="bob")
    args = [template_arg(env), f"state_dir={mnt}", "window=2"]   # t-30, t, t+30: no waiting
    conf = write_conf(env, f"state_dir = {mnt}\n")
    t = fresh_step()
    run = env.run_pam(args, answers=[code(secret, t - 30)])
    assert run.result == "PAM_SUCCESS", str(run)
    assert (mnt / "alice").stat().st_size == STATE_SIZE
    secret_before = path.read_bytes()
    secret_mtime = path.stat().st_mtime_ns

    fill_up(mnt)
    # a fresh right code: recorded in place
    run = env.run_pam(args, answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)
    seq1, st, _ = parse_state_file(mnt / "alice")
    assert st["totp-step"]["default"] == int(t) // 30, st
    # the same code again: a replay, refused and counted
    run = env.run_pam(args, answers=[code(secret, t)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert any("replay" in ln and "(failure 1 of 3)" in ln for ln in mfa_lines(run)), str(run)
    # wrong codes still count to a lockout
    run = env.run_pam(args, answers=[wrong_code(secret)])
    assert run.result == "PAM_AUTH_ERR" and error_msgs(run) == [WRONG_MSG], str(run)
    run = env.run_pam(args, answers=[wrong_code(secret)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert error_msgs(run) == [LOCK_MSG_5MIN], str(run)
    seq2, st, _ = parse_state_file(mnt / "alice")
    assert seq2 == seq1 + 3 and is_locked(st), (seq1, seq2, st)
    run = env.run_pam(args, answers=[code(secret, t + 30)])
    assert run.result == "PAM_AUTH_ERR" and not run.prompts, str(run)
    # the secret file was never touched
    assert path.read_bytes() == secret_before and path.stat().st_mtime_ns == secret_mtime

    # bob has no state file and none can be created: denied, and the log says why
    run = env.run_pam(args, user="bob", answers=[code(bob_b32, t)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert any("user=bob" in ln and "state" in ln and "No space left" in ln
               for ln in mfa_lines(run)), str(run)
    assert not (mnt / "bob").exists()

    # root's unlock works on the full disk too (in place)
    unlock(env, conf)
    _, st, _ = parse_state_file(mnt / "alice")
    assert not is_locked(st) and "failures" not in st, st

    # read-only: a right, fresh code cannot be recorded, so it is refused
    subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True, capture_output=True)
    run = env.run_pam(args, answers=[code(secret, t + 30)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert any("state" in ln and "Read-only file system" in ln for ln in mfa_lines(run)), str(run)
    # control: writable again (still full), the very same code is accepted
    subprocess.run(["mount", "-o", "remount,rw", str(mnt)], check=True, capture_output=True)
    run = env.run_pam(args, answers=[code(secret, t + 30)])
    assert run.result == "PAM_SUCCESS", str(run)


# ---------------------------------------------------------------------------
# 4. concurrency
# ---------------------------------------------------------------------------


def test_parallel_logins_with_one_code_succeed_once(env):
    _, secret = env.write_secret()
    t = fresh_step(margin=5)
    cmd = env.pam_command([sarg(env), "deny=100"], answers=[code(secret, t)])
    parallel = env.run_all([cmd] * 24, timeout=TIMEOUT)
    results = Counter(r.result for r in parallel.runs)
    assert results == {"PAM_SUCCESS": 1, "PAM_AUTH_ERR": 23}, results
    log = parallel.log
    assert count_lines(log, "accepted totp code") == 1, log
    assert count_lines(log, "replay") == 23, log


def test_logins_of_different_users_do_not_wait_for_each_other(env):
    import fcntl
    _, s_alice = env.write_secret(user="alice")
    _, s_bob = env.write_secret(user="bob")
    t = fresh_step(margin=10)
    args = [template_arg(env)]
    cmd_alice = env.pam_command(args, user="alice", answers=[code(s_alice, t)])
    cmd_bob = env.pam_command(args, user="bob", answers=[code(s_bob, t)])
    lock_fd = os.open(env.state_dir / "alice.lock", os.O_RDWR | os.O_CREAT, 0o600)
    alice = bob = None
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        alice = env.spawn_pam(cmd_alice)
        time.sleep(1.5)
        assert alice.poll() is None, "alice's login did not wait for her lock"
        started = time.monotonic()
        bob = env.spawn_pam(cmd_bob)
        out, err = bob.communicate(timeout=5)
        assert time.monotonic() - started < 5
        bob_run = pam_result(out, err, bob.returncode)
        assert bob_run.result == "PAM_SUCCESS", str(bob_run)
        assert alice.poll() is None, "alice's login finished while her lock was held"
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        out, err = alice.communicate(timeout=10)
        alice_run = pam_result(out, err, alice.returncode)
        assert alice_run.result == "PAM_SUCCESS", str(alice_run)
    finally:
        os.close(lock_fd)
        for p in (alice, bob):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


# ---------------------------------------------------------------------------
# 5. brute force: lockout
# ---------------------------------------------------------------------------


def test_three_wrong_codes_lock_out_until_root_unlocks(env, enroll_bin):
    _, secret = env.write_secret()
    conf = write_conf(env, f"state_dir = {env.state_dir}\n")
    args = [sarg(env)]
    t = fresh_step()
    for n in (1, 2):
        run = env.run_pam(args, answers=[wrong_code(secret)])
        assert run.result == "PAM_AUTH_ERR", str(run)
        assert run.prompts == [("PROMPT_ECHO_OFF", PROMPT)] and error_msgs(run) == [WRONG_MSG], str(run)
        assert any(f"wrong code (failure {n} of 3); denied" in ln for ln in mfa_lines(run)), str(run)
    run = env.run_pam(args, answers=[wrong_code(secret)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert error_msgs(run) == [LOCK_MSG_5MIN], str(run)
    assert any("lockout: too many failures; locked for 300 s" in ln for ln in mfa_lines(run)), str(run)
    # locked: the right code does not help, and no prompt is shown at all
    run = env.run_pam(args, answers=[code(secret, t)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert run.messages == [LOCK_MSG_5MIN], str(run)
    assert any("refused: locked out for another" in ln for ln in mfa_lines(run)), str(run)
    # root unlocks
    proc = unlock(env, conf)
    assert "Unlocked alice" in proc.stdout, proc.stdout
    run = env.run_pam(args, answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)
    # again, with the subcommand form of unlock
    for _ in range(3):
        run = env.run_pam(args, answers=[wrong_code(secret)])
    assert error_msgs(run) == [LOCK_MSG_5MIN], str(run)
    unlock(env, conf, subcommand=True)
    run = env.run_pam(args, answers=[code(secret, t + 30)])
    assert run.result == "PAM_SUCCESS", str(run)


def test_success_resets_the_failure_count(env):
    _, secret = env.write_secret()
    args = [sarg(env)]
    t = fresh_step()
    for _ in range(2):
        assert env.run_pam(args, answers=[wrong_code(secret)]).result == "PAM_AUTH_ERR"
    run = env.run_pam(args, answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)
    for n in (1, 2):
        run = env.run_pam(args, answers=[wrong_code(secret)])
        assert run.result == "PAM_AUTH_ERR" and error_msgs(run) == [WRONG_MSG], str(run)
        assert any(f"(failure {n} of 3)" in ln for ln in mfa_lines(run)), str(run)
    run = env.run_pam(args, answers=[code(secret, t + 30)])
    assert run.result == "PAM_SUCCESS", str(run)


def test_parallel_wrong_guesses_get_exactly_deny_tries(env):
    _, secret = env.write_secret()
    cmd = env.pam_command([sarg(env)], answers=[wrong_code(secret)])
    parallel = env.run_all([cmd] * 20, timeout=TIMEOUT)
    assert all(r.result == "PAM_AUTH_ERR" for r in parallel.runs), [str(r) for r in parallel.runs]
    log = parallel.log
    lines = mfa_lines(log)
    assert count_lines(log, "wrong code (failure") == 3, log
    assert count_lines(log, "lockout: too many failures") == 1, log
    assert count_lines(log, "refused: locked out for another") == 17, log
    assert len(lines) == 21, log
    # the right code is refused now too
    run = env.run_pam([sarg(env)], answers=[code(secret, fresh_step())])
    assert run.result == "PAM_AUTH_ERR" and not run.prompts, str(run)


def test_replays_and_non_codes_count_as_failures(env):
    _, secret = env.write_secret()
    args = [sarg(env)]
    t = fresh_step()
    c = code(secret, t)
    assert env.run_pam(args, answers=[c]).result == "PAM_SUCCESS"
    run = env.run_pam(args, answers=[c])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert any("replay: an already used code was refused (failure 1 of 3)" in ln
               for ln in mfa_lines(run)), str(run)
    run = env.run_pam(args, answers=["abc"])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert any("the answer is not a code (failure 2 of 3)" in ln for ln in mfa_lines(run)), str(run)
    run = env.run_pam(args, answers=[c])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert error_msgs(run) == [LOCK_MSG_5MIN], str(run)
    assert any("replay" in ln and "(failure 3 of 3)" in ln for ln in mfa_lines(run)), str(run)
    run = env.run_pam(args, answers=[code(secret, t + 30)])
    assert run.result == "PAM_AUTH_ERR" and not run.prompts, str(run)


def test_failures_older_than_fail_interval_do_not_count(env):
    _, secret = env.write_secret()
    args = [sarg(env), "fail_interval=2s", "deny=3"]
    for _ in range(2):
        assert env.run_pam(args, answers=[wrong_code(secret)]).result == "PAM_AUTH_ERR"
    time.sleep(2.5)
    run = env.run_pam(args, answers=[wrong_code(secret)])
    assert run.result == "PAM_AUTH_ERR" and error_msgs(run) == [WRONG_MSG], str(run)
    assert any("(failure 1 of 3)" in ln for ln in mfa_lines(run)), str(run)
    # control: three within the interval do lock
    for _ in range(2):
        run = env.run_pam(args, answers=[wrong_code(secret)])
    assert error_msgs(run) == [LOCK_MSG_5MIN], str(run)


def test_lockout_ends_after_unlock_time(env):
    _, secret = env.write_secret()
    args = [sarg(env), "unlock_time=2s", "deny=1"]
    run = env.run_pam(args, answers=[wrong_code(secret)])
    assert error_msgs(run) == [("ERROR_MSG", "Too many wrong codes. Try again in 2 seconds.")], str(run)
    run = env.run_pam(args, answers=[code(secret)])
    assert run.result == "PAM_AUTH_ERR" and not run.prompts, str(run)
    time.sleep(2.5)
    run = env.run_pam(args, answers=[code(secret, fresh_step())])
    assert run.result == "PAM_SUCCESS", str(run)


def lockout_seconds(run) -> list:
    return [int(m.group(1)) for ln in mfa_lines(run)
            for m in [re.search(r"lockout: too many failures; locked for (\d+) s", ln)] if m]


def test_lockouts_in_a_row_double_and_a_success_resets(env):
    _, secret = env.write_secret()
    args = [sarg(env), "unlock_time=1s", "deny=1"]
    run = env.run_pam(args, answers=[wrong_code(secret)])
    assert lockout_seconds(run) == [1], str(run)
    assert error_msgs(run) == [("ERROR_MSG", "Too many wrong codes. Try again in 1 second.")]
    time.sleep(1.1)
    run = env.run_pam(args, answers=[wrong_code(secret)])
    assert lockout_seconds(run) == [2], str(run)
    assert error_msgs(run) == [("ERROR_MSG", "Too many wrong codes. Try again in 2 seconds.")]
    time.sleep(2.1)
    run = env.run_pam(args, answers=[code(secret, fresh_step())])
    assert run.result == "PAM_SUCCESS", str(run)
    run = env.run_pam(args, answers=[wrong_code(secret)])
    assert lockout_seconds(run) == [1], str(run)


def test_back_off_forgets_a_lockout_that_ended_long_ago(env):
    _, secret = env.write_secret()
    args = [sarg(env), "unlock_time=1s", "deny=1", "fail_interval=1s"]
    run = env.run_pam(args, answers=[wrong_code(secret)])
    assert lockout_seconds(run) == [1], str(run)
    time.sleep(2.1)        # the lockout ended more than fail_interval ago
    run = env.run_pam(args, answers=[wrong_code(secret)])
    assert lockout_seconds(run) == [1], str(run)


# ---------------------------------------------------------------------------
# 6. the configuration file
# ---------------------------------------------------------------------------


def test_config_file_settings_and_argument_precedence(env):
    _, secret = env.write_secret()
    other_state = env.base / "conf-state"
    conf = write_conf(env, "# pam_mfa settings\n\n"
                           f"secret = {env.secret_path()}\n"
                           f"state_dir={other_state}\n"
                           "  deny = 2  \n"
                           "debug\n")
    args = [f"conf={conf}"]
    run = env.run_pam(args, answers=[wrong_code(secret)], add_state_dir=False)
    assert run.result == "PAM_AUTH_ERR" and error_msgs(run) == [WRONG_MSG], str(run)
    assert any("(failure 1 of 2)" in ln for ln in mfa_lines(run)), str(run)
    assert any("settings:" in ln and "deny=2" in ln for ln in mfa_lines(run)), str(run)   # debug
    assert (other_state / "alice").exists()          # state_dir from the file
    run = env.run_pam(args, answers=[wrong_code(secret)], add_state_dir=False)
    assert error_msgs(run) == [LOCK_MSG_5MIN], str(run)

    # an argument beside conf= wins over the file
    args = [f"conf={conf}", "deny=4"]                 # state_dir: the test's own (argument)
    for n in (1, 2, 3):
        run = env.run_pam(args, answers=[wrong_code(secret)])
        assert run.result == "PAM_AUTH_ERR" and error_msgs(run) == [WRONG_MSG], str(run)
        assert any(f"(failure {n} of 4)" in ln for ln in mfa_lines(run)), str(run)
    run = env.run_pam(args, answers=[wrong_code(secret)])
    assert error_msgs(run) == [LOCK_MSG_5MIN], str(run)


@pytest.mark.parametrize("text,line", [
    ("deny = 3\n# fine\nlockout_forever = 1\n", 3),
    ("\n\n\n\ndeny = 0\n", 5),
    ("unlock_time = 2d\n", 1),
    ("conf = /etc/other\n", 1),
])
def test_bad_config_line_is_a_service_error(env, text, line):
    _, secret = env.write_secret()
    conf = write_conf(env, text)
    run = env.run_pam([sarg(env), f"conf={conf}"], answers=[code(secret)])
    assert run.result == "PAM_SERVICE_ERR", str(run)
    assert not run.prompts, str(run)
    assert any(f"{conf} line {line}" in ln for ln in mfa_lines(run)), str(run)


@pytest.mark.parametrize("mode,owner", [(0o666, 0), (0o620, 0), (0o602, 0), (0o600, ALICE_UID),
                                        (0o644, ALICE_UID)])
def test_unsafe_config_file_is_a_service_error(env, mode, owner):
    _, secret = env.write_secret()
    conf = write_conf(env, "deny = 5\n", mode=mode, owner=owner)
    run = env.run_pam([sarg(env), f"conf={conf}"], answers=[code(secret)])
    assert run.result == "PAM_SERVICE_ERR", str(run)
    assert any(str(conf) in ln for ln in mfa_lines(run)), str(run)
    # control: root's and not writable by others, the same file is fine
    os.chown(conf, 0, 0)
    os.chmod(conf, 0o644)
    run = env.run_pam([sarg(env), f"conf={conf}"], answers=[code(secret, fresh_step())])
    assert run.result == "PAM_SUCCESS", str(run)


def test_missing_named_config_file_is_a_service_error(env):
    _, secret = env.write_secret()
    run = env.run_pam([sarg(env), "conf=/nonexistent"], answers=[code(secret)])
    assert run.result == "PAM_SERVICE_ERR" and not run.prompts, str(run)
    assert any("/nonexistent does not exist" in ln for ln in mfa_lines(run)), str(run)


# ---------------------------------------------------------------------------
# 7. audit lines and the failure delay
# ---------------------------------------------------------------------------


def delay_requests(run) -> list:
    return [int(ln.split()[1]) for ln in run.stdout.split("\n")
            if ln.startswith("FAIL_DELAY_REQUEST ")]


def delays(run) -> list:
    return [(int(ln.split()[1]), int(ln.split()[2])) for ln in run.stdout.split("\n")
            if ln.startswith("DELAY ")]


def test_audit_lines_name_user_service_and_remote_host(env):
    _, secret = env.write_secret()
    service = "sshd-e2e"
    who = f"user=alice service={service} rhost=192.0.2.7: "
    args = [sarg(env)]
    t = fresh_step()
    c = code(secret, t)
    kinds = {}
    run = env.run_pam(args, answers=[c], rhost="192.0.2.7", service=service)
    assert run.result == "PAM_SUCCESS", str(run)
    kinds["accepted totp code (authenticator default)"] = run
    run = env.run_pam(args, answers=[c], rhost="192.0.2.7", service=service)
    kinds["replay: an already used code was refused"] = run
    run = env.run_pam(args, answers=[wrong_code(secret)], rhost="192.0.2.7", service=service)
    kinds["wrong code (failure 2 of 3); denied"] = run
    run = env.run_pam(args, answers=["not a code"], rhost="192.0.2.7", service=service)
    kinds["the answer is not a code (failure 3 of 3)"] = run
    kinds["lockout: too many failures; locked for 300 s"] = run
    run = env.run_pam(args, answers=[code(secret, t + 30)], rhost="192.0.2.7", service=service)
    kinds["refused: locked out for another"] = run
    for text, r in kinds.items():
        lines = [ln for ln in mfa_lines(r) if text in ln]
        assert len(lines) == 1, (text, str(r))
        assert who + text in lines[0], (text, lines[0])
        assert f"pam_mfa({service}:auth)" in lines[0], lines[0]
    # every line of these runs carries the audit prefix
    for r in kinds.values():
        for ln in mfa_lines(r):
            assert who in ln, ln


def test_failure_delay_is_requested(env):
    # control: a stack that asks for no delay shows no request and a zero delay
    run = env.run_pam(stack=["auth required pam_deny.so"])
    assert run.result == "PAM_AUTH_ERR" and delay_requests(run) == [], run.stdout
    assert delays(run) == [(7, 0)], run.stdout
    _, secret = env.write_secret()
    run = env.run_pam([sarg(env)], answers=[wrong_code(secret)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert delay_requests(run) and max(delay_requests(run)) >= 2_000_000, run.stdout
    # libpam hands the application the request randomised by up to +-50%
    (status, usec), = delays(run)
    assert status == 7 and usec >= 1_000_000, run.stdout
    # requested on every authentication: also for a locked-out user and a success
    for _ in range(2):
        env.run_pam([sarg(env)], answers=[wrong_code(secret)])
    run = env.run_pam([sarg(env)], answers=[code(secret)])
    assert run.result == "PAM_AUTH_ERR" and not run.prompts, str(run)
    assert max(delay_requests(run)) >= 2_000_000, run.stdout
    assert delays(run)[0][0] == 7 and delays(run)[0][1] >= 1_000_000, run.stdout
    _, s_bob = env.write_secret(user="bob")
    run = env.run_pam(template_arg(env), user="bob", answers=[code(s_bob)])
    assert run.result == "PAM_SUCCESS", str(run)
    assert max(delay_requests(run)) >= 2_000_000, run.stdout


# ---------------------------------------------------------------------------
# 8. unlock is root's
# ---------------------------------------------------------------------------


def test_unlock_by_non_root_is_refused(env, enroll_bin):
    conf = write_conf(env, f"state_dir = {env.state_dir}\n")
    _, s_bob = env.write_secret(user="bob")
    args = [template_arg(env)]
    for _ in range(3):
        run = env.run_pam(args, user="bob", answers=[wrong_code(s_bob)])
    assert error_msgs(run) == [LOCK_MSG_5MIN], str(run)
    state = env.state_dir / "bob"
    before = state.read_bytes()
    for argv in (["--user", "bob", "--unlock"], ["--user", "bob", "--unlock", "--config", conf],
                 ["--user", "bob", "--config", conf, "unlock"]):
        proc = run_cli(env, *argv, user_uid=ALICE_UID)
        assert proc.returncode == 1, (argv, proc.returncode, proc.stdout, proc.stderr)
        assert "only root" in proc.stderr, (argv, proc.stderr)
    # not even for oneself
    proc = run_cli(env, "--unlock", "--config", conf, user_uid=BOB_UID)
    assert proc.returncode == 1 and "only root" in proc.stderr, (proc.stdout, proc.stderr)
    assert state.read_bytes() == before
    _, st, _ = parse_state_file(state)
    assert is_locked(st), st


def test_unlock_flag_beside_another_command_is_refused(env):
    """`--unlock status` must not quietly run status and leave the user locked."""
    for command in ("status", "backup-codes"):
        proc = run_cli(env, "--user", "alice", "--unlock", command)
        assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
        assert f"--unlock cannot be combined with '{command}'" in proc.stderr, proc.stderr


# ---------------------------------------------------------------------------
# no copies of the secret left behind
# ---------------------------------------------------------------------------


def test_no_copy_of_the_secret_text_is_left_in_the_hosts_memory(env):
    """After pam_end, the secret file's key (its base32 text) is nowhere in the application's
    writable memory: every buffer that held it was wiped before it was freed."""
    path, secret = env.write_secret()
    wrong = wrong_code(secret)
    for answers, result in (([code(secret, fresh_step())], "PAM_SUCCESS"), ([wrong], "PAM_AUTH_ERR"),
                            (["not a code"], "PAM_AUTH_ERR")):
        cmd = env.pam_command([sarg(env), "window=1"], answers=answers)
        # the control: the module's path is in libpam's list of loaded modules
        cmd += ["--scan-memory", secret, "--scan-memory", str(path)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env.env(), timeout=TIMEOUT)
        run = pam_result(proc.stdout, proc.stderr, proc.returncode, [])
        assert run.result == result, str(run)
        counts = dict(ln.split(" ")[1:] for ln in proc.stdout.splitlines() if ln.startswith("MEMORY "))
        assert counts["0"] == "0", f"{counts['0']} copies of the secret's base32 text ({answers})"
        assert int(counts["1"]) > 0, proc.stdout


def test_no_copy_of_the_secret_text_is_left_after_a_backup_code(env):
    """A backup code rewrites the secret file (serialize): that path must leave no copy either."""
    enrolled = enroll(env)
    cmd = env.pam_command([f"secret={secret_path(env)}"], answers=[enrolled.codes[0]])
    cmd += ["--scan-memory", enrolled.secret, "--scan-memory", str(enrolled.path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env.env(), timeout=TIMEOUT)
    run = pam_result(proc.stdout, proc.stderr, proc.returncode, [])
    assert run.result == "PAM_SUCCESS", str(run)
    counts = dict(ln.split(" ")[1:] for ln in proc.stdout.splitlines() if ln.startswith("MEMORY "))
    assert counts["0"] == "0", f"{counts['0']} copies of the secret's base32 text after a backup code"
    assert int(counts["1"]) > 0, proc.stdout
