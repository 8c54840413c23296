"""Applications that do not run as root (screen lockers): pam_mfa.so runs mfa_chkcode.

The PAM client runs as a real, enrolled user (pamdrive or pamtester under pam_wrapper, dropped
with setpriv); the module finds it is not root and hands the check to the setuid-root helper,
staged here with mode 4755.  The helper reads only /etc/security/pam_mfa.conf, so each test
writes that file (and puts back whatever was there).  Its syslog lines go to /dev/log: a
datagram socket of the test's own, bound there for the test (or, where a syslog daemon owns
/dev/log, bound over it in a private mount namespace).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time
from pathlib import Path

from mfatest.cli import enroll_under_tty
from mfatest.desk import SERVICE, TIMEOUT, helper_lines
from mfatest.pam import parse_pamdrive
from mfatest.secretfile import printed_codes
from mfatest.system import run
from mfatest.totp import code, fresh_step, wait_next_step, wrong_code
from mfatest.world import PLUGIN, PROMPT

LOCK_LINE = re.compile(r"refused: locked out for another")


def test_a_user_unlocks_with_a_right_code_and_not_with_a_wrong_one(desk):
    secret = desk.enroll("mfalocka")
    result, messages, log = desk.login([code(secret, fresh_step())])
    assert result == "PAM_SUCCESS", (messages, log)
    assert ("PROMPT_ECHO_OFF", PROMPT) in messages, messages
    accepted = helper_lines(log)
    assert any("user=mfalocka service=lock: accepted totp code" in ln for ln in accepted), log
    # the helper wrote root's state, which the user can neither read nor write
    state = desk.state / "mfalocka"
    assert state.is_file() and state.stat().st_uid == 0, list(desk.state.iterdir())
    assert stat.S_IMODE(state.stat().st_mode) & 0o077 == 0, oct(state.stat().st_mode)

    result, messages, log = desk.login([wrong_code(secret)])
    assert result == "PAM_AUTH_ERR", (messages, log)
    assert any(style == "ERROR_MSG" and "wrong" in text.lower() for style, text in messages), messages
    assert any("wrong code (failure 1 of 3)" in ln for ln in helper_lines(log)), log
    for line in log:
        assert secret not in line


def test_replays_are_refused_across_root_and_helper_logins(desk):
    secret = desk.enroll("mfalocka")
    t = fresh_step()
    first = code(secret, t)
    result, messages, _ = desk.login([first], as_user=None)
    assert result == "PAM_SUCCESS", messages
    result, messages, log = desk.login([first])
    assert result == "PAM_AUTH_ERR", (messages, log)
    assert any("replay" in ln for ln in helper_lines(log)), (log, desk.syslog.lines)

    t2 = wait_next_step(t)
    second = code(secret, t2)
    result, messages, log = desk.login([second])
    assert result == "PAM_SUCCESS", (messages, log)
    result, messages, log = desk.login([second], as_user=None)
    assert result == "PAM_AUTH_ERR", (messages, log)
    assert any("replay" in ln for ln in log), log


def test_asking_about_another_user_is_refused_and_logged(desk):
    secret_b = desk.enroll("mfalockb")
    desk.enroll("mfalocka")
    before = sorted(p.name for p in desk.state.iterdir())
    result, messages, log = desk.login([code(secret_b, fresh_step())], as_user="mfalocka",
                                       user="mfalockb")
    assert result == "PAM_AUTH_ERR", (messages, log)
    uid_a = desk.users["mfalocka"][0]
    assert any(f"user=mfalockb service=lock: asked by uid {uid_a}, who is not this user; refused" in ln
               for ln in helper_lines(log)), log
    # nothing about the other user was read or counted
    assert sorted(p.name for p in desk.state.iterdir()) == before


def run_helper_as(desk, user: str, argv, env=None, input_bytes=b""):
    """The helper run directly by `user`, with exactly `env` (set after the drop to the user)."""
    env = env if env is not None else {"PATH": "/usr/bin:/bin"}
    mark = desk.syslog.mark()
    proc = subprocess.run(desk.prefix + ["setpriv", "--reuid", user, "--regid", user, "--init-groups",
                                         "env", "-i", *(f"{k}={v}" for k, v in env.items()),
                                         str(desk.helper), *argv],
                          input=input_bytes, capture_output=True, timeout=TIMEOUT,
                          env={"PATH": "/usr/bin:/bin"})
    return proc, desk.syslog.since(mark)


def test_the_helper_refuses_misuse_without_leaking_or_crashing(desk, tmp_path):
    secret = desk.enroll("mfalocka")
    right = code(secret, fresh_step())
    # a code in argv
    proc, log = run_helper_as(desk, "mfalocka", ["mfalocka", SERVICE, right])
    assert proc.returncode == 1, proc
    assert proc.stdout == b"" and proc.stderr == b""
    assert any("inappropriate use by uid" in ln for ln in helper_lines(log)), log
    assert not any(right in ln for ln in log), log

    # a hostile environment: a preloaded library would leave a mark, PATH points elsewhere
    mark_file = tmp_path / "preloaded"
    evil = tmp_path / "evil.c"
    # (env, run as the user, loads it too: only a root process leaves the mark)
    evil.write_text('#include <stdio.h>\n#include <unistd.h>\n'
                    '__attribute__((constructor)) static void f(void) { if (geteuid() != 0) return;'
                    f' FILE *m = fopen("{mark_file}", "w"); if (m) fclose(m); }}\n')
    run(["cc", "-shared", "-fPIC", "-o", tmp_path / "evil.so", evil], timeout=TIMEOUT)
    os.chmod(tmp_path, 0o755)
    hostile = {"LD_PRELOAD": str(tmp_path / "evil.so"), "LD_LIBRARY_PATH": str(tmp_path),
               "PATH": f"{tmp_path}:/usr/bin:/bin", "GCONV_PATH": str(tmp_path),
               "MALLOC_CHECK_": "3", "TZ": "../../../etc/shadow"}
    frame = b"a" + len(right).to_bytes(2, "big") + right.encode()
    proc, log = run_helper_as(desk, "mfalocka", ["mfalocka", SERVICE], env=hostile,
                              input_bytes=frame)
    assert proc.returncode in (0, 1), proc   # an exit, not a signal
    assert not mark_file.exists(), "LD_PRELOAD reached the setuid helper"
    # the helper spoke only frames on stdout, nothing on stderr
    assert proc.stderr == b"", proc.stderr
    assert proc.stdout[:1] == b"p", proc.stdout

    # a closed stdin
    proc = subprocess.run(desk.prefix + ["setpriv", "--reuid", "mfalocka", "--regid", "mfalocka",
                                         "--init-groups", "sh", "-c",
                                         f'exec "$0" mfalocka {SERVICE} <&-', str(desk.helper)],
                          capture_output=True, timeout=TIMEOUT)
    assert proc.returncode == 1, proc
    # another user's name, directly
    proc, log = run_helper_as(desk, "mfalocka", ["mfalockb", SERVICE], input_bytes=frame)
    assert proc.returncode == 1, proc
    assert any("user=mfalockb" in ln and "who is not this user; refused" in ln
               for ln in helper_lines(log)), log
    for line in log:
        assert secret not in line and right not in line


def parallel(desk, cmd, n=20):
    """n logins at once; each one's result and messages."""
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={"PATH": os.environ["PATH"]}) for _ in range(n)]
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=TIMEOUT)
            assert p.returncode == 0, (out, err)
            result, _, messages, *_ = parse_pamdrive(out)
            results.append((result, [text for _, text in messages]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return results


def test_parallel_wrong_codes_get_exactly_deny_tries_like_root_logins(desk):
    counts = {}
    for name, as_user in (("mfalocka", "mfalocka"), ("mfalockb", None)):
        secret = desk.enroll(name)
        mark = desk.syslog.mark()
        runs = parallel(desk, desk.command(as_user, name, [wrong_code(secret)]))
        assert [result for result, _ in runs] == ["PAM_AUTH_ERR"] * 20, runs
        # the helper's lockout message reaches the user through the module
        told = sum(any(t.startswith("Too many wrong codes.") for t in texts) for _, texts in runs)
        assert told == 18, runs      # the third failure locks; the 17 after it are refused
        log = [ln for ln in desk.syslog.since(mark, settle=1.0) if f"user={name}" in ln]
        counts[name] = (sum("wrong code (failure" in ln for ln in log),
                        sum(bool(LOCK_LINE.search(ln)) for ln in log))
        assert counts[name] == (3, 17), (name, [ln for ln in log if not LOCK_LINE.search(ln)], len(log))
    assert counts["mfalocka"] == (3, 17), counts
    assert counts["mfalockb"] == counts["mfalocka"], counts


def test_line_arguments_the_helper_would_not_see_are_a_configuration_error(desk):
    secret = desk.enroll("mfalocka")
    desk.write_service("window=3")
    result, messages, log = desk.login([code(secret, fresh_step())])
    assert result == "PAM_SERVICE_ERR", (messages, log)
    assert any("configuration error: window on this stack line" in ln for ln in log), log


def test_nullok_passes_a_user_without_enrollment_and_enroll_at_login_is_refused(desk):
    desk.write_service(lines=["auth required {module} {helper} nullok", "auth required pam_permit.so"])
    result, messages, log = desk.login([])
    assert result == "PAM_SUCCESS", (messages, log)
    assert any("not enrolled" in ln and "nullok: no code asked" in ln for ln in helper_lines(log)), log

    desk.write_conf("enroll=login\n")
    result, messages, log = desk.login([])
    assert result == "PAM_AUTH_ERR", (messages, log)
    assert any("cannot be set up here" in text for _, text in messages), messages
    assert not (desk.secrets / "mfalocka").exists()


def test_a_helper_without_the_setuid_bit_denies_and_says_why(desk):
    secret = desk.enroll("mfalocka")
    os.chmod(desk.helper, 0o755)
    result, messages, log = desk.login([code(secret, fresh_step())])
    assert result == "PAM_AUTH_ERR", (messages, log)
    assert any("must be installed setuid root" in ln for ln in helper_lines(log)), log
    assert any("gave no verdict" in ln for ln in log), log


def test_pamtester_under_pam_wrapper_as_the_user(desk):
    secret = desk.enroll("mfalocka")
    env = {"PATH": os.environ["PATH"]}
    # pam_wrapper is preloaded only after the drop to the user: preloaded into setpriv (root),
    # it would make a /tmp/pam.X directory that nothing removes, setpriv being replaced by exec
    cmd = desk.prefix + ["setpriv", "--reuid", "mfalocka", "--regid", "mfalocka", "--init-groups",
                         "env", "LD_PRELOAD=libpam_wrapper.so", "PAM_WRAPPER=1",
                         f"PAM_WRAPPER_SERVICE_DIR={desk.confdir}",
                         "pamtester", SERVICE, "mfalocka", "authenticate"]
    proc = subprocess.run(cmd, input=code(secret, fresh_step()) + "\n", capture_output=True,
                          text=True, timeout=TIMEOUT, env=env)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "successfully authenticated" in proc.stdout + proc.stderr
    proc = subprocess.run(cmd, input=wrong_code(secret) + "\n", capture_output=True, text=True,
                          timeout=TIMEOUT, env=env)
    assert proc.returncode != 0 and "Authentication failure" in proc.stdout + proc.stderr, proc


def test_the_callers_limits_do_not_reach_the_helper(desk):
    """Soft limits of one byte of file size (every state write would fail half-way) and one
    second of CPU: the helper sets its own, and the login works.  (A lowered hard limit binds
    where root lacks CAP_SYS_RESOURCE, as in containers: then the login fails, closed.)"""
    secret = desk.enroll("mfalocka")
    cmd = desk.command("mfalocka", "mfalocka", [code(secret, fresh_step())])
    at = cmd.index("setpriv")
    cmd = cmd[:at] + ["prlimit", "--fsize=1:unlimited", "--cpu=1:unlimited",
                                 "--core=unlimited", "--"] + cmd[at:]
    mark = desk.syslog.mark()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT,
                          env={"PATH": os.environ["PATH"]})
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert parse_pamdrive(proc.stdout)[0] == "PAM_SUCCESS", (proc.stdout, desk.syslog.since(mark))


def test_the_callers_terminal_cannot_stop_or_interrupt_the_helper(desk):
    """The helper in the foreground of a terminal the user controls (stdin a pipe, so it is not
    refused as a person): ^C, ^Z and ^\\ from the terminal reach it, and it runs on."""
    import pexpect
    desk.enroll("mfalocka")
    script = f"sleep 60 | exec {desk.helper} mfalocka {SERVICE}"
    child = pexpect.spawn("setpriv", ["--reuid", "mfalocka", "--regid", "mfalocka", "--init-groups",
                                      "sh", "-c", script], env={"PATH": "/usr/bin:/bin"},
                          timeout=TIMEOUT)
    try:
        child.expect("Verification code: ")
        helpers = helper_processes(desk)
        assert len(helpers) == 1, helpers
        status = helpers[0] / "status"
        for key in ("c", "z", "\\"):
            child.sendcontrol(key)
        time.sleep(1)
        state = next(ln for ln in status.read_text().splitlines() if ln.startswith("State:"))
        assert "S (sleeping)" in state, state     # not stopped (T), not gone
    finally:
        child.terminate(force=True)
        for p in helper_processes(desk):
            try:
                os.kill(int(p.name), 9)
            except OSError:
                pass


def helper_processes(desk) -> list[Path]:
    """/proc entries of running copies of the staged helper."""
    found = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and os.readlink(p / "exe") == str(desk.helper):
                found.append(p)
        except OSError:
            pass
    return found


def enroll_with_cli(user: str, backup_codes: int = 0) -> tuple:
    """Root enrolls `user` with mfa-enroll and /etc/security/pam_mfa.conf, as an admin would
    (into whatever store the file names). Returns (key, time of the confirming code, output)."""
    return enroll_under_tty(["--user", user], {"PATH": os.environ["PATH"]}, backup_codes)


def test_a_backup_code_works_once_through_the_helper_and_says_how_many_are_left(
        desk, root_store):
    desk.write_conf(f"secret={root_store}/${{USER}}\n")
    _, _, out = enroll_with_cli("mfalocka", backup_codes=2)
    first = printed_codes(out)[0]
    # a root-owned store: the user cannot read their secret, the helper can
    secret_file = root_store / "mfalocka"
    assert secret_file.stat().st_uid == 0 and stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    result, messages, log = desk.login([first])
    assert result == "PAM_SUCCESS", (messages, log)
    assert any("Backup code accepted" in text and "1" in text for _, text in messages), messages
    assert any("accepted backup code (1 left)" in ln for ln in helper_lines(log)), log
    result, messages, log = desk.login([first], as_user=None)
    assert result == "PAM_AUTH_ERR", (messages, log)


def test_store_ldap_through_the_helper_uses_the_hosts_credentials(desk, directory):
    cert, key = directory.host_cert("host-a")
    # the host's key is root's alone: the user could never reach the directory as the host
    assert key.stat().st_uid == 0 and stat.S_IMODE(key.stat().st_mode) & 0o077 == 0
    desk.write_conf(f"store=ldap\nldap_uri={directory.uri}\nldap_base={directory.base}\n"
                    f"ldap_ca={directory.ca}\nstore_plugin={PLUGIN}\nldap_cert={cert}\n"
                    f"ldap_key={key}\nldap_timeout=5\n")
    secret, used, _ = enroll_with_cli("mfalocka")
    t = wait_next_step(used)
    result, messages, log = desk.login([code(secret, t)])
    assert result == "PAM_SUCCESS", (messages, log)
    assert any("user=mfalocka service=lock: accepted totp code" in ln for ln in helper_lines(log)), log
    # and it is the directory's replay watermark: a root login on this host refuses the code
    result, messages, log = desk.login([code(secret, t)], as_user=None)
    assert result == "PAM_AUTH_ERR", (messages, log)
