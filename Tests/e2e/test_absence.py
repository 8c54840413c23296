"""A secret file out of reach is not "not enrolled": an enrolled user whose home is not mounted
(ecryptfs, fscrypt, pam_mount, autofs, an NFS outage), or whose file someone else could move
away, never passes without a code, whatever nullok or require_group say. Every pass without a
code is logged. Through the built module and real libpam; a home "not mounted" is an empty
directory bind-mounted over it in a private mount namespace, as the review reproduced it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import time

import pytest

from mfatest.cli import disable, enroll, run_cli
from mfatest.pam import PERMIT_AFTER, policy_conf, standard_groups, syslog_has
from mfatest.totp import code, fresh_step, wrong_code
from mfatest.world import ALICE_UID

CANNOT_READ = ("ERROR_MSG", "Your two-factor settings cannot be read right now. "
                            "Contact your system administrator.")


def unmounted_home(env, user: str = "alice") -> list:
    """A command prefix: pamdrive sees an empty directory where the user's home is."""
    empty = env.base / f"empty-{user}"
    empty.mkdir(exist_ok=True)
    os.chown(empty, env.uid(user), env.uid(user))
    os.chmod(empty, 0o700)
    script = (f"mount --bind {shlex.quote(str(empty))} {shlex.quote(str(env.home(user)))}"
              ' && exec "$0" "$@"')
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script]


def enrolled_at_home(env):
    """alice with a secret file at the default path (~/.config/pam_mfa/secret), who has logged
    in with a code once, so root's state knows she uses codes."""
    path, secret = env.write_secret(path=env.default_secret_path())
    run = env.run_pam([], answers=[code(secret, fresh_step())], stack=PERMIT_AFTER)
    assert run.result == "PAM_SUCCESS", str(run)
    return path, secret


@pytest.mark.parametrize("policy", [["nullok"], ["nullok", "require_group=mfa"],
                                    ["require_group=breakglass"]])
def test_an_enrolled_user_whose_home_is_not_mounted_is_refused(env, policy):
    standard_groups(env)
    enrolled_at_home(env)
    run = env.run_pam(policy, stack=PERMIT_AFTER, prefix=unmounted_home(env))
    assert run.result == "PAM_AUTH_ERR" and run.messages == [CANNOT_READ], str(run)
    assert syslog_has(run, "user=alice service=mfa-test: no enrollment found, but was enrolled "
                           f"here before, but {env.default_secret_path()} is missing"), str(run)
    # bob, who never used a code, still passes with nullok: logged
    run = env.run_pam(["nullok"], user="bob", stack=PERMIT_AFTER, prefix=unmounted_home(env, "bob"))
    assert run.result == "PAM_SUCCESS" and run.messages == [], str(run)
    assert syslog_has(run, f"user=bob service=mfa-test: not enrolled "
                           f"({env.default_secret_path('bob')}), nullok: no code asked"), str(run)


def test_a_missing_home_directory_is_a_home_not_mounted(env):
    home = env.home("alice")
    away = home.with_name("alice.away")
    home.rename(away)
    try:
        run = env.run_pam(["nullok"], stack=PERMIT_AFTER)
        assert run.result == "PAM_AUTH_ERR" and run.messages == [CANNOT_READ], str(run)
        assert syslog_has(run, f"no enrollment found, but home directory {home} cannot be "
                               "reached (stat: No such file or directory; not mounted?)"), str(run)
    finally:
        away.rename(home)
    run = env.run_pam(["nullok"], stack=PERMIT_AFTER)
    assert run.result == "PAM_SUCCESS", str(run)


def test_a_directory_others_can_write_is_not_trusted(env):
    """Someone in the group renames ~/.config/pam_mfa away: with the group-writable ~/.config,
    that must not turn off alice's code, even if she never logged in with one."""
    path, _ = env.write_secret(path=env.default_secret_path())
    config = path.parent.parent
    os.chmod(config, 0o770)
    path.parent.rename(config / "moved-away")
    run = env.run_pam(["nullok"], stack=PERMIT_AFTER)
    assert run.result == "PAM_AUTH_ERR" and run.messages == [CANNOT_READ], str(run)
    assert syslog_has(run, f"directory {config} has mode 0770: group or others could move the "
                           "secret file away (chmod go-w)"), str(run)
    # a directory owned by someone else is refused too
    os.chmod(config, 0o755)
    os.chown(config, env.uid("bob"), env.uid("bob"))
    run = env.run_pam(["nullok"], stack=PERMIT_AFTER)
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert syslog_has(run, f"directory {config} is owned by uid {env.uid('bob')}"), str(run)
    # alice's own, private: she is simply not enrolled
    os.chown(config, ALICE_UID, ALICE_UID)
    os.chmod(config, 0o700)
    run = env.run_pam(["nullok"], stack=PERMIT_AFTER)
    assert run.result == "PAM_SUCCESS", str(run)


def test_disable_and_reset_leave_a_record_the_module_trusts(env):
    # window=2: the login after the re-enrollment needs a step newer than the first login's
    conf = policy_conf(env, "nullok", "window = 2")
    args = [f"conf={conf}"]
    path = env.secret_path()
    enr = enroll(env)
    run = env.run_pam(args, answers=[code(enr.secret, time.time() + 30)], stack=PERMIT_AFTER)
    assert run.result == "PAM_SUCCESS", str(run)
    # deleted by hand (or out of reach): refused
    saved = path.read_bytes()
    path.unlink()
    run = env.run_pam(args, stack=PERMIT_AFTER)
    assert run.result == "PAM_AUTH_ERR", str(run)
    # alice turns it off herself: the marker, hers and private, lets her in without a code
    path.write_bytes(saved)
    os.chown(path, ALICE_UID, ALICE_UID)
    os.chmod(path, 0o600)
    proc = disable(env, conf, [enr.codes[0]])
    assert proc.returncode == 0 and not path.exists(), (proc.stdout, proc.stderr)
    marker = path.with_name("secret.disabled")
    st = os.lstat(marker)
    assert (st.st_uid, st.st_mode & 0o777) == (ALICE_UID, 0o600), oct(st.st_mode)
    run = env.run_pam(args, stack=PERMIT_AFTER)
    assert run.result == "PAM_SUCCESS" and run.messages == [], str(run)
    assert syslog_has(run, f"not enrolled ({path}), nullok: no code asked"), str(run)
    # she enrolls again and logs in with a code: the old marker no longer counts
    enr = enroll(env)
    time.sleep(1.1)
    run = env.run_pam(args, answers=[code(enr.secret, time.time() + 60)], stack=PERMIT_AFTER)
    assert run.result == "PAM_SUCCESS", str(run)
    path.unlink()
    run = env.run_pam(args, stack=PERMIT_AFTER)
    assert run.result == "PAM_AUTH_ERR", str(run)
    # root's reset forgets that she used codes
    proc = run_cli(env, "--user", "alice", "--config", conf, "reset")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    run = env.run_pam(args, stack=PERMIT_AFTER)
    assert run.result == "PAM_SUCCESS", str(run)


def test_a_link_on_the_way_is_not_followed_unless_root_made_it(env):
    """~/.config/pam_mfa replaced by a link to / (made by someone else): the walk must not
    resolve it and check / instead, which would pass."""
    path, _ = env.write_secret(path=env.default_secret_path())
    config = path.parent.parent
    shutil.rmtree(path.parent)
    (config / "pam_mfa").symlink_to("/")
    os.lchown(config / "pam_mfa", env.uid("bob"), env.uid("bob"))
    run = env.run_pam(["nullok"], stack=PERMIT_AFTER)
    assert run.result == "PAM_AUTH_ERR" and run.messages == [CANNOT_READ], str(run)
    assert syslog_has(run, f"directory {config}/pam_mfa is a symbolic link owned by uid "
                           f"{env.uid('bob')}: its owner could point it anywhere"), str(run)
    # root's link to a directory that passes: trusted (alice simply has no file there)
    os.unlink(config / "pam_mfa")
    target = env.base / "alice-mfa"
    target.mkdir(mode=0o700)
    os.chown(target, ALICE_UID, ALICE_UID)
    (config / "pam_mfa").symlink_to(target)
    run = env.run_pam(["nullok"], stack=PERMIT_AFTER)
    assert run.result == "PAM_SUCCESS", str(run)


def test_an_enrollment_a_login_has_seen_counts_without_a_right_code(env):
    """Enrolled with the CLI, one try on this host with a wrong code (or a hang-up): root's state
    now knows the file existed, so a home that is not mounted later is not 'not enrolled'."""
    path, secret = env.write_secret(path=env.default_secret_path())
    run = env.run_pam([], answers=[wrong_code(secret)], stack=PERMIT_AFTER)
    assert run.result == "PAM_AUTH_ERR", str(run)
    run = env.run_pam(["nullok"], stack=PERMIT_AFTER, prefix=unmounted_home(env))
    assert run.result == "PAM_AUTH_ERR" and run.messages == [CANNOT_READ], str(run)
    # the file gone, with the marker of a `disable` from before that login: not trusted
    path.unlink()
    marker = path.with_name("secret.disabled")
    marker.write_text(f"pam_mfa disabled at={int(time.time()) - 7200}\n")
    os.chown(marker, ALICE_UID, ALICE_UID)
    os.chmod(marker, 0o600)
    run = env.run_pam(["nullok"], stack=PERMIT_AFTER)
    assert run.result == "PAM_AUTH_ERR", str(run)
    # a marker written after it (as `disable` writes it): trusted
    marker.write_text(f"pam_mfa disabled at={int(time.time()) + 1}\n")
    run = env.run_pam(["nullok"], stack=PERMIT_AFTER)
    assert run.result == "PAM_SUCCESS", str(run)
