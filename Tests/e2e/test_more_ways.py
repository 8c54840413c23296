"""The "more ways in" of pam_mfa, proven through the built pam_mfa.so and mfa-enroll:

1. HOTP tokens: the counter in the root-owned state moves only forward (look-ahead of
   hotp_window=), one code wins among parallel logins, `mfa-enroll --type hotp`.
2. Several authenticators: `add`, `list`, `remove`, per-authenticator replay watermarks,
   removing the last one behaves like `disable`.
3. One prompt for password and code (forward_pass, use_first_pass, try_first_pass) in front of
   the real pam_unix with a real user (useradd/chpasswd, removed afterwards).
4. Import from the real `google-authenticator` program (TOTP and HOTP), checked first through
   pam_google_authenticator.so and then through pam_mfa.
5. Audit lines: `accepted hotp code (authenticator NAME)`; no code or password in syslog (the
   env fixtures' leak check, fed with every password and code typed here).

HOTP and TOTP codes come from oathtool; the state file is parsed here independently.
pamdrive's --authtok sets PAM_AUTHTOK from inside a pam_echo line
(`auth optional pam_echo.so PAMDRIVE_AUTHTOK_HOOK`), as an earlier module would.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import secrets as pysecrets
import select
import stat
import subprocess
import time
from pathlib import Path

import pytest

from mfatest.cli import (OTP_URI_RE, TIMEOUT, as_alice, enroll, enroll_cmd, enroll_through_pipe,
                         enroll_user, mode_of, run_cli, secret_path, uri_secret)
from mfatest.pam import PROMPT_MSG, RealEnv, mfa_lines, pam_result, syslog_has, write_conf
from mfatest.secretfile import b32, backup_lines, canonical, hash_matches, printed_codes, records
from mfatest.state import read_state
from mfatest.system import create_user, delete_user, passwd_entry, user_exists
from mfatest.totp import code, fresh_step, hotp, new_secret, wrong_code
from mfatest.world import MODULE

COMBINED = "Password and verification code: "
COMBINED_MSG = ("PROMPT_ECHO_OFF", COMBINED)
AUTHTOK_HOOK = "auth optional pam_echo.so PAMDRIVE_AUTHTOK_HOOK"
REMOVE_PROMPT = "Enter a code from your app, or a backup code: "


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def hotp_file(secret_b32: str, counter: int, name: str = "token") -> str:
    return ("pam_mfa 1\n"
            f"hotp name={name} algorithm=SHA1 digits=6 counter={counter} secret={secret_b32}\n")


def counter_key(name: str, secret_b32: str) -> str:
    """Where the state keeps a token's counter: its name and a fingerprint of its key."""
    key = b32(secret_b32)
    return f"{name}.{hashlib.sha256(key).hexdigest()[:8]}"


def accepted(run, method: str, name: str) -> bool:
    return any(f": accepted {method} code (authenticator {name})" in ln for ln in mfa_lines(run))


# ---------------------------------------------------------------------------
# real users (no nss_wrapper): pam_unix, google-authenticator
# ---------------------------------------------------------------------------


class RealUser:
    def __init__(self, name: str, password: str):
        self.name = name
        self.password = password
        pw = passwd_entry(name)
        self.uid, self.gid, self.home = int(pw[2]), int(pw[3]), Path(pw[5])

    def run(self, argv, env: dict, **kw) -> subprocess.CompletedProcess:
        """argv as this user (its groups only), in its home."""
        env = dict(env, HOME=str(self.home), USER=self.name, LOGNAME=self.name)
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                              timeout=TIMEOUT, env=env, cwd=self.home, user=self.uid,
                              group=self.gid, extra_groups=[], **kw)


@pytest.fixture
def real_user(request):
    """A real user with a home and a known password; userdel -r afterwards (also a left-over
    of a killed earlier run is removed first)."""
    name = "mfamore" + re.sub(r"[^a-z]", "", request.node.name.lower())[-8:]
    try:
        yield RealUser(name, create_user(name))
    finally:
        err = delete_user(name)
        assert err is None and not user_exists(name), f"could not delete the user {name}: {err}"
        assert not Path(f"/home/{name}").exists(), f"/home/{name} is left behind"


# ---------------------------------------------------------------------------
# 1. HOTP
# ---------------------------------------------------------------------------


def test_hotp_counter_only_moves_forward_within_the_look_ahead(env):
    secret = new_secret()
    n = 5
    path, _ = env.write_secret(secret_b32=secret, text=hotp_file(secret, n))
    file_before = path.read_bytes()
    args = [f"secret={path}", "deny=100"]

    def login(counter: int, *extra):
        return env.run_pam([*args, *extra], answers=[hotp(secret, counter)])

    run = login(n)
    assert run.result == "PAM_SUCCESS", str(run)
    assert run.messages == [PROMPT_MSG], str(run)
    assert accepted(run, "hotp", "token"), str(run)
    assert read_state(env.state_dir / "alice")["hotp-counter"] == {counter_key("token", secret): n + 1}
    # the same code once more: used
    run = login(n)
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert not accepted(run, "hotp", "token"), str(run)
    # a token pressed twice without logging in: counter n+3 is found by the look-ahead ...
    run = login(n + 3)
    assert run.result == "PAM_SUCCESS", str(run)
    assert accepted(run, "hotp", "token"), str(run)
    assert read_state(env.state_dir / "alice")["hotp-counter"] == {counter_key("token", secret): n + 4}
    # ... and the skipped ones are gone: the counter only moves forward
    for counter in (n + 1, n + 2, n + 3):
        run = login(counter)
        assert run.result == "PAM_AUTH_ERR", (counter, str(run))
    assert read_state(env.state_dir / "alice")["hotp-counter"] == {counter_key("token", secret): n + 4}
    # beyond the default look-ahead (10: counters n+4 .. n+13)
    run = login(n + 14)
    assert run.result == "PAM_AUTH_ERR", str(run)
    # hotp_window=2 looks at n+4 and n+5 only
    run = login(n + 6, "hotp_window=2")
    assert run.result == "PAM_AUTH_ERR", str(run)
    run = login(n + 5, "hotp_window=2")
    assert run.result == "PAM_SUCCESS", str(run)
    assert read_state(env.state_dir / "alice")["hotp-counter"] == {counter_key("token", secret): n + 6}
    # the window is counted from the moved counter: n+14 is now within n+6 .. n+15
    run = login(n + 14)
    assert run.result == "PAM_SUCCESS", str(run)
    state = read_state(env.state_dir / "alice")
    assert state["hotp-counter"] == {counter_key("token", secret): n + 15}, state
    assert "failures" not in state, state
    # every refusal was counted as a failure: an old code (used, or skipped by a press) as a
    # replay, the others as wrong codes
    text = env.read_syslog()
    assert sum("replay: an already used code was refused (failure" in ln
               for ln in mfa_lines(text)) == 4, text
    assert sum("wrong code (failure" in ln for ln in mfa_lines(text)) == 2, text
    assert sum(": accepted hotp code (authenticator token)" in ln
               for ln in mfa_lines(text)) == 4, text
    # the user's own file is never written by the module; the counter lives in the state
    assert path.read_bytes() == file_before
    env.check_no_leaks()


def test_a_new_token_under_an_old_name_starts_afresh(env):
    """Re-enrolled (or --force, or removed and added again) under the same name, a new token
    works from its first press; the old token's used codes stay used."""
    old = new_secret()
    path, _ = env.write_secret(secret_b32=old, text=hotp_file(old, 0))
    args = [f"secret={path}", "deny=100"]
    for counter in (5, 14, 23):
        run = env.run_pam(args, answers=[hotp(old, counter)])
        assert run.result == "PAM_SUCCESS", (counter, str(run))
    new = new_secret()
    env.write_secret(path=path, secret_b32=new, text=hotp_file(new, 0))
    run = env.run_pam(args, answers=[hotp(new, 1)])
    assert run.result == "PAM_SUCCESS" and accepted(run, "hotp", "token"), str(run)
    assert read_state(env.state_dir / "alice")["hotp-counter"] == {
        counter_key("token", old): 24, counter_key("token", new): 2}
    env.write_secret(path=path, secret_b32=old, text=hotp_file(old, 0))
    run = env.run_pam(args, answers=[hotp(old, 23)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert any("replay: an already used code was refused" in ln for ln in mfa_lines(run)), str(run)
    run = env.run_pam(args, answers=[hotp(old, 24)])
    assert run.result == "PAM_SUCCESS", str(run)


def test_hotp_parallel_logins_with_one_code_exactly_one_wins(env):
    secret = new_secret()
    path, _ = env.write_secret(secret_b32=secret, text=hotp_file(secret, 3))
    c = hotp(secret, 3)
    env.remember(c)
    cmd = env.pam_command([f"secret={path}", "deny=100"]) + ["--answer-stdin"]
    procs, heads = [], []
    try:
        for _ in range(8):
            procs.append(env.spawn_pam(cmd, stdin=subprocess.PIPE))
        # every one waits at the prompt before any gets the code
        deadline = time.monotonic() + TIMEOUT
        for p in procs:
            buf = b""
            while b"MSG PROMPT_ECHO_OFF" not in buf:
                left = deadline - time.monotonic()
                assert left > 0, f"no prompt from pamdrive: {buf!r}"
                ready, _, _ = select.select([p.stdout.fileno()], [], [], left)
                if ready:
                    chunk = os.read(p.stdout.fileno(), 65536)
                    assert chunk, f"pamdrive ended early: {buf!r}"
                    buf += chunk
            heads.append(buf)
        for p in procs:
            p.stdin.write((c + "\n").encode())
            p.stdin.flush()
        runs = []
        for p, head in zip(procs, heads):
            out, err = p.communicate(timeout=TIMEOUT)
            runs.append(pam_result(head + out, err, p.returncode))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    results = sorted(r.result for r in runs)
    assert results == ["PAM_AUTH_ERR"] * 7 + ["PAM_SUCCESS"], results
    text = env.read_syslog()
    assert sum(": accepted hotp code (authenticator token)" in ln
               for ln in mfa_lines(text)) == 1, text
    # The others matched the code against the counter they read and lost the compare-and-swap
    # to the winner: each is refused as a replay.
    assert sum("replay: an already used code was refused" in ln for ln in mfa_lines(text)) == 7, text
    assert read_state(env.state_dir / "alice")["hotp-counter"] == {counter_key("token", secret): 4}
    env.check_no_leaks()


def test_enroll_hotp_token(env):
    path = secret_path(env)
    uri, out, err, rc = enroll_through_pipe(
        env, ["--type", "hotp", "--secret-file", path, "--qr", "none"],
        answer_for=lambda uri: hotp(uri_secret(uri), 0), uri_re=OTP_URI_RE, **as_alice()).result()
    assert rc == 0, (rc, out, err)
    assert uri.startswith("otpauth://hotp/"), uri
    assert re.search(r"[?&]counter=0(&|$)", uri), uri
    assert "period=" not in uri, uri
    assert "Type:      counter-based (HOTP), SHA1, 6 digits" in out, out
    secret = uri_secret(uri)
    assert records(path) == {"default": ("hotp", {
        "name": "default", "algorithm": "SHA1", "digits": "6", "counter": "1",
        "secret": secret})}, path.read_text()
    assert len(printed_codes(out)) == 10, out
    assert (os.lstat(path).st_uid, mode_of(path)) == (env.uid(), 0o600)

    args = [f"secret={path}", "deny=10"]
    # the code typed at enrollment is used up (the file's counter is past it) ...
    run = env.run_pam(args, answers=[hotp(secret, 0)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    # ... the next press logs in, once
    run = env.run_pam(args, answers=[hotp(secret, 1)])
    assert run.result == "PAM_SUCCESS", str(run)
    assert accepted(run, "hotp", "default"), str(run)
    run = env.run_pam(args, answers=[hotp(secret, 1)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    run = env.run_pam(args, answers=[hotp(secret, 0)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert read_state(env.state_dir / "alice")["hotp-counter"] == {counter_key("default", secret): 2}
    env.check_no_leaks()


# ---------------------------------------------------------------------------
# 2. several authenticators
# ---------------------------------------------------------------------------


def test_add_list_remove_authenticators(env):
    fresh_step(margin=8)
    enr = enroll(env)
    path = enr.path
    as_a = as_alice()

    uri, out, err, rc = enroll_through_pipe(
        env, ["add", "--name", "tablet", "--qr", "none", "--secret-file", path],
        answer_for=lambda uri: code(uri_secret(uri)), uri_re=OTP_URI_RE, **as_a).result()
    assert rc == 0, (rc, out, err)
    assert "Added tablet. A code from any of your authenticators now works." in out, out
    tablet = uri_secret(uri)
    assert tablet != enr.secret
    recs = records(path)
    assert sorted(recs) == ["default", "tablet"], path.read_text()
    assert recs["default"][1]["secret"] == enr.secret
    assert recs["tablet"][0] == "totp" and recs["tablet"][1]["secret"] == tablet
    assert len(backup_lines(path)) == 10, path.read_text()
    assert (os.lstat(path).st_uid, mode_of(path)) == (env.uid(), 0o600)

    # both log in, in the same step: each has its own replay watermark
    step = max(int(r[1]["confirmed"]) for r in recs.values()) + 1
    args = [f"secret={path}", "deny=10"]
    for name, secret in (("default", enr.secret), ("tablet", tablet)):
        run = env.run_pam(args, answers=[code(secret, step * 30)])
        assert run.result == "PAM_SUCCESS", (name, str(run))
        assert accepted(run, "totp", name), (name, str(run))
    for name, secret in (("default", enr.secret), ("tablet", tablet)):
        run = env.run_pam(args, answers=[code(secret, step * 30)])
        assert run.result == "PAM_AUTH_ERR", (name, str(run))
        assert any("replay: an already used code was refused" in ln
                   for ln in mfa_lines(run)), str(run)
    assert read_state(env.state_dir / "alice")["totp-step"] == {"default": step, "tablet": step}

    proc = subprocess.run(enroll_cmd("list", "--secret-file", path), capture_output=True,
                          text=True, env=env.env(), timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                          **as_a)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert proc.stdout.split("\n") == [
        "default: time-based (TOTP), every 30 s, SHA1, 6 digits",
        "tablet: time-based (TOTP), every 30 s, SHA1, 6 digits",
        "Backup codes: 10 left", ""], proc.stdout
    assert enr.secret not in proc.stdout and tablet not in proc.stdout

    # a second "tablet" is refused before anything is shown or asked
    before = path.read_bytes()
    proc = subprocess.run(enroll_cmd("add", "--name", "tablet", "--qr", "none",
                                     "--secret-file", path),
                          capture_output=True, text=True, env=env.env(), timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL, **as_a)
    assert proc.returncode != 0, (proc.stdout, proc.stderr)
    assert "you already have an authenticator named tablet" in proc.stderr, proc.stderr
    assert "otpauth://" not in proc.stdout, proc.stdout
    assert path.read_bytes() == before

    # remove tablet: a wrong code first, then a current code of the remaining authenticator
    wrong = wrong_code(enr.secret, steps=3)
    env.remember(wrong)
    good = code(enr.secret)
    env.remember(good)
    proc = subprocess.run(enroll_cmd("remove", "tablet", "--secret-file", path),
                          input=f"{wrong}\n{good}\n", capture_output=True, text=True,
                          env=env.env(), timeout=TIMEOUT, **as_a)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert proc.stdout.count(REMOVE_PROMPT) == 2, proc.stdout
    assert "That code is not right." in proc.stdout, proc.stdout
    assert "Removed tablet; 1 authenticator(s) left." in proc.stdout, proc.stdout
    recs = records(path)
    assert sorted(recs) == ["default"] and recs["default"][1]["secret"] == enr.secret
    assert len(backup_lines(path)) == 10
    # the tablet's codes stop working, the phone's go on (the next step: window=2 reaches it)
    run = env.run_pam([*args, "window=2"], answers=[code(tablet, (step + 1) * 30)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    run = env.run_pam([*args, "window=2"], answers=[code(enr.secret, (step + 1) * 30)])
    assert run.result == "PAM_SUCCESS", str(run)

    # removing the last one is disable: refused where the policy requires a code ...
    strict = write_conf(env, f"state_dir = {env.state_dir}\n", name="strict.conf")
    before = path.read_bytes()
    proc = run_cli(env, "--config", strict, "remove", "default", "--secret-file", path,
                   user_uid=env.uid())
    assert proc.returncode != 0, (proc.stdout, proc.stderr)
    assert "requires a second factor" in proc.stderr, proc.stderr
    assert REMOVE_PROMPT not in proc.stdout, proc.stdout
    assert path.read_bytes() == before
    # ... and with nullok, after a code, the file is gone
    lax = write_conf(env, f"nullok\nstate_dir = {env.state_dir}\n", name="lax.conf")
    backup = enr.codes[0]
    proc = subprocess.run(enroll_cmd("--config", lax, "remove", "default", "--secret-file", path),
                          input=backup + "\n", capture_output=True, text=True, env=env.env(),
                          timeout=TIMEOUT, **as_a)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert REMOVE_PROMPT in proc.stdout, proc.stdout
    assert "Two-factor login is turned off for alice" in proc.stdout, proc.stdout
    assert not path.exists()
    env.check_no_leaks()


# ---------------------------------------------------------------------------
# 3. one prompt: forward_pass / use_first_pass / try_first_pass before pam_unix
# ---------------------------------------------------------------------------


def one_prompt_stack(first: str, options: str, check_after: bool = True) -> list:
    """The documented one-prompt stack: the line that asks (or takes PAM_AUTHTOK), pam_unix
    requisite, then a plain pam_mfa line that counts a failure once the password was right."""
    lines = [f"auth required {MODULE} {first} {options}", "auth requisite pam_unix.so use_first_pass"]
    return lines + ([f"auth required {MODULE}"] if check_after else [])


def test_one_prompt_for_password_and_code_with_pam_unix(real_env, real_user):
    env, user = real_env, real_user
    env.remember(user.password)
    enr = enroll_user(user.name, world=env)
    secret, backups, path = enr.secret, enr.codes, enr.path
    # window=10: a fresh step for every success without waiting (steps after confirmed=)
    steps = itertools.count(int(records(path)["default"][1]["confirmed"]) + 1)

    def next_code() -> str:
        c = code(secret, next(steps) * 30)
        env.remember(c)
        return c

    common = f"state_dir={env.state_dir} window=10 deny=20"
    forward = one_prompt_stack("forward_pass", common)

    def unix_failed(run) -> bool:
        return any(ln for ln in run.syslog
                   if "pam_unix(" in ln and "authentication failure" in ln)

    # password and code in one answer
    run = env.run_stack(forward, user.name, [user.password + next_code()])
    assert run.result == "PAM_SUCCESS", str(run)
    assert run.messages == [COMBINED_MSG], str(run)
    assert accepted(run, "totp", "default") and not unix_failed(run), str(run)
    assert syslog_has(run, "the code typed with the password was accepted"), str(run)
    # wrong password, right code: the code is used up, pam_unix refuses
    wrong_pw = "pw-" + pysecrets.token_urlsafe(12)
    env.remember(wrong_pw)
    run = env.run_stack(forward, user.name, [wrong_pw + next_code()])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert run.messages == [COMBINED_MSG], str(run)
    assert accepted(run, "totp", "default") and unix_failed(run), str(run)
    # right password, wrong code: counted and explained only after the password
    bad = wrong_code(secret, steps=12)
    env.remember(bad)
    run = env.run_stack(forward, user.name, [user.password + bad])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert run.messages == [COMBINED_MSG, ("ERROR_MSG", "Wrong code.")], str(run)
    assert any("wrong code (failure 1 of 20)" in ln for ln in mfa_lines(run)), str(run)
    assert not accepted(run, "totp", "default") and not unix_failed(run), str(run)
    # right password and a backup code (it ends in a letter), once
    b = canonical(backups[0])
    run = env.run_stack(forward, user.name, [user.password + b])
    assert run.result == "PAM_SUCCESS", str(run)
    assert run.messages == [COMBINED_MSG, ("TEXT_INFO",
                            "Backup code accepted. You have 9 backup codes left.")], str(run)
    assert not unix_failed(run), str(run)
    run = env.run_stack(forward, user.name, [user.password + b])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert hash_matches(b, path) == 0 and len(backup_lines(path)) == 9

    # use_first_pass: password+code from PAM_AUTHTOK, no prompt at all
    use = [AUTHTOK_HOOK, *one_prompt_stack("use_first_pass", common)]
    run = env.run_stack(use, user.name, authtok=user.password + next_code())
    assert "AUTHTOK PAM_SUCCESS 0" in run.stdout, str(run)
    assert run.result == "PAM_SUCCESS", str(run)
    assert run.messages == [], str(run)
    assert accepted(run, "totp", "default"), str(run)
    run = env.run_stack(use, user.name, authtok=wrong_pw + next_code())
    assert run.result == "PAM_AUTH_ERR" and run.messages == [], str(run)
    assert unix_failed(run), str(run)
    # ... and without one: refused, with a reason in syslog, still no prompt
    run = env.run_stack(use, user.name)
    assert "AUTHTOK" not in run.stdout, str(run)
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert run.messages == [], str(run)
    assert any("use_first_pass, but no earlier module or application set a password; denied"
               in ln for ln in mfa_lines(run)), str(run)
    # a wrong code with a wrong password: not a word about the code
    run = env.run_stack(use, user.name, authtok=wrong_pw + "000000")
    assert run.result == "PAM_AUTH_ERR" and run.messages == [], str(run)

    # try_first_pass: takes PAM_AUTHTOK when there is one ...
    try_ = [AUTHTOK_HOOK, *one_prompt_stack("try_first_pass", common)]
    run = env.run_stack(try_, user.name, authtok=user.password + next_code())
    assert run.result == "PAM_SUCCESS" and run.messages == [], str(run)
    run = env.run_stack(try_, user.name, [wrong_pw + "000000"])
    assert run.result == "PAM_AUTH_ERR" and run.messages == [COMBINED_MSG], str(run)
    # ... and asks when there is none
    run = env.run_stack(try_, user.name, [user.password + next_code()])
    assert run.result == "PAM_SUCCESS", str(run)
    assert run.messages == [COMBINED_MSG], str(run)
    assert accepted(run, "totp", "default"), str(run)

    # without the line after the password the code is still checked, and used once
    two_lines = one_prompt_stack("forward_pass", common, check_after=False)
    run = env.run_stack(two_lines, user.name, [user.password + bad])
    assert run.result == "PAM_AUTH_ERR" and run.messages == [COMBINED_MSG], str(run)
    c = next_code()
    run = env.run_stack(two_lines, user.name, [user.password + c])
    assert run.result == "PAM_SUCCESS", str(run)
    run = env.run_stack(two_lines, user.name, [user.password + c])
    assert run.result == "PAM_AUTH_ERR", str(run)
    env.check_no_leaks()


def test_one_prompt_without_the_password_neither_locks_out_nor_tells_who_is_enrolled(
        real_env, real_user):
    """The attack: someone who knows only a user name types garbage at the one prompt. The user
    must not be locked out, and an enrolled user must be asked exactly like anyone else."""
    env, user = real_env, real_user
    env.remember(user.password)
    enr = enroll_user(user.name, world=env)
    secret, path = enr.secret, enr.path
    steps = itertools.count(int(records(path)["default"][1]["confirmed"]) + 1)
    common = f"state_dir={env.state_dir} window=10 deny=3"
    forward = one_prompt_stack("forward_pass", common)
    wrong_pw = "pw-" + pysecrets.token_urlsafe(12)
    env.remember(wrong_pw)
    for _ in range(6):
        run = env.run_stack(forward, user.name, [wrong_pw + wrong_code(secret, steps=12)])
        assert run.result == "PAM_AUTH_ERR" and run.messages == [COMBINED_MSG], str(run)
    state = read_state(env.state_dir / user.name) if (env.state_dir / user.name).exists() else {}
    assert state.get("failures", (0,))[0] == 0 and state.get("lockouts", (0,))[0] == 0, state
    # the user, with their password and code, gets in at once
    c = code(secret, next(steps) * 30)
    env.remember(c)
    run = env.run_stack(forward, user.name, [user.password + c])
    assert run.result == "PAM_SUCCESS" and run.messages == [COMBINED_MSG], str(run)
    # the same prompt, and nothing else, for a user who has not enrolled and for no such user
    path.unlink()
    for name in (user.name, "nosuchuser-" + pysecrets.token_hex(4)):
        run = env.run_stack(forward, name, [wrong_pw])
        assert run.result != "PAM_SUCCESS" and run.messages == [COMBINED_MSG], str(run)
    # The line after the password follows the first line: with nullok given there only, a user
    # without a secret file logs in with the password alone, asked once (as after a reset).
    (env.state_dir / user.name).unlink()
    run = env.run_stack(one_prompt_stack("forward_pass", common + " nullok"), user.name, [user.password])
    assert run.result == "PAM_SUCCESS" and run.messages == [COMBINED_MSG], str(run)


# ---------------------------------------------------------------------------
# 4. import from google-authenticator
# ---------------------------------------------------------------------------


def google_authenticator(env: RealEnv, user: RealUser, ga_file: Path, *flags) -> tuple:
    """Runs the real google-authenticator as the user; (secret, scratch codes, option lines)."""
    proc = user.run(["google-authenticator", *flags, "-f", "-q", "-C", "-w", "3", "-e", "5",
                     "-r", "3", "-R", "30", "-s", ga_file], env.env())
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    lines = ga_file.read_text().split("\n")
    secret = lines[0]
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), lines
    scratch = [ln for ln in lines if re.fullmatch(r"\d{8}", ln)]
    assert len(scratch) == 5, lines
    env.remember(secret)
    for s in scratch:
        env.remember(s)
    return secret, scratch, [ln for ln in lines if ln.startswith('"')]


def ga_stack(ga_file: Path) -> list:
    return [f"auth required pam_google_authenticator.so secret={ga_file}"]


def run_import(env: RealEnv, user: RealUser, ga_file: Path, secret_file: Path, *extra):
    return user.run([enroll_cmd()[0], "import", "google-authenticator", ga_file,
                     "--secret-file", secret_file, *extra], env.env())


def test_import_google_authenticator_totp(real_env, real_user):
    env, user = real_env, real_user
    ga_file = user.home / ".google_authenticator"
    secret, scratch, options = google_authenticator(env, user, ga_file, "-t", "-d")
    assert set(options) >= {'" RATE_LIMIT 3 30', '" WINDOW_SIZE 3', '" DISALLOW_REUSE',
                            '" TOTP_AUTH'}, options

    # it works through pam_google_authenticator first (and a wrong code does not)
    t = fresh_step()
    bad = wrong_code(secret, steps=5)
    env.remember(bad)
    run = env.run_stack(ga_stack(ga_file), user.name, [bad])
    assert run.result == "PAM_AUTH_ERR", str(run)
    c = code(secret, t)
    env.remember(c)
    run = env.run_stack(ga_stack(ga_file), user.name, [c])
    assert run.result == "PAM_SUCCESS", str(run)

    target = user.home / ".config" / "pam_mfa" / "secret"
    proc = run_import(env, user, ga_file, target)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert (f"Imported {ga_file} into {target}: TOTP, every 30 s, 6 digits, "
            "5 scratch code(s) as backup codes (stored hashed).") in proc.stdout, proc.stdout
    for word in ("RATE_LIMIT", "WINDOW_SIZE", "DISALLOW_REUSE"):
        assert (f"Ignored {word}: the administrator's policy in pam_mfa.conf applies instead."
                in proc.stdout), proc.stdout
    assert secret not in proc.stdout + proc.stderr
    st = os.lstat(target)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (user.uid, 0o600)
    text = target.read_text()
    assert records(target) == {"default": ("totp", {
        "name": "default", "algorithm": "SHA1", "digits": "6", "period": "30",
        "secret": secret})}, text
    # scratch codes: stored only as hashes, each one's hash exactly once
    assert len(backup_lines(target)) == 5, text
    for s in scratch:
        assert s not in text, "a scratch code is stored in plain text"
        assert hash_matches(s, target) == 1, s

    # the same app's code logs in through pam_mfa (a step google-authenticator did not see)
    mfa = [f"auth required {MODULE} state_dir={env.state_dir}"]
    c = code(secret, t + 30)
    env.remember(c)
    run = env.run_stack(mfa, user.name, [c])
    assert run.result == "PAM_SUCCESS", str(run)
    assert run.messages == [PROMPT_MSG], str(run)
    assert accepted(run, "totp", "default"), str(run)
    # a scratch code works once
    run = env.run_stack(mfa, user.name, [scratch[0]])
    assert run.result == "PAM_SUCCESS", str(run)
    assert ("TEXT_INFO", "Backup code accepted. You have 4 backup codes left.") in run.messages
    assert any("accepted backup code (4 left)" in ln for ln in mfa_lines(run)), str(run)
    run = env.run_stack(mfa, user.name, [scratch[0]])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert hash_matches(scratch[0], target) == 0 and len(backup_lines(target)) == 4

    # an existing enrollment is not replaced without --force
    before = target.read_bytes()
    proc = run_import(env, user, ga_file, target)
    assert proc.returncode != 0, (proc.stdout, proc.stderr)
    assert f"already enrolled ({target} exists); use --force to replace it" in proc.stderr, (
        proc.stdout, proc.stderr)
    assert target.read_bytes() == before
    env.check_no_leaks()


def test_import_google_authenticator_hotp_keeps_the_counter(real_env, real_user):
    env, user = real_env, real_user
    ga_file = user.home / ".google_authenticator"
    secret, scratch, options = google_authenticator(env, user, ga_file, "-c")
    assert '" HOTP_COUNTER 1' in options, options
    # pam_google_authenticator accepts counter 1 and moves its counter on
    c1 = hotp(secret, 1)
    env.remember(c1)
    run = env.run_stack(ga_stack(ga_file), user.name, [c1])
    assert run.result == "PAM_SUCCESS", str(run)
    assert '" HOTP_COUNTER 2' in ga_file.read_text().split("\n"), ga_file.read_text()

    target = user.home / "mfa" / "secret"
    proc = run_import(env, user, ga_file, target)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "HOTP (counter 2), 6 digits, 5 scratch code(s)" in proc.stdout, proc.stdout
    assert "Ignored RATE_LIMIT" in proc.stdout and "Ignored WINDOW_SIZE" in proc.stdout
    assert records(target) == {"default": ("hotp", {
        "name": "default", "algorithm": "SHA1", "digits": "6", "counter": "2",
        "secret": secret})}, target.read_text()

    mfa = [f"auth required {MODULE} secret={target} state_dir={env.state_dir} deny=10"]
    # the code google-authenticator already took stays used ...
    run = env.run_stack(mfa, user.name, [c1])
    assert run.result == "PAM_AUTH_ERR", str(run)
    # ... the token's next press works through pam_mfa, once
    c2 = hotp(secret, 2)
    env.remember(c2)
    run = env.run_stack(mfa, user.name, [c2])
    assert run.result == "PAM_SUCCESS", str(run)
    assert accepted(run, "hotp", "default"), str(run)
    run = env.run_stack(mfa, user.name, [c2])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert read_state(env.state_dir / user.name)["hotp-counter"] == {counter_key("default", secret): 3}
    # existing file, no --force: refused
    before = target.read_bytes()
    proc = run_import(env, user, ga_file, target)
    assert proc.returncode != 0 and "use --force to replace it" in proc.stderr, proc.stderr
    assert target.read_bytes() == before
    env.check_no_leaks()
