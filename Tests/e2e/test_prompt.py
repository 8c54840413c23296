"""prompt= and combined_prompt=: the prompts in the admin's words (pam_mfa.conf(5)), through
the real module; control characters are refused."""

from __future__ import annotations

import pytest

from mfatest.pam import policy_conf, sarg
from mfatest.totp import code, fresh_step
from mfatest.world import PROMPT

CONTOSO = "Code from Contoso Authenticator: "


def test_the_default_prompt_stays(env):
    _, secret = env.write_secret()
    run = env.run_pam(sarg(env), answers=[code(secret, fresh_step())])
    assert run.result == "PAM_SUCCESS" and run.messages == [("PROMPT_ECHO_OFF", PROMPT)], str(run)


def test_a_prompt_from_the_stack_line(env):
    _, secret = env.write_secret()
    run = env.run_pam([sarg(env), f"[prompt={CONTOSO}]"], answers=[code(secret, fresh_step())])
    assert run.result == "PAM_SUCCESS", str(run)
    assert run.messages == [("PROMPT_ECHO_OFF", CONTOSO)], str(run)


def test_a_prompt_from_the_file_keeps_a_space_before_the_answer(env):
    """The file's values are trimmed: the space the answer needs is put back."""
    conf = policy_conf(env, "prompt = Code from Contoso Authenticator:")
    _, secret = env.write_secret()
    run = env.run_pam([f"conf={conf}"], answers=[code(secret, fresh_step())])
    assert run.result == "PAM_SUCCESS", str(run)
    assert run.messages == [("PROMPT_ECHO_OFF", CONTOSO)], str(run)


def test_an_utf8_prompt(env):
    conf = policy_conf(env, "prompt = Código de Contoso – 6 dígitos:")
    _, secret = env.write_secret()
    run = env.run_pam([f"conf={conf}"], answers=[code(secret, fresh_step())])
    assert run.messages == [("PROMPT_ECHO_OFF", "Código de Contoso – 6 dígitos: ")], str(run)


def test_the_combined_prompt_of_the_one_prompt_modes(env):
    _, secret = env.write_secret()
    conf = policy_conf(env, "combined_prompt = Password, then the Contoso code:")
    run = env.run_pam([f"conf={conf}", "forward_pass"], answers=["hunter2" + code(secret, fresh_step())])
    assert run.messages[0] == ("PROMPT_ECHO_OFF", "Password, then the Contoso code: "), str(run)


@pytest.mark.parametrize("value", ["Code\x1b[2J:", "Code\x07", "Code\x7f:", "Code\u009b31m:"])
def test_control_characters_are_refused(env, value):
    """A prompt that could move the cursor or rewrite the terminal is a configuration error:
    nobody logs in with it, and the admin reads why."""
    conf = policy_conf(env, f"prompt = {value}")
    _, secret = env.write_secret()
    run = env.run_pam([f"conf={conf}"], answers=[code(secret, fresh_step())])
    assert run.result != "PAM_SUCCESS", str(run)
    assert run.messages == [], str(run)
    assert "prompt" in run.syslog_text() and "control characters" in run.syslog_text(), str(run)
