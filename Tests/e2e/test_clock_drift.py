"""A phone whose clock is off (max_drift, pam_mfa(8) "CLOCK DRIFT"), through the real module.

The phone is simulated by oathtool with a shifted clock (`-N @time`, mfatest.totp.code): a code
right only at an offset beyond the window is refused and counted like any wrong code, but
remembered in root's state; a later code at the same offset, within five minutes, is accepted
and centres that authenticator's window there.
"""

from __future__ import annotations

import hashlib
import re

import pytest

from mfatest.cli import run_cli
from mfatest.pam import LOCK_MSG_5MIN, WRONG_MSG, policy_conf, sarg
from mfatest.secretfile import b32
from mfatest.state import read_state, write_state_text
from mfatest.totp import code, fresh_step, wrong_code
from mfatest.world import PROMPT

PERIOD = 30


def phone(secret: str, t: float, steps: int) -> str:
    """The code a phone `steps` time steps ahead (negative: behind) shows at t."""
    return code(secret, t + steps * PERIOD)


def state_key(secret: str, name: str = "default") -> str:
    """The state's key for an authenticator: its name and the first 4 bytes of SHA-256(key)."""
    return name + "." + hashlib.sha256(b32(secret)).hexdigest()[:8]


def login(env, answer: str, *args):
    return env.run_pam([sarg(env), *args], answers=[answer])


def offsets(env) -> tuple[dict, dict]:
    state = read_state(env.state_dir / "alice")
    return state["totp-offset"], state["totp-offset-seen"]


def test_a_phone_two_minutes_ahead_is_learned_after_two_codes(env):
    _, secret = env.write_secret()
    key = state_key(secret)
    t = fresh_step(margin=8)
    first = login(env, phone(secret, t, 3))
    assert first.result == "PAM_AUTH_ERR", str(first)
    assert first.messages == [("PROMPT_ECHO_OFF", PROMPT), WRONG_MSG], str(first)
    assert "wrong code (failure 1 of 3)" in first.syslog_text(), str(first)
    assert ("a code right only for authenticator default at a clock offset of +3 steps (+90 s): refused"
            in first.syslog_text()), str(first)
    learned, seen = offsets(env)
    assert learned == {} and seen[key][0] == 3, (learned, seen)

    # The phone's next code (its clock is 4 steps ahead now that the step turned over for it).
    second = login(env, phone(secret, t, 4))
    assert second.result == "PAM_SUCCESS", str(second)
    assert ("clock offset learned: default at a clock offset of +4 steps (+120 s), confirmed by a second code"
            in second.syslog_text()), str(second)
    learned, seen = offsets(env)
    assert learned == {key: (4,)} and seen == {}, (learned, seen)
    assert "failures" not in read_state(env.state_dir / "alice")

    # From now on the window is centred there: one code is enough, and the centre follows.
    third = login(env, phone(secret, t, 5))
    assert third.result == "PAM_SUCCESS", str(third)
    assert "accepted totp code" in third.syslog_text(), str(third)
    assert offsets(env)[0] == {key: (5,)}
    # ... and a code from the right time is now as far off as the phone was: never accepted alone.
    back = login(env, code(secret, t))
    assert back.result == "PAM_AUTH_ERR", str(back)


def test_the_same_code_typed_twice_does_not_confirm(env):
    """The confirming code must be a later one: retyping one lucky guess proves nothing."""
    _, secret = env.write_secret()
    t = fresh_step(margin=8)
    c = phone(secret, t, 4)
    for _ in range(2):
        run = login(env, c)
        assert run.result == "PAM_AUTH_ERR", str(run)
        assert run.messages[-1] == WRONG_MSG, str(run)
    assert offsets(env)[0] == {}
    # An earlier code at that offset does not confirm either.
    older = login(env, phone(secret, t, 3))
    assert older.result == "PAM_AUTH_ERR", str(older)


def test_a_code_at_another_offset_does_not_confirm(env):
    _, secret = env.write_secret()
    key = state_key(secret)
    t = fresh_step(margin=8)
    assert login(env, phone(secret, t, 4)).result == "PAM_AUTH_ERR"
    other = login(env, phone(secret, t, 8))
    assert other.result == "PAM_AUTH_ERR", str(other)
    learned, seen = offsets(env)
    assert learned == {} and seen[key][0] == 8, (learned, seen)


def test_each_refused_code_counts_toward_the_lockout(env):
    """deny=2: the code at an offset and one wrong code lock the user out; the confirming code
    that comes after is refused as locked, not accepted."""
    _, secret = env.write_secret()
    t = fresh_step(margin=8)
    assert login(env, phone(secret, t, 4), "deny=2").result == "PAM_AUTH_ERR"
    second = login(env, wrong_code(secret, t, steps=12), "deny=2")
    assert second.messages[-1] == LOCK_MSG_5MIN, str(second)
    locked = login(env, phone(secret, t, 5), "deny=2")
    assert locked.result != "PAM_SUCCESS", str(locked)
    assert locked.messages[-1] == LOCK_MSG_5MIN, str(locked)
    assert offsets(env)[0] == {}


@pytest.mark.parametrize("args, ahead", [((), 11), (("max_drift=3",), 4), (("max_drift=0",), 2)])
def test_beyond_max_drift_nothing_is_learned(env, args, ahead):
    _, secret = env.write_secret()
    t = fresh_step(margin=8)
    for steps in (ahead, ahead + 1):
        run = login(env, phone(secret, t, steps), *args)
        assert run.result == "PAM_AUTH_ERR", str(run)
        assert "clock offset" not in run.syslog_text(), str(run)
    assert offsets(env) == ({}, {})


def test_a_phone_behind_is_learned_too(env):
    _, secret = env.write_secret()
    t = fresh_step(margin=8)
    assert login(env, phone(secret, t, -6)).result == "PAM_AUTH_ERR"
    run = login(env, phone(secret, t, -5))
    assert run.result == "PAM_SUCCESS", str(run)
    assert "clock offset of -5 steps (-150 s)" in run.syslog_text(), str(run)


def test_status_shows_the_offset_and_doctor_warns(env, tmp_path):
    conf = policy_conf(env)
    _, secret = env.write_secret()
    t = fresh_step(margin=8)
    assert env.run_pam([f"conf={conf}"], answers=[phone(secret, t, 4)]).result == "PAM_AUTH_ERR"
    status = run_cli(env, "--user", "alice", "--config", conf, "status")
    assert status.returncode == 0, status
    assert re.search(r"Clock offset:  default: a code at \+4 steps \(\+120 s\) was refused; the next code at that "
                     r"offset before \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC is accepted", status.stdout), status.stdout
    assert env.run_pam([f"conf={conf}"], answers=[phone(secret, t, 5)]).result == "PAM_SUCCESS"
    status = run_cli(env, "--user", "alice", "--config", conf, "status")
    assert "Clock offset:  default: +5 steps (+150 s), learned from its codes" in status.stdout, status.stdout
    pam_dir = tmp_path / "pam.d"
    pam_dir.mkdir()
    doctor = run_cli(env, "--user", "alice", "--config", conf, "doctor", "--pam-dir", str(pam_dir))
    assert ("WARN  clock of alice's authenticator default is +5 steps (+150 s) off this host's (the module "
            "learned it)") in doctor.stdout, doctor.stdout


def test_a_login_ends_a_sighting(env):
    """A sighting lets the next code hit three more steps: a right code from the window ends it,
    so those steps are not left open for anyone for the rest of the five minutes."""
    _, secret = env.write_secret()
    t = fresh_step(margin=8)
    assert login(env, phone(secret, t, 5)).result == "PAM_AUTH_ERR"
    assert offsets(env)[1] != {}
    assert login(env, phone(secret, t, 1)).result == "PAM_SUCCESS"
    assert offsets(env) == ({}, {})
    later = login(env, phone(secret, t, 6))
    assert later.result == "PAM_AUTH_ERR", str(later)


ONE_PROMPT = ["auth required {module} forward_pass {args}", "auth requisite {password}",
              "auth required {module} {args}"]


def one_prompt(password_module: str) -> list:
    return [line.replace("{password}", password_module) for line in ONE_PROMPT]


def test_before_the_password_nothing_is_learned(env):
    """forward_pass checks the code before the password and counts nothing there: a stranger's
    guesses (two right codes at an offset stand in for lucky ones) must not move the window or
    the watermark, or the user's own right code would be refused and counted afterwards."""
    _, secret = env.write_secret()
    t = fresh_step(margin=8)
    for steps in (9, 10):
        run = env.run_pam([sarg(env)], stack=one_prompt("pam_deny.so"),
                          answers=["wrongpassword" + phone(secret, t, steps)])
        assert run.result != "PAM_SUCCESS", str(run)
    state = read_state(env.state_dir / "alice")
    assert state["totp-offset"] == {} and state["totp-offset-seen"] == {} and state["totp-step"] == {}, state
    user = env.run_pam([sarg(env)], stack=one_prompt("pam_permit.so"),
                       answers=["rightpassword" + code(secret, t)])
    assert user.result == "PAM_SUCCESS", str(user)


def test_a_damaged_offset_is_refused_and_status_and_doctor_say_so(env, tmp_path):
    """An offset beyond any max_drift in root's state is damage: the login is denied (as for any
    damaged state record), and mfa-enroll reports it instead of trapping on the arithmetic."""
    conf = policy_conf(env)
    _, secret = env.write_secret()
    state_file = env.state_dir / "alice"
    write_state_text(state_file, f"pam_mfa-state 1\ntotp-offset {state_key(secret)} 999999999999999999\n")
    run = env.run_pam([f"conf={conf}"], answers=[code(secret, fresh_step())])
    assert run.result != "PAM_SUCCESS", str(run)
    assert "bad clock offset record" in run.syslog_text(), str(run)
    status = run_cli(env, "--user", "alice", "--config", conf, "status")
    assert status.returncode == 0 and "Last login:    unknown (state: " in status.stdout, status
    pam_dir = tmp_path / "pam.d"
    pam_dir.mkdir()
    doctor = run_cli(env, "--user", "alice", "--config", conf, "doctor", "--pam-dir", str(pam_dir))
    assert doctor.returncode in (0, 1) and "problem(s)" in doctor.stdout, doctor
