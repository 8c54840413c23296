"""The test tools themselves (pamdrive, syslogcap.so), proven on stock modules
so that a failure elsewhere points at pam_mfa, not at the harness."""

import subprocess

from mfatest.world import PAMDRIVE


def test_permit_and_deny(stock_env):
    run = stock_env.run_pam(stack=["auth required pam_permit.so"])
    assert (run.result, run.number) == ("PAM_SUCCESS", 0), str(run)
    run = stock_env.run_pam(stack=["auth required pam_deny.so"])
    assert (run.result, run.number) == ("PAM_AUTH_ERR", 7), str(run)


def test_setcred_is_reported(stock_env):
    run = stock_env.run_pam(stack=["auth required pam_permit.so"], setcred=True)
    assert run.result == "PAM_SUCCESS" and run.setcred == "PAM_SUCCESS", str(run)


def test_messages_and_answers(stock_env):
    # pam_echo sends TEXT_INFO; pam_unix prompts with echo off and fails
    run = stock_env.run_pam(stack=["auth required pam_echo.so hello %u",
                                   "auth required pam_unix.so"],
                            user="root", answers=["not-the-password"])
    assert run.messages[0] == ("TEXT_INFO", "hello root"), str(run)
    assert run.messages[1] == ("PROMPT_ECHO_OFF", "Password: "), str(run)
    assert run.result == "PAM_AUTH_ERR", str(run)


def test_answers_running_out_is_conv_error(stock_env):
    run = stock_env.run_pam(stack=["auth required pam_unix.so"], user="root", answers=[])
    assert "CONV no answer left" in run.stdout, str(run)
    assert run.result != "PAM_SUCCESS", str(run)


def test_fake_users_from_nss_wrapper(stock_env):
    run = stock_env.run_pam(stack=["auth required pam_succeed_if.so uid = 4242"], user="alice")
    assert run.result == "PAM_SUCCESS", str(run)
    run = stock_env.run_pam(stack=["auth required pam_succeed_if.so uid = 4242"], user="bob")
    assert run.result == "PAM_AUTH_ERR", str(run)
    run = stock_env.run_pam(stack=["auth required pam_succeed_if.so uid = 4242"],
                            user="nosuchuser")
    assert run.result == "PAM_USER_UNKNOWN", str(run)


def test_syslog_is_captured(stock_env):
    run = stock_env.run_pam(stack=["auth required pam_succeed_if.so uid < 0 debug"],
                            user="alice")
    assert run.result == "PAM_AUTH_ERR", str(run)
    lines = [ln for ln in run.syslog if "pam_succeed_if(mfa-test:auth)" in ln]
    assert lines, str(run)
    pri = int(lines[-1].split(" ", 1)[0])
    assert pri >> 3 == 10, lines        # LOG_AUTHPRIV


def test_direct_call_shows_raw_ignore(stock_env):
    run = stock_env.run_pam(direct="/usr/lib/x86_64-linux-gnu/security/pam_nologin.so", module_args=["file=/nonexistent"],
                            add_state_dir=False)
    assert run.direct_context == "module", str(run)
    assert run.result == "PAM_IGNORE", str(run)


def test_usage_error_exits_nonzero():
    proc = subprocess.run([str(PAMDRIVE), "--no-such-option"], capture_output=True, text=True)
    assert proc.returncode == 2
