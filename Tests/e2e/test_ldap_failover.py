"""store=ldap with two directory servers: failover, the remembered server, and what an OpenLDAP
mirror-mode pair with one active writer guarantees.

mfatest.ldapdir.MirrorPair runs two slapd in mirror mode (each a syncrepl consumer of the other)
with one test CA. The hosts list the first, then the second: host-a on one `ldap_uri=FIRST SECOND`
line, host-b on one `ldap_uri=` line per server. A stopped server refuses the connection at once; a
paused one (SIGSTOP) accepts it and never answers, which costs a login ldap_timeout.

Sections 4 and 5 are what pam_mfa-ldap(5) says about the last moments before the provider fails:
plain syncrepl (the mirror_pair fixture: whole entries, the newer one wins) and delta-syncrepl
(delta_pair, configured from the shipped ldap/mirror-mode-example.ldif: each server replays the
other's changes operation by operation).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time

import pytest

from mfatest.ldapdir import Directory, MirrorPair
from mfatest.ldapfleet import (PERIOD, Host, LoopbackServer, enroll, entry, entry_dn, reset_user, steps,
                               unused_code)
from mfatest.secretfile import printed_codes
from mfatest.totp import code, wait_next_step, wrong_code

TIMEOUT = 2                   # ldap_timeout in the hosts' configuration
BOUND = TIMEOUT + 4           # a login that waits for one hung server ends well within this
NOT_WAITED = TIMEOUT * 0.75   # a login that did not wait for a hung server ends within this
REMEMBERED = "-ldap-server"   # in the host's state_dir
MANY = ["deny=50"]            # refusals below are checked one by one: no lockout in between
NOTICE = "85 "                # syslog priority LOG_AUTHPRIV | LOG_NOTICE, as syslogcap records it


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def fleet(env, pair: MirrorPair) -> tuple[Host, Host]:
    """host-a and host-b of a pair that knows nothing of alice, both servers running."""
    for d in pair.servers:
        d.start()   # a failed test may have left one stopped (its finally resumed a paused one)
    reset_user(pair.first)
    assert pair.wait_in_sync(entry_dn(pair.first)) is None
    first, second = pair.servers
    return (Host(env, first, "host-a", uris=[f"{first.uri} {second.uri}"]),
            Host(env, first, "host-b", uris=[first.uri, second.uri]))


def enrolled_with_codes(env, pair: MirrorPair, backup_codes: int):
    """alice enrolled (through host-a, on the first) with backup_codes backup codes and
    replicated to the second: (host-a, host-b, key, a right code not used yet, its step, the
    confirming code's time, the backup codes)."""
    a, b = fleet(env, pair)
    key, enrolled_at, out = enroll(a, backup_codes=backup_codes)
    assert pair.wait_in_sync(entry_dn(pair.first)) is not None
    c, s = unused_code(key, enrolled_at)
    return a, b, key, c, s, enrolled_at, printed_codes(out)


def enrolled(env, pair: MirrorPair):
    """The same without backup codes, and without the codes in the tuple."""
    return enrolled_with_codes(env, pair, 0)[:6]


def timed_login(host: Host, *answers, extra=(), bound: float = BOUND):
    """(run, seconds); a login still running after bound + 4 s is killed and fails the test."""
    start = time.monotonic()
    try:
        run = host.login(*answers, extra=extra, timeout=bound + 4)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the login hung: killed after {time.monotonic() - start:.1f} s "
                    f"(ldap_timeout={TIMEOUT}); pamdrive's output so far: {e.output!r}")
    return run, time.monotonic() - start


def failed_over(run, host: Host, failed: str, used: str) -> bool:
    """The run logged (at notice level) that the server `failed` did not answer and `used` did."""
    start = f"user=alice service=mfa-{host.name}: directory server {failed} unavailable ("
    return any(ln.startswith(NOTICE) and start in ln and ln.endswith(f"); using {used}") for ln in run.syslog)


def unavailable(run) -> list[str]:
    return [ln for ln in run.syslog if "unavailable" in ln]


def accepted(run, host: Host) -> bool:
    return run.result == "PAM_SUCCESS" and f"service=mfa-{host.name}: accepted totp code" in run.syslog_text()


def replay(run, host: Host) -> bool:
    return (run.result == "PAM_AUTH_ERR"
            and f"service=mfa-{host.name}: replay: an already used code was refused" in run.syslog_text())


def mark(s: int) -> str:
    return f"totp:default:{s}"


def connections(d: Directory) -> int:
    """TCP connections slapd has accepted so far (its log; replication uses ldapi)."""
    return d.log.read_text(errors="replace").count(" ACCEPT from IP=")


def remembered(host: Host):
    return host.state / REMEMBERED


def check_remembered_file(host: Host) -> None:
    path = remembered(host)
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode), path
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o600), \
        f"{path}: uid {st.st_uid} gid {st.st_gid} mode {stat.S_IMODE(st.st_mode):o}"


def everywhere(pair: MirrorPair, hosts, *answers):
    """Each answer through each host and each server, nothing remembered (deny=50, so that
    refusals are not lockouts): yields (host, server, answer, run)."""
    for host in hosts:
        for d in pair.servers:
            remembered(host).unlink(missing_ok=True)
            for answer in answers:
                yield host, d, answer, host.login(answer, extra=[*MANY, f"ldap_uri={d.uri}"])


class Outsider(LoopbackServer):
    """A listener that counts the connections made to it: a server that no host's configuration
    names."""

    def __init__(self):
        super().__init__()
        self.connections = 0

    def handle(self, conn):
        self.connections += 1
        conn.close()


# ---------------------------------------------------------------------------
# 1. the first server is down: logins go through the second
# ---------------------------------------------------------------------------


def test_first_server_stopped_logins_go_through_the_second(env, mirror_pair):
    pair = mirror_pair
    first, second = pair.servers
    a, b, key, c, s, _ = enrolled(env, pair)
    first.stop()
    try:
        run, took = timed_login(a, c)
        assert accepted(run, a), str(run)
        assert failed_over(run, a, first.uri, second.uri), str(run)
        assert took < TIMEOUT, f"a refused connection cost {took:.2f} s (ldap_timeout={TIMEOUT})"
        assert steps(second) == [mark(s)], entry(second)

        # host-b lists the servers on two ldap_uri lines: the same, and the code is spent
        run, took_b = timed_login(b, c, extra=MANY)
        assert replay(run, b), str(run)
        assert failed_over(run, b, first.uri, second.uri), str(run)
        assert took_b < TIMEOUT, f"{took_b:.2f} s"

        # a stack line's ldap_uri replaces the file's list: only the second is tried ...
        remembered(b).unlink(missing_ok=True)
        run = b.login(c, extra=[*MANY, f"ldap_uri={second.uri}"])
        assert replay(run, b) and unavailable(run) == [], str(run)
        # ... and one stack value may name several servers ([...] keeps the space)
        remembered(b).unlink(missing_ok=True)
        run = b.login(c, extra=[*MANY, f"[ldap_uri={first.uri} {second.uri}]"])
        assert replay(run, b) and failed_over(run, b, first.uri, second.uri), str(run)
    finally:
        first.start()
    pair.wait_in_sync(entry_dn(first))
    assert steps(first) == [mark(s)], entry(first)
    print(f"failover past a stopped server: {took:.2f} s (host-a), {took_b:.2f} s (host-b)")


@pytest.mark.parametrize("scheme", ["starttls", "ldaps"])
def test_first_server_paused_logins_wait_for_it_then_go_through_the_second(env, mirror_pair, scheme):
    """SIGSTOP: the first accepts the connection and never answers. The login gives it
    ldap_timeout, then goes on to the second; the host then remembers the second and the next
    login does not wait for the first at all."""
    pair = mirror_pair
    first, second = pair.servers
    a, b, key, c, s, _ = enrolled(env, pair)
    uri = {d: d.uri if scheme == "starttls" else d.ldaps_uri for d in pair.servers}
    a = Host(env, first, "host-a", uris=[f"{uri[first]} {uri[second]}"])
    times = {}
    first.pause()
    try:
        run, took = timed_login(a, c)
        times["failover"] = round(took, 2)
        assert accepted(run, a), str(run)
        assert failed_over(run, a, uri[first], uri[second]), str(run)
        assert TIMEOUT - 0.5 <= took < BOUND, f"{times}: it should wait about ldap_timeout={TIMEOUT} s"
        check_remembered_file(a)

        # remembered: straight to the second (the first is still paused), no "unavailable"
        run, took = timed_login(a, wrong_code(key), extra=MANY)
        times["remembered"] = round(took, 2)
        assert run.result == "PAM_AUTH_ERR" and "wrong code (failure 1 of 50)" in run.syslog_text(), str(run)
        assert unavailable(run) == [], str(run)
        assert took < NOT_WAITED, f"{times}: the remembered server was not tried first?"
    finally:
        first.resume()
    print(f"{scheme}: {times}")


def test_a_host_with_ldap_failback_0_never_remembers(env, mirror_pair):
    pair = mirror_pair
    first, second = pair.servers
    a, b, key, c, s, _ = enrolled(env, pair)
    times = []
    first.pause()
    try:
        for check in (accepted, replay):
            run, took = timed_login(b, c, extra=[*MANY, "ldap_failback=0"])
            times.append(round(took, 2))
            assert check(run, b), str(run)
            assert failed_over(run, b, first.uri, second.uri), str(run)
            assert took >= TIMEOUT - 0.5, f"{times}: the first was not waited for"
            assert not os.path.lexists(remembered(b)), os.listdir(b.state)
    finally:
        first.resume()
    assert steps(second) == [mark(s)], entry(second)
    print(f"ldap_failback=0, first paused: {times}")


def test_the_remembered_server_expires_after_ldap_failback(env, mirror_pair):
    pair = mirror_pair
    first, second = pair.servers
    a, b, key, c, s, _ = enrolled(env, pair)
    failback = 4
    opts = [*MANY, f"ldap_failback={failback}"]
    first.stop()
    try:
        # the host remembers the second from some moment of this login on, for `failback` s
        remembered_until = time.monotonic() + failback
        run = a.login(c, extra=opts)
        assert accepted(run, a) and failed_over(run, a, first.uri, second.uri), str(run)
        check_remembered_file(a)
        run = a.login(c, extra=opts)
        assert replay(run, a) and unavailable(run) == [], str(run)
    finally:
        first.start()
    # the first answers again, but the host stays with the second while it remembers it
    before = connections(first), connections(second)
    run = a.login(c, extra=opts)
    assert time.monotonic() < remembered_until, "test too slow: the remembered server may have expired"
    assert replay(run, a) and unavailable(run) == [], str(run)
    assert (connections(first), connections(second)) == (before[0], before[1] + 1), "not through the second"
    # then it goes back to the configured order: wait out `failback` s from this login (which may
    # have renewed the memory), +1 s for a clock read in whole seconds; the span is the condition
    time.sleep(failback + 1.1)
    before = connections(first), connections(second)
    run = a.login(c, extra=opts)
    assert replay(run, a) and unavailable(run) == [], str(run)
    assert (connections(first), connections(second)) == (before[0] + 1, before[1]), "not back to the first"


@pytest.mark.parametrize("content", ["another server", "garbage", "far future"])
def test_a_remembered_server_outside_the_configuration_is_ignored(env, mirror_pair, content):
    """<state_dir>/-ldap-server cannot steer a host to a server its configuration does not name,
    nor keep it on the second for longer than ldap_failback (a clock stepped back)."""
    pair = mirror_pair
    first, second = pair.servers
    a, b, key, c, s, _ = enrolled(env, pair)
    first.stop()
    try:   # a wrong code: the second answers (and is remembered), the right code stays unused
        run = a.login(wrong_code(key))
        assert run.result == "PAM_AUTH_ERR" and failed_over(run, a, first.uri, second.uri), str(run)
    finally:
        first.start()
    path = remembered(a)
    check_remembered_file(a)
    with Outsider() as outsider:
        text = path.read_text()
        assert second.uri in text, f"{path} does not name the server: {text!r}"
        if content == "garbage":
            path.write_bytes(b"\x00garbage \xff\n" + os.urandom(32))
        elif content == "another server":
            path.write_text(text.replace(second.uri, outsider.uri))
        else:   # remembered until a year from now: longer than ldap_failback (60 s) allows
            until = re.fullmatch(r"(\d+) (\S+)\n", text)
            assert until and 0 < int(until[1]) - time.time() <= 61, f"{path}: expected 'UNTIL URI': {text!r}"
            path.write_text(f"{int(time.time()) + 365 * 86400} {second.uri}\n")
        os.chmod(path, 0o600)
        before = connections(first), connections(second)
        run, took = timed_login(a, c)
        assert accepted(run, a), str(run)
        assert unavailable(run) == [], str(run)
        assert outsider.connections == 0, "the host connected to a server outside its configuration"
        assert (connections(first), connections(second)) == (before[0] + 1, before[1]), \
            "the configured order (the first) was not used"
    assert steps(first) == [mark(s)], entry(first)


# ---------------------------------------------------------------------------
# 2. both servers are down: denied, and the syslog names both
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["stopped", "paused"])
def test_both_servers_down_deny_and_name_both(env, mirror_pair, how):
    pair = mirror_pair
    first, second = pair.servers
    a, b, key, c, s, _ = enrolled(env, pair)
    marks = steps(first)
    times = {}
    for d in pair.servers:
        d.stop() if how == "stopped" else d.pause()
    try:
        for host in (a, b):
            run, took = timed_login(host, c, bound=2 * TIMEOUT + 4)
            times[host.name] = round(took, 2)
            assert run.result == "PAM_AUTH_ERR", str(run)
            assert run.prompts == [], str(run)
            lines = [ln for ln in run.syslog if "unavailable" in ln]
            assert len(lines) == 1, str(run)
            line = lines[0]
            assert f"user=alice service=mfa-{host.name}: directory unavailable: {first.uri}" in line, line
            assert line.endswith("; denied") and f"; {second.uri}" in line, line
            assert line.index(first.uri) < line.index(second.uri), line
            if how == "paused":
                assert 2 * TIMEOUT - 0.5 <= took < 2 * TIMEOUT + 4, f"{times}: about 2 x ldap_timeout"
            else:
                assert took < TIMEOUT, times
            assert not os.path.lexists(remembered(host)), os.listdir(host.state)
    finally:
        for d in pair.servers:
            d.start() if how == "stopped" else d.resume()
    assert steps(first) == steps(second) == marks, (entry(first), entry(second))
    run = a.login(c)   # back: the code was never spent
    assert accepted(run, a) and unavailable(run) == [], str(run)
    print(f"both {how}: {times}")


# ---------------------------------------------------------------------------
# 3. mirror mode, one active writer: what replicated in time holds across a failover
# ---------------------------------------------------------------------------


def test_a_code_used_before_a_failover_is_refused_after_it(env, mirror_pair):
    pair = mirror_pair
    first, second = pair.servers
    a, b, key, c, s, _ = enrolled(env, pair)
    run = a.login(c)
    assert accepted(run, a) and unavailable(run) == [], str(run)
    took = pair.wait_replicated(entry_dn(first), "pamMfaStep", mark(s), on=second, only=True)
    first.stop()
    try:
        run = b.login(c)
        assert replay(run, b), str(run)
        assert failed_over(run, b, first.uri, second.uri), str(run)
        assert "accepted" not in run.syslog_text(), str(run)
    finally:
        first.start()
    print(f"the mark reached the second {took * 1000:.0f} ms after the login returned")


def test_a_code_used_through_the_standby_is_refused_by_the_provider_once_caught_up(env, mirror_pair):
    pair = mirror_pair
    first, second = pair.servers
    a, b, key, c, s, _ = enrolled(env, pair)
    first.stop()
    try:
        run = b.login(c)
        assert accepted(run, b) and failed_over(run, b, first.uri, second.uri), str(run)
    finally:
        first.start()
    pair.wait_replicated(entry_dn(first), "pamMfaStep", mark(s), on=first, only=True)
    before = connections(first)
    run = a.login(c)   # host-a never failed over: the configured order, the first answers
    assert replay(run, a) and unavailable(run) == [], str(run)
    assert connections(first) == before + 1
    assert steps(first) == steps(second) == [mark(s)]


# ---------------------------------------------------------------------------
# 4. the last moments before a failure (pam_mfa-ldap(5))
# ---------------------------------------------------------------------------


def test_a_code_the_standby_never_saw_is_accepted_once_more_through_it(env, mirror_pair):
    """pam_mfa-ldap(5): a code accepted by the provider in the moments before it failed, not yet
    replicated to the standby, can be accepted once more through the standby, within the code's
    lifetime (window); every other guarantee holds; once replication catches up the marks
    converge. Here the write never reaches the standby: it is stopped while host-a logs in."""
    pair = mirror_pair
    first, second = pair.servers
    a, b, key, c, s, _ = enrolled(env, pair)
    marks = steps(first)
    dn = entry_dn(first)
    second.stop()
    try:
        run = a.login(c)
        assert accepted(run, a) and unavailable(run) == [], str(run)
        assert steps(first) == [mark(s)], entry(first)
        first.stop()      # the provider fails before it could replicate the mark
        second.start()
        assert steps(second) == marks, entry(second)

        run = b.login(c)  # once more, through the standby
        assert accepted(run, b) and failed_over(run, b, first.uri, second.uri), str(run)
        run = a.login(c, extra=MANY)  # not a third time
        assert replay(run, a) and failed_over(run, a, first.uri, second.uri), str(run)
        assert steps(second) == [mark(s)], entry(second)
    finally:
        for d in pair.servers:
            d.start()
    synced = pair.wait_in_sync(dn)
    assert synced is not None and [v.decode() for v in synced["pamMfaStep"]] == [mark(s)], synced
    for host, d, _, run in everywhere(pair, (a, b), c):   # refused everywhere
        assert replay(run, host) and unavailable(run) == [], (d.uri, str(run))


def test_after_the_standby_took_an_older_code_the_marks_converge_to_the_last_written(env, mirror_pair):
    """Mirror mode replicates whole entries and keeps the newer one (entryCSN): when the standby,
    which never saw the provider's last mark, accepts an older code of the same authenticator,
    that lower mark is the newer write and wins on both servers once the provider is back. The
    provider's last code then counts as unused: it is accepted once more (here through the
    provider), and then refused everywhere; every code at or below the converged mark is refused."""
    pair = mirror_pair
    first, second = pair.servers
    a, b, key, _, _, enrolled_at = enrolled(env, pair)
    n = int(enrolled_at) // PERIOD   # the confirming code's step: spent
    # into step n+1: the window (1) then holds n, n+1 and n+2, and only n is spent
    wait_next_step(n * PERIOD)
    assert int(time.time()) // PERIOD == n + 1, "test too slow: not in the step after the enrollment's"
    newer, older = code(key, (n + 2) * PERIOD + 1), code(key, (n + 1) * PERIOD + 1)
    dn = entry_dn(first)
    second.stop()
    try:
        run = a.login(newer)
        assert accepted(run, a), str(run)
        assert steps(first) == [mark(n + 2)], entry(first)
        first.stop()
        second.start()
        run = b.login(older)
        assert accepted(run, b) and failed_over(run, b, first.uri, second.uri), str(run)
        assert steps(second) == [mark(n + 1)], entry(second)
    finally:
        for d in pair.servers:
            d.start()
    synced = pair.wait_in_sync(dn)
    converged = [v.decode() for v in synced["pamMfaStep"]]
    assert converged == [mark(n + 1)], f"the marks converged to {converged}, not the last written"
    results = []
    for host in (a, b):
        remembered(host).unlink(missing_ok=True)
        for answer in (older, newer):
            run = host.login(answer, extra=MANY)
            results.append((host.name, "older" if answer == older else "newer", run.result))
    assert results == [("host-a", "older", "PAM_AUTH_ERR"), ("host-a", "newer", "PAM_SUCCESS"),
                       ("host-b", "older", "PAM_AUTH_ERR"), ("host-b", "newer", "PAM_AUTH_ERR")], results
    pair.wait_in_sync(dn)
    assert steps(first) == steps(second) == [mark(n + 2)]


def test_a_backup_code_used_in_the_last_moments_can_be_used_once_more_and_no_more(env, mirror_pair):
    """pam_mfa-ldap(5): a backup code used in the moments before the provider failed can be used
    once more. Mirror mode keeps whole entries: once the standby writes alice's entry (here a TOTP
    login through it), its copy, which still holds the used backup code, is the newer one and wins
    on both servers when the provider is back. So the once more can come later, through either
    server: a backup code has no lifetime. After it, the code is used everywhere."""
    pair = mirror_pair
    first, second = pair.servers
    a, b, key, c, s, _, codes = enrolled_with_codes(env, pair, 2)
    used = codes[0]
    dn = entry_dn(first)
    second.stop()
    try:
        run = a.login(used)
        assert run.result == "PAM_SUCCESS" and "accepted backup code (1 left)" in run.syslog_text(), str(run)
        first.stop()
        second.start()
        assert len(entry(second)["pamMfaBackupCode"]) == 2, entry(second)   # never replicated
        run = b.login(c)
        assert accepted(run, b) and failed_over(run, b, first.uri, second.uri), str(run)
    finally:
        for d in pair.servers:
            d.start()
    synced = pair.wait_in_sync(dn)
    assert len(synced["pamMfaBackupCode"]) == 2, f"the used backup code is not back: {synced}"
    assert [v.decode() for v in synced["pamMfaStep"]] == [mark(s)], synced
    run = a.login(used)   # through the provider, as configured
    assert run.result == "PAM_SUCCESS" and "accepted backup code (1 left)" in run.syslog_text(), str(run)
    assert unavailable(run) == [], str(run)
    pair.wait_in_sync(dn)
    for host, d, _, run in everywhere(pair, (a, b), used):
        assert run.result == "PAM_AUTH_ERR" and "wrong backup code" in run.syslog_text(), (d.uri, str(run))
    assert len(entry(first)["pamMfaBackupCode"]) == len(entry(second)["pamMfaBackupCode"]) == 1


# ---------------------------------------------------------------------------
# 5. the same last moments with delta-syncrepl (ldap/mirror-mode-example.ldif): the servers
#    replay each other's changes operation by operation and merge them
# ---------------------------------------------------------------------------


def replication_errors(pair: MirrorPair) -> list[str]:
    """slapd's lines about a replicated change it could not apply, from both logs."""
    return [ln for d in pair.servers for ln in d.log.read_text(errors="replace").splitlines()
            if "syncrepl_message_to_op" in ln or "syncrepl_null_callback" in ln]


def caught_up(pair: MirrorPair) -> float:
    """Wait until each server has replayed everything the other logged so far: a write on each
    shows up on the other (each log is replayed in order). Also shows that replication still runs
    both ways. Returns the seconds it took."""
    start = time.monotonic()
    for d in pair.servers:
        pair.touch(d)
        pair.wait_replicated(*pair._marker(d), on=pair.other(d))
    return time.monotonic() - start


def test_delta_a_code_the_standby_never_saw_is_accepted_once_more_through_it(env, delta_pair):
    """As with plain syncrepl: the provider's last mark never reached the standby, which accepts
    the code once more (within its lifetime), then nobody does. When the provider is back it
    replays the standby's change, which adds the mark it already holds: slapd logs that it could
    not apply it (attributeOrValueExists, 20) and brings the entry over whole instead; the servers
    converge and replication goes on."""
    pair = delta_pair
    first, second = pair.servers
    a, b, key, c, s, _ = enrolled(env, pair)
    marks = steps(first)
    dn = entry_dn(first)
    errors_before = len(replication_errors(pair))
    second.stop()
    try:
        run = a.login(c)
        assert accepted(run, a) and unavailable(run) == [], str(run)
        first.stop()
        second.start()
        assert steps(second) == marks, entry(second)
        run = b.login(c)  # once more, through the standby
        assert accepted(run, b) and failed_over(run, b, first.uri, second.uri), str(run)
        run = a.login(c, extra=MANY)  # not a third time
        assert replay(run, a) and failed_over(run, a, first.uri, second.uri), str(run)
    finally:
        for d in pair.servers:
            d.start()
    took = caught_up(pair)
    synced = pair.wait_in_sync(dn, timeout=1)
    assert [v.decode() for v in synced["pamMfaStep"]] == [mark(s)], synced
    for host, d, _, run in everywhere(pair, (a, b), c):
        assert replay(run, host) and unavailable(run) == [], (d.uri, str(run))
    errors = replication_errors(pair)[errors_before:]
    print(f"caught up {took:.2f} s after both were up; slapd: {errors}")
    assert any("be_modify " + dn + " (20)" in ln for ln in errors), errors


def test_delta_after_the_standby_took_an_older_code_the_marks_are_merged(env, delta_pair):
    """Delta-syncrepl merges the two marks (pamMfaStep is multi-valued: each server's 'delete the
    enrollment's mark, add mine' is replayed on the other), and the store counts at the highest
    one: unlike plain syncrepl, the provider's last code is NOT accepted once more after the
    provider is back; both codes are refused everywhere."""
    pair = delta_pair
    first, second = pair.servers
    a, b, key, _, _, enrolled_at = enrolled(env, pair)
    n = int(enrolled_at) // PERIOD
    wait_next_step(n * PERIOD)
    assert int(time.time()) // PERIOD == n + 1, "test too slow: not in the step after the enrollment's"
    newer, older = code(key, (n + 2) * PERIOD + 1), code(key, (n + 1) * PERIOD + 1)
    dn = entry_dn(first)
    errors_before = len(replication_errors(pair))
    second.stop()
    try:
        run = a.login(newer)
        assert accepted(run, a), str(run)
        first.stop()
        second.start()
        run = b.login(older)
        assert accepted(run, b) and failed_over(run, b, first.uri, second.uri), str(run)
        assert steps(second) == [mark(n + 1)], entry(second)
    finally:
        for d in pair.servers:
            d.start()
    took = caught_up(pair)
    synced = pair.wait_in_sync(dn, timeout=1)
    merged = sorted(v.decode() for v in synced["pamMfaStep"])
    results = [(host.name, d.server_id, "older" if answer == older else "newer", run.result)
               for host, d, answer, run in everywhere(pair, (a, b), older, newer)]
    errors = replication_errors(pair)[errors_before:]
    print(f"merged {merged}, caught up in {took:.2f} s; logins after: {results}; slapd: {errors}")
    assert merged == sorted([mark(n + 1), mark(n + 2)]), merged
    assert all(r[3] == "PAM_AUTH_ERR" for r in results), results
    assert errors == [], errors


def test_delta_a_backup_code_used_in_the_last_moments_is_used_once_more_only_until_the_provider_is_back(
        env, delta_pair):
    """The standby never saw the provider delete the used backup code: while the provider is away
    the standby accepts it once more. Its other writes (a TOTP login) do not bring the code back:
    when the provider is back each server replays the other's deletes and the code is gone on
    both for good."""
    pair = delta_pair
    first, second = pair.servers
    a, b, key, c, s, _, codes = enrolled_with_codes(env, pair, 3)
    used = codes[0]
    dn = entry_dn(first)
    errors_before = len(replication_errors(pair))
    second.stop()
    try:
        run = a.login(used)
        assert run.result == "PAM_SUCCESS" and "accepted backup code (2 left)" in run.syslog_text(), str(run)
        first.stop()
        second.start()
        assert len(entry(second)["pamMfaBackupCode"]) == 3, entry(second)   # never replicated
        run = b.login(c)   # a write of alice's entry on the standby
        assert accepted(run, b) and failed_over(run, b, first.uri, second.uri), str(run)
        run = b.login(used)   # once more, through the standby
        assert run.result == "PAM_SUCCESS" and "accepted backup code (2 left)" in run.syslog_text(), str(run)
        run = b.login(used, extra=MANY)
        assert run.result == "PAM_AUTH_ERR" and "wrong backup code" in run.syslog_text(), str(run)
    finally:
        for d in pair.servers:
            d.start()
    took = caught_up(pair)
    synced = pair.wait_in_sync(dn, timeout=1)
    left = len(synced["pamMfaBackupCode"])
    results = [(host.name, d.server_id, run.result) for host, d, _, run in everywhere(pair, (a, b), used)]
    errors = replication_errors(pair)[errors_before:]
    print(f"caught up in {took:.2f} s: {left} backup codes left, marks {synced['pamMfaStep']}; "
          f"the used code after: {results}; slapd: {errors}")
    assert left == 2, synced
    assert all(r[2] == "PAM_AUTH_ERR" for r in results), results
    assert errors == [], errors


def test_delta_a_code_accepted_on_both_sides_makes_the_provider_take_the_standbys_entry_whole(env, delta_pair):
    """The worst case of delta-syncrepl here: in its last moments the provider took a backup code and
    then a TOTP code; the standby accepted the same TOTP code once more. The provider cannot replay
    the standby's change (its mark is there already: attributeOrValueExists, 20), logs 'delta-sync
    lost sync', and refreshes: it takes the standby's newer entry whole, with the backup code in it,
    while the standby replays the provider's delete of that code. The two servers then hold
    different entries for good, and the backup code can be used once more through the provider,
    at any later time."""
    pair = delta_pair
    first, second = pair.servers
    a, b, key, c, s, _, codes = enrolled_with_codes(env, pair, 3)
    used = codes[0]
    dn = entry_dn(first)
    errors_before = len(replication_errors(pair))
    second.stop()
    try:
        run = a.login(used)
        assert run.result == "PAM_SUCCESS" and "accepted backup code (2 left)" in run.syslog_text(), str(run)
        run = a.login(c)
        assert accepted(run, a), str(run)
        first.stop()
        second.start()
        run = b.login(c)   # once more, through the standby
        assert accepted(run, b) and failed_over(run, b, first.uri, second.uri), str(run)
    finally:
        for d in pair.servers:
            d.start()
    took = caught_up(pair)
    errors = replication_errors(pair)[errors_before:]
    codes = {d.server_id: len(entry(d)["pamMfaBackupCode"]) for d in pair.servers}
    print(f"caught up in {took:.2f} s: backup codes left {codes}; slapd: {errors}")
    assert any("be_modify " + dn + " (20)" in ln for ln in errors), errors
    assert codes == {1: 3, 2: 2}, codes
    for d in pair.servers:   # the difference stays
        assert steps(d) == [mark(s)], entry(d)
    remembered(b).unlink(missing_ok=True)
    run = b.login(used, extra=[*MANY, f"ldap_uri={second.uri}"])
    assert run.result == "PAM_AUTH_ERR" and "wrong backup code" in run.syslog_text(), str(run)
    run = a.login(used)   # through the provider, as configured: once more
    assert run.result == "PAM_SUCCESS" and "accepted backup code (2 left)" in run.syslog_text(), str(run)
    caught_up(pair)
    assert pair.wait_in_sync(dn) is not None   # that delete is replayed on the standby: the same again
    for host, d, _, run in everywhere(pair, (a, b), used):
        assert run.result == "PAM_AUTH_ERR" and "wrong backup code" in run.syslog_text(), (d.uri, str(run))


# ---------------------------------------------------------------------------
# doctor: a standby that cannot be reached is noticed before the provider fails
# ---------------------------------------------------------------------------


def directory_lines(host: Host) -> tuple[int, list[str]]:
    empty = host.env.base / "empty-pam.d"
    empty.mkdir(exist_ok=True)
    proc = host.cli("doctor", "--pam-dir", str(empty))
    return proc.returncode, [ln for ln in proc.stdout.splitlines() if "directory:" in ln]


def test_doctor_checks_every_server_of_ldap_uri(env, mirror_pair):
    pair = mirror_pair
    first, second = pair.servers
    a, _ = fleet(env, pair)
    _, lines = directory_lines(a)
    assert lines == [f"ok    directory: the first server {first.uri} answers and shows ldap_base",
                     f"ok    directory: server 2 {second.uri} answers and shows ldap_base"], lines
    second.stop()
    try:
        _, lines = directory_lines(a)
        assert lines[0].startswith("ok ") and lines[1].startswith(f"WARN  directory: server 2 {second.uri} cannot be "
                                                                    "used: StartTLS failed"), lines
        first.stop()
        status, lines = directory_lines(a)
        assert status != 0 and all(ln.startswith("FAIL  directory:") for ln in lines), lines
        assert "every login that needs the directory is denied" in lines[0], lines
    finally:
        pair.start()
    # after a failover the host says that it is on the second for now
    first.stop()
    try:
        run = a.login("000000")
        assert failed_over(run, a, first.uri, second.uri), str(run)
    finally:
        first.start()
    _, lines = directory_lines(a)
    assert lines[-1].startswith(f"WARN  directory: this host goes to {second.uri} first, for at most ldap_failback="), \
        lines


# ---------------------------------------------------------------------------
# a standby that never received an enrollment is not "not enrolled"
# ---------------------------------------------------------------------------


def test_an_enrollment_the_standby_never_received_is_not_absent_even_with_nullok(env, mirror_pair):
    """alice is enrolled on the provider while the standby is away; then the provider fails. On
    the standby she has no entry, but that is not "not enrolled": nullok must not let her in
    without a code, and enroll=login must not offer a stranger with her password a new one."""
    pair = mirror_pair
    first, second = pair.servers
    a, b = fleet(env, pair)
    second.stop()
    try:
        key, _, _ = enroll(a)
        first.stop()
        second.start()
        assert entry(second) == {}, entry(second)
        for extra in (["nullok"], ["enroll=login"]):
            run = b.login(wrong_code(key), extra=extra, direct=True)
            assert run.result == "PAM_AUTH_ERR" and run.prompts == [], (extra, str(run))
            assert f"no enrollment found, but the server that answered, {second.uri}, is not the first of " \
                "ldap_uri and may not have received it yet: cannot tell who is enrolled; denied" in run.syslog_text(), \
                str(run)
        assert entry(second) == {}, entry(second)
    finally:
        for d in pair.servers:
            d.start()
    # on the first server, which holds the enrollments, an absence is one: bob is not enrolled
    run = a.login("123456", user="bob", extra=["nullok"], direct=True)
    assert run.result == "PAM_IGNORE", str(run)
