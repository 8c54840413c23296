"""store=ldap: enrollments and login state in an LDAP directory shared by several hosts.

A private slapd (mfatest.ldapdir.Directory) runs on 127.0.0.1 with a test CA. Each "host" is its own
pamdrive process with its own local state directory and its own identity (host-a: client
certificate, SASL EXTERNAL; host-b: bind DN + password file); both talk to the one directory.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time

import pytest

from mfatest.cli import enroll_under_tty
from mfatest.dsdir import running_ds_directory
from mfatest.ldapdir import Directory, _die_with_parent
from mfatest.ldapfleet import (PERIOD, Host, LoopbackServer, enroll, entry, entry_dn, fresh_hosts, reset_user,
                               steps, unused_code)
from mfatest.secretfile import printed_codes, remember_codes
from mfatest.totp import code, fresh_step, wait_next_step, wrong_code
from mfatest.world import ALICE_UID, ENROLL, FLEET_HOST, PLUGIN


@pytest.fixture(scope="module", params=["openldap", "389ds"])
def directory(request, directory):
    """Every test here runs against OpenLDAP's slapd (conftest's `directory`) and against 389
    Directory Server: the store must behave the same on both (pam_mfa-ldap(5))."""
    if request.param == "openldap":
        yield directory
        return
    with running_ds_directory() as d:
        yield d


def test_smoke_enroll_and_login_through_two_hosts(env, directory):
    a, b = fresh_hosts(env, directory)
    key, used, _ = enroll(a)
    t = fresh_step(margin=3)
    if int(t // 30) <= int(used // 30):
        t = wait_next_step(used)
    c = code(key, t)
    first = a.login(c)
    assert first.result == "PAM_SUCCESS", str(first)
    second = b.login(c)
    assert second.result != "PAM_SUCCESS", str(second)
    assert "replay" in second.syslog_text(), str(second)


# ---------------------------------------------------------------------------
# helpers for the tests below
# ---------------------------------------------------------------------------


def not_enrolled_line(run, d: Directory, host: Host, user="alice") -> bool:
    """The run logged that user is not enrolled, naming the directory entry, and denied."""
    where = f"directory {d.uri} ({entry_dn(d, user)})"
    return any(f"user={user} service=mfa-{host.name}: not enrolled: " in line and where in line
               and line.endswith("; denied") for line in run.syslog)


def host_command(host: Host, *answers, extra=()) -> list:
    return host.env.pam_command(
        [f"conf={host.conf}", f"state_dir={host.state}", *extra], user="alice", answers=list(answers),
        service=f"mfa-{host.name}", add_state_dir=False)


def as_alice_cmd(*args) -> list:
    return ["setpriv", f"--reuid={ALICE_UID}", f"--regid={ALICE_UID}", "--clear-groups", *map(str, args)]


# ---------------------------------------------------------------------------
# 1. replay across hosts
# ---------------------------------------------------------------------------


def test_a_code_used_on_one_host_is_refused_on_the_other(env, directory):
    d = directory
    a, b = fresh_hosts(env, d)
    key, enrolled_at, _ = enroll(a)

    # S, the step typed to confirm the enrollment, is spent for every host
    confirming = b.login(code(key, enrolled_at))
    assert confirming.result == "PAM_AUTH_ERR", str(confirming)
    assert "service=mfa-host-b: replay: an already used code was refused" in confirming.syslog_text(), \
        str(confirming)

    # step S+1
    c1, s1 = unused_code(key, enrolled_at)
    first = a.login(c1)
    assert first.result == "PAM_SUCCESS", str(first)
    assert "service=mfa-host-a: accepted totp code" in first.syslog_text(), str(first)
    assert steps(d) == [f"totp:default:{s1}"], entry(d)

    again = b.login(c1)
    assert again.result == "PAM_AUTH_ERR", str(again)
    assert "service=mfa-host-b: replay: an already used code was refused (failure 1 of 3)" in again.syslog_text(), \
        str(again)
    assert "accepted" not in again.syslog_text(), str(again)
    assert steps(d) == [f"totp:default:{s1}"], entry(d)

    # Into step S+1: a code of S+2 is now in the window; host-b takes it first.
    wait_next_step(enrolled_at)
    c2, s2 = unused_code(key, s1 * PERIOD)
    assert s2 == s1 + 1
    second = b.login(c2)
    assert second.result == "PAM_SUCCESS", str(second)
    assert "service=mfa-host-b: accepted totp code" in second.syslog_text(), str(second)
    assert steps(d) == [f"totp:default:{s2}"], entry(d)
    # ... which cleared the failure host-b's replay had counted
    assert "pamMfaFailures" not in entry(d), entry(d)

    late = a.login(c2)
    assert late.result == "PAM_AUTH_ERR", str(late)
    assert "service=mfa-host-a: replay: an already used code was refused" in late.syslog_text(), str(late)
    # and the earlier, older code is refused too (the mark only moves forward)
    older = a.login(c1)
    assert older.result == "PAM_AUTH_ERR", str(older)
    assert "replay" in older.syslog_text(), str(older)
    assert steps(d) == [f"totp:default:{s2}"], entry(d)


def test_a_clock_offset_seen_on_one_host_is_learned_by_the_whole_fleet(env, directory):
    """A phone 4 steps ahead: its first code, refused on host-a, is remembered in the entry, so
    its next code is accepted on host-b; from then on every host centres the window there."""
    d = directory
    a, b = fresh_hosts(env, d)
    key, _, _ = enroll(a)
    name = "default." + hashlib.sha256(base64.b32decode(key + "=" * (-len(key) % 8))).hexdigest()[:8]
    t = fresh_step(margin=8)
    first = a.login(code(key, t + 3 * PERIOD))
    assert first.result == "PAM_AUTH_ERR", str(first)
    assert "at a clock offset of +3 steps (+90 s): refused" in first.syslog_text(), str(first)
    [seen] = entry(d)["pamMfaClockOffset"]
    assert seen.startswith(f"totp-offset-seen {name} 3 "), seen
    second = b.login(code(key, t + 4 * PERIOD))
    assert second.result == "PAM_SUCCESS", str(second)
    assert "service=mfa-host-b: clock offset learned: default at a clock offset of +4 steps" in \
        second.syslog_text(), str(second)
    assert entry(d)["pamMfaClockOffset"] == [f"totp-offset {name} 4"], entry(d)
    assert "pamMfaFailures" not in entry(d), entry(d)
    third = a.login(code(key, t + 5 * PERIOD))
    assert third.result == "PAM_SUCCESS", str(third)
    assert "service=mfa-host-a: accepted totp code" in third.syslog_text(), str(third)
    assert entry(d)["pamMfaClockOffset"] == [f"totp-offset {name} 5"], entry(d)


# ---------------------------------------------------------------------------
# 2. backup codes are single use across the fleet
# ---------------------------------------------------------------------------


def test_backup_codes_work_once_in_total(env, directory):
    d = directory
    a, b = fresh_hosts(env, d)
    _, _, out = enroll(a, backup_codes=3)
    codes = printed_codes(out)
    assert len(codes) == 3 and len(set(codes)) == 3, out
    stored = entry(d).get("pamMfaBackupCode", [])
    assert len(stored) == 3, entry(d)
    for c in codes:  # only hashes are stored
        assert not any(c.replace("-", "") in v or c in v for v in stored), stored

    first = a.login(codes[0])
    assert first.result == "PAM_SUCCESS", str(first)
    assert "service=mfa-host-a: accepted backup code (2 left)" in first.syslog_text(), str(first)
    assert len(entry(d)["pamMfaBackupCode"]) == 2, entry(d)

    reused = b.login(codes[0])
    assert reused.result == "PAM_AUTH_ERR", str(reused)
    assert "service=mfa-host-b: wrong backup code (failure 1 of 3); denied" in reused.syslog_text(), str(reused)
    assert "accepted" not in reused.syslog_text(), str(reused)
    assert len(entry(d)["pamMfaBackupCode"]) == 2, entry(d)

    other = b.login(codes[1])
    assert other.result == "PAM_SUCCESS", str(other)
    assert "service=mfa-host-b: accepted backup code (1 left)" in other.syslog_text(), str(other)
    assert ("TEXT_INFO", "Backup code accepted. Only 1 backup code left: "
            "run 'mfa-enroll backup-codes' to make a new set.") in other.messages, str(other)

    final = entry(d)
    assert len(final["pamMfaBackupCode"]) == 1, final
    assert final["pamMfaBackupCode"][0] in stored, final
    assert "pamMfaFailures" not in final, final


# ---------------------------------------------------------------------------
# 3. failures add up across hosts; unlock clears them for every host
# ---------------------------------------------------------------------------


def test_failures_add_up_across_hosts_and_unlock_clears_them(env, directory):
    d = directory
    a, b = fresh_hosts(env, d)
    key, enrolled_at, _ = enroll(a)
    deny = ["deny=3"]

    for n in (1, 2):
        run = a.login(wrong_code(key), extra=deny)
        assert run.result == "PAM_AUTH_ERR", str(run)
        assert f"service=mfa-host-a: wrong code (failure {n} of 3); denied" in run.syslog_text(), str(run)
        assert "lockout" not in run.syslog_text(), str(run)
    third = b.login(wrong_code(key), extra=deny)
    assert third.result == "PAM_AUTH_ERR", str(third)
    log = third.syslog_text()
    assert "service=mfa-host-b: wrong code (failure 3 of 3); denied" in log, str(third)
    assert "service=mfa-host-b: lockout: too many failures; locked for 300 s" in log, str(third)
    assert ("ERROR_MSG", "Too many wrong codes. Try again in 5 minutes.") in third.messages, str(third)
    record = entry(d).get("pamMfaFailures", [])
    assert len(record) == 1, entry(d)
    # FAILURES FIRST LOCKOUTS LOCKEDUNTIL: the count restarts with the lockout
    failures, _, lockouts, until = map(int, record[0].split())
    assert (failures, lockouts) == (0, 1) and 290 <= until - time.time() <= 301, record

    # The right code through host-a is refused without being looked at (or spent).
    c, s = unused_code(key, enrolled_at)
    locked = a.login(c, extra=deny)
    assert locked.result == "PAM_AUTH_ERR", str(locked)
    assert re.search(r"service=mfa-host-a: refused: locked out for another \d+ s", locked.syslog_text()), \
        str(locked)
    assert "accepted" not in locked.syslog_text(), str(locked)
    assert locked.prompts == [], str(locked)
    assert steps(d) == [], entry(d)

    unlock = b.cli("--user", "alice", "unlock")
    assert unlock.returncode == 0, (unlock.stdout, unlock.stderr)
    assert re.fullmatch(r"Unlocked alice \(was locked for another \d+ s\)\.\n", unlock.stdout), unlock.stdout
    assert "pamMfaFailures" not in entry(d), entry(d)
    assert re.search(r"by=root: unlock user=alice failures=\d+ locked=true", env.read_syslog()), env.read_syslog()

    ok = a.login(c, extra=deny)
    assert ok.result == "PAM_SUCCESS", str(ok)
    assert "service=mfa-host-a: accepted totp code" in ok.syslog_text(), str(ok)
    assert steps(d) == [f"totp:default:{s}"], entry(d)

    again = b.cli("--user", "alice", "unlock")
    assert again.returncode == 0 and again.stdout == "alice was not locked; nothing to clear.\n", again.stdout


# ---------------------------------------------------------------------------
# 4. one code, 20 parallel logins on two hosts: one success
# ---------------------------------------------------------------------------


def other_lines(log: str) -> list:
    """The log lines of a parallel run that are none of its expected outcomes: what to read
    first when the count is off (the whole log is too long to be shown)."""
    expected = (": accepted totp code", "replay: an already used code was refused", "refused: locked out",
                "lockout: too many failures")
    return [line for line in log.splitlines() if not any(e in line for e in expected)]


def one_code_in_parallel(env, d: Directory, deny) -> None:
    """20 logins with one right code at once, 10 through each host: exactly one succeeds, the
    others are refused as a replay (or find the user locked by the losers, with deny=3), and
    none of them runs into ldap_timeout or gives up on a busy entry."""
    a, b = fresh_hosts(env, d)
    key, enrolled_at, _ = enroll(a)
    extra = [f"deny={deny}"] if deny else []
    c, s = unused_code(key, enrolled_at)
    cmds = [host_command(h, c, extra=extra) for h in (a, b) for _ in range(10)]
    parallel = env.run_all(cmds, timeout=60)
    overlap = f"{parallel.still_running} of 20 still running when the last was started"
    runs, log = parallel.runs, parallel.log
    results = [r.result for r in runs]
    assert results.count("PAM_SUCCESS") == 1, (results, overlap, log)
    assert set(results) == {"PAM_SUCCESS", "PAM_AUTH_ERR"}, (results, log)
    assert log.count(": accepted totp code") == 1, log
    assert "directory unavailable" not in log and "kept changing" not in log, other_lines(log)
    replays = log.count("replay: an already used code was refused")
    locked = log.count("refused: locked out")
    if deny == 50:
        assert replays == 19 and locked == 0, log
        assert "lockout" not in log, log
    else:
        # every loser either lost the race for the step or found the user locked by the losers
        assert replays + locked == 19, (replays, locked, other_lines(log))
    assert steps(d) == [f"totp:default:{s}"], entry(d)


@pytest.mark.parametrize("deny", [None, 50], ids=["deny-default", "deny-50"])
def test_parallel_logins_with_one_code_succeed_once(env, directory, deny):
    one_code_in_parallel(env, directory, deny)


@contextlib.contextmanager
def cpu_hogs(count: int):
    """count processes that spin on a CPU each until the block ends (killed with the test)."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=_die_with_parent)
            for _ in range(count)]
    try:
        yield hogs
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@pytest.mark.parametrize("deny", [None, 50], ids=["deny-default", "deny-50"])
def test_parallel_logins_with_one_code_succeed_once_beside_a_cpu_hog(env, directory, deny):
    """The same on a machine that is busy: two processes spin beside the logins and the
    directory (a CI runner has two cores), and still no login runs past ldap_timeout=2."""
    with cpu_hogs(2) as hogs:
        one_code_in_parallel(env, directory, deny)
        assert all(hog.poll() is None for hog in hogs), "a CPU hog died: the machine was not loaded"


# ---------------------------------------------------------------------------
# 4b. a modify refused for an entry that is there (389-ds while other hosts write it)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [50, 32, 51], ids=["insufficientAccess", "noSuchObject", "busy"])
def test_a_modify_refused_for_an_entry_that_is_there_is_sent_again(env, directory, answer):
    """389-ds, while other hosts write the same entry, may give up waiting for it and answer a
    modify as if the entry were missing (insufficientAccess to a host that may not write the
    parent, noSuchObject otherwise), or busy; nothing was applied. The login reads the entry,
    finds it, sends the change again and succeeds; the code counts as used once."""
    a, _ = fresh_hosts(env, directory)
    key, enrolled_at, _ = enroll(a)
    c, s = unused_code(key, enrolled_at)
    run, calls = a.login_refused(c, f"{answer}:1")
    assert run.result == "PAM_SUCCESS", (str(run), calls)
    # the attempt counted (refused, then sent again), then the step moved
    assert calls == [f"refused {answer}", "sent 0", "sent 0"], calls
    assert "service=mfa-host-a: accepted totp code" in run.syslog_text(), str(run)
    assert steps(directory) == [f"totp:default:{s}"], entry(directory)
    assert "pamMfaFailures" not in entry(directory), entry(directory)
    again = a.login(c)
    assert again.result == "PAM_AUTH_ERR" and "replay: an already used code" in again.syslog_text(), str(again)


def test_a_modify_refused_every_time_denies_after_a_few_tries(env, directory):
    """A refusal that stays (an access rule that does not let the host write the attribute) is
    sent again a few times, then the login is denied with the server's words in syslog; nothing
    was changed, so the code still logs in once the directory takes changes."""
    a, _ = fresh_hosts(env, directory)
    key, enrolled_at, _ = enroll(a)
    c, s = unused_code(key, enrolled_at)
    run, calls = a.login_refused(c, "50:1000")
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert "modify failed: Insufficient access; denied" in run.syslog_text(), str(run)
    assert calls == ["refused 50"] * 5, calls   # sent, then again four times in one login (pam_mfa-ldap(5))
    assert steps(directory) == [], entry(directory)
    ok = a.login(c)
    assert ok.result == "PAM_SUCCESS", str(ok)


@pytest.mark.parametrize("answer, words", [
    (-5, "Timed out"), (52, "Server is unavailable"), (80, "Other (e.g., implementation specific) error"),
], ids=["timeout", "unavailable", "other"])
def test_a_modify_that_may_have_been_made_is_never_sent_again(env, directory, answer, words):
    """No answer (libldap's own timeout), a notice of disconnection (unavailable) or a proxy
    that gave up on its server (other) may come after the change was made: sent once, denied."""
    a, _ = fresh_hosts(env, directory)
    key, enrolled_at, _ = enroll(a)
    c, _ = unused_code(key, enrolled_at)
    run, calls = a.login_refused(c, f"{answer}:1")
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert f"modify failed: {words}; denied" in run.syslog_text(), str(run)
    assert calls == [f"refused {answer}"], calls


# ---------------------------------------------------------------------------
# 5. the directory is down or hangs: denied within the timeout
# ---------------------------------------------------------------------------

TIMEOUT = 2           # ldap_timeout in the hosts' configuration
BOUND = TIMEOUT + 4   # the login must be refused well within this (pamdrive does not sleep the fail delay)


def timed_login(host: Host, *answers, extra=()):
    """(run, seconds); a login still running after BOUND + 4 s is killed and fails the test."""
    start = time.monotonic()
    try:
        run = host.login(*answers, extra=extra, timeout=BOUND + 4)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the login hung: killed after {time.monotonic() - start:.1f} s "
                    f"(ldap_timeout={TIMEOUT}); pamdrive's output so far: {e.output!r}")
    return run, time.monotonic() - start


@pytest.fixture
def enrolled(env, directory):
    """alice enrolled afresh: (host-a, host-b, key, a right code not used yet, its step)."""
    a, b = fresh_hosts(env, directory)
    key, enrolled_at, _ = enroll(a)
    c, s = unused_code(key, enrolled_at)
    return a, b, key, c, s


def test_directory_down_denies_at_once(directory, enrolled):
    d = directory
    a, b, key, c, s = enrolled   # a right, unused code: only the directory can refuse it
    d.stop()
    try:
        for host in (a, b):
            for uri in (d.uri, d.ldaps_uri):
                run, took = timed_login(host, c, extra=[f"ldap_uri={uri}"])
                assert run.result == "PAM_AUTH_ERR", str(run)
                log = run.syslog_text()
                assert f"service=mfa-{host.name}: directory unavailable: {uri}" in log and "; denied" in log, \
                    str(run)
                assert run.prompts == [], str(run)
                assert took < BOUND, f"stopped directory, {uri} from {host.name}: {took:.2f} s (bound {BOUND} s)"
    finally:
        d.start()
    # started again: the same code is accepted (through ldaps://, which thus works as configured)
    run = b.login(c, extra=[f"ldap_uri={d.ldaps_uri}"])
    assert run.result == "PAM_SUCCESS", str(run)
    assert steps(d) == [f"totp:default:{s}"], entry(d)


def hung_logins(d: Directory, hosts, uri: str, c: str) -> dict:
    """A login through each host while slapd is stopped with SIGSTOP; resumed afterwards, always."""
    times = {}
    for host in hosts:
        d.pause()
        try:
            run, took = timed_login(host, c, extra=[f"ldap_uri={uri}"])
        finally:
            d.resume()
        times[host.name] = round(took, 2)
        assert run.result == "PAM_AUTH_ERR", str(run)
        log = run.syslog_text()
        assert f"service=mfa-{host.name}: directory unavailable: {uri}" in log and "; denied" in log, str(run)
        assert took < BOUND, f"hung directory, {uri} from {host.name}: {took:.2f} s (bound {BOUND} s); {times}"
        assert took >= TIMEOUT - 0.5, f"gave up before ldap_timeout={TIMEOUT}? {took:.2f} s; {run}"
    return times


def test_directory_hung_starttls_denies_within_the_timeout(directory, enrolled):
    d = directory
    a, b, key, c, s = enrolled
    times = hung_logins(d, (a, b), d.uri, c)
    assert steps(d) == [], entry(d)
    run = a.login(c)  # the directory answers again
    assert run.result == "PAM_SUCCESS", f"{run}; times while hung: {times}"


def test_directory_hung_ldaps_denies_within_the_timeout(directory, enrolled):
    """The TLS handshake of an ldaps:// connection must not outlast ldap_timeout either."""
    d = directory
    a, b, key, c, s = enrolled
    times = hung_logins(d, (a, b), d.ldaps_uri, c)
    assert steps(d) == [], entry(d)
    run = b.login(c, extra=[f"ldap_uri={d.ldaps_uri}"])  # the directory answers again
    assert run.result == "PAM_SUCCESS", f"{run}; times while hung: {times}"


class SilentAfterStartTLS(LoopbackServer):
    """A fake LDAP server on 127.0.0.1 that accepts StartTLS and then never says another word:
    a directory that hangs in the middle of the TLS handshake (what a paused slapd does to
    ldaps://, here on the ldap:// + StartTLS path)."""

    STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"

    def __init__(self):
        super().__init__()
        self.starttls_answered = 0

    def handle(self, conn):
        self.held.append(conn)
        try:
            conn.settimeout(5)
            request = conn.recv(4096)
            message_id = self._message_id(request)
            if message_id is None or self.STARTTLS_OID not in request:
                return
            oid = self.STARTTLS_OID
            result = b"\x0a\x01\x00" + b"\x04\x00" + b"\x04\x00" + b"\x8a" + bytes([len(oid)]) + oid
            body = b"\x02\x01" + bytes([message_id]) + b"\x78" + bytes([len(result)]) + result
            conn.sendall(b"\x30" + bytes([len(body)]) + body)
            self.starttls_answered += 1
        except OSError:
            return

    @staticmethod
    def _message_id(request: bytes):
        """The message ID of an LDAPMessage (SEQUENCE { INTEGER id, ... }) if it is small."""
        if len(request) < 5 or request[0] != 0x30:
            return None
        at = 2 + (request[1] & 0x7F if request[1] & 0x80 else 0)
        if request[at:at + 2] != b"\x02\x01":
            return None
        return request[at + 2]


def test_directory_hung_after_starttls_denies_within_the_timeout(env, directory, enrolled):
    a, b, key, c, s = enrolled
    with SilentAfterStartTLS() as server:
        for host in (a, b):
            run, took = timed_login(host, c, extra=[f"ldap_uri={server.uri}"])
            assert run.result == "PAM_AUTH_ERR", str(run)
            log = run.syslog_text()
            assert f"service=mfa-{host.name}: directory unavailable: {server.uri}" in log, str(run)
            assert took < BOUND, f"hung in the handshake after StartTLS, {host.name}: {took:.2f} s (bound {BOUND} s)"
        assert server.starttls_answered == 2, "the logins never got as far as the TLS handshake"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.mark.parametrize("how", ["paused-starttls", "paused-ldaps", "silent-after-starttls"])
def test_waiting_for_a_hung_directory_costs_no_cpu(env, directory, enrolled, how):
    """Waiting for a directory that does not answer is waiting, not spinning: a login denied
    after ldap_timeout=2 s uses well under a second of CPU (a normal login uses ~0.05 s)."""
    d = directory
    a, b, key, c, s = enrolled
    measured = {}
    for host in (a, b):
        if how == "silent-after-starttls":
            with SilentAfterStartTLS() as server:
                before = children_cpu()
                run, took = timed_login(host, c, extra=[f"ldap_uri={server.uri}"])
                cpu = children_cpu() - before
        else:
            uri = d.uri if how == "paused-starttls" else d.ldaps_uri
            d.pause()
            try:
                before = children_cpu()
                run, took = timed_login(host, c, extra=[f"ldap_uri={uri}"])
                cpu = children_cpu() - before
            finally:
                d.resume()
        measured[host.name] = f"{took:.2f} s wall, {cpu:.2f} s CPU"
        assert run.result == "PAM_AUTH_ERR" and "directory unavailable" in run.syslog_text(), str(run)
        assert took < BOUND, measured
        assert cpu < 1.0, f"{how}: the login burnt the CPU while waiting: {measured}"


# ---------------------------------------------------------------------------
# 6. nobody but the hosts reads the secrets
# ---------------------------------------------------------------------------


def test_a_user_cannot_read_or_change_their_own_secret(env, directory):
    d = directory
    reset_user(d)
    a = Host(env, d, "host-a")
    key, enrolled_at, out = enroll(a)
    assert key in out
    dn = entry_dn(d)
    password = "alice-ldap-pw"
    person = f"uid=alice,ou=people,{d.suffix}"
    if d.search(person) is None:
        assert d.add_person("alice", password) == person
    me = (person, password)

    # alice binds fine and sees her own person entry, but not her pam_mfa entry
    assert d.search(person, "uid", as_user=me) is not None
    assert d.search(dn, as_user=me) is None
    assert d.search(dn, "pamMfaEnrollment", as_user=me) is None
    # ... and cannot change it
    proc = subprocess.run(
        ["ldapmodify", "-x", "-ZZ", "-H", d.uri, "-D", person, "-w", password],
        input=f"dn: {dn}\nchangetype: modify\ndelete: pamMfaEnrollment\n-\nreplace: pamMfaFailures\n"
              f"pamMfaFailures: 0 0 0 0\n",
        capture_output=True, text=True, env=d.client_env(), timeout=60)
    assert proc.returncode != 0, (proc.stdout, proc.stderr)
    assert proc.returncode in (32, 50), (proc.returncode, proc.stdout, proc.stderr)

    # the rootdn sees the enrollment, unchanged
    seen = entry(d)
    assert len(seen.get("pamMfaEnrollment", [])) == 1, seen
    assert f"secret={key}" in seen["pamMfaEnrollment"][0], "the enrollment does not hold the key?"
    assert "pamMfaFailures" not in seen, seen

    # logins (a wrong one and a right one) log nothing of the key or the codes
    bad = a.login(wrong_code(key))
    assert bad.result == "PAM_AUTH_ERR", str(bad)
    c, _ = unused_code(key, enrolled_at)
    good = a.login(c)
    assert good.result == "PAM_SUCCESS", str(good)
    text = env.read_syslog()
    assert "pam_mfa" in text
    assert key not in text and key.lower() not in text
    env.check_no_leaks()


# ---------------------------------------------------------------------------
# 7. TLS and configuration mistakes deny
# ---------------------------------------------------------------------------


def test_tls_and_configuration_mistakes_deny(env, directory):
    d = directory
    a, b = fresh_hosts(env, d)
    key, enrolled_at, _ = enroll(a)
    c, s = unused_code(key, enrolled_at)  # right and unused: each refusal below is the setting's

    # no TLS at all
    run = a.login(c, extra=[f"ldap_uri={d.ldapi_uri}"])
    assert run.result == "PAM_SERVICE_ERR", str(run)
    assert "configuration error" in run.syslog_text() and "ldap_uri" in run.syslog_text(), str(run)

    # a CA that did not sign the server's certificate
    other = env.base / "other-ca"
    other.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(other / "ca.key"), "-out", str(other / "ca.pem"), "-days", "1",
                    "-subj", "/CN=not the test CA"], check=True, capture_output=True)
    for host in (a, b):
        run = host.login(c, extra=[f"ldap_ca={other / 'ca.pem'}"])
        assert run.result == "PAM_AUTH_ERR", str(run)
        assert "directory unavailable" in run.syslog_text() and d.uri in run.syslog_text(), str(run)
        run = host.login(c, extra=[f"ldap_ca={other / 'ca.pem'}", f"ldap_uri={d.ldaps_uri}"])
        assert run.result == "PAM_AUTH_ERR", str(run)
        assert "directory unavailable" in run.syslog_text() and d.ldaps_uri in run.syslog_text(), str(run)

    # a plugin someone other than root could replace
    plugins = env.base / "plugins"
    plugins.mkdir(mode=0o755)
    copy = plugins / "store_ldap.so"
    shutil.copyfile(PLUGIN, copy)
    os.chmod(copy, 0o644)
    os.chown(copy, ALICE_UID, ALICE_UID)
    run = a.login(c, extra=[f"store_plugin={copy}"])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert "directory unavailable" in run.syslog_text() and "owned by root" in run.syslog_text(), str(run)
    # ... or that anyone may write
    os.chown(copy, 0, 0)
    os.chmod(copy, 0o666)
    run = a.login(c, extra=[f"store_plugin={copy}"])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert "owned by root" in run.syslog_text(), str(run)

    # store=ldap without ldap_ca
    conf = env.base / "no-ca.conf"
    conf.write_text("".join(line + "\n" for line in a.conf.read_text().splitlines()
                            if not line.startswith("ldap_ca=")))
    os.chmod(conf, 0o644)
    run = a.login(c, extra=[f"conf={conf}"])
    assert run.result == "PAM_SERVICE_ERR", str(run)
    assert "store=ldap needs ldap_ca" in run.syslog_text(), str(run)

    assert steps(d) == [], entry(d)
    # the same code with the right settings: accepted
    run = a.login(c)
    assert run.result == "PAM_SUCCESS", str(run)
    assert steps(d) == [f"totp:default:{s}"], entry(d)


# ---------------------------------------------------------------------------
# 8. mfa-enroll against the directory
# ---------------------------------------------------------------------------


def test_cli_status_backup_codes_and_reset(env, directory):
    d = directory
    a, b = fresh_hosts(env, d)
    key, enrolled_at, out = enroll(a, backup_codes=2)
    old = printed_codes(out)
    assert len(old) == 2, out

    status = b.cli("--user", "alice", "status")
    assert status.returncode == 0, (status.stdout, status.stderr)
    assert f"Store:         directory {d.uri} ({entry_dn(d)})\n" in status.stdout, status.stdout
    assert "Enrolled:      yes\n" in status.stdout, status.stdout
    assert "Backup codes:  2 left" in status.stdout, status.stdout
    assert "Secret file:" not in status.stdout, status.stdout
    assert key not in status.stdout

    made = a.cli("--user", "alice", "backup-codes", "--backup-codes", "4")
    assert made.returncode == 0, (made.stdout, made.stderr)
    assert "A new set of 4 backup codes replaced the old one." in made.stdout, made.stdout
    new = printed_codes(made.stdout)
    remember_codes(env, new)
    assert len(new) == 4 and not set(new) & set(old), made.stdout
    assert len(entry(d)["pamMfaBackupCode"]) == 4, entry(d)

    run = b.login(old[0])
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert "wrong backup code" in run.syslog_text(), str(run)
    run = b.login(new[0])
    assert run.result == "PAM_SUCCESS", str(run)
    assert "accepted backup code (3 left)" in run.syslog_text(), str(run)

    # a TOTP login leaves a step mark, which reset must keep
    c, s = unused_code(key, enrolled_at)
    run = a.login(c)
    assert run.result == "PAM_SUCCESS", str(run)
    assert steps(d) == [f"totp:default:{s}"], entry(d)

    reset = b.cli("--user", "alice", "reset")
    assert reset.returncode == 0, (reset.stdout, reset.stderr)
    assert reset.stdout.startswith(f"Reset alice: directory {d.uri} ({entry_dn(d)}) removed"), reset.stdout
    after = entry(d)
    assert "pamMfaEnrollment" not in after and "pamMfaBackupCode" not in after, after
    assert after.get("pamMfaStep") == [f"totp:default:{s}"], after

    run = a.login(wrong_code(key))
    assert run.result == "PAM_AUTH_ERR", str(run)
    assert not_enrolled_line(run, d, a), str(run)
    assert any(ln.endswith(f"({entry_dn(d)}) has no enrollment; denied") for ln in run.syslog), str(run)
    assert run.prompts == [], str(run)
    run = b.login(new[1], extra=["nullok"], direct=True)
    assert run.result == "PAM_IGNORE", str(run)

    status = a.cli("--user", "alice", "status")
    assert status.returncode == 0 and "Enrolled:      no" in status.stdout, (status.stdout, status.stderr)

    # a user cannot reach the directory: they are sent to an administrator
    for argv in (["status"], ["--qr", "none"], ["backup-codes"]):
        proc = subprocess.run(as_alice_cmd(ENROLL, "--config", b.conf, *argv), capture_output=True, text=True,
                              env=env.env(), timeout=60, input="")
        assert proc.returncode != 0, (argv, proc.stdout, proc.stderr)
        assert "only root can reach it; ask an administrator" in proc.stderr, (argv, proc.stdout, proc.stderr)
    assert entry(d) == after


# ---------------------------------------------------------------------------
# 9. no entry at all
# ---------------------------------------------------------------------------


def test_a_user_without_an_entry_is_not_enrolled(env, directory):
    d = directory
    reset_user(d, "bob")
    a, b = Host(env, d, "host-a"), Host(env, d, "host-b")
    for host in (a, b):
        run = host.login("123456", user="bob", extra=["nullok"], direct=True)
        assert run.result == "PAM_IGNORE", str(run)
        assert run.prompts == [], str(run)
        run = host.login("123456", user="bob")
        assert run.result == "PAM_AUTH_ERR", str(run)
        assert not_enrolled_line(run, d, host, "bob"), str(run)
        assert run.prompts == [], str(run)
    assert d.search(entry_dn(d, "bob")) is None


# ---------------------------------------------------------------------------
# 10. a directory this host cannot read is not "nobody is enrolled"
# ---------------------------------------------------------------------------


def test_an_entry_that_is_no_pam_mfa_entry_is_not_not_enrolled(env, directory):
    """ldap_base pointing at a subtree where alice has some other entry (say her account):
    the entry is visible and has no enrollment, but it is not a pam_mfa entry."""
    d = directory
    sub = f"ou=wrong,{d.base}"
    d.modify(f"dn: {sub}\nchangetype: add\nobjectClass: organizationalUnit\nou: wrong\n\n"
             f"dn: uid=alice,{sub}\nchangetype: add\nobjectClass: account\nuid: alice\n")
    try:
        host = Host(env, d, "host-a")
        host.conf.write_text(host.conf.read_text().replace(f"ldap_base={d.base}", f"ldap_base={sub}"))
        run = host.login("123456", extra=["nullok"], direct=True)
        assert run.result == "PAM_AUTH_ERR" and run.prompts == [], str(run)
        assert any(f"the entry uid=alice,{sub} is not a pam_mfa entry" in ln for ln in run.syslog), str(run)
    finally:
        d.modify(f"dn: uid=alice,{sub}\nchangetype: delete\n\ndn: {sub}\nchangetype: delete\n")


@pytest.mark.parametrize("mistake", ["ldap_base typo", "identity in no group"])
def test_a_directory_the_host_cannot_read_denies_even_with_nullok(env, directory, mistake):
    """A typo in ldap_base, or a host identity that lost its read rights, makes every entry
    invisible: that must not let enrolled users through without a code."""
    d = directory
    reset_user(d)
    a = Host(env, d, "host-a")
    key, t, _ = enroll(a)
    if mistake == "ldap_base typo":
        host = a
        host.conf.write_text(host.conf.read_text().replace(f"ldap_base={d.base}", "ldap_base=dc=tset"))
    else:
        host = Host(env, d, "host-z")     # a valid certificate of a host in no group
    run = host.login(code(key, t + 30), extra=["nullok"], direct=True)
    assert run.result == "PAM_AUTH_ERR" and run.prompts == [], str(run)
    base = "dc=tset" if mistake == "ldap_base typo" else d.base
    assert any(f"user=alice service=mfa-{host.name}: no enrollment found, but the base entry {base} "
               f"is not visible to this host on {d.uri}" in ln for ln in run.syslog), str(run)
    # the same host sees a user with no entry as not enrolled only when it can see the base
    run = Host(env, d, "host-b").login("123456", user="bob", extra=["nullok"], direct=True)
    assert run.result == "PAM_IGNORE", str(run)


# ---------------------------------------------------------------------------
# 11. status --all lists the fleet from the directory
# ---------------------------------------------------------------------------

FLEET_ONLY = "fleet-only-user"   # an entry in the directory, no account on this host


def test_status_all_lists_every_entry_of_the_fleet_in_pages(env, directory):
    d = directory
    a, b = fresh_hosts(env, d)
    reset_user(d, FLEET_ONLY)
    key, _, _ = enroll(a, backup_codes=2)
    assert subprocess.run(["getent", "passwd", FLEET_ONLY], capture_output=True).returncode != 0
    enrollment = d.search(entry_dn(d), "pamMfaEnrollment")["pamMfaEnrollment"][0]
    value = base64.b64encode(enrollment).decode()
    # more entries than one page (500) and the default limit hold, and one limit of one entry per
    # plain search
    bulk = [f"bulk{i:03d}" for i in range(max(500, d.default_size_limit) + 20)]
    d.modify("".join(f"dn: {entry_dn(d, u)}\nchangetype: add\nobjectClass: pamMfaAccount\nuid: {u}\n"
                     f"pamMfaEnrollment:: {value}\n\n" for u in [FLEET_ONLY, *bulk]))
    try:
        d.limit_plain_searches("host-a", 1)
        listed = a.cli("status", "--all", "--json")
        assert listed.returncode == 0, (listed.stdout[-2000:], listed.stderr)
        rows = {r["user"]: r for r in json.loads(listed.stdout)}
        assert set(rows) == {"alice", FLEET_ONLY, *bulk}, sorted(set(rows) ^ {"alice", FLEET_ONLY, *bulk})
        assert rows[FLEET_ONLY]["store"] == "ldap" and rows[FLEET_ONLY]["secret_file"] == entry_dn(d, FLEET_ONLY)
        assert rows["alice"]["backup_codes_left"] == 2 and rows[FLEET_ONLY]["backup_codes_left"] == 0, rows
        assert key not in listed.stdout and enrollment.decode() not in listed.stdout
        table = a.cli("status", "--all")
        assert table.returncode == 0, (table.stdout[-2000:], table.stderr)
        assert re.search(rf"^{FLEET_ONLY} +ldap +SHA1 +0 +no +-$", table.stdout, re.M), table.stdout[-2000:]
        # the directory's default limit (d.default_size_limit entries, paged searches too) cuts
        # the list for host-b: that is an error, never a short list
        cut = b.cli("status", "--all")
        assert cut.returncode != 0 and "search failed: Size limit exceeded" in cut.stderr, (cut.stdout[-2000:],
                                                                                           cut.stderr)
    finally:
        d.limit_plain_searches("host-a", None)
        d.modify("".join(f"dn: {entry_dn(d, u)}\nchangetype: delete\n\n" for u in [FLEET_ONLY, *bulk]))


# ---------------------------------------------------------------------------
# 12. a long-lived host keeps its TLS context only while the files are the same
# ---------------------------------------------------------------------------


def test_a_long_lived_host_trusts_a_replaced_ca_file_at_its_next_login(env, directory):
    """The plugin keeps one TLS context per process (CA, certificate and key parsed once); a
    host whose ldap_ca is replaced (say the old CA was compromised) must check the server
    against the new file at its next login, not against the kept context."""
    d = directory
    a, _ = fresh_hosts(env, d)
    key, enrolled_at, _ = enroll(a)
    c, _ = unused_code(key, enrolled_at)
    host_command(a, c)   # writes the host's PAM service file
    other_ca = env.base / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(env.base / "other-ca.key"), "-subj", "/CN=another CA", "-days", "2",
                    "-out", str(other_ca)], check=True, capture_output=True)
    ca_copy = env.base / "ca-of-host-a.pem"
    shutil.copy(d.ca, ca_copy)
    a.conf.write_text(a.conf.read_text().replace(f"ldap_ca={d.ca}", f"ldap_ca={ca_copy}"))
    script, out = env.base / "script", env.base / "out"
    # the warm-up login builds the context; the timed one comes after the CA file was replaced
    script.write_text(f"W alice {c}\nL alice {wrong_code(key)}\n")
    proc = subprocess.Popen([str(FLEET_HOST), "--confdir", str(env.confdir), "--service", f"mfa-{a.name}",
                             "--script", str(script), "--out", str(out)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env.env())
    try:
        assert proc.stdout.readline().strip() == "READY", proc.stderr.read()
        os.replace(other_ca, ca_copy)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = out.read_text().splitlines()
    warm = [ln.split() for ln in lines if ln.startswith("WARM ")]
    timed = [ln.split() for ln in lines if ln.startswith("LOGIN ")]
    assert [w[-1] for w in warm] == ["0"], lines             # PAM_SUCCESS with the right CA
    log = env.read_syslog()
    assert [t[-1] for t in timed] == ["7"], (lines, log)      # PAM_AUTH_ERR
    assert "directory unavailable" in log and "StartTLS failed" in log, log


# ---------------------------------------------------------------------------
# 13. root's tools on a user the directory has no entry for
# ---------------------------------------------------------------------------


def test_reset_and_enroll_force_of_a_user_without_an_entry(env, directory):
    """A user the directory has no entry for: reset has nothing to remove (and creates
    nothing), and enroll --force creates the entry.  389-ds answers a host that modifies a
    missing entry with insufficientAccess, not noSuchObject, since its ACIs hide whether the
    entry exists: a missing entry must still be found missing there."""
    d = directory
    a, b = fresh_hosts(env, d)
    reset = b.cli("--user", "alice", "reset")
    assert reset.returncode == 0, (reset.stdout, reset.stderr)
    assert reset.stdout.startswith(f"alice had no enrollment (directory {d.uri} ({entry_dn(d)})); "), reset.stdout
    assert entry(d) == {}, entry(d)

    key, enrolled_at, _ = enroll_under_tty(["--config", a.conf, "--user", "alice", "--force"], env.env())
    env.remember(key)
    created = entry(d)
    assert len(created.get("pamMfaEnrollment", [])) == 1 and f"secret={key}" in created["pamMfaEnrollment"][0], \
        created
    c, s = unused_code(key, enrolled_at)
    run = b.login(c)
    assert run.result == "PAM_SUCCESS", str(run)
    assert steps(d) == [f"totp:default:{s}"], entry(d)
