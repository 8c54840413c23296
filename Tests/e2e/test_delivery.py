"""Codes by e-mail and text message (deliver=, `mfa-enroll add-email` / `add-sms`), proven
through the built build/pam_mfa.so (real libpam, pamdrive) and build/mfa-enroll.

The delivery program is a fake: a root-owned 0755 shell script in the test's directory that
records, for every run, its pid, its argument count, its uid, its standard input and the
environment it was started with (read from /proc/$$/environ, so nothing the shell adds counts),
and then exits with the status written in a control file (0 when the file is empty; `hang`
makes it sleep for a minute instead).  The code a test types is always the one the module or
the CLI handed to that program.

What the module keeps of a sent code is read here from the state file independently: the
checksummed slots as test_hardening parses them, the `sent SALT HASH EXPIRES` and
`send-time T` records parsed here, and the salted SHA-256 recomputed with hashlib.

Expiry and the end of the rate-limit interval are proven with a small LD_PRELOAD shim
(compiled into the test's directory) that moves time() by MFA_TEST_TIME_OFFSET seconds; the
module takes "now" from time() only.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import stat
import subprocess
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from mfatest.cli import as_user, enroll_cmd
from mfatest.pam import error_msgs, mfa_lines, write_conf
from mfatest.secretfile import write_secret
from mfatest.state import read_state
from mfatest.system import answer_as_it_asks
from mfatest.totp import code, fresh_step, time_now
from mfatest.world import ALICE_UID, PROMPT

TIMEOUT = 30
HOST = socket.gethostname()
EMAIL = "alice@example.com"
# The admin's allow-list: the addresses here are in files alice writes.
ALLOW = ["deliver_domains=example.com", "deliver_numbers=+49"]
PHONE = "+4915112345678"
EMAIL_PROMPT = "Verification code (press Enter to get one by e-mail): "
SMS_PROMPT = "Verification code (press Enter to get one by text message): "
SENT_EMAIL = f"A code was sent by e-mail to a***@example.com; it is valid for 5 minutes."
SENT_SMS = "A code was sent by text message to +49********678; it is valid for 5 minutes."
NOT_SENT = "The code could not be sent. Use your app or a backup code, or try again later."
# then the empty second answer, and a wrong one, are named as such
NOT_A_CODE = "That is not a code: type the digits of a code, or a backup code."
WRONG = "Wrong code."
LIMIT_RE = re.compile(r"Too many codes sent\. The next can be sent in "
                      r"(?:(\d+) seconds?|(\d+) minutes?)\.")
PATH_ONLY = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
CLI_PROMPT = b"Enter the code you received: "
STDIN_RE = re.compile(r"user=([^\n]*)\nmethod=(email|sms)\naddress=([^\n]*)\n\n"
                      r"Your verification code for ([^\n]*) is (\d{6})\. "
                      r"It is valid for ([^\n]*)\.\n")
RUN_RE = re.compile(r"run pid=(\d+) argc=(\d+) uid=(\d+) stdin=([0-9a-f]*) environ=([0-9a-f]*)")


# ---------------------------------------------------------------------------
# the fake delivery program
# ---------------------------------------------------------------------------

SCRIPT = """#!/bin/sh
# Fake pam_mfa delivery program (tests only): records what it was given, exits as told.
input=$(od -An -v -tx1 | tr -d ' \\n')
environ=$(od -An -v -tx1 < /proc/$$/environ | tr -d ' \\n')
printf 'run pid=%s argc=%s uid=%s stdin=%s environ=%s\\n' "$$" "$#" "$(id -u)" \\
  "$input" "$environ" >> '@RECORD@'
status=$(cat '@CONTROL@')
if [ "$status" = hang ]; then exec sleep 60; fi
exit "${status:-0}"
"""


class Delivery:
    """The fake program in ENV/deliver (root-owned, 0755 all the way down from /tmp, so a user
    can run it too); the record file is writable by everyone, as the CLI runs it as the user."""

    def __init__(self, base: Path):
        self.dir = base / "deliver"
        self.dir.mkdir(mode=0o755)
        os.chmod(self.dir, 0o755)
        self.record = self.dir / "record"
        self.control = self.dir / "control"
        self.program = self.dir / "send-code"
        self.record.touch()
        os.chmod(self.record, 0o666)
        self.control.write_text("")
        os.chmod(self.control, 0o644)
        self.program.write_text(SCRIPT.replace("@RECORD@", str(self.record))
                                .replace("@CONTROL@", str(self.control)))
        os.chown(self.program, 0, 0)
        os.chmod(self.program, 0o755)

    def exit_with(self, status) -> None:
        self.control.write_text(f"{status}\n")

    def runs(self) -> list:
        """Every run so far: dicts with pid, argc, uid, stdin (text), environ (list)."""
        runs = []
        for line in self.record.read_text().splitlines():
            m = RUN_RE.fullmatch(line)
            assert m, f"bad record line {line!r}"
            environ = bytes.fromhex(m.group(5)).decode(errors="replace")
            runs.append(dict(pid=int(m.group(1)), argc=int(m.group(2)), uid=int(m.group(3)),
                             stdin=bytes.fromhex(m.group(4)).decode(errors="replace"),
                             environ=[e for e in environ.split("\0") if e]))
        return runs

    def last_code(self) -> str:
        runs = self.runs()
        assert runs, "the delivery program never ran"
        m = STDIN_RE.fullmatch(runs[-1]["stdin"])
        assert m, f"unexpected input to the delivery program: {runs[-1]['stdin']!r}"
        return m.group(5)


@pytest.fixture
def delivery(env):
    return Delivery(env.base)


def expected_input(code_: str, method: str = "email", address: str = EMAIL, user: str = "alice",
                   valid: str = "5 minutes") -> str:
    return (f"user={user}\nmethod={method}\naddress={address}\n\n"
            f"Your verification code for {HOST} is {code_}. It is valid for {valid}.\n")


def check_run(run: dict, code_: str, uid: int = 0, **kw) -> None:
    """One run of the program: the right input, no arguments, nothing of our environment."""
    assert run["stdin"] == expected_input(code_, **kw), run
    assert run["argc"] == 0, run
    assert run["uid"] == uid, run
    assert run["environ"] == PATH_ONLY, run


# ---------------------------------------------------------------------------
# files and state
# ---------------------------------------------------------------------------


def secret_file(env, *records: str, user: str = "alice") -> Path:
    """A secret file with just these records (after the header)."""
    text = "pam_mfa 1\n" + "".join(r + "\n" for r in records)
    path, _ = env.write_secret(user=user, text=text)
    return path


def totp_record(secret: str) -> str:
    return f"totp name=default algorithm=SHA1 digits=6 period=30 secret={secret}"


def stores_only_a_salted_hash(env, code_: str, user: str = "alice") -> None:
    """The code is not in the state file (timestamps aside); a sent record holds
    SHA-256(salt + code)."""
    raw = (env.state_dir / user).read_bytes()
    assert code_.encode() not in re.sub(rb"(?<= )\d{9,11}(?=[ \n])", b"", raw), raw
    state = read_state(env.state_dir / user)
    assert any(hashlib.sha256(salt + code_.encode()).digest() == digest
               for salt, digest, _ in state["sent"]), state


def not_code(*codes: str) -> str:
    """A six-digit code that is none of codes."""
    n = 123456
    while f"{n:06d}" in codes:
        n = (n + 7919) % 1_000_000
    return f"{n:06d}"


# ---------------------------------------------------------------------------
# driving a login and the CLI
# ---------------------------------------------------------------------------


def login_answering(env, module_args, replies, user: str = "alice",
                    time_offset: int | None = None, timeout: float = TIMEOUT, **popen):
    """One pamdrive run answering as it asks (Env.drive).  replies[k] answers the k-th prompt: a
    string, None (the conversation fails) or a function of the messages so far returning either;
    prompts past the list fail the conversation.  time_offset moves the module's clock."""
    if time_offset is not None:
        popen["env"] = env.env(extra_preload=[str(time_shim(env))])
        popen["env"]["MFA_TEST_TIME_OFFSET"] = str(time_offset)
    asked = 0

    def answer(messages):
        nonlocal asked
        reply = replies[asked] if asked < len(replies) else None
        asked += 1
        return reply(messages) if callable(reply) else reply

    return env.drive(env.pam_command(module_args, user=user), answer, timeout, **popen)


TIME_SHIM = r"""
#define _GNU_SOURCE
#include <stdlib.h>
#include <time.h>
/* time() moved by MFA_TEST_TIME_OFFSET seconds (tests only). */
time_t time(time_t *out) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const char *offset = getenv("MFA_TEST_TIME_OFFSET");
    time_t value = now.tv_sec + (offset ? atol(offset) : 0);
    if (out) *out = value;
    return value;
}
"""


def time_shim(env) -> Path:
    so = env.base / "timeshift.so"
    if not so.exists():
        src = env.base / "timeshift.c"
        src.write_text(TIME_SHIM)
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-o", str(so), str(src)],
                       check=True, capture_output=True, timeout=TIMEOUT)
    return so


def mfa_enroll(env, args, replies=(), uid: int | None = ALICE_UID, timeout: float = TIMEOUT):
    """mfa-enroll with the fake users (as uid unless None: root), stdin a pipe.  replies[k] is
    a function of the output so far that answers the k-th "Enter the code you received: "
    (None closes stdin).  Returns (exit status, stdout, stderr)."""
    kw = as_user(uid) if uid is not None else {}
    proc = subprocess.Popen(enroll_cmd(*args), env=env.env(), cwd=env.base, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    answered = 0

    def replies_for(out: bytes):
        nonlocal answered
        while answered < out.count(CLI_PROMPT):
            reply = replies[answered] if answered < len(replies) else None
            answered += 1
            reply = reply(out.decode()) if callable(reply) else reply
            if reply is not None:
                env._remember_answer(reply)
            yield reply

    out, err = answer_as_it_asks(proc, replies_for, timeout, "mfa-enroll")
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def infos(run) -> list:
    return [m[1] for m in run.messages if m[0] == "TEXT_INFO"]


def errors(run) -> list:
    return [m[1] for m in error_msgs(run)]


def prompts(run) -> list:
    return [m[1] for m in run.prompts]


def has_log(run, needle: str) -> bool:
    return any(needle in ln for ln in mfa_lines(run))


# ---------------------------------------------------------------------------
# 1. e-mail: Enter sends a code, the code logs in once
# ---------------------------------------------------------------------------


def test_enter_sends_a_code_by_email_that_works_once(env, delivery):
    path = secret_file(env, f"email address={EMAIL}")
    args = [f"secret={path}", f"deliver={delivery.program}", *ALLOW, "deny=100"]
    seen = {}

    def answer_sent_code(messages):
        # What the module keeps while the code is out: a salted hash, expiring in 5 minutes.
        seen["code"] = c = delivery.last_code()
        env.remember(c)
        state = read_state(env.state_dir / "alice")
        assert len(state["sent"]) == 1 and len(state["send-time"]) == 1, state
        seen["state"] = state
        stores_only_a_salted_hash(env, c)
        return c

    t0 = time_now()
    run = login_answering(env, args, ["", answer_sent_code])
    t1 = int(time.time())
    assert run.result == "PAM_SUCCESS", str(run)
    c = seen["code"]
    assert prompts(run) == [EMAIL_PROMPT, PROMPT], str(run)
    # the information comes after the first prompt and before the second
    assert run.messages[1] == ("TEXT_INFO", SENT_EMAIL), str(run)
    assert errors(run) == [], str(run)
    assert not any(c in m[1] for m in run.messages), str(run)
    runs = delivery.runs()
    assert len(runs) == 1, runs
    check_run(runs[0], c)
    sent_time = seen["state"]["send-time"][0]
    assert t0 <= sent_time <= t1, (t0, sent_time, t1)
    assert seen["state"]["sent"][0][2] == sent_time + 300, seen["state"]
    assert has_log(run, f"user=alice service=mfa-test: code sent by email to a***@example.com"), \
        str(run)
    assert has_log(run, "accepted a code sent by e-mail or text message"), str(run)

    # single use: the record is gone, only the send time (for the rate limit) stays
    state = read_state(env.state_dir / "alice")
    assert state["sent"] == [] and state["send-time"] == [sent_time], state
    raw = (env.state_dir / "alice").read_bytes()
    assert c.encode() not in re.sub(rb"(?<= )\d{9,11}(?=[ \n])", b"", raw), raw

    again = login_answering(env, args, [c])
    assert again.result == "PAM_AUTH_ERR", str(again)
    assert prompts(again) == [EMAIL_PROMPT], str(again)
    assert has_log(again, "wrong code (failure 1 of 100)"), str(again)

    wrong = login_answering(env, args, [not_code(c)])
    assert wrong.result == "PAM_AUTH_ERR", str(wrong)
    assert has_log(wrong, "wrong code (failure 2 of 100)"), str(wrong)
    # neither the replay nor the wrong code sent anything
    assert len(delivery.runs()) == 1
    assert c not in env.read_syslog()


def test_a_code_for_alice_does_not_log_in_bob(env, delivery):
    template = f"secret={env.base}/secrets/${{USER}}/secret"
    secret_file(env, f"email address={EMAIL}")
    secret_file(env, "email address=bob@example.com", user="bob")
    args = [template, f"deliver={delivery.program}", *ALLOW, "deny=100"]
    got = {}

    def grab(messages):
        got["code"] = c = delivery.last_code()
        env.remember(c)
        return None   # alice gives up

    run = login_answering(env, args, ["", grab])
    assert run.result == "PAM_CONV_ERR", str(run)
    c = got["code"]
    bob = login_answering(env, args, [c], user="bob")
    assert bob.result == "PAM_AUTH_ERR", str(bob)
    # and alice's code is still good for alice
    alice = login_answering(env, args, [c])
    assert alice.result == "PAM_SUCCESS", str(alice)


# ---------------------------------------------------------------------------
# 2. how long a code lives (deliver_ttl), checked in the state and with a moved clock
# ---------------------------------------------------------------------------


def test_sent_code_expires_after_deliver_ttl(env, delivery):
    path = secret_file(env, f"email address={EMAIL}")
    args = [f"secret={path}", f"deliver={delivery.program}", *ALLOW, "deliver_ttl=1m",
            "deliver_limit=2", "deliver_interval=2m", "deny=100"]
    codes = []

    def keep(messages):
        codes.append(delivery.last_code())
        env.remember(codes[-1])
        return None

    t0 = time_now()
    first = login_answering(env, args, ["", keep])
    second = login_answering(env, args, ["", keep])
    t1 = int(time.time())
    for run in (first, second):
        assert infos(run) == [SENT_EMAIL.replace("5 minutes", "1 minute")], str(run)
    runs = delivery.runs()
    assert [r["stdin"] for r in runs] == [expected_input(c, valid="1 minute") for c in codes]
    state = read_state(env.state_dir / "alice")
    assert len(state["sent"]) == 2 and len(state["send-time"]) == 2, state
    for (_, _, expires), sent in zip(state["sent"], state["send-time"]):
        assert t0 <= sent <= t1 and expires == sent + 60, state
    for c in codes:
        stores_only_a_salted_hash(env, c)

    # 45 s later the second code still works ...
    ok = login_answering(env, args, [codes[1]], time_offset=45)
    assert ok.result == "PAM_SUCCESS", str(ok)
    # ... 61 s later the first no longer does, and is dropped from the state
    late = login_answering(env, args, [codes[0]], time_offset=61)
    assert late.result == "PAM_AUTH_ERR", str(late)
    assert read_state(env.state_dir / "alice")["sent"] == [], read_state(env.state_dir / "alice")
    # within deliver_interval of both sends nothing more is sent ...
    limited = login_answering(env, args, ["", None], time_offset=61)
    assert len(errors(limited)) == 1 and LIMIT_RE.fullmatch(errors(limited)[0]), str(limited)
    assert len(delivery.runs()) == 2
    # ... after it, a new code is sent and works
    fresh = login_answering(env, args, ["", lambda m: delivery.last_code()], time_offset=125)
    assert fresh.result == "PAM_SUCCESS", str(fresh)
    assert len(delivery.runs()) == 3
    env.remember(delivery.last_code())


# ---------------------------------------------------------------------------
# 3. the rate limit
# ---------------------------------------------------------------------------


def test_rate_limit_sends_at_most_deliver_limit_codes(env, delivery):
    path = secret_file(env, f"email address={EMAIL}")
    args = [f"secret={path}", f"deliver={delivery.program}", *ALLOW, "deliver_limit=2",
            "deliver_interval=60s", "deny=100"]
    first = login_answering(env, args, ["", None])
    assert first.result == "PAM_CONV_ERR" and infos(first) == [SENT_EMAIL], str(first)
    code1 = delivery.last_code()
    env.remember(code1)
    second = login_answering(env, args, ["", lambda m: not_code(*[
                STDIN_RE.fullmatch(r["stdin"]).group(5) for r in delivery.runs()])])
    assert second.result == "PAM_AUTH_ERR" and infos(second) == [SENT_EMAIL], str(second)
    env.remember(delivery.last_code())
    assert len(delivery.runs()) == 2

    t = int(time.time())
    third = login_answering(env, args, ["", code1])
    assert len(delivery.runs()) == 2, delivery.runs()
    assert infos(third) == [], str(third)
    assert len(errors(third)) == 1, str(third)
    m = LIMIT_RE.fullmatch(errors(third)[0])
    assert m, str(third)
    wait = int(m.group(1)) if m.group(1) else 60 * int(m.group(2))
    first_sent = min(read_state(env.state_dir / "alice")["send-time"])
    assert 1 <= wait <= 60 and abs(wait - (first_sent + 60 - t)) <= 2, (wait, first_sent, t)
    assert has_log(third, "code by email refused: send limit reached"), str(third)
    # the limit stops sending, not the codes already sent
    assert prompts(third) == [EMAIL_PROMPT, PROMPT], str(third)
    assert third.result == "PAM_SUCCESS", str(third)


# ---------------------------------------------------------------------------
# 4. failed deliveries
# ---------------------------------------------------------------------------


def test_failed_delivery_is_reported_and_never_a_success(env, delivery):
    path = secret_file(env, f"email address={EMAIL}")
    args = [f"secret={path}", f"deliver={delivery.program}", *ALLOW, "deny=100"]
    delivery.exit_with(3)
    run = login_answering(env, args, ["", ""])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert prompts(run) == [EMAIL_PROMPT, PROMPT], str(run)
    assert errors(run) == [NOT_SENT, NOT_A_CODE] and infos(run) == [], str(run)
    assert has_log(run, f"delivery program {delivery.program} failed (status 3)"), str(run)
    assert len(delivery.runs()) == 1
    env.remember(delivery.last_code())
    # a wrong code after a failed send is refused too
    run = login_answering(env, args, ["", lambda m: not_code(delivery.last_code())])
    assert run.result == "PAM_AUTH_ERR" and errors(run) == [NOT_SENT, WRONG], str(run)
    env.remember(delivery.last_code())


@pytest.mark.parametrize("what", ["missing", "not-executable"])
def test_unusable_delivery_program(env, delivery, what):
    path = secret_file(env, f"email address={EMAIL}")
    program = env.base / "no-such-program"
    if what == "not-executable":
        program = delivery.program
        os.chmod(program, 0o644)
    args = [f"secret={path}", f"deliver={program}", *ALLOW, "deny=100"]
    run = login_answering(env, args, ["", ""])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert errors(run) == [NOT_SENT, NOT_A_CODE] and infos(run) == [], str(run)
    assert any(re.search(rf"delivery program {re.escape(str(program))} failed "
                         r"\(status -?\d+\)", ln) for ln in mfa_lines(run)), str(run)
    assert delivery.runs() == []


def test_hanging_delivery_program_is_killed(env, delivery):
    """The module waits 15 s for the program, then kills it (this test takes about 15 s)."""
    path = secret_file(env, f"email address={EMAIL}")
    args = [f"secret={path}", f"deliver={delivery.program}", *ALLOW, "deny=100"]
    delivery.exit_with("hang")
    pid = None
    try:
        started = time.monotonic()
        run = login_answering(env, args, ["", ""])
        took = time.monotonic() - started
        runs = delivery.runs()
        assert len(runs) == 1, runs
        pid = runs[0]["pid"]
        env.remember(delivery.last_code())
        assert 14 <= took <= 20, took
        assert run.result == "PAM_AUTH_ERR", str(run)
        assert errors(run) == [NOT_SENT, NOT_A_CODE], str(run)
        assert any(re.search(r"delivery program \S+ failed \(status -?\d+\)", ln)
                   for ln in mfa_lines(run)), str(run)
        # killed and reaped: no sleeping program left behind
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    finally:
        if pid is not None:
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sleep\0"):
                    os.kill(pid, 9)
            except (FileNotFoundError, ProcessLookupError):
                pass


# ---------------------------------------------------------------------------
# 5. text messages
# ---------------------------------------------------------------------------


def test_text_message(env, delivery):
    path = secret_file(env, f"sms address={PHONE}", f"email address={EMAIL}")
    args = [f"secret={path}", f"deliver={delivery.program}", *ALLOW, "deny=100"]
    got = {}

    def sent(messages):
        got["code"] = delivery.last_code()
        env.remember(got["code"])
        return got["code"]

    run = login_answering(env, args, ["", sent])
    assert run.result == "PAM_SUCCESS", str(run)
    # the first address in the file is the one used
    assert prompts(run) == [SMS_PROMPT, PROMPT], str(run)
    assert infos(run) == [SENT_SMS], str(run)
    runs = delivery.runs()
    assert len(runs) == 1
    check_run(runs[0], got["code"], method="sms", address=PHONE)
    assert has_log(run, "code sent by sms to +49********678"), str(run)
    assert PHONE not in env.read_syslog()


# ---------------------------------------------------------------------------
# 6. an app and an address
# ---------------------------------------------------------------------------


def test_app_code_still_works_beside_an_address(env, delivery):
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    env.remember(secret)
    path = secret_file(env, totp_record(secret), f"email address={EMAIL}")
    args = [f"secret={path}", f"deliver={delivery.program}", *ALLOW, "deny=100"]
    t = fresh_step()
    run = login_answering(env, args, [code(secret, t)])
    assert run.result == "PAM_SUCCESS", str(run)
    assert prompts(run) == [EMAIL_PROMPT], str(run)
    assert has_log(run, "accepted totp code (authenticator default)"), str(run)
    assert delivery.runs() == []

    run = login_answering(env, args, ["", lambda m: delivery.last_code()])
    assert run.result == "PAM_SUCCESS", str(run)
    assert infos(run) == [SENT_EMAIL], str(run)
    assert len(delivery.runs()) == 1
    env.remember(delivery.last_code())
    assert has_log(run, "accepted a code sent by e-mail or text message"), str(run)


# ---------------------------------------------------------------------------
# 7. without deliver= (or without an address) Enter is just a wrong answer
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["no-deliver", "no-address"])
def test_empty_answer_without_delivery_is_a_failure(env, delivery, case):
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    env.remember(secret)
    if case == "no-deliver":
        path = secret_file(env, totp_record(secret), f"email address={EMAIL}")
        args = [f"secret={path}", "deny=100"]
    else:
        path = secret_file(env, totp_record(secret))
        args = [f"secret={path}", f"deliver={delivery.program}", *ALLOW, "deny=100"]
    run = login_answering(env, args, [""])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert prompts(run) == [PROMPT], str(run)
    assert infos(run) == [] and errors(run) == [NOT_A_CODE], str(run)
    assert has_log(run, "the answer is not a code"), str(run)
    assert delivery.runs() == []
    assert read_state(env.state_dir / "alice")["send-time"] == []


def test_address_only_file_without_deliver_cannot_log_in(env, delivery):
    path = secret_file(env, f"email address={EMAIL}")
    run = login_answering(env, [f"secret={path}", "deny=100"], ["123456"])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert prompts(run) == [PROMPT], str(run)
    assert delivery.runs() == []


@pytest.mark.parametrize("bad", ["deliver=relative/send-code", "deliver", "deliver=",
                                 "deliver_ttl=59", "deliver_ttl=2h", "deliver_ttl=5x",
                                 "deliver_limit=0", "deliver_limit=21",
                                 "deliver_interval=59s", "deliver_interval=2d"])
def test_bad_delivery_settings_are_a_service_error(env, delivery, bad):
    path = secret_file(env, f"email address={EMAIL}")
    run = login_answering(env, [f"secret={path}", f"deliver={delivery.program}", *ALLOW, bad], [""])
    assert run.result == "PAM_SERVICE_ERR", str(run)
    assert run.prompts == [], str(run)
    assert has_log(run, "configuration error"), str(run)
    assert delivery.runs() == []


# ---------------------------------------------------------------------------
# 8. mfa-enroll add-email / add-sms
# ---------------------------------------------------------------------------


def cli_conf(env, delivery, deliver: bool = True) -> Path:
    text = f"state_dir = {env.state_dir}\n"
    if deliver:
        text += f"deliver = {delivery.program}\ndeliver_domains = example.com\ndeliver_numbers = +49\n"
    return write_conf(env, text, name="delivery.conf" if deliver else "no-delivery.conf")


def record_lines(path: Path) -> list:
    return [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]


def test_add_email_and_sms_then_log_in_by_email(env, delivery):
    conf = cli_conf(env, delivery)
    path = env.default_secret_path("alice")

    # three wrong codes: nothing is written
    rc, out, err = mfa_enroll(env, ["add-email", EMAIL, "--config", conf],
                              [lambda o: not_code(delivery.last_code())] * 3)
    env.remember(delivery.last_code())
    assert rc == 1, (out, err)
    assert out.count("That code is not right.") == 2, out
    assert f"{EMAIL} was not added" in err, err
    assert not path.exists() and not (env.home("alice") / ".config").exists()
    assert len(delivery.runs()) == 1

    # the right code: the file is created with just the address
    rc, out, err = mfa_enroll(env, ["add-email", EMAIL, "--config", conf],
                              [lambda o: delivery.last_code()])
    assert rc == 0, (out, err)
    assert f"A code was sent by e-mail to {EMAIL}." in out, out
    assert "Added." in out, out
    runs = delivery.runs()
    assert len(runs) == 2
    c = delivery.last_code()
    env.remember(c)
    check_run(runs[-1], c, uid=ALICE_UID, valid="10 minutes")
    assert record_lines(path) == ["pam_mfa 1", f"email address={EMAIL}"], path.read_text()
    st = os.lstat(path)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (ALICE_UID, ALICE_UID, 0o600)

    # a text message number is added to the existing file
    rc, out, err = mfa_enroll(env, ["--config", conf, "add-sms", PHONE],
                              [lambda o: delivery.last_code()])
    env.remember(delivery.last_code())
    assert rc == 0, (out, err)
    assert f"A code was sent by text message to {PHONE}." in out, out
    check_run(delivery.runs()[-1], delivery.last_code(), uid=ALICE_UID, method="sms",
              address=PHONE, valid="10 minutes")
    assert record_lines(path) == ["pam_mfa 1", f"email address={EMAIL}", f"sms address={PHONE}"], \
        path.read_text()

    rc, out, err = mfa_enroll(env, ["--config", conf, "list"])
    assert rc == 0, (out, err)
    assert f"email: {EMAIL} (press Enter at the prompt to get a code)" in out, out
    assert f"sms: {PHONE} (press Enter at the prompt to get a code)" in out, out

    # the module, with the same configuration file, sends to the first address
    args = [f"conf={conf}", "deny=100"]
    run = login_answering(env, args, ["", lambda m: delivery.last_code()])
    assert run.result == "PAM_SUCCESS", str(run)
    assert prompts(run) == [EMAIL_PROMPT, PROMPT] and infos(run) == [SENT_EMAIL], str(run)
    check_run(delivery.runs()[-1], delivery.last_code())
    env.remember(delivery.last_code())
    # the code typed to confirm the address is no login code
    again = login_answering(env, args, [c])
    assert again.result == "PAM_AUTH_ERR", str(again)


def test_add_address_refusals(env, delivery):
    conf = cli_conf(env, delivery)
    path = env.default_secret_path("alice")

    rc, out, err = mfa_enroll(env, ["add-sms", "12ab", "--config", conf])
    assert rc == 1 and "not a phone number" in err, (out, err)
    rc, out, err = mfa_enroll(env, ["add-email", "not-an-address", "--config", conf])
    assert rc == 1 and "is not an e-mail address" in err, (out, err)

    no_deliver = cli_conf(env, delivery, deliver=False)
    rc, out, err = mfa_enroll(env, ["add-email", EMAIL, "--config", no_deliver])
    assert rc == 1 and "deliver=" in err, (out, err)

    delivery.exit_with(3)
    rc, out, err = mfa_enroll(env, ["add-email", EMAIL, "--config", conf])
    env.remember(delivery.last_code())
    assert rc == 1, (out, err)
    assert f"{delivery.program} exited with status 3" in err and "nothing was changed" in err, err
    assert "A code was sent" not in out, out
    delivery.exit_with(0)

    # no answer at all (end of input)
    rc, out, err = mfa_enroll(env, ["add-email", EMAIL, "--config", conf], [None])
    env.remember(delivery.last_code())
    assert rc == 1 and "was not added" in err, (out, err)

    assert len(delivery.runs()) == 2, delivery.runs()
    assert not path.exists()


@pytest.mark.parametrize("how", ["writable", "directory", "link"])
def test_a_delivery_program_others_could_change_is_never_run(env, how):
    """The module runs the program as root: it must be root's and writable by no one else
    (writable), in directories only root controls (a directory alice owns lets her rename
    another file in), and not a link; the module runs exactly the file it checked."""
    base = Path(tempfile.mkdtemp(prefix="pam_mfa_deliver_unsafe."))
    try:
        os.chmod(base, 0o755)
        marker = base / "ran"
        prog = real = base / "deliver"
        real.write_text(f"#!/bin/sh\ntouch {marker}\ncat >/dev/null\nexit 0\n")
        os.chmod(real, 0o777 if how == "writable" else 0o755)
        if how == "directory":
            os.chown(base, ALICE_UID, ALICE_UID)
        elif how == "link":
            prog = base / "link"
            prog.symlink_to(real)
        path, _ = env.write_secret()
        with open(path, "a") as f:
            f.write("email address=alice@example.com\n")
        run = env.run_pam([f"secret={path}", f"deliver={prog}", *ALLOW], answers=["", "000000"])
        assert run.result == "PAM_AUTH_ERR", str(run)
        assert not marker.exists(), f"a delivery program others could change ({how}) was run as root"
        assert any("must be a regular file owned by root" in ln for ln in run.syslog), str(run)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_an_address_that_reads_as_an_option_is_refused(env, delivery):
    """`-f...@example.org` in a user's file would reach root's delivery program as an option
    (sendmail -f sets the sender): the file is malformed, nothing is sent, the admin is told."""
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    env.remember(secret)
    path = secret_file(env, totp_record(secret), "email address=-fattacker@evil.example")
    run = login_answering(env, [f"secret={path}", f"deliver={delivery.program}", *ALLOW, "deny=100"], [""])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert any("not an e-mail address" in ln for ln in mfa_lines(run)), str(run)
    assert delivery.runs() == []
    conf = cli_conf(env, delivery)
    rc, out, err = mfa_enroll(env, ["add-email", "--config", conf, "--", "-fattacker@evil.example"])
    assert rc == 1 and "is not an e-mail address" in err, (out, err)
    assert delivery.runs() == []


def test_the_delivery_program_inherits_nothing_from_the_host(env):
    """Root runs the program inside sshd: it gets stdin and nothing else of the host's, no open
    descriptor (sshd's sockets, the state file), no blocked or ignored signal."""
    prog_dir = env.base / "deliver-clean"
    prog_dir.mkdir(mode=0o755)
    record = prog_dir / "record"
    prog = prog_dir / "send-code"
    prog.write_text("#!/bin/sh\n"
                    f"ls -1 /proc/$$/fd > {record}\n"
                    f"exec grep -E '^Sig(Blk|Ign):' /proc/self/status >> {record}\n")
    os.chmod(prog, 0o755)
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    env.remember(secret)
    path = secret_file(env, totp_record(secret), f"email address={EMAIL}")
    # two descriptors the PAM host has open and does not mark close-on-exec
    devnull = os.open(os.devnull, os.O_RDONLY)
    host_fds = (71, 72)
    for number in host_fds:
        os.dup2(devnull, number, inheritable=True)
    os.close(devnull)

    def hostile_host():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM})
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    try:
        run = login_answering(env, [f"secret={path}", f"deliver={prog}", *ALLOW, "deny=100"], ["", "000000"],
                               pass_fds=host_fds, preexec_fn=hostile_host)
    finally:
        for number in host_fds:
            os.close(number)
    assert run.result == "PAM_AUTH_ERR", str(run)
    lines = record.read_text().splitlines()
    fds = {int(x) for x in lines if x.isdigit()}
    assert not set(host_fds) & fds, f"the program inherited the host's descriptors: {sorted(fds)}"
    # stdin/out/err, the program's own file (3) and the shell's private ones (10 and up)
    assert {0, 1, 2} <= fds <= {0, 1, 2, 3} | set(range(10, 20)), sorted(fds)
    status = dict(line.split(":\t") for line in lines if line.startswith("Sig"))
    blocked, ignored = int(status["SigBlk"], 16), int(status["SigIgn"], 16)
    for sig in (signal.SIGUSR1, signal.SIGTERM):
        assert not blocked & (1 << (sig - 1)), f"{sig!r} still blocked: {status}"
    assert not ignored & (1 << (signal.SIGHUP - 1)), f"SIGHUP still ignored: {status}"


# ---------------------------------------------------------------------------
# addresses nobody confirmed: root sends only where the admin allows, or where root wrote it
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["email", "sms"])
def test_an_address_written_into_ones_own_file_is_not_sent_to(env, delivery, method):
    """The attack: alice puts a stranger's address (or a premium-rate number) into her own
    secret file by hand. Root's delivery program must never send to it."""
    stranger = "victim@elsewhere.example" if method == "email" else "+19005550123"
    path = secret_file(env, f"{method} address={stranger}")
    base = [f"secret={path}", f"deliver={delivery.program}", "deny=100"]
    for extra in ([], ALLOW):
        run = login_answering(env, base + extra, [""])
        assert run.result == "PAM_AUTH_ERR", str(run)
        assert prompts(run) == [PROMPT] and infos(run) == [], str(run)
        assert delivery.runs() == [], delivery.runs()
        assert has_log(run, f"no delivery address in {path} is allowed (the user writes that file: "
                            "deliver_domains= and deliver_numbers= decide); none offered"), str(run)
    # the admin's allow-list takes it: sent
    allow = "deliver_domains=elsewhere.example" if method == "email" else "deliver_numbers=+1900"
    run = login_answering(env, base + [allow], ["", None])
    assert prompts(run)[0] == (EMAIL_PROMPT if method == "email" else SMS_PROMPT), str(run)
    assert len(delivery.runs()) == 1, delivery.runs()
    env.remember(delivery.last_code())


def test_an_address_root_wrote_needs_no_allow_list(env, delivery, root_store):
    path = root_store / "alice"
    write_secret(path, "", owner_uid=0, text=f"pam_mfa 1\nemail address={EMAIL}\n")
    run = login_answering(env, [f"secret={root_store}/${{USER}}", f"deliver={delivery.program}", "deny=100"],
                           ["", None])
    assert prompts(run)[0] == EMAIL_PROMPT, str(run)
    assert len(delivery.runs()) == 1, delivery.runs()
    env.remember(delivery.last_code())


def test_add_email_refuses_an_address_the_admin_does_not_allow(env, delivery):
    conf = cli_conf(env, delivery)
    rc, out, err = mfa_enroll(env, ["--config", conf, "add-email", "victim@elsewhere.example"], [])
    assert rc == 1, (out, err)
    assert ("codes cannot be sent to victim@elsewhere.example from here: the administrator allows "
            f"only addresses matching deliver_domains= in {conf}") in err, err
    assert delivery.runs() == []
    assert not env.default_secret_path("alice").exists()


def test_a_users_own_file_in_a_root_store_and_relay_syntax_need_the_allow_list(env, delivery, root_store):
    """In a root-owned store a file may still be the user's own (and editable where the user can
    reach the directory): only root's file vouches for its addresses. And an address with "%"
    or "!" before the domain could be routed past it: never taken from a user-written file."""
    os.chmod(root_store, 0o711)
    path = root_store / "alice"
    write_secret(path, "", owner_uid=ALICE_UID, text=f"pam_mfa 1\nemail address={EMAIL}\n")
    args = [f"secret={root_store}/${{USER}}", f"deliver={delivery.program}", "deny=100"]
    run = login_answering(env, args, [""])
    assert prompts(run) == [PROMPT] and delivery.runs() == [], str(run)
    run = login_answering(env, args + ALLOW, ["", None])
    assert prompts(run)[0] == EMAIL_PROMPT and len(delivery.runs()) == 1, str(run)
    env.remember(delivery.last_code())
    for relay in ("victim%elsewhere.example@example.com", "elsewhere.example!victim@example.com"):
        write_secret(path, "", owner_uid=ALICE_UID, text=f"pam_mfa 1\nemail address={relay}\n")
        run = login_answering(env, args + ALLOW, [""])
        assert prompts(run) == [PROMPT] and len(delivery.runs()) == 1, (relay, str(run))
