"""libcrypto on demand, through the built module (real libpam, pamdrive): the module does not
link libcrypto; it loads it when a code is checked, so a login that computes no code (not
enrolled under nullok, exempt_group, outside require_group, a remembered host, locked out)
never maps it (pamdrive prints whether libcrypto.so is mapped after pam_end). Without
libcrypto a code is never taken, and the admin reads why; the state file's checksum (CRC-32,
version 2) needs no libcrypto, and version-1 files (SHA-256) are still read. The user's files
are read with the user's file-system ids and primary group only: never with the caller's groups.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess

import pytest

from mfatest.pam import PERMIT_AFTER, standard_groups, syslog_has, template_arg
from mfatest.state import SLOT, STATE_SIZE, parse_slot, read_state, slots_of
from mfatest.totp import code, fresh_step, wrong_code

HOST = "192.0.2.7"


def libcrypto_state(run) -> str:
    """'loaded' or 'absent': pamdrive's LIBCRYPTO line."""
    lines = [ln.split()[1] for ln in run.stdout.splitlines() if ln.startswith("LIBCRYPTO ")]
    assert len(lines) == 1, run.stdout
    return lines[0]


def without_libcrypto() -> list:
    """A command prefix: pamdrive runs where libcrypto.so.3 is an empty file (private mount
    namespace), as on a host whose libssl package is broken."""
    found = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    paths = sorted({ln.split(" => ")[1].strip() for ln in found.splitlines()
                    if ln.strip().startswith("libcrypto.so.3 ")})
    assert paths, found
    binds = " && ".join(f"mount --bind /dev/null {shlex.quote(os.path.realpath(p))}" for p in paths)
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", binds + ' && exec "$0" "$@"']


def test_a_checked_code_loads_libcrypto(env):
    _, secret = env.write_secret()
    run = env.run_pam([template_arg(env)], answers=[code(secret, fresh_step())])
    assert run.result == "PAM_SUCCESS", str(run)
    assert libcrypto_state(run) == "loaded", run.stdout


def test_logins_that_compute_no_code_never_load_libcrypto(env):
    standard_groups(env)
    base = template_arg(env)
    # bob is not enrolled; under nullok he passes without a code
    run = env.run_pam([base, "nullok"], user="bob", stack=PERMIT_AFTER)
    assert run.result == "PAM_SUCCESS" and run.prompts == [], str(run)
    assert libcrypto_state(run) == "absent", "nullok"
    # bob is enrolled and in exempt_group breakglass
    _, bob_secret = env.write_secret(user="bob")
    run = env.run_pam([base, "exempt_group=breakglass"], user="bob", stack=PERMIT_AFTER)
    assert run.result == "PAM_SUCCESS" and run.prompts == [], str(run)
    assert libcrypto_state(run) == "absent", "exempt_group"
    # bob is enrolled but outside require_group mfa... and asked; not enrolled: ignored
    (env.base / "secrets" / "bob" / "secret").unlink()
    run = env.run_pam([base, "require_group=mfa"], user="bob", stack=PERMIT_AFTER)
    assert run.result == "PAM_SUCCESS" and run.prompts == [], str(run)
    assert libcrypto_state(run) == "absent", "require_group"

    # alice typed a code from HOST once (that login loads it); then HOST is remembered
    _, secret = env.write_secret()
    args = [base, "remember=1h"]
    t = fresh_step()
    run = env.run_pam(args, rhost=HOST, answers=[code(secret, t)])
    assert run.result == "PAM_SUCCESS" and libcrypto_state(run) == "loaded", str(run)
    run = env.run_pam(args, rhost=HOST)
    assert run.result == "PAM_SUCCESS" and run.prompts == [], str(run)
    assert syslog_has(run, "remembered host: no code asked"), str(run)
    assert libcrypto_state(run) == "absent", "remembered host"

    # three wrong codes lock alice out: told so before any prompt, nothing computed
    for _ in range(3):
        run = env.run_pam(args, answers=[wrong_code(secret, t)])
        assert run.result == "PAM_AUTH_ERR", str(run)
    run = env.run_pam(args)
    assert run.result == "PAM_AUTH_ERR" and run.prompts == [], str(run)
    assert libcrypto_state(run) == "absent", "locked out"


def test_without_libcrypto_no_code_is_taken_and_syslog_says_why(env):
    _, secret = env.write_secret()
    prefix = without_libcrypto()
    run = env.run_pam([template_arg(env)], answers=[code(secret, fresh_step())], prefix=prefix)
    assert run.result == "PAM_AUTH_ERR" and run.prompts == [], str(run)
    assert syslog_has(run, "user=alice service=mfa-test: libcrypto cannot be loaded ("), str(run)
    assert syslog_has(run, "; denied"), str(run)
    # nothing was counted or accepted: the same code works once libcrypto is back
    state = env.state_dir / "alice"
    assert not state.exists() or "failures" not in read_state(state), read_state(state)
    # a user who needs no code is not held up by it
    run = env.run_pam([template_arg(env), "nullok"], user="bob", stack=PERMIT_AFTER, prefix=prefix)
    assert run.result == "PAM_SUCCESS", str(run)


def test_without_libcrypto_the_one_prompt_line_and_enrollment_at_login_count_nothing(env):
    _, secret = env.write_secret()
    prefix = without_libcrypto()
    # one prompt (forward_pass), the password module, then the line that counts failures
    stack = ["auth required {module} forward_pass {args}", "auth requisite pam_permit.so",
             "auth required {module} {args}"]
    t = fresh_step()
    run = env.run_pam([template_arg(env)], stack=stack, answers=["password" + code(secret, t)],
                      prefix=prefix)
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert syslog_has(run, "user=alice service=mfa-test: libcrypto cannot be loaded ("), str(run)
    state = env.state_dir / "alice"
    assert not state.exists() or "failures" not in read_state(state), read_state(state)
    # enrollment at login is not offered: no QR code, no setup key, nothing to confirm
    run = env.run_pam([template_arg(env), "enroll=login"], user="bob", answers=[], prefix=prefix)
    assert run.result == "PAM_AUTH_ERR" and run.messages == [], str(run)
    assert syslog_has(run, "user=bob service=mfa-test: libcrypto cannot be loaded ("), str(run)


def version1_slot(sequence: int, payload: bytes) -> bytes:
    """A slot as pam_mfa 0.1 wrote it: version 1, SHA-256 checksum."""
    header = b"PMFS" + bytes([1, 0, 0, 0]) + sequence.to_bytes(8, "little") + \
        len(payload).to_bytes(4, "little") + bytes(4)
    slot = header + hashlib.sha256(header + payload).digest() + payload
    return slot + bytes(SLOT - len(slot))


def test_a_version_1_state_file_is_still_read_and_turns_to_version_2(env):
    _, secret = env.write_secret()
    t = fresh_step()
    step = int(t // 30)
    state = env.state_dir / "alice"
    payload = f"pam_mfa-state 1\ntotp-step default {step}\n".encode()
    state.write_bytes(version1_slot(2, payload) + bytes(SLOT))
    os.chmod(state, 0o600)
    assert state.stat().st_size == STATE_SIZE
    # the step recorded in the old file is honoured: its code is a replay ...
    run = env.run_pam([template_arg(env), "window=2"], answers=[code(secret, t)])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert syslog_has(run, "replay"), str(run)
    # ... the next step's code is not; every slot written since is version 2
    run = env.run_pam([template_arg(env), "window=2"], answers=[code(secret, t + 30)])
    assert run.result == "PAM_SUCCESS", str(run)
    slots = [parse_slot(slot) and (slot[4], parse_slot(slot)[0]) for slot in slots_of(state)]
    assert all(version == 2 and sequence > 2 for version, sequence in slots), slots
    assert read_state(state)["totp-step"] == {"default": step + 1}, read_state(state)


def test_the_callers_groups_never_reach_the_users_files(env):
    # alice's directory sits in one that only root's group may enter: read as alice (her ids
    # and primary group), the file is out of reach even though the caller is in that group
    _, secret = env.write_secret()
    secrets = env.base / "secrets"
    os.chown(secrets, 0, 0)
    os.chmod(secrets, 0o750)
    prefix = ["setpriv", "--groups=0", "--"]
    run = env.run_pam([template_arg(env)], answers=[code(secret, fresh_step())], prefix=prefix)
    assert run.result != "PAM_SUCCESS", str(run)
    assert run.prompts == [], str(run)
    # with the directory open to her, the same login works
    os.chmod(secrets, 0o755)
    run = env.run_pam([template_arg(env)], answers=[code(secret, fresh_step())], prefix=prefix)
    assert run.result == "PAM_SUCCESS", str(run)
