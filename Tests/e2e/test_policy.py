"""The policy features of pam_mfa, proven through the built module (real libpam, pamdrive)
and the built mfa-enroll: require_group / exempt_group, enroll_deadline and contact,
enroll=login (through pamdrive and over a real OpenSSH server, with the QR code decoded by
zbarimg), remember= with `mfa-enroll forget`, and `mfa-enroll disable`, `reset` and
`status --all [--json]`.

Groups come from nss_wrapper's fake group file (add_groups); codes come from oathtool; the
state file is parsed independently (mfatest.state).  The sshd case uses its own PAM service
(sshd-mfa-policy, through a symlink to /usr/sbin/sshd), its own user and a private port on
127.0.0.1; all of it is undone afterwards, also when a test fails.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

import pexpect
import pytest

from mfatest.cli import TIMEOUT, disable, enroll, mode_of, run_cli, uri_params
from mfatest.pam import (PERMIT_AFTER, accepted_msg, error_msgs, policy_conf, standard_groups,
                         syslog_has, template_arg, write_conf)
from mfatest.qr import HALF, qr_utf8, zbar
from mfatest.secretfile import (BACKUP_RE, DISPLAYED_RE, assert_codes_stored, random_code,
                                remember_code)
from mfatest.sshd import (SSHD_BIN, free_port, pam_stack_text, privsep_dir, read_log, ssh_argv,
                          sshd_config_text, start_sshd, state_snapshot, stop_sshd, token_command)
from mfatest.state import check_state_file_private, is_locked, read_state
from mfatest.system import clean_env, converse, create_user, delete_user, home_of, run
from mfatest.totp import code, fresh_step, time_now, wrong_code
from mfatest.world import ALICE_UID, ENROLL, MODULE, PROMPT

ENROLL_PROMPT = "Code from your app: "
INTRO = ("Two-factor login is required for this account. Set it up now:\n"
         "scan this QR code with your authenticator app (Microsoft Authenticator, "
         "Google Authenticator, FreeOTP...)")
BY_HAND_RE = re.compile(r"Or add an account by hand: (\S+)@(\S+), setup key "
                        r"((?:[A-Z2-7]{4} )*[A-Z2-7]{1,4}) \(time-based, 6 digits\)\.")
NOT_RIGHT = ("ERROR_MSG", "That code is not right. Check the app and try again.")
NO_RIGHT_CODE = ("ERROR_MSG", "No right code after 3 tries; nothing was saved.")
SAVED_HEAD = ("Right code. Once this login succeeds, the app and these backup codes are saved "
              "(each code works once if you lose your phone; they are not shown again):")
TOTP_LINE_RE = re.compile(r"totp name=default algorithm=SHA1 digits=6 period=30 "
                          r"confirmed=(\d+) secret=([A-Z2-7]{32})")
HOST_A, HOST_B = "192.0.2.7", "192.0.2.8"
DOCUMENTED_JSON_KEYS = {"user", "secret_file", "store", "algorithm", "backup_codes_left",
                        "locked", "last_success", "problem"}
UTC_TIME_RE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def options(env, where: str, opts: list, name: str = "policy.conf") -> list:
    """The module arguments that put `opts` in force: the options themselves ("args"), or a
    root-owned configuration file holding them, one per line ("conf")."""
    if where == "args":
        return list(opts)
    conf = write_conf(env, "".join(o.replace("=", " = ", 1) + "\n" for o in opts), name=name)
    return [f"conf={conf}"]


def prompt_texts(run) -> list:
    return [m[1] for m in run.prompts]


def utc_day(offset_days: int = 0) -> datetime.date:
    today = datetime.datetime.now(datetime.timezone.utc).date()
    return today + datetime.timedelta(days=offset_days)


def assert_asked(run, n_prompts: int = 1, text: str = PROMPT) -> None:
    """The run prompted exactly n_prompts times, each time with text."""
    assert prompt_texts(run) == [text] * n_prompts, str(run)


# -- the state file: the slots as test_hardening parses them, plus remember records ----------


# -- enroll=login through pamdrive, answering from what the module showed -------------------


def drive(env, module_args, answer, user: str = "alice", rhost: str | None = None,
          stack=None, timeout: float = TIMEOUT, **pam_kw):
    """One pamdrive run answering as it asks (Env.drive): answer(messages_so_far) gives the
    reply to each prompt (None closes stdin).  pam_kw go to env.pam_command (setcred,
    acct_mgmt, account).  Returns a PamRun."""
    cmd = env.pam_command(module_args, user=user, rhost=rhost, stack=stack, **pam_kw)
    return env.drive(cmd, answer, timeout)


def check_picture(picture: str) -> list:
    """The QR picture of one TEXT_INFO: only half blocks and spaces, equal lines, a quiet zone
    of 4 modules on every side.  Returns the module rows (True: dark)."""
    assert picture.endswith("\n"), repr(picture)
    lines = picture[:-1].split("\n")
    assert len(lines) >= 12, picture
    for ln in lines:
        assert set(ln) <= set(HALF), f"not a half-block line: {ln!r}"
    width = len(lines[0])
    assert all(len(ln) == width for ln in lines), [len(ln) for ln in lines]
    # 4 modules = 2 text lines at the top and bottom, 4 columns left and right
    assert lines[0].strip() == "" and lines[1].strip() == "", picture
    assert lines[-1].strip() == "" and lines[-2].strip() == "", picture
    assert all(ln[:4] == "    " and ln[-4:] == "    " for ln in lines), picture
    # the top-left finder pattern starts right after the quiet zone, dark blocks drawn dark
    assert lines[2][4:11] == "█▀▀▀▀▀█", lines[2]
    rows = []
    for ln in lines:
        rows.append([HALF[c][0] for c in ln])
        rows.append([HALF[c][1] for c in ln])
    return rows


def decode_qr(rows: list, tmp: Path) -> str:
    decoded = zbar(rows, tmp / "qr.pgm")
    assert decoded is not None, "zbarimg found no QR code in the picture"
    parts = urllib.parse.urlsplit(decoded)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp"), decoded
    return decoded


class Enrollment:
    """A reply function for drive(): reads the setup key and QR picture the module shows and
    answers the enrollment prompts with `plan` ("wrong", "right", None to hang up)."""

    def __init__(self, env, plan):
        self.env = env
        self.plan = list(plan)
        self.key = None
        self.t = None
        self.replies = []

    def __call__(self, messages):
        if self.key is None:
            for style, text in messages:
                m = BY_HAND_RE.fullmatch(text)
                if style == "TEXT_INFO" and m:
                    self.key = m.group(3).replace(" ", "")
                    self.env.remember(self.key)
                    self.env.remember(m.group(3))
        assert messages[-1] == ("PROMPT_ECHO_OFF", ENROLL_PROMPT), messages[-1]
        assert self.key, f"prompted before the setup key was shown: {messages}"
        what = self.plan.pop(0) if self.plan else None
        if what == "right":
            self.t = fresh_step()
            reply = code(self.key, self.t)
        elif what == "wrong":
            reply = wrong_code(self.key)
        else:
            reply = what
        self.replies.append(reply)
        return reply


def backup_codes_shown_ssh(text: str) -> list:
    lines = text.split("\n")
    codes = [ln.strip() for ln in lines[1:-1]]
    assert all(DISPLAYED_RE.fullmatch(c) for c in codes), text
    return codes


def backup_codes_shown(env, text: str) -> list:
    lines = text.split("\n")
    assert lines[0] == SAVED_HEAD and lines[-1] == "Store them somewhere safe now.", text
    codes = []
    for ln in lines[1:-1]:
        m = re.fullmatch(r"    (\S+)", ln)
        assert m and DISPLAYED_RE.fullmatch(m.group(1)), f"not a code line: {ln!r}"
        codes.append(m.group(1))
    for c in codes:
        remember_code(env, c)
    return codes


# ---------------------------------------------------------------------------
# 1. require_group and exempt_group
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["args", "conf"])
def test_require_group_decides_who_must_use_a_code(env, where):
    standard_groups(env)
    base = [template_arg(env)]
    # control: without require_group every user must use a code
    run = env.run_pam(base, user="bob", direct=True)
    assert run.result == "PAM_AUTH_ERR" and run.prompts == [], str(run)

    args = options(env, where, [*base, "require_group=mfa"])
    # alice is in mfa and not enrolled: denied, nothing asked
    for direct in (True, False):
        run = env.run_pam(args, user="alice", direct=direct)
        assert run.result == "PAM_AUTH_ERR" and run.prompts == [], str(run)
        assert syslog_has(run, "user=alice service=mfa-test: not enrolled:"), str(run)
    # bob is not in mfa and not enrolled: PAM_IGNORE, so a later module decides
    run = env.run_pam(args, user="bob", direct=True)
    assert run.direct_context == "module", str(run)
    assert run.result == "PAM_IGNORE" and run.messages == [], str(run)
    run = env.run_pam(args, user="bob", stack=PERMIT_AFTER)
    assert run.result == "PAM_SUCCESS" and run.messages == [], str(run)
    run = env.run_pam(args, user="bob")          # ignored as the only module: no success
    assert run.result != "PAM_SUCCESS", str(run)

    # bob enrolls: outside require_group he is still asked, and a wrong code fails
    _, secret = env.write_secret(user="bob")
    t = fresh_step()
    run = env.run_pam(args, user="bob", stack=PERMIT_AFTER, answers=[wrong_code(secret, t)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert_asked(run)
    run = env.run_pam(args, user="bob", stack=PERMIT_AFTER, answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)
    assert_asked(run)

    # the primary group counts as membership too (bob's gid 4243 is group "bob")
    args = options(env, where, [*base, "require_group=bob"], name="primary.conf")
    (env.base / "secrets" / "bob" / "secret").unlink()
    run = env.run_pam(args, user="bob", direct=True)
    assert run.result == "PAM_AUTH_ERR", str(run)
    run = env.run_pam(args, user="alice", direct=True)
    assert run.result == "PAM_IGNORE", str(run)


@pytest.mark.parametrize("where", ["args", "conf"])
def test_exempt_group_members_are_never_asked(env, where):
    standard_groups(env)
    _, bob_secret = env.write_secret(user="bob")
    _, alice_secret = env.write_secret(user="alice")
    # checked first: bob is in breakglass and in admins (the required group)
    args = options(env, where, [template_arg(env), "exempt_group=breakglass",
                                "require_group=admins"])
    run = env.run_pam(args, user="bob", direct=True, answers=[code(bob_secret)])
    assert run.result == "PAM_IGNORE" and run.messages == [], str(run)
    assert syslog_has(run, "user=bob service=mfa-test: member of exempt_group breakglass: "
                           "no code asked"), str(run)
    run = env.run_pam(args, user="bob", stack=PERMIT_AFTER)
    assert run.result == "PAM_SUCCESS" and run.messages == [], str(run)
    # a broken secret file does not matter either: it is not read
    os.chmod(env.secret_path("bob"), 0o644)
    run = env.run_pam(args, user="bob", direct=True)
    assert run.result == "PAM_IGNORE" and run.messages == [], str(run)
    # alice (not exempt, enrolled) is still asked; a wrong code fails
    t = fresh_step()
    run = env.run_pam(args, user="alice", answers=[wrong_code(alice_secret, t)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert_asked(run)
    run = env.run_pam(args, user="alice", answers=[code(alice_secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)


@pytest.mark.parametrize("where", ["args", "conf"])
@pytest.mark.parametrize("option", ["require_group", "exempt_group"])
def test_a_group_that_does_not_exist_is_a_service_error(env, where, option):
    standard_groups(env)
    _, secret = env.write_secret()
    args = options(env, where, [template_arg(env), f"{option}=nosuchgroup"])
    for direct in (True, False):
        run = env.run_pam(args, direct=direct, answers=[code(secret)])
        assert run.result == "PAM_SERVICE_ERR" and run.messages == [], str(run)
        assert syslog_has(run, "configuration error: group nosuchgroup does not exist; "
                               "refusing every login"), str(run)


# ---------------------------------------------------------------------------
# 2. enroll_deadline and contact
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["args", "conf"])
def test_enroll_deadline_refuses_the_unenrolled_with_the_contact(env, where):
    standard_groups(env)
    contact = "the help desk, ext. 4711"
    opts = [template_arg(env), "nullok", "enroll_deadline=2020-01-01", f"contact={contact}"]
    if where == "args":
        # an argument with blanks goes in square brackets in the service file (libpam
        # removes them); pamdrive --direct hands the arguments over as they are
        args = [o if not o.startswith("contact=") else f"[{o}]" for o in opts]
        direct_args = opts
    else:
        args = direct_args = options(env, where, opts)
    refusal = ("ERROR_MSG", "Two-factor login was required from 2020-01-02. "
                            f"To set it up, contact {contact}.")
    run = env.run_pam(args)
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert run.messages == [refusal], str(run)
    assert syslog_has(run, "user=alice service=mfa-test: not enrolled after the enrollment "
                           "deadline; denied"), str(run)
    # past the deadline nobody is offered enrollment at login either
    run = env.run_pam([*args, "enroll=login"])
    assert run.result == "PAM_AUTH_ERR" and run.messages == [refusal], str(run)
    # enrolled users are not affected, nor users outside require_group
    _, secret = env.write_secret(user="bob")
    run = env.run_pam(args, user="bob", answers=[code(secret)])
    assert run.result == "PAM_SUCCESS", str(run)
    assert_asked(run)
    (env.base / "secrets" / "bob" / "secret").unlink()
    # bob logged in with a code: a file deleted by hand counts as out of reach (test_absence.py)
    # until root's state forgets it, as `mfa-enroll --user bob reset` does
    (env.state_dir / "bob").unlink()
    run = env.run_pam([*direct_args, "require_group=mfa"], user="bob", direct=True)
    assert run.result == "PAM_IGNORE" and run.messages == [], str(run)


def test_enroll_deadline_is_the_end_of_the_day_in_utc(env):
    base = [template_arg(env), "nullok"]
    # the default contact
    yesterday, today = utc_day(-1), utc_day(0)
    run = env.run_pam([*base, f"enroll_deadline={yesterday.isoformat()}"])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert run.messages == [("ERROR_MSG", f"Two-factor login was required from "
                                          f"{today.isoformat()}. To set it up, contact your "
                                          "system administrator.")], str(run)
    # the deadline day itself and later days: nullok still lets the unenrolled through
    for day in (today, utc_day(30)):
        args = [*base, f"enroll_deadline={day.isoformat()}"]
        run = env.run_pam(args, direct=True)
        assert run.result == "PAM_IGNORE" and run.messages == [], str(run)
        run = env.run_pam(args, stack=PERMIT_AFTER)
        assert run.result == "PAM_SUCCESS" and run.messages == [], str(run)
    # without nullok a future deadline does not let anyone through
    run = env.run_pam([template_arg(env), f"enroll_deadline={utc_day(30).isoformat()}"])
    assert run.result == "PAM_AUTH_ERR" and run.messages == [], str(run)


# ---------------------------------------------------------------------------
# 3. enroll=login through libpam
# ---------------------------------------------------------------------------


def test_enroll_at_login_shows_a_qr_code_and_saves_the_secret(env, tmpdir_world):
    enrollment = Enrollment(env, ["wrong", "right"])
    run = drive(env, ["enroll=login"], enrollment, setcred=True)
    assert (run.result, run.setcred) == ("PAM_SUCCESS", "PAM_SUCCESS"), str(run)
    msgs = run.messages
    assert msgs[0] == ("TEXT_INFO", INTRO), str(run)
    assert msgs[1][0] == "TEXT_INFO", str(run)
    rows = check_picture(msgs[1][1])
    m = BY_HAND_RE.fullmatch(msgs[2][1])
    assert msgs[2][0] == "TEXT_INFO" and m, str(run)
    host = socket.gethostname()
    assert (m.group(1), m.group(2)) == ("alice", host), msgs[2]
    key = m.group(3).replace(" ", "")
    assert len(key) == 32, key            # 160 bits
    # a wrong code, then the right one; then the backup codes
    assert len(msgs) == 7, str(run)
    assert msgs[3:6] == [("PROMPT_ECHO_OFF", ENROLL_PROMPT), NOT_RIGHT,
                         ("PROMPT_ECHO_OFF", ENROLL_PROMPT)], str(run)
    assert msgs[6][0] == "TEXT_INFO" and msgs[6][1].startswith(SAVED_HEAD), str(run)

    # the QR code holds the same secret as the setup key (zbarimg reads the picture)
    uri = decode_qr(rows, tmpdir_world)
    params = uri_params(uri)
    assert params["secret"] == key, (uri, key)
    assert urllib.parse.unquote(urllib.parse.urlsplit(uri).path) == f"/{host}:alice@{host}", uri
    assert (params["issuer"], params.get("algorithm", "SHA1"), params.get("digits", "6"),
            params.get("period", "30")) == (host, "SHA1", "6", "30"), uri

    # the file: default path, alice's, private, confirmed step, ten backup codes
    path = env.default_secret_path()
    for p, mode in ((path, 0o600), (path.parent, 0o700), (path.parent.parent, 0o700)):
        st = os.lstat(p)
        assert (st.st_uid, st.st_gid, mode_of(p)) == (ALICE_UID, ALICE_UID, mode), (
            f"{p}: {st.st_uid}:{st.st_gid} {oct(mode_of(p))}")
    text = path.read_text()
    lines = [ln for ln in text.split("\n") if ln and not ln.startswith("#")]
    assert lines[0] == "pam_mfa 1", text
    t_line = TOTP_LINE_RE.fullmatch(lines[1])
    assert t_line and t_line.group(2) == key, text
    step = int(enrollment.t) // 30
    assert int(t_line.group(1)) == step, (t_line.group(1), step)
    assert len(lines) == 12 and all(BACKUP_RE.fullmatch(ln) for ln in lines[2:]), text
    codes = backup_codes_shown(env, msgs[6][1])
    assert len(codes) == 10 and len(set(codes)) == 10, codes
    assert_codes_stored(path, codes)
    assert syslog_has(run, f"user=alice service=mfa-test: enrolled at login ({path})"), str(run)
    state = read_state(env.state_dir / "alice")
    assert state["totp-step"] == {"default": step}, state

    # a backup code from that list logs in (no enroll=login needed any more)
    run = env.run_pam([], answers=[codes[3]])
    assert run.result == "PAM_SUCCESS", str(run)
    assert run.messages == [("PROMPT_ECHO_OFF", PROMPT), accepted_msg(9)], str(run)
    # the enrollment's code cannot log in again: not with the state ...
    first = enrollment.replies[-1]
    run = env.run_pam(["enroll=login"], answers=[first])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert syslog_has(run, "replay"), str(run)
    # ... and not without it either (confirmed= in the file)
    (env.state_dir / "alice").unlink()
    run = env.run_pam([], answers=[first])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert syslog_has(run, "replay"), str(run)
    run = env.run_pam([], answers=[code(key, enrollment.t + 30)])
    assert run.result == "PAM_SUCCESS", str(run)


# A failing password module after ours: `required`, so the stack goes on and fails at the end.
FAILING_PASSWORD_AFTER = ["auth required {module} {args}", "auth required pam_deny.so"]
MFA_ACCOUNT = ("account required {module}", "account required pam_permit.so")


def test_enroll_at_login_is_not_saved_when_the_stack_fails(env):
    """The attack: a stranger who knows only a user name answers our enrollment with their own
    phone; the password module after ours fails. Nothing may be saved, whatever the
    application calls next."""
    stranger = Enrollment(env, ["right"])
    run = drive(env, ["enroll=login"], stranger, stack=FAILING_PASSWORD_AFTER, acct_mgmt=True,
                setcred=True, account=MFA_ACCOUNT)
    assert run.result == "PAM_AUTH_ERR" and stranger.key, str(run)
    # the stack failed: libpam's applications call neither pam_acct_mgmt nor pam_setcred
    assert (run.acct, run.setcred) == (None, None), str(run)
    assert not env.default_secret_path().exists(), env.default_secret_path().read_text()
    assert syslog_has(run, "enrollment at login confirmed; saved only when the whole stack "
                           "succeeds"), str(run)
    assert not syslog_has(run, "enrolled at login"), str(run)
    # a screen locker calls pam_authenticate alone: nothing is saved either
    run = drive(env, ["enroll=login"], Enrollment(env, ["right"]))
    assert run.result == "PAM_SUCCESS" and run.setcred is None, str(run)
    assert not env.default_secret_path().exists()


@pytest.mark.parametrize("hook", ["acct_mgmt", "setcred"])
def test_enroll_at_login_is_saved_when_the_application_reports_success(env, hook):
    """sshd's keyboard-interactive child calls pam_acct_mgmt (pam_setcred comes later, in
    another process); login, su and sudo call both. Either one saves, once."""
    enrollment = Enrollment(env, ["right"])
    kw = {"acct_mgmt": True, "account": MFA_ACCOUNT} if hook == "acct_mgmt" else {"setcred": True}
    run = drive(env, ["enroll=login"], enrollment, stack=PERMIT_AFTER, **kw)
    assert run.result == "PAM_SUCCESS", str(run)
    assert getattr(run, "acct" if hook == "acct_mgmt" else "setcred") == "PAM_SUCCESS", str(run)
    path = env.default_secret_path()
    assert TOTP_LINE_RE.search(path.read_text()).group(2) == enrollment.key, path.read_text()
    assert syslog_has(run, f"user=alice service=mfa-test: enrolled at login ({path})"), str(run)
    # with nothing kept, the account line has no opinion and setcred stays a no-op
    run = env.run_pam([], answers=[code(enrollment.key, enrollment.t + 30)], acct_mgmt=True,
                      setcred=True, account=MFA_ACCOUNT)
    assert (run.result, run.acct, run.setcred) == ("PAM_SUCCESS",) * 3, str(run)


@pytest.mark.parametrize("one_prompt", ["forward_pass", "use_first_pass", "try_first_pass"])
def test_enroll_at_login_with_a_one_prompt_mode_is_a_configuration_error(env, one_prompt):
    run = env.run_pam(["enroll=login", one_prompt], direct=True)
    assert run.result == "PAM_SERVICE_ERR" and run.messages == [], str(run)
    assert syslog_has(run, "enroll=login cannot be combined with forward_pass, use_first_pass "
                           "or try_first_pass"), str(run)
    assert not env.default_secret_path().exists()


def test_enroll_at_login_three_wrong_codes_save_nothing(env):
    enrollment = Enrollment(env, ["wrong", "123", "wrong"])
    run = drive(env, ["enroll=login", "deny=2"], enrollment)
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert run.messages[3:] == [("PROMPT_ECHO_OFF", ENROLL_PROMPT), NOT_RIGHT,
                                ("PROMPT_ECHO_OFF", ENROLL_PROMPT), NOT_RIGHT,
                                ("PROMPT_ECHO_OFF", ENROLL_PROMPT), NO_RIGHT_CODE], str(run)
    assert not env.default_secret_path().exists()
    assert not env.default_secret_path().parent.exists()
    assert syslog_has(run, "no right code after 3 tries; nothing saved; denied"), str(run)
    # the tries do not count towards the lockout (deny=2): the next login offers it again
    state = env.state_dir / "alice"
    assert not state.exists() or not ({"failures", "lockouts"} & set(read_state(state))), (
        read_state(state))
    enrollment = Enrollment(env, ["right"])
    run = drive(env, ["enroll=login", "deny=2"], enrollment, setcred=True)
    assert (run.result, run.setcred) == ("PAM_SUCCESS", "PAM_SUCCESS"), str(run)
    assert env.default_secret_path().exists()
    backup_codes_shown(env, run.messages[-1][1])
    # hanging up in the middle saves nothing either
    bob = Enrollment(env, [None])
    run = drive(env, ["enroll=login"], bob, user="bob")
    assert run.result == "PAM_CONV_ERR", str(run)
    assert run.messages[0] == ("TEXT_INFO", INTRO), str(run)
    assert not env.default_secret_path("bob").exists()


def test_enroll_at_login_is_offered_only_to_users_who_must_use_a_code(env):
    standard_groups(env)
    args = ["enroll=login", "nullok", "exempt_group=breakglass", "require_group=mfa"]
    # bob is exempt, and not in mfa: nothing offered, nothing asked
    run = env.run_pam(args, user="bob", direct=True)
    assert run.result == "PAM_IGNORE" and run.messages == [], str(run)
    run = env.run_pam(["enroll=login", "require_group=mfa"], user="bob", direct=True)
    assert run.result == "PAM_IGNORE" and run.messages == [], str(run)
    run = env.run_pam(["enroll=login", "exempt_group=breakglass"], user="bob", direct=True)
    assert run.result == "PAM_IGNORE" and run.messages == [], str(run)
    assert not env.default_secret_path("bob").exists()
    # alice is in mfa: enroll=login wins over nullok
    run = env.run_pam(args, user="alice")
    assert run.result == "PAM_CONV_ERR", str(run)
    assert run.messages[0] == ("TEXT_INFO", INTRO), str(run)
    assert run.prompts == [("PROMPT_ECHO_OFF", ENROLL_PROMPT)], str(run)
    assert not env.default_secret_path("alice").exists()


# ---------------------------------------------------------------------------
# 4. enroll=login over a real OpenSSH server
# ---------------------------------------------------------------------------

SSH_USER = "mfapolicy"
SSH_SERVICE = "sshd-mfa-policy"
SSH_PAM_FILE = Path("/etc/pam.d") / SSH_SERVICE
ESCAPED = {"\\342\\226\\210": "█", "\\342\\226\\200": "▀", "\\342\\226\\204": "▄"}


class PolicySshd:
    def __init__(self, base: Path, password: str, port: int):
        self.base = base
        self.password = password
        self.port = port
        self.state_dir = base / "state"
        self.log_path = base / "sshd.log"
        self.proc = None

    def argv(self, command: str) -> list:
        return ssh_argv(self.port, SSH_USER, "keyboard-interactive", command=command)

    def log(self) -> str:
        return read_log(self.log_path)


@pytest.fixture
def policy_sshd(module_so, enroll_bin):
    """A private sshd (service sshd-mfa-policy, enroll=login) and a real user who has not
    enrolled; everything is undone afterwards."""
    errors = []
    if SSH_PAM_FILE.exists():
        SSH_PAM_FILE.unlink()
    before = state_snapshot()
    with privsep_dir(errors):
        base = Path(tempfile.mkdtemp(prefix="pam_mfa_policy_sshd."))
        server = None
        try:
            os.chmod(base, 0o755)
            host_key = base / "host_ed25519"
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "policy", "-f", host_key])
            keys_dir = base / "keys"
            keys_dir.mkdir(mode=0o755)
            link = base / SSH_SERVICE
            link.symlink_to(SSHD_BIN)
            password = create_user(SSH_USER)
            server = PolicySshd(base, password, free_port())
            server.state_dir.mkdir(mode=0o700)
            config = base / "sshd_config"
            config.write_text(sshd_config_text(False, server.port, host_key, base, keys_dir,
                                               SSH_SERVICE, [SSH_USER]))
            SSH_PAM_FILE.write_text(pam_stack_text(server.state_dir, ["enroll=login"]))
            os.chmod(SSH_PAM_FILE, 0o644)
            check = run([link, "-t", "-f", config], check=False)
            assert check.returncode == 0, check.stderr
            server.proc = start_sshd(link, config, server.log_path, server.port)
            yield server
        finally:
            if server is not None:
                stop_sshd(server.proc)
            try:
                if SSH_PAM_FILE.exists():
                    SSH_PAM_FILE.unlink()
            except OSError as e:
                errors.append(f"removing {SSH_PAM_FILE}: {e}")
            err = delete_user(SSH_USER)
            if err:
                errors.append(err)
            shutil.rmtree(base, ignore_errors=True)
            if base.exists():
                errors.append(f"{base} is still there")
            if state_snapshot() != before:
                errors.append("/var/lib/pam_mfa changed")
    assert not errors, "\n".join(errors)


def ssh_until_enroll_prompt(server: PolicySshd, command: str, lang: str):
    """ssh under a pty with LANG/LC_ALL=lang: the password, then everything up to the
    enrollment prompt.  Returns (child, text shown before the prompt)."""
    env = clean_env()
    env.update(LANG=lang, LC_ALL=lang)
    argv = server.argv(command)
    child = pexpect.spawn(argv[0], argv[1:], env=env, encoding="utf-8",
                          codec_errors="replace", timeout=TIMEOUT)
    child.expect(r"[Pp]assword: ?")
    child.sendline(server.password)
    i = child.expect([re.escape(ENROLL_PROMPT), pexpect.EOF])
    shown = child.before.replace("\r\n", "\n")
    assert i == 0, f"no enrollment prompt:\n{shown}\n--- sshd ---\n{server.log()}"
    return child, shown


def test_enroll_at_login_over_ssh(policy_sshd, tmpdir_world):
    server = policy_sshd
    home = home_of(SSH_USER)
    path = home / ".config" / "pam_mfa" / "secret"
    host = socket.gethostname()

    # A client in the C locale escapes every byte of the half blocks (\342\226\210 for a
    # full block); the setup key line is plain ASCII and arrives intact.  Hanging up saves
    # nothing.
    cmd, printed = token_command()
    child, shown = ssh_until_enroll_prompt(server, cmd, "C")
    child.close(force=True)
    assert not any(c in shown for c in "█▀▄"), shown
    assert "\\342\\226\\210" in shown and BY_HAND_RE.search(shown), shown
    unescaped = shown
    for k, v in ESCAPED.items():
        unescaped = unescaped.replace(k, v)
    assert decode_qr(qr_utf8(unescaped), tmpdir_world).startswith("otpauth://totp/")
    assert not path.exists()

    # Without `account required pam_mfa.so` sshd never saves it: the keyboard-interactive child
    # that asked for the code runs only the account stack; pam_setcred comes in another process.
    shipped = SSH_PAM_FILE.read_text()
    SSH_PAM_FILE.write_text("\n".join(ln for ln in shipped.split("\n")
                                      if not (ln.startswith("account") and str(MODULE) in ln)))
    try:
        cmd, printed = token_command()
        child, shown = ssh_until_enroll_prompt(server, cmd, "C.UTF-8")
        try:
            m = BY_HAND_RE.search(shown)
            assert m, shown
            child.sendline(code(m.group(3).replace(" ", ""), fresh_step()))
            child.expect(pexpect.EOF)
            out = child.before
        finally:
            child.close(force=True)
        assert child.exitstatus == 0 and (printed + SSH_USER) in out, f"{out}\n{server.log()}"
        assert not path.exists(), "saved without the account line: pam_mfa(8) says otherwise"
    finally:
        SSH_PAM_FILE.write_text(shipped)

    # A UTF-8 client shows the picture as sent: decode it, answer with the app's code.
    cmd, printed = token_command()
    child, shown = ssh_until_enroll_prompt(server, cmd, "C.UTF-8")
    log = [shown]
    try:
        assert INTRO.split("\n")[0] in shown and INTRO.split("\n")[1] in shown, shown
        m = BY_HAND_RE.search(shown)
        assert m and (m.group(1), m.group(2)) == (SSH_USER, host), shown
        key = m.group(3).replace(" ", "")
        uri = decode_qr(qr_utf8(shown), tmpdir_world)
        assert uri_params(uri)["secret"] == key, (uri, key)
        t = fresh_step()
        child.sendline(code(key, t))
        child.expect(pexpect.EOF)
        log.append(child.before.replace("\r\n", "\n"))
    finally:
        child.close(force=True)
    out = "".join(log)
    assert child.exitstatus == 0 and (printed + SSH_USER) in out, (
        f"{out}\n--- sshd ---\n{server.log()}")
    # the backup codes reach the client too (after the last prompt, before the command runs)
    block = re.search(re.escape(SAVED_HEAD) + r"\n(?:.*\n)*?Store them somewhere safe now\.", out)
    assert block, out
    codes = backup_codes_shown_ssh(block.group(0))
    assert f"Accepted keyboard-interactive/pam for {SSH_USER}" in server.log(), server.log()
    st = os.lstat(path)
    uid = int(run(["id", "-u", SSH_USER]).stdout)
    assert (st.st_uid, mode_of(path), mode_of(path.parent)) == (uid, 0o600, 0o700), (
        st.st_uid, oct(mode_of(path)), oct(mode_of(path.parent)))
    assert TOTP_LINE_RE.search(path.read_text()).group(2) == key
    assert len(codes) == 10
    assert_codes_stored(path, codes)

    # the enrolled user now logs in with password and a (fresh) code
    cmd, printed = token_command()
    conv = converse(server.argv(cmd), {"password": server.password,
                                       "code": code(key, t + 30)})
    assert conv.asked == ["password", "code"] and conv.status == 0, (
        f"{conv}\n--- sshd ---\n{server.log()}")
    assert (printed + SSH_USER) in conv.output, conv.output


# ---------------------------------------------------------------------------
# 5. remember=
# ---------------------------------------------------------------------------


def test_remembered_host_needs_no_code_until_forgotten(env):
    _, secret = env.write_secret()
    conf = write_conf(env, f"{template_arg(env).replace('=', ' = ', 1)}\n"
                           f"state_dir = {env.state_dir}\n")
    args = [f"conf={conf}", "remember=1h", "window=2"]
    state_path = env.state_dir / "alice"
    t = fresh_step()
    t0 = time_now()
    run = env.run_pam(args, rhost=HOST_A, answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)
    assert_asked(run)
    t1 = int(time.time())
    # the same host again: no prompt at all
    run = env.run_pam(args, rhost=HOST_A)
    assert run.result == "PAM_SUCCESS" and run.messages == [], str(run)
    assert syslog_has(run, f"user=alice service=mfa-test rhost={HOST_A}: remembered host: "
                           "no code asked"), str(run)
    # another host, and no host at all (console, sudo): asked
    run = env.run_pam(args, rhost=HOST_B)
    assert_asked(run)
    assert run.result == "PAM_CONV_ERR", str(run)
    run = env.run_pam(args)
    assert_asked(run)
    assert run.result == "PAM_CONV_ERR", str(run)
    run = env.run_pam(args, rhost=HOST_B, answers=[code(secret, t + 30)])
    assert run.result == "PAM_SUCCESS", str(run)

    check_state_file_private(state_path)
    state = read_state(state_path)
    hosts = {h: (since, until) for h, since, until in state["remember"]}
    assert set(hosts) == {HOST_A, HOST_B}, state
    since, until = hosts[HOST_A]
    assert t0 <= since <= t1 and until - since == 3600, (since, until, t0, t1)

    # root's forget clears the state's remembered hosts (and is audited)
    proc = run_cli(env, "--user", "alice", "--config", conf, "forget")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "Every remembered host of alice asks for a code again." in proc.stdout, proc.stdout
    assert read_state(state_path)["remember"] == [], read_state(state_path)
    assert "by=root: forget user=alice" in env.read_syslog(), env.read_syslog()
    run = env.run_pam(args, rhost=HOST_A)
    assert_asked(run)
    assert run.result == "PAM_CONV_ERR", str(run)

    # remembered again (a code typed after that forget's time) ...
    before = int(re.search(r"^forget before=(\d+)$", env.secret_path().read_text(),
                           re.M).group(1))
    while time.time() < before:
        time.sleep(0.1)
    run = env.run_pam(args, rhost=HOST_A, answers=[code(secret, t + 60)])
    assert run.result == "PAM_SUCCESS", str(run)
    run = env.run_pam(args, rhost=HOST_A)
    assert run.result == "PAM_SUCCESS" and run.messages == [], str(run)
    # ... until alice herself runs forget: it goes into her file (she cannot write the state)
    forget_at = int(time.time())
    proc = subprocess.run([str(ENROLL), "--config", str(conf), "forget"], capture_output=True,
                          text=True, env=env.env(), timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                          user=ALICE_UID, group=ALICE_UID, extra_groups=[])
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    text = env.secret_path().read_text()
    m = re.search(r"^forget before=(\d+)$", text, re.M)
    assert m and forget_at <= int(m.group(1)) <= int(time.time()) + 1, text
    st = os.lstat(env.secret_path())
    assert (st.st_uid, mode_of(env.secret_path())) == (ALICE_UID, 0o600)
    assert [h for h, _, _ in read_state(state_path)["remember"]] == [HOST_A]
    run = env.run_pam(args, rhost=HOST_A)
    assert_asked(run)
    assert run.result == "PAM_CONV_ERR", str(run)


def test_remember_is_off_by_default_and_never_beats_a_lockout(env):
    _, secret = env.write_secret()
    t = fresh_step()
    run = env.run_pam([template_arg(env)], rhost=HOST_A, answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)
    run = env.run_pam([template_arg(env)], rhost=HOST_A)
    assert_asked(run)
    assert run.result == "PAM_CONV_ERR", str(run)
    assert read_state(env.state_dir / "alice")["remember"] == []

    args = [template_arg(env), "remember=2h"]
    # a host name that cannot be stored as one word is never remembered
    run = env.run_pam(args, rhost="bad#host", answers=[code(secret, t + 30)])
    assert run.result == "PAM_SUCCESS", str(run)
    run = env.run_pam(args, rhost="bad#host")
    assert_asked(run)
    assert read_state(env.state_dir / "alice")["remember"] == []
    (env.state_dir / "alice").unlink()      # t + 30 once more, for the next host
    run = env.run_pam(args, rhost=HOST_A, answers=[code(secret, t + 30)])
    assert run.result == "PAM_SUCCESS", str(run)
    run = env.run_pam(args, rhost=HOST_A)
    assert run.result == "PAM_SUCCESS" and run.messages == [], str(run)
    # three wrong codes from elsewhere lock alice out: the remembered host is refused too
    for _ in range(3):
        run = env.run_pam(args, rhost=HOST_B, answers=[wrong_code(secret)])
        assert run.result == "PAM_AUTH_ERR", str(run)
    assert is_locked(read_state(env.state_dir / "alice"))
    run = env.run_pam(args, rhost=HOST_A)
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert run.prompts == [], str(run)
    assert [m[1] for m in error_msgs(run)] == ["Too many wrong codes. Try again in 5 minutes."], (
        str(run))


# ---------------------------------------------------------------------------
# 6. mfa-enroll disable, reset, status --all
# ---------------------------------------------------------------------------


def test_disable_needs_a_code_and_a_policy_that_allows_it(env):
    standard_groups(env)
    conf = policy_conf(env, "nullok")
    path = env.secret_path()
    ask = "Enter a code from your app, or a backup code: "

    enr = enroll(env)
    proc = disable(env, conf, [code(enr.secret)])
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert proc.stdout.startswith(ask), proc.stdout
    assert f"Two-factor login is turned off for alice; {path} was removed." in proc.stdout
    assert not path.exists()

    enr = enroll(env)
    proc = disable(env, conf, [enr.codes[4]])
    assert proc.returncode == 0 and not path.exists(), (proc.stdout, proc.stderr)

    enr = enroll(env)
    content = path.read_text()
    guess = random_code(enr.codes)
    remember_code(env, guess)
    proc = disable(env, conf, [wrong_code(enr.secret), guess, "not a code"])
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stdout.count(ask) == 3 and proc.stdout.count("That code is not right.") == 2, (
        proc.stdout)
    assert "no correct code after 3 tries; nothing was changed" in proc.stderr, proc.stderr
    assert path.read_text() == content

    # policies that require a code for alice: refused before any code is asked
    for extra, reason in (((), f"every user must use a code: no nullok in {env.base}/strict.conf"),
                          (("nullok", "require_group=mfa"), "member of require_group mfa"),
                          (("nullok", "require_group=nosuchgroup"),
                           "require_group nosuchgroup does not exist")):
        strict = policy_conf(env, *(e.replace("=", " = ") for e in extra), name="strict.conf")
        proc = disable(env, strict, [code(enr.secret)])
        assert proc.returncode == 1, (extra, proc.stdout, proc.stderr)
        assert "requires a second factor" in proc.stderr and f"({reason})" in proc.stderr, (
            extra, proc.stderr)
        assert ask not in proc.stdout, proc.stdout
        assert path.read_text() == content
    # not in require_group (even without nullok), or exempt: allowed
    for extra in (("require_group = breakglass",), ("exempt_group = admins",)):
        allowed = policy_conf(env, *extra, name="allowed.conf")
        proc = disable(env, allowed, [code(enr.secret)])
        assert proc.returncode == 0 and not path.exists(), (extra, proc.stdout, proc.stderr)
        enr = enroll(env)
    # root is pointed to reset instead
    proc = run_cli(env, "--user", "alice", "--config", conf, "disable")
    assert proc.returncode == 1 and "mfa-enroll --user alice reset" in proc.stderr, proc.stderr
    assert path.exists()


def test_reset_removes_the_enrollment_lockout_and_remembered_hosts(env):
    # window=2: the first code after the re-enrollment must be newer than the one used before
    conf = policy_conf(env, "remember = 1h", "window = 2")
    path = env.secret_path()
    enr = enroll(env)
    args = [f"conf={conf}"]
    run = env.run_pam(args, rhost=HOST_A, answers=[code(enr.secret, time.time() + 30)])
    assert run.result == "PAM_SUCCESS", str(run)
    for _ in range(3):
        run = env.run_pam(args, rhost=HOST_B, answers=[wrong_code(enr.secret)])
        assert run.result == "PAM_AUTH_ERR", str(run)
    state = read_state(env.state_dir / "alice")
    assert is_locked(state) and state["remember"], state

    proc = run_cli(env, "--user", "alice", "--config", conf, "reset", user_uid=ALICE_UID)
    assert proc.returncode == 1 and "only root" in proc.stderr, (proc.stdout, proc.stderr)
    assert path.exists()

    proc = run_cli(env, "--user", "alice", "--config", conf, "reset")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert (f"Reset alice: {path} removed, lockout and remembered hosts cleared."
            in proc.stdout), proc.stdout
    assert not path.exists()
    state = read_state(env.state_dir / "alice")
    assert not is_locked(state) and state["remember"] == [] and "failures" not in state, state
    assert f"by=root: reset user=alice secret={path} removed=true" in env.read_syslog(), (
        env.read_syslog())

    # no enrollment and no nullok: refused, also from the formerly remembered host
    run = env.run_pam(args, rhost=HOST_A)
    assert run.result == "PAM_AUTH_ERR" and run.messages == [], str(run)
    assert syslog_has(run, "not enrolled"), str(run)
    # a new enrollment works at once (the lockout is gone)
    enr = enroll(env)
    run = env.run_pam(args, rhost=HOST_B, answers=[code(enr.secret, time.time() + 60)])
    assert run.result == "PAM_SUCCESS", str(run)


def test_reset_and_status_of_a_user_without_a_secret_directory(env):
    """A lockout outlives the enrollment: root sees it in status and reset clears it, also when
    the user has no ~/.config/pam_mfa at all (mfa-enroll(1): not an error)."""
    conf = policy_conf(env)
    enr = enroll(env)
    for _ in range(3):
        run = env.run_pam([f"conf={conf}"], answers=[wrong_code(enr.secret)])
        assert run.result == "PAM_AUTH_ERR", str(run)
    assert is_locked(read_state(env.state_dir / "alice"))
    path = env.secret_path()
    shutil.rmtree(path.parent)

    proc = run_cli(env, "--user", "alice", "--config", conf, "status")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "Enrolled:      no" in proc.stdout and "Locked:        yes, for another" in proc.stdout, proc.stdout

    proc = run_cli(env, "--user", "alice", "--config", conf, "reset")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert (f"alice had no enrollment ({path}); lockout and remembered hosts cleared."
            in proc.stdout), proc.stdout
    assert not path.parent.exists(), "reset made the directory it had nothing to remove from"
    assert not is_locked(read_state(env.state_dir / "alice"))
    proc = run_cli(env, "--user", "alice", "--config", conf, "status")
    assert "Locked:        no" in proc.stdout, proc.stdout


def test_status_all_lists_every_enrolled_user(env):
    conf = policy_conf(env)
    alice = enroll(env)
    bob_path, bob_secret = env.write_secret(user="bob")
    run = env.run_pam([f"conf={conf}"], answers=[alice.codes[0]])
    assert run.result == "PAM_SUCCESS", str(run)
    for _ in range(3):
        run = env.run_pam([f"conf={conf}"], user="bob", answers=[wrong_code(bob_secret)])
        assert run.result == "PAM_AUTH_ERR", str(run)

    proc = run_cli(env, "--config", conf, "status", "--all")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    lines = proc.stdout.rstrip("\n").split("\n")
    assert lines[0].split() == ["USER", "STORE", "ALGORITHM", "BACKUP", "LOCKED", "LAST",
                                "SUCCESS"], proc.stdout
    rows = {ln.split()[0]: ln.split() for ln in lines[1:] if ln.split()[0] in ("alice", "bob")}
    assert set(rows) == {"alice", "bob"}, proc.stdout
    assert rows["alice"][1:5] == ["home", "SHA1", "9", "no"], proc.stdout
    assert UTC_TIME_RE.fullmatch(" ".join(rows["alice"][5:])), proc.stdout
    assert rows["bob"][1:] == ["home", "SHA1", "0", "yes", "-"], proc.stdout

    proc = run_cli(env, "--config", conf, "status", "--all", "--json")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    objects = {o["user"]: o for o in json.loads(proc.stdout) if o["user"] in ("alice", "bob")}
    assert set(objects) == {"alice", "bob"}, proc.stdout
    for o in objects.values():
        assert set(o) == DOCUMENTED_JSON_KEYS, o
    a, b = objects["alice"], objects["bob"]
    assert (a["secret_file"], a["store"], a["algorithm"], a["backup_codes_left"], a["locked"],
            a["problem"]) == (str(alice.path), "home", "SHA1", 9, False, None), a
    assert UTC_TIME_RE.fullmatch(a["last_success"]), a
    assert (b["secret_file"], b["store"], b["algorithm"], b["backup_codes_left"], b["locked"],
            b["last_success"], b["problem"]) == (str(bob_path), "home", "SHA1", 0, True,
                                                 None, None), b
    # an unusable file is listed with the problem
    os.chmod(bob_path, 0o644)
    proc = run_cli(env, "--config", conf, "status", "--all", "--json")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    b = {o["user"]: o for o in json.loads(proc.stdout)}["bob"]
    assert isinstance(b["problem"], str) and b["problem"], b

    for argv in (("status", "--all"), ("status", "--all", "--json")):
        proc = run_cli(env, "--config", conf, *argv, user_uid=ALICE_UID)
        assert proc.returncode == 1, (proc.stdout, proc.stderr)
        assert "only root" in proc.stderr and "bob" not in proc.stdout, (proc.stdout, proc.stderr)
