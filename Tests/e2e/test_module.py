"""pam_mfa.so through real libpam (pam_start_confdir) with fake users.

Every test gets its own state dir, secret files and syslog capture (see
conftest.py); the `env` fixture also checks at teardown that no syslog line
contains a secret or a typed code.
"""

import base64
import os

import pytest

from mfatest.pam import WRONG_MSG, pam_lines, sarg
from mfatest.secretfile import secret_text, write_secret
from mfatest.totp import code, fresh_step, new_secret, wrong_code
from mfatest.world import PROMPT


# ---------------------------------------------------------------------------
# the basic flow
# ---------------------------------------------------------------------------


def test_right_code_succeeds_with_exact_prompt(env):
    _, secret = env.write_secret()
    run = login_steps_away(env, secret, 0)
    assert run.result == "PAM_SUCCESS", str(run)
    assert run.messages == [("PROMPT_ECHO_OFF", PROMPT)], str(run)


REPLAY_MSG = ("ERROR_MSG", "That code was already used: wait for a new one.")
NOT_A_CODE_MSG = ("ERROR_MSG", "That is not a code: type the digits of a code, or a backup code.")


def test_wrong_code_fails_and_the_user_is_told(env):
    """Reaching the code prompt already told the user the first factor was right: saying that
    the code was wrong (not the password) reveals nothing and spares a guess."""
    _, secret = env.write_secret()
    run = env.run_pam(sarg(env), answers=[wrong_code(secret)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert run.messages == [("PROMPT_ECHO_OFF", PROMPT), WRONG_MSG], str(run)


def test_an_answer_that_is_no_code_is_named(env):
    env.write_secret()
    run = env.run_pam(sarg(env), answers=["hunter2"])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert run.messages == [("PROMPT_ECHO_OFF", PROMPT), NOT_A_CODE_MSG], str(run)


def test_replay_of_same_code_is_refused_with_the_reason(env):
    _, secret = env.write_secret()
    t = fresh_step()
    c = code(secret, t)
    first = env.run_pam(sarg(env), answers=[c])
    assert first.result == "PAM_SUCCESS", str(first)
    second = env.run_pam(sarg(env), answers=[c])
    assert second.result == "PAM_AUTH_ERR", str(second)
    assert any("replay" in line.lower() for line in second.syslog), str(second)
    assert second.messages == [("PROMPT_ECHO_OFF", PROMPT), REPLAY_MSG], str(second)


def test_replay_is_per_user_state_not_global(env):
    """bob using his own code in the same step is not a replay of alice's."""
    _, s_alice = env.write_secret(user="alice")
    _, s_bob = env.write_secret(user="bob")
    t = fresh_step()
    a = env.run_pam(sarg(env, "alice"), answers=[code(s_alice, t)])
    assert a.result == "PAM_SUCCESS", str(a)
    b = env.run_pam(f"secret={env.base}/secrets/${{USER}}/secret", user="bob",
                    answers=[code(s_bob, t)])
    assert b.result == "PAM_SUCCESS", str(b)


def login_steps_away(env, secret: str, steps: int, *args):
    """One login with the code of `steps` time steps from now (a step just begun)."""
    return env.run_pam([sarg(env), *args], answers=[code(secret, fresh_step() + 30 * steps)])


def test_previous_step_accepted_with_default_window(env):
    _, secret = env.write_secret()
    run = login_steps_away(env, secret, -1)
    assert run.result == "PAM_SUCCESS", str(run)


def test_next_step_accepted_with_default_window(env):
    _, secret = env.write_secret()
    run = login_steps_away(env, secret, 1)
    assert run.result == "PAM_SUCCESS", str(run)


def test_window_zero_refuses_previous_step(env):
    _, secret = env.write_secret()
    run = login_steps_away(env, secret, -1, "window=0")
    assert run.result == "PAM_AUTH_ERR", str(run)
    run = login_steps_away(env, secret, 0, "window=0")
    assert run.result == "PAM_SUCCESS", str(run)


@pytest.mark.parametrize("offset", [-60, 60])
def test_two_steps_away_refused_with_window_one(env, offset):
    _, secret = env.write_secret()
    run = login_steps_away(env, secret, offset // 30, "window=1")
    assert run.result == "PAM_AUTH_ERR", str(run)


def test_two_steps_away_accepted_with_window_two(env):
    _, secret = env.write_secret()
    run = login_steps_away(env, secret, -2, "window=2")
    assert run.result == "PAM_SUCCESS", str(run)


def test_code_with_space_accepted(env):
    _, secret = env.write_secret()
    t = fresh_step()
    c = code(secret, t)
    run = env.run_pam(sarg(env), answers=[f"{c[:3]} {c[3:]}"])
    assert run.result == "PAM_SUCCESS", str(run)


@pytest.mark.parametrize("answer", [
    "abc",
    "",
    "1234567890123",
    b"12345\x00",
    b"\xff\xfe\x00",
    "12345",
    "1" * 5000,
    "-12345",
    "１２３４５６",          # full-width digits
], ids=["letters", "empty", "too-long", "nul", "non-utf8", "short", "huge", "sign",
        "fullwidth"])
def test_garbage_is_refused_without_crash(env, answer):
    env.write_secret()
    run = env.run_pam(sarg(env), answers=[answer])
    assert run.result == "PAM_AUTH_ERR", str(run)


def test_null_response_is_refused_without_crash(env):
    env.write_secret()
    run = env.run_pam(sarg(env), answers=[None])
    assert run.result in ("PAM_AUTH_ERR", "PAM_CONV_ERR"), str(run)


def test_conversation_failure_is_not_success(env):
    env.write_secret()
    run = env.run_pam(sarg(env), answers=[])
    assert run.result in ("PAM_AUTH_ERR", "PAM_CONV_ERR"), str(run)


def test_right_code_with_debug_does_not_log_code(env):
    _, secret = env.write_secret()
    t = fresh_step()
    run = env.run_pam([sarg(env), "debug"], answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)
    # the leak check runs in the env fixture's teardown


def test_setcred_succeeds(env):
    _, secret = env.write_secret()
    t = fresh_step()
    run = env.run_pam(sarg(env), answers=[code(secret, t)], setcred=True)
    assert run.result == "PAM_SUCCESS", str(run)
    assert run.setcred == "PAM_SUCCESS", str(run)


# ---------------------------------------------------------------------------
# nullok and missing files
# ---------------------------------------------------------------------------


def test_nullok_without_file_returns_raw_ignore(env):
    run = env.run_pam([sarg(env), "nullok"], direct=True)
    assert run.direct_context == "module", str(run)
    assert run.result == "PAM_IGNORE", str(run)
    assert run.prompts == [], str(run)


def test_nullok_without_file_in_stack_succeeds(env):
    run = env.run_pam([sarg(env), "nullok"],
                      stack=["auth required {module} {args}", "auth required pam_permit.so"])
    assert run.result == "PAM_SUCCESS", str(run)
    assert run.prompts == [], str(run)


def test_nullok_without_file_alone_is_not_success(env):
    """PAM_IGNORE as the only module must not turn into a success."""
    run = env.run_pam([sarg(env), "nullok"])
    assert run.result != "PAM_SUCCESS", str(run)


def test_missing_file_without_nullok_fails(env):
    run = env.run_pam(sarg(env), answers=["123456"])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert pam_lines(run), str(run)


def test_missing_file_without_nullok_direct_is_auth_err(env):
    run = env.run_pam(sarg(env), direct=True, answers=["123456"])
    assert run.result == "PAM_AUTH_ERR", str(run)


def test_nullok_with_file_still_requires_code(env):
    _, secret = env.write_secret()
    run = env.run_pam([sarg(env), "nullok"], answers=[wrong_code(secret)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    run = env.run_pam([sarg(env), "nullok"], direct=True, answers=[wrong_code(secret)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    t = fresh_step()
    run = env.run_pam([sarg(env), "nullok"], answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)


def test_nullok_does_not_cover_a_broken_file(env):
    """nullok is for 'not enrolled' only: a bad file still denies."""
    path, secret = env.write_secret(mode=0o644)
    run = env.run_pam([sarg(env), "nullok"], direct=True, answers=[code(secret)])
    assert run.result == "PAM_AUTH_ERR", str(run)


# ---------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------


def test_unknown_option_is_service_error(env):
    env.write_secret()
    run = env.run_pam([sarg(env), "foo=bar"], answers=["123456"])
    assert run.result == "PAM_SERVICE_ERR", str(run)
    assert any("foo" in line for line in pam_lines(run)), str(run)


def test_unknown_option_direct_is_service_error(env):
    env.write_secret()
    run = env.run_pam([sarg(env), "foo=bar"], direct=True, answers=["123456"])
    assert run.result == "PAM_SERVICE_ERR", str(run)


@pytest.mark.parametrize("value", ["abc", "-1", "11", "", "1x", "99999999999999999999"])
def test_bad_window_is_service_error(env, value):
    env.write_secret()
    run = env.run_pam([sarg(env), f"window={value}"], answers=["123456"])
    assert run.result == "PAM_SERVICE_ERR", str(run)
    assert pam_lines(run), str(run)


@pytest.mark.parametrize("value", ["0", "10"])
def test_window_bounds_are_accepted(env, value):
    _, secret = env.write_secret()
    t = fresh_step()
    run = env.run_pam([sarg(env), f"window={value}"], answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)


# ---------------------------------------------------------------------------
# file parameters
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm,digits,period", [
    ("SHA256", 6, 30),
    ("SHA512", 6, 30),
    ("SHA1", 8, 30),
    ("SHA1", 6, 60),
    ("SHA256", 8, 60),
    ("SHA512", 7, 30),
])
def test_file_parameters_are_honoured(env, algorithm, digits, period):
    nbytes = {"SHA1": 20, "SHA256": 32, "SHA512": 64}[algorithm]
    _, secret = env.write_secret(secret_b32=new_secret(nbytes), algorithm=algorithm,
                                 digits=digits, period=period)
    t = fresh_step(period)
    # a SHA1/6/30 code for the same secret must not be taken
    if (algorithm, digits, period) != ("SHA1", 6, 30):
        plain = code(secret, t)
        good_set = {code(secret, t + k * period, digits, algorithm, period)
                    for k in (-1, 0, 1)}
        if plain not in good_set:
            run = env.run_pam(sarg(env), answers=[plain])
            assert run.result == "PAM_AUTH_ERR", str(run)
    t = fresh_step(period)
    run = env.run_pam(sarg(env), answers=[code(secret, t, digits, algorithm, period)])
    assert run.result == "PAM_SUCCESS", str(run)


def test_sixty_second_period_previous_step(env):
    _, secret = env.write_secret(period=60)
    t = fresh_step(60)
    run = env.run_pam(sarg(env), answers=[code(secret, t - 60, period=60)])
    assert run.result == "PAM_SUCCESS", str(run)


# ---------------------------------------------------------------------------
# secret= path expansion
# ---------------------------------------------------------------------------


def test_default_secret_path_under_home(env):
    _, secret = env.write_secret(path=env.default_secret_path())
    t = fresh_step()
    run = env.run_pam([], answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)


def test_secret_path_with_user(env):
    _, s_alice = env.write_secret(user="alice")
    _, s_bob = env.write_secret(user="bob")
    arg = f"secret={env.base}/secrets/${{USER}}/secret"
    t = fresh_step()
    run = env.run_pam(arg, user="alice", answers=[code(s_alice, t)])
    assert run.result == "PAM_SUCCESS", str(run)
    # bob's file is his own: alice's code is no good for him
    run = env.run_pam(arg, user="bob", answers=[wrong_code(s_bob)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    t = fresh_step()
    run = env.run_pam(arg, user="bob", answers=[code(s_bob, t)])
    assert run.result == "PAM_SUCCESS", str(run)


def test_secret_path_with_home(env):
    _, secret = env.write_secret(path=env.home() / ".mfa" / "secret")
    t = fresh_step()
    run = env.run_pam("secret=${HOME}/.mfa/secret", answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)


def test_secret_path_with_tilde(env):
    _, secret = env.write_secret(path=env.home() / ".mfa2" / "secret")
    t = fresh_step()
    run = env.run_pam("secret=~/.mfa2/secret", answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)


def test_unknown_user(env):
    env.write_secret()
    run = env.run_pam(sarg(env), user="nosuchuser", answers=["123456"])
    assert run.result == "PAM_USER_UNKNOWN", str(run)


# ---------------------------------------------------------------------------
# unsafe and malformed files
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606], ids=oct)
def test_group_or_world_accessible_file_refused(env, mode):
    _, secret = env.write_secret(mode=mode)
    run = login_steps_away(env, secret, 0)
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert pam_lines(run), str(run)


def test_file_owned_by_other_user_refused(env):
    path, secret = env.write_secret()
    os.chown(path, env.uid("bob"), env.uid("bob"))
    run = login_steps_away(env, secret, 0)
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert pam_lines(run), str(run)


def test_file_owned_by_root_for_alice_refused(env):
    path, secret = env.write_secret()
    os.chown(path, 0, 0)
    run = login_steps_away(env, secret, 0)
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert pam_lines(run), str(run)


def test_symlink_secret_refused(env):
    real, secret = env.write_secret(path=env.home() / "real-secret")
    link = env.secret_path()
    link.parent.mkdir(parents=True, exist_ok=True)
    os.chown(link.parent, env.uid(), env.uid())
    os.symlink(real, link)
    os.lchown(link, env.uid(), env.uid())
    run = login_steps_away(env, secret, 0)
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert pam_lines(run), str(run)


def test_directory_as_secret_refused(env):
    p = env.secret_path()
    p.mkdir(parents=True)
    os.chown(p, env.uid(), env.uid())
    os.chmod(p, 0o700)
    run = env.run_pam(sarg(env), answers=["123456"])
    assert run.result == "PAM_AUTH_ERR", str(run)


def test_file_readable_only_by_root_is_not_read_as_root(env):
    """Alice cannot read a file in a root-only directory: the module reads
    with alice's privileges, so it must fail even though root could read it."""
    d = env.base / "rootonly"
    d.mkdir(mode=0o700)
    path = d / "secret"
    secret = new_secret()
    env.remember(secret)
    write_secret(path, secret, owner_uid=env.uid())
    os.chown(d, 0, 0)
    os.chmod(d, 0o700)
    t = fresh_step()
    run = env.run_pam(f"secret={path}", answers=[code(secret, t)])
    assert run.result == "PAM_AUTH_ERR", str(run)


S = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
HDR = "# comment\n\npam_mfa 1\n"


@pytest.mark.parametrize("text,line", [
    ("# comment\n\npam_mfa 9\n" + f"totp name=a algorithm=SHA1 digits=6 period=30 secret={S}\n", 3),
    (HDR + f"totp name=a algorithm=MD5 digits=6 period=30 secret={S}\n", 4),
    (HDR + f"totp name=a algorithm=SHA1 digits=5 period=30 secret={S}\n", 4),
    (HDR + f"totp name=a algorithm=SHA1 digits=9 period=30 secret={S}\n", 4),
    (HDR + f"totp name=a algorithm=SHA1 digits=6 period=abc secret={S}\n", 4),
    (HDR + "totp name=a algorithm=SHA1 digits=6 period=30 secret=GEZ1!\n", 4),
    (HDR + f"totp name=a algorithm=SHA1 digits=6 period=30 secret={S} bogus\n", 4),
], ids=["bad-version", "bad-algorithm", "digits-5", "digits-9", "bad-period",
        "bad-base32", "field-without-value"])
def test_malformed_file_names_line(env, text, line):
    env.remember(S)
    env.write_secret(secret_b32=S, text=text)
    run = env.run_pam(sarg(env), answers=[code(S)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert any(f"line {line}" in ln for ln in pam_lines(run)), str(run)


@pytest.mark.parametrize("text", [
    "",
    "# only a comment\n",
    "pam_mfa 1\n",
    f"totp name=a algorithm=SHA1 digits=6 period=30 secret={S}\n",
    "\x00\x01\x02garbage\n",
    HDR + f"hotp name=a secret={S}\n",
], ids=["empty", "comment-only", "no-record", "no-header", "binary", "unknown-record"])
def test_malformed_file_without_usable_record(env, text):
    env.remember(S)
    env.write_secret(secret_b32=S, text=text)
    run = env.run_pam(sarg(env), answers=[code(S)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert pam_lines(run), str(run)


def test_secret_file_is_not_modified_by_login(env):
    path, secret = env.write_secret()
    before = path.read_bytes()
    st = path.stat()
    run = login_steps_away(env, secret, 0)
    assert run.result == "PAM_SUCCESS", str(run)
    assert path.read_bytes() == before
    st2 = path.stat()
    assert (st2.st_uid, st2.st_mode) == (st.st_uid, st.st_mode)


def test_secret_text_format_sanity():
    """The helper writes the documented format."""
    text = secret_text(S)
    assert text.splitlines()[1] == "pam_mfa 1"
    assert text.splitlines()[2].startswith("totp name=default algorithm=SHA1 digits=6 period=30")


# ---------------------------------------------------------------------------
# replay state
# ---------------------------------------------------------------------------


def state_entries(env):
    return [p for p in env.state_dir.rglob("*")]


def test_state_files_are_root_only(env):
    _, secret = env.write_secret()
    run = login_steps_away(env, secret, 0)
    assert run.result == "PAM_SUCCESS", str(run)
    entries = state_entries(env)
    assert entries, "no replay state was written"
    for p in [env.state_dir, *entries]:
        st = os.lstat(p)
        assert st.st_uid == 0, f"{p} owned by uid {st.st_uid}"
        assert st.st_mode & 0o022 == 0, f"{p} is group/other writable: {oct(st.st_mode)}"


def test_missing_state_dir_is_created_private(env):
    env.state_dir.rmdir()
    _, secret = env.write_secret()
    t = fresh_step()
    run = env.run_pam(sarg(env), answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)
    st = os.stat(env.state_dir)
    assert st.st_uid == 0 and st.st_mode & 0o077 == 0, oct(st.st_mode)
    # and replay protection works with the new dir
    run = env.run_pam(sarg(env), answers=[code(secret, t)])
    assert run.result == "PAM_AUTH_ERR", str(run)


def test_wrong_code_does_not_burn_the_step(env):
    _, secret = env.write_secret()
    t = fresh_step()
    run = env.run_pam(sarg(env), answers=[wrong_code(secret, t)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    run = env.run_pam(sarg(env), answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)


def test_older_step_after_newer_one_is_refused(env):
    """After the current step was used, the previous step's code (still
    inside the window) is a replay too."""
    _, secret = env.write_secret()
    t = fresh_step()
    run = env.run_pam(sarg(env), answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)
    run = env.run_pam(sarg(env), answers=[code(secret, t - 30)])
    assert run.result == "PAM_AUTH_ERR", str(run)


# ---------------------------------------------------------------------------
# what a user name or a user's file can make the module do
# ---------------------------------------------------------------------------


def test_a_newline_in_the_user_name_cannot_forge_a_log_line(env):
    """PAM_USER comes from whoever connects: a newline in it must not split the syslog line
    into a forged one (escaped as \\x0a, like every byte outside printable ASCII)."""
    env.write_secret()
    forged = ("alice\n85 pam_mfa(mfa-test:auth): user=root service=mfa-test: "
              "accepted totp code (authenticator default)")
    run = env.run_pam(sarg(env), user=forged, answers=["000000"])
    assert run.result != "PAM_SUCCESS", str(run)
    assert run.syslog, str(run)
    assert not any(ln.startswith("85 pam_mfa(mfa-test:auth): user=root") for ln in run.syslog), str(run)
    assert any("user=alice\\x0a85 pam_mfa" in ln for ln in run.syslog), str(run)


def backup_line(iterations: int) -> str:
    salt = base64.b32encode(os.urandom(16)).decode().rstrip("=")
    digest = base64.b32encode(os.urandom(32)).decode().rstrip("=")
    return f"backup kdf=pbkdf2-sha256 iterations={iterations} salt={salt} hash={digest}\n"


@pytest.mark.parametrize("extra, reason", [
    (backup_line(1_000_000), "line 4: iterations must be 1000 to 10000"),
    ("".join(backup_line(1000) for _ in range(11)), "line 14: more than 10 backup codes"),
])
def test_a_users_file_cannot_set_the_hashing_cost(env, extra, reason):
    """The user writes the secret file; root pays for each PBKDF2 round inside sshd. More
    rounds or more backup lines than mfa-enroll writes make the file malformed (denied, and
    the admin is told why), never seconds of CPU per answer."""
    secret = new_secret()
    env.remember(secret)
    env.write_secret(secret_b32=secret, text=secret_text(secret) + extra)
    run = env.run_pam(sarg(env), answers=["k7dq-2mxp-w9fh"])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert any(reason in ln for ln in run.syslog), str(run)
