"""`mfa-enroll doctor` against configurations built in a temp dir.

The good configuration is the shipped one: pam/sshd (with the host's common-*
files beside it, so `@include common-auth` brings in pam_unix), pam/sudo and
pam/login, the module given by bare name and found in --module-dir (a temp dir
with a copy of build/pam_mfa.so), an sshd_config made of pam/sshd_config's
settings plus a host key (checked by the real `sshd -T -f`), and a secret file
enrolled for root with the built mfa-enroll.  Each broken configuration
changes one thing and must give exactly its FAIL line with its fix (exit
status 1), or its WARN line (exit status 0).

The host is not touched: /run/sshd (which `sshd -T` needs) is created only
when missing and then removed again, and the temp dir goes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mfatest.cli import enroll_cmd, enroll_on_pipe
from mfatest.sshd import PAM_SSHD, privsep_dir, shipped_settings
from mfatest.system import clean_env, run
from mfatest.world import BUILD, ENROLL, MODULE, REPO, staged

TIMEOUT = 30
PAM_SUDO = REPO / "pam/sudo"
PAM_LOGIN = REPO / "pam/login"
HOST_PAM = Path("/etc/pam.d")
HELPER = staged(BUILD / "pam_mfa" / "mfa_chkcode")

LINE_RE = re.compile(r"(ok   |WARN |FAIL ) (.+)")
FIX_PREFIX = "      fix: "
SUMMARY_RE = re.compile(r"(\d+) problem\(s\), (\d+) warning\(s\)\.")


# ---------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------


@dataclass
class Finding:
    level: str            # "ok", "WARN", "FAIL"
    message: str
    fix: str | None = None


@dataclass
class Report:
    rc: int
    out: str
    err: str
    findings: list = field(default_factory=list)

    def level(self, level: str) -> list:
        return [f for f in self.findings if f.level == level]

    @property
    def fails(self) -> list:
        """The failures, without the clock's (it depends on the host, not on the files)."""
        return [f for f in self.level("FAIL") if not f.message.startswith("clock:")]

    def find(self, level: str, message: str) -> Finding | None:
        found = [f for f in self.findings if f.level == level and f.message == message]
        assert len(found) <= 1, str(self)
        return found[0] if found else None

    def __str__(self) -> str:
        return f"exit {self.rc}\n--- stdout ---\n{self.out}--- stderr ---\n{self.err}"


def parse(rc: int, out: str, err: str) -> Report:
    """Every line of the report is a finding, its fix, the blank line or the summary; the
    summary's counts and the exit status agree with the findings."""
    report = Report(rc, out, err)
    lines = out.split("\n")
    assert lines[-1] == "", f"no final newline\n{report}"
    lines = lines[:-1]
    assert len(lines) >= 3 and lines[-2] == "", f"no blank line before the summary\n{report}"
    summary = SUMMARY_RE.fullmatch(lines[-1])
    assert summary, f"no summary line\n{report}"
    for line in lines[:-2]:
        if line.startswith(FIX_PREFIX):
            assert report.findings and report.findings[-1].level != "ok", (
                f"a fix line without a problem before it: {line!r}\n{report}")
            assert report.findings[-1].fix is None, f"two fix lines\n{report}"
            report.findings[-1].fix = line[len(FIX_PREFIX):]
            continue
        m = LINE_RE.fullmatch(line)
        assert m, f"not a finding: {line!r}\n{report}"
        report.findings.append(Finding(m.group(1).strip(), m.group(2)))
    for f in report.findings:
        if f.level != "ok":
            assert f.fix, f"{f.level} without a fix: {f.message}\n{report}"
    n_fail, n_warn = len(report.level("FAIL")), len(report.level("WARN"))
    assert (int(summary.group(1)), int(summary.group(2))) == (n_fail, n_warn), str(report)
    assert rc == (1 if n_fail else 0), f"exit status does not fit the findings\n{report}"
    if n_fail:
        assert err == "", f"nothing is expected on stderr\n{report}"
    return report


# ---------------------------------------------------------------------------
# building configurations
# ---------------------------------------------------------------------------


def mfa_line_number(text: str) -> int:
    """The number of the one line of a stack that calls pam_mfa (by bare name or path)."""
    lines = [i + 1 for i, ln in enumerate(text.split("\n"))
             if ln.lstrip().startswith("auth")
             and any(w == "pam_mfa.so" or w.endswith("/pam_mfa.so") for w in ln.split())]
    assert len(lines) == 1, text
    return lines[0]


def stack_from(src: Path, control: str | None = None, args=(), key_first: bool = False,
               permit: bool = False, module: str | None = None, drop_mfa: bool = False,
               drop_account: bool = False) -> str:
    """A shipped stack with its pam_mfa line changed: control, extra arguments, module path;
    key_first comments out `@include common-auth`, permit adds pam_permit after pam_mfa,
    drop_mfa removes the pam_mfa auth line, drop_account the pam_mfa account line."""
    out, n, includes = [], 0, 0
    for line in src.read_text().split("\n"):
        words = line.split()
        if drop_account and words[:1] == ["account"] and "pam_mfa.so" in words:
            continue
        if words and words[0] == "auth" and "pam_mfa.so" in words:
            n += 1
            if drop_mfa:
                continue
            i = words.index("pam_mfa.so")
            if control is not None:
                words[1:i] = [control]
                i = 2
            if module is not None:
                words[i] = module
            out.append("auth       " + "   ".join(words[1:i]) + "   "
                       + " ".join([words[i], *words[i + 1:], *args]))
            if permit:
                out.append("auth       required     pam_permit.so")
            continue
        if key_first and line.strip() == "@include common-auth":
            out.append("#" + line)
            includes += 1
            continue
        out.append(line)
    assert n == 1, f"{src} should have one pam_mfa line"
    assert includes == (1 if key_first else 0), f"{src} has no `@include common-auth`"
    return "\n".join(out)


def sshd_settings(key_first: bool = False, **overrides) -> str:
    """pam/sshd_config's settings (its key-first alternative when key_first) with overrides
    (None removes a setting)."""
    settings = shipped_settings(key_first)
    for key, value in overrides.items():
        settings = [s for s in settings if s.split()[0].lower() != key.lower()]
        if value is not None:
            settings.append(f"{key} {value}")
    return "\n".join(settings) + "\n"


@dataclass
class World:
    base: Path
    module_dir: Path            # holds a copy of build/pam_mfa.so
    empty_module_dir: Path
    host_key: Path
    secret: Path                # root's, enrolled, 0600
    common: dict                # name -> text of the host's common-* files


def enroll_root(path: Path) -> str:
    enr = enroll_on_pipe(enroll_cmd("--secret-file", path, "--qr", "none"), timeout=TIMEOUT,
                         env=clean_env())
    assert enr.rc == 0, (enr.rc, enr.out, enr.err)
    assert len(enr.codes) == 10, enr.out
    return enr.out


@pytest.fixture(scope="module")
def world():
    errors = []
    base = Path(tempfile.mkdtemp(prefix="pam_mfa_doctor."))
    with privsep_dir(errors):
        try:
            module_dir = base / "modules"
            module_dir.mkdir()
            shutil.copy2(MODULE, module_dir / "pam_mfa.so")
            (module_dir / "pam_mfa").mkdir()
            shutil.copy2(HELPER, module_dir / "pam_mfa" / "mfa_chkcode")
            os.chmod(module_dir / "pam_mfa" / "mfa_chkcode", 0o4755)
            empty = base / "no-modules"
            empty.mkdir()
            host_key = base / "host_ed25519"
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", host_key])
            secret = base / "secret"
            enroll_root(secret)
            st = os.stat(secret)
            assert st.st_uid == 0 and st.st_mode & 0o777 == 0o600, oct(st.st_mode)
            common = {p.name: p.read_text() for p in HOST_PAM.glob("common-*")}
            assert "pam_unix.so" in common.get("common-auth", ""), (
                "the host's common-auth has no pam_unix: the stacks here would have no password")
            yield World(base, module_dir, empty, host_key, secret, common)
        finally:
            shutil.rmtree(base, ignore_errors=True)
    assert not errors, "\n".join(errors)


class Case:
    """One configuration in its own directory."""

    def __init__(self, world: World):
        self.world = world
        self.dir = Path(tempfile.mkdtemp(prefix="case.", dir=world.base))
        self.pam_dir = self.dir / "pam.d"
        self.pam_dir.mkdir()
        for name, text in world.common.items():
            (self.pam_dir / name).write_text(text)
        self.sshd_config = self.dir / "sshd_config"
        self.module_dir = world.module_dir
        self.secret = world.secret
        self.stack("sshd", stack_from(PAM_SSHD))
        self.config(sshd_settings())

    def stack(self, service: str, text: str | None) -> Path:
        path = self.pam_dir / service
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(text)
        return path

    def config(self, settings: str) -> None:
        self.sshd_config.write_text(settings + f"HostKey {self.world.host_key}\n")

    def doctor(self, *extra) -> Report:
        cmd = [str(ENROLL), "doctor", "--pam-dir", str(self.pam_dir),
               "--module-dir", str(self.module_dir), "--sshd-config", str(self.sshd_config),
               "--secret-file", str(self.secret), *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(),
                              stdin=subprocess.DEVNULL, timeout=TIMEOUT)
        report = parse(proc.returncode, proc.stdout, proc.stderr)
        # every run checks sshd (unless told otherwise), the clock and the secret file
        assert any(f.message.startswith("clock:") for f in report.findings), str(report)
        assert any(f.message.startswith(f"secret file {self.secret}")
                   for f in report.findings), str(report)
        return report

    def place(self, service: str = "sshd") -> str:
        path = self.pam_dir / service
        return f"{service}: {path} line {mfa_line_number(path.read_text())}"


@pytest.fixture
def case(world) -> Case:
    return Case(world)


def assert_only_fail(report: Report, message: str, fix: str) -> None:
    """Exactly this one problem (besides a clock the host may not sync), exit status 1."""
    assert report.rc == 1, str(report)
    assert [(f.message, f.fix) for f in report.fails] == [(message, fix)], str(report)


def assert_warns_only(report: Report, message: str, fix: str | None = None) -> None:
    """The warning is there, nothing fails (a host clock aside), and doctor says ok."""
    found = report.find("WARN", message)
    assert found is not None, str(report)
    if fix is not None:
        assert found.fix == fix, str(report)
    assert report.fails == [], str(report)
    if not report.level("FAIL"):
        assert report.rc == 0, str(report)


# ---------------------------------------------------------------------------
# the good configurations
# ---------------------------------------------------------------------------


def test_shipped_configuration_is_good(case):
    case.stack("sudo", stack_from(PAM_SUDO))
    case.stack("login", stack_from(PAM_LOGIN))
    case.stack("su", (HOST_PAM / "su").read_text())      # no pam_mfa: not a problem
    r = case.doctor()
    assert r.fails == [], str(r)
    mod = f"{case.module_dir}/pam_mfa.so"
    for service, control in (("sshd", "required"), ("sudo", "required"), ("login", "required")):
        place = case.place(service)
        assert r.find("ok", f"{place}: module file {mod} exists"), str(r)
        assert r.find("ok", f"{place}: pam_mfa is {control}"), str(r)
    for msg in ("sshd: UsePAM yes", "sshd: KbdInteractiveAuthentication yes",
                "sshd: AuthenticationMethods keyboard-interactive fits the PAM stack",
                f"secret file {case.secret}: private, 1 authenticator(s), 10 backup code(s)"):
        assert r.find("ok", msg), f"missing ok line {msg!r}\n{r}"
    assert not any("/su " in f.message for f in r.findings), str(r)
    assert r.find("ok", f"helper {case.module_dir}/pam_mfa/mfa_chkcode: root's, mode 4755"), str(r)
    if not r.level("FAIL"):
        assert r.rc == 0, str(r)


def test_key_first_configuration_is_good(case):
    """Key, then code: no common-auth, nullok with pam_permit after pam_mfa."""
    case.stack("sshd", stack_from(PAM_SSHD, args=["nullok"], key_first=True, permit=True))
    case.config(sshd_settings(key_first=True))
    r = case.doctor()
    assert r.fails == [], str(r)
    assert r.find("ok", "sshd: AuthenticationMethods publickey,keyboard-interactive fits the "
                        "PAM stack"), str(r)
    assert not any("nullok" in f.message for f in r.findings), str(r)


# ---------------------------------------------------------------------------
# PAM stacks
# ---------------------------------------------------------------------------


def test_optional_pam_mfa(case):
    case.stack("sshd", stack_from(PAM_SSHD, control="optional", args=["window=2"]))
    assert_only_fail(case.doctor(),
                     f"{case.place()}: pam_mfa is 'optional': a wrong code still logs in",
                     "change it to:  auth required pam_mfa.so window=2")


def test_sufficient_pam_mfa(case):
    case.stack("sshd", stack_from(PAM_SSHD, control="sufficient", args=["window=2"]))
    assert_only_fail(case.doctor(),
                     f"{case.place()}: pam_mfa is 'sufficient': a right code alone skips the "
                     "password",
                     "change it to:  auth required pam_mfa.so window=2")


def test_module_file_missing(case):
    case.module_dir = case.world.empty_module_dir
    assert_only_fail(case.doctor(),
                     f"{case.place()}: {case.module_dir}/pam_mfa.so does not exist, so every "
                     "login through this stack fails",
                     "install libpam-mfa (or `make install`), or give the module's full path "
                     "in this line")


def test_module_given_by_a_missing_full_path(case):
    missing = f"{case.dir}/nowhere/pam_mfa.so"
    case.stack("sshd", stack_from(PAM_SSHD, module=missing))
    assert_only_fail(case.doctor(),
                     f"{case.place()}: {missing} does not exist, so every login through this "
                     "stack fails",
                     "install libpam-mfa (or `make install`), or give the module's full path "
                     "in this line")


def test_nullok_without_another_auth_module(case):
    case.stack("sshd", stack_from(PAM_SSHD, args=["nullok"], key_first=True))
    case.config(sshd_settings(key_first=True))
    assert_only_fail(case.doctor(),
                     f"{case.place()}: with nullok and no other auth module, users without a "
                     "secret file are refused (libpam fails a stack in which every module "
                     "ignored)",
                     "add after it:  auth required pam_permit.so")


def test_enroll_at_login_needs_the_account_line_for_sshd(case):
    case.stack("sshd", stack_from(PAM_SSHD, args=["enroll=login"], drop_account=True))
    assert_only_fail(case.doctor(),
                     f"{case.place()}: enroll=login, but no 'account required pam_mfa.so' line: an "
                     "enrollment made at login is saved only through it (sshd calls pam_setcred "
                     "in another process), so it is never saved",
                     "add after the other account lines:  account required pam_mfa.so")
    # the shipped stack has the line
    case.stack("sshd", stack_from(PAM_SSHD, args=["enroll=login"]))
    r = case.doctor()
    assert r.fails == [], str(r)


def test_a_line_the_module_refuses(case):
    case.stack("sshd", stack_from(PAM_SSHD, args=["enroll=login", "forward_pass"]))
    assert_only_fail(case.doctor(),
                     f"{case.place()}: pam_mfa refuses every login through this line: invalid "
                     "value for enroll: enroll=login cannot be combined with forward_pass, "
                     "use_first_pass or try_first_pass (the enrollment would be offered before "
                     "any password is checked)",
                     "correct the line or /etc/security/pam_mfa.conf")


def test_sshd_stack_without_pam_mfa(case):
    case.stack("sshd", stack_from(PAM_SSHD, drop_mfa=True))
    r = case.doctor()
    assert_only_fail(r, f"{case.pam_dir}/sshd does not use pam_mfa, so no code is asked",
                     "add after the password lines:  auth required pam_mfa.so")


def test_sudo_stack_with_optional_pam_mfa(case):
    case.stack("sudo", stack_from(PAM_SUDO, control="optional"))
    r = case.doctor()
    assert r.rc == 1, str(r)
    assert [f.message for f in r.fails] == [
        f"{case.place('sudo')}: pam_mfa is 'optional': a wrong code still logs in"], str(r)
    assert r.fails[0].fix.rstrip() == "change it to:  auth required pam_mfa.so", str(r)


# ---------------------------------------------------------------------------
# sshd_config
# ---------------------------------------------------------------------------


def test_usepam_no(case):
    case.config(sshd_settings(UsePAM="no"))
    assert_only_fail(case.doctor(), "sshd: UsePAM is no; sshd never asks PAM for a code",
                     "in /etc/ssh/sshd_config.d/00-pam_mfa.conf:  UsePAM yes")


def test_kbdinteractive_no(case):
    """sshd itself rejects keyboard-interactive in AuthenticationMethods once it is disabled
    (see test_sshd_config_that_sshd_rejects), so the setting is checked where sshd -T accepts
    it: keys off and AuthenticationMethods any, which is only a warning."""
    case.config(sshd_settings(KbdInteractiveAuthentication="no", AuthenticationMethods="any",
                              PubkeyAuthentication="no"))
    r = case.doctor()
    assert_only_fail(r, "sshd: KbdInteractiveAuthentication is no; the code prompt cannot be "
                        "shown",
                     "in /etc/ssh/sshd_config.d/00-pam_mfa.conf:  KbdInteractiveAuthentication yes")
    assert r.find("WARN", "sshd: AuthenticationMethods is 'any'; name the methods explicitly")


@pytest.mark.parametrize("methods", ["any", None])
def test_authentication_methods_any(case, methods):
    """Explicit or by default: a key alone logs in."""
    case.config(sshd_settings(AuthenticationMethods=methods))
    assert_only_fail(case.doctor(),
                     "sshd: AuthenticationMethods is 'any': a user with an SSH key logs in "
                     "without a code",
                     "in /etc/ssh/sshd_config.d/00-pam_mfa.conf:  AuthenticationMethods keyboard-interactive")


def test_authentication_methods_any_without_keys_warns(case):
    case.config(sshd_settings(AuthenticationMethods="any", PubkeyAuthentication="no"))
    assert_warns_only(case.doctor(),
                      "sshd: AuthenticationMethods is 'any'; name the methods explicitly")


@pytest.mark.parametrize("methods", ["publickey", "publickey,keyboard-interactive password"])
def test_authentication_methods_without_keyboard_interactive(case, methods):
    case.config(sshd_settings(AuthenticationMethods=methods))
    assert_only_fail(case.doctor(),
                     f"sshd: AuthenticationMethods '{methods}' allows a login without "
                     "keyboard-interactive (no code)",
                     "every list must end in keyboard-interactive, e.g.  AuthenticationMethods "
                     "publickey,keyboard-interactive")


def test_code_as_the_only_factor(case):
    """keyboard-interactive alone while the stack has no password before pam_mfa."""
    case.stack("sshd", stack_from(PAM_SSHD, key_first=True))
    assert_only_fail(case.doctor(),
                     "sshd: AuthenticationMethods 'keyboard-interactive' with no password in "
                     "the sshd PAM stack: the code is the only factor",
                     "keep  @include common-auth  before pam_mfa, or use  AuthenticationMethods "
                     "publickey,keyboard-interactive")


def test_key_first_with_password_still_in_the_stack_warns(case):
    case.config(sshd_settings(key_first=True))
    assert_warns_only(case.doctor(),
                      "sshd: key, then password and code: the sshd PAM stack still includes the "
                      "password check",
                      "for key + code only, comment out  @include common-auth  in "
                      "the sshd PAM stack")


def test_sshd_config_that_sshd_rejects(case):
    case.config(sshd_settings(NoSuchOption="yes"))
    r = case.doctor()
    assert r.rc == 1, str(r)
    assert len(r.fails) == 1, str(r)
    f = r.fails[0]
    line = next(i for i, text in enumerate(case.sshd_config.read_text().splitlines(), 1)
                if text.startswith("NoSuchOption"))
    assert f.message.startswith(f"sshd: `/usr/sbin/sshd -t -f {case.sshd_config}` refuses the "
                                f"configuration: {case.sshd_config}: line {line}: "), str(r)
    assert "NoSuchOption" in f.message, str(r)
    assert f.fix == (f"fix line {line} of {case.sshd_config}; then  sshd -t  must be silent "
                     "before  systemctl reload ssh"), str(r)


def test_sshd_not_installed_warns(case):
    r = case.doctor("--sshd", f"{case.dir}/no/such/sshd")
    assert_warns_only(r, "sshd: not installed here; skipped its checks")
    # the sshd PAM stack is still checked (its lines name the file); sshd_config is not
    assert not any(f.message.startswith("sshd:") and not f.message.startswith("sshd: /") and f.level != "WARN"
                   for f in r.findings), str(r)


# ---------------------------------------------------------------------------
# the secret file
# ---------------------------------------------------------------------------


def test_secret_file_readable_by_others(case):
    secret = case.dir / "secret"
    shutil.copy2(case.world.secret, secret)
    os.chmod(secret, 0o644)
    case.secret = secret
    r = case.doctor()
    assert r.rc == 1, str(r)
    assert len(r.fails) == 1, str(r)
    f = r.fails[0]
    assert f.message.startswith(f"secret file {secret} "), str(r)
    assert f.message.endswith("; pam_mfa refuses it"), str(r)
    assert f.fix == f"chmod 600 {secret}; chown root {secret}", str(r)
    # control: the same file made private again is fine
    os.chmod(secret, 0o600)
    r = case.doctor()
    assert r.fails == [], str(r)
    assert r.find("ok", f"secret file {secret}: private, 1 authenticator(s), "
                        "10 backup code(s)"), str(r)


def test_root_not_enrolled_is_no_warning_where_nullok_lets_root_in(case):
    """Root often logs in without a code on purpose (nullok): said, but no warning on every run;
    without nullok an unenrolled root is locked out of sshd, and that stays a warning."""
    case.secret = case.dir / "absent" / "secret"
    case.stack("sshd", stack_from(PAM_SSHD, args=["nullok"]))
    r = case.doctor()
    assert r.find("ok", f"secret file {case.secret} does not exist: root is not enrolled "
                        "(nullok lets root in)"), str(r)
    assert not any("not enrolled" in f.message for f in r.level("WARN")), str(r)
    case.stack("sshd", stack_from(PAM_SSHD))
    assert_warns_only(case.doctor(), f"secret file {case.secret} does not exist: root is not enrolled",
                      "run  mfa-enroll")


def test_a_wrong_password_that_does_not_end_the_stack_fails(case):
    """After a password module that is only required, the code is asked even when the password
    was wrong, and the answer to it would tell a guesser whether the code was right."""
    case.stack("sshd", "auth required pam_unix.so\nauth required pam_mfa.so\naccount required pam_unix.so\n")
    r = case.doctor()
    place = case.place("sshd")
    fix = ("make the password module requisite, or follow it with  auth requisite pam_deny.so  "
           "as Debian's common-auth does")
    assert [(f.message, f.fix) for f in r.fails if "does not end the stack" in f.message] == [
        (f"{place}: a wrong password does not end the stack before pam_mfa, so the code is still asked, "
         "and its answer tells a guesser without the password whether the code was right", fix)], str(r)
    # requisite: fine
    case.stack("sshd", "auth requisite pam_unix.so\nauth required pam_mfa.so\naccount required pam_unix.so\n")
    assert not any("does not end the stack" in f.message for f in case.doctor().findings)


def test_a_user_is_told_what_needs_root_and_about_their_own_file(case):
    """As a normal user, doctor cannot run sshd -T (host keys are root's): it says so instead
    of blaming sshd_config, and still checks the user's own secret file."""
    for d in (case.world.base, case.dir, case.pam_dir):
        os.chmod(d, 0o755)
    for f in case.pam_dir.iterdir():
        os.chmod(f, 0o644)
    os.chmod(case.sshd_config, 0o644)
    secret = case.dir / "absent" / "secret"
    cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(ENROLL), "doctor",
           "--pam-dir", str(case.pam_dir), "--module-dir", str(case.module_dir),
           "--sshd-config", str(case.sshd_config), "--secret-file", str(secret)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(),
                          stdin=subprocess.DEVNULL, timeout=TIMEOUT)
    r = parse(proc.returncode, proc.stdout, proc.stderr)
    assert r.find("WARN", "sshd: its settings can only be checked by root (sshd -T reads the host keys)"), str(r)
    assert not any("hostkeys" in f.message for f in r.findings), str(r)
    assert r.find("WARN", f"secret file {secret} does not exist: nobody is not enrolled"), str(r)
    assert not [f for f in r.fails if f.message.startswith("sshd")], str(r)


def test_pam_mfa_twice_in_one_stack_is_a_failure_naming_both_places(case):
    """The pam-auth-update profile (common-auth) and the README's sshd line together: the code
    is asked twice and the second refused as a replay, so users lock themselves out."""
    common = case.pam_dir / "common-auth"
    text = common.read_text()
    marker = "# and here are more per-package modules"
    assert marker in text, text
    common.write_text(text.replace(marker, "auth\trequired\t\t\tpam_mfa.so nullok\n" + marker))
    r = case.doctor()
    common_line = next(i for i, line in enumerate(common.read_text().splitlines(), 1)
                       if "pam_mfa.so" in line)
    sshd = case.pam_dir / "sshd"
    message = (f"sshd: pam_mfa is in the auth stack 2 times ({common} line {common_line} and "
               f"{case.place('sshd').split(': ', 1)[1]}): the code is asked twice, the second answer "
               "is refused as a replay and counts toward the lockout")
    fix = f"keep one: either the pam-auth-update profile (pam-auth-update --disable mfa) or the pam_mfa line in {sshd}"
    assert (message, fix) in [(f.message, f.fix) for f in r.fails], str(r)
    assert r.rc == 1, str(r)


def test_one_prompt_needs_a_counting_line_after_the_password(case):
    account = "account required pam_permit.so\n"
    two = ("auth required pam_mfa.so forward_pass\n"
           "auth requisite pam_unix.so use_first_pass\n")
    case.stack("sshd", two + account)
    r = case.doctor()
    place = f"sshd: {case.pam_dir}/sshd line 1"
    found = r.find("FAIL", f"{place}: one prompt for password and code, but no pam_mfa line after a "
                           "requisite password module: wrong codes are not counted, so there is no "
                           "lockout")
    assert found and found.fix == ("add after the password line (made requisite):  auth required "
                                   "pam_mfa.so"), str(r)
    # the documented three lines: neither this nor "pam_mfa twice"
    case.stack("sshd", two + "auth required pam_mfa.so\n" + account)
    r = case.doctor()
    assert not [f for f in r.fails if "one prompt" in f.message or "times" in f.message], str(r)
    # the counting line after a password module that does not end the stack is no good
    case.stack("sshd", two.replace("requisite", "required") + "auth required pam_mfa.so\n" + account)
    r = case.doctor()
    assert r.find("FAIL", f"{place}: one prompt for password and code, but no pam_mfa line after a "
                          "requisite password module: wrong codes are not counted, so there is no "
                          "lockout"), str(r)


def test_a_helper_that_is_not_setuid_root_fails(case):
    helper = case.module_dir / "pam_mfa" / "mfa_chkcode"
    try:
        os.chmod(helper, 0o755)
        assert_only_fail(case.doctor(),
                         f"helper {helper} is owned by uid 0 with mode 755; it must be root's with "
                         "mode 4755",
                         f"chown root:root {helper}; chmod 4755 {helper}")
        os.chmod(helper, 0o4777)
        assert_only_fail(case.doctor(),
                         f"helper {helper} is owned by uid 0 with mode 4777; it must be root's with "
                         "mode 4755",
                         f"chown root:root {helper}; chmod 4755 {helper}")
    finally:
        os.chmod(helper, 0o4755)


def test_settings_on_the_common_auth_line_warn_for_screen_lockers(case):
    # sshd gets pam_mfa from common-auth only (its own line would be a second one)
    case.stack("sshd", "".join(line + "\n" for line in stack_from(PAM_SSHD).splitlines()
                               if "pam_mfa" not in line))
    common = case.pam_dir / "common-auth"
    common.write_text(common.read_text() + "auth required pam_mfa.so nullok window=3\n")
    line = len(common.read_text().splitlines())
    assert_warns_only(case.doctor(),
                      f"common-auth: {common} line {line}: window=3 on this line: applications that "
                      "do not run as root (screen lockers) refuse every login through it",
                      "move window=3 to /etc/security/pam_mfa.conf; keep only nullok on the line")
