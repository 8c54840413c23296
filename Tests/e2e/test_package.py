"""The Debian packages and `make install`, for real on this machine.

build/deb/libpam-mfa_*.deb and build/deb/mfa-enroll_*.deb are installed once
(module fixture), a real user is created with useradd and enrolled with the
installed /usr/bin/mfa-enroll, and the shipped example stacks pam/sshd,
pam/sudo and pam/login are copied to /etc/pam.d and driven with pamtester
through the real pam_unix password check and the installed module.  The
pam-auth-update profile pam/pam-configs/mfa is enabled only inside a private
mount namespace (unshare -m) over copies of /etc/pam.d, /var/lib/pam and the
debconf database, so the host's common-* files are never changed.

Everything is undone at the end, also when a test fails: the packages are
purged, the users deleted, the /etc/pam.d files removed, and the checksums of
/etc/pam.d/*, /var/lib/pam/* and the account files are compared with those
taken before.  Leftovers of an earlier run that was killed are cleared first.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import secrets
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mfatest import system

from mfatest.cli import Enrolled, enroll_on_pipe, uri_secret
from mfatest.system import (Conversation, clean_env, create_user, delete_user, home_of,
                            owning_package, user_exists)
from mfatest.i18n import LINGUAS
from mfatest.totp import code, next_step_code, wrong_code
from mfatest.world import BUILD, REPO

DEB_DIR = BUILD / "deb"
BUILT_MODULE = BUILD / "pam_mfa.so"
BUILT_CLI = BUILD / "mfa-enroll"
BUILT_PLUGIN = BUILD / "pam_mfa" / "store_ldap.so"
BUILT_HELPER = BUILD / "pam_mfa" / "mfa_chkcode"
PACKAGES = ("libpam-mfa", "libpam-mfa-ldap", "mfa-enroll")
# The 389 Directory Server forms of the schema and access rules, beside the OpenLDAP ones.
DS389_FILES = tuple(f"389ds/{n}" for n in ("60pam_mfa.ldif", "aci-example.ldif", "certmap-example.conf"))
USER = "mfapkg"        # enrolled
USER2 = "mfapkg2"      # never enrolled
SERVICE_PREFIX = "mfa-pkgtest-"
TIMEOUT = 30
PERIOD = 30

# The shipped example files this module exercises.
STACKS = {
    "sshd": REPO / "pam/sshd",
    "sudo": REPO / "pam/sudo",
    "login": REPO / "pam/login",
}
PROFILE_SRC = REPO / "pam/pam-configs/mfa"
CONF_SRC = REPO / "pam/pam_mfa.conf"
SSHD_CONFIG = REPO / "pam/sshd_config"
MAN_SRC = {"pam_mfa.8": REPO / "man/pam_mfa.8",
           "pam_mfa.conf.5": REPO / "man/pam_mfa.conf.5",
           "mfa-enroll.1": REPO / "man/mfa-enroll.1",
           "mfa_chkcode.8": REPO / "man/mfa_chkcode.8"}


def multiarch() -> str:
    return subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], capture_output=True,
                          text=True, check=True).stdout.strip()


def libpam_directory() -> Path:
    """Where libpam-modules keeps its modules on this release (the Makefile's PAMDIR)."""
    listed = subprocess.run(["dpkg", "-L", "libpam-modules"], capture_output=True, text=True,
                            check=True).stdout.splitlines()
    return Path(next(p for p in listed if p.endswith("/pam_unix.so"))).parent


MULTIARCH = multiarch()
PAMDIR = libpam_directory()
PAMDIR_IN_TREE = str(PAMDIR).lstrip("/")
INSTALLED_MODULE = PAMDIR / "pam_mfa.so"
INSTALLED_HELPER = PAMDIR / "pam_mfa" / "mfa_chkcode"
INSTALLED_CLI = Path("/usr/bin/mfa-enroll")
CONFFILE = Path("/etc/security/pam_mfa.conf")
PROFILE = Path("/usr/share/pam-configs/mfa")
MAN_PAGES = {
    "pam_mfa.8": Path("/usr/share/man/man8/pam_mfa.8.gz"),
    "pam_mfa.conf.5": Path("/usr/share/man/man5/pam_mfa.conf.5.gz"),
    "mfa-enroll.1": Path("/usr/share/man/man1/mfa-enroll.1.gz"),
    "mfa_chkcode.8": Path("/usr/share/man/man8/mfa_chkcode.8.gz"),
}
# The catalogs of the module's messages (libpam-mfa), as msgfmt built them.
CATALOG = "share/locale/{}/LC_MESSAGES/pam_mfa.mo"
CATALOGS = {lang: Path("/usr") / CATALOG.format(lang) for lang in LINGUAS}
INSTALLED_PATHS = [INSTALLED_MODULE, INSTALLED_HELPER, INSTALLED_CLI, CONFFILE, PROFILE,
                   *MAN_PAGES.values(), *CATALOGS.values()]
STATE_ROOT = Path("/var/lib/pam_mfa")
SWIFT_ROOT = Path("/opt/swift")

# What must be exactly as before when the module is done.
WATCHED_DIRS = [Path("/etc/pam.d"), Path("/var/lib/pam")]
WATCHED_FILES = [Path(p) for p in ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow",
                                   "/etc/subuid", "/etc/subgid")]
SAVED_SUFFIX = ".pkgtest-saved"


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def run(cmd, check=True, timeout=120, **kw) -> subprocess.CompletedProcess:
    """mfatest.system.run, patient and with dpkg's questions answered by their defaults."""
    kw.setdefault("env", clean_env(DEBIAN_FRONTEND="noninteractive"))
    return system.run(cmd, check, timeout, **kw)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot() -> dict:
    """Checksums (or link targets) of every watched file."""
    snap = {}
    for d in WATCHED_DIRS:
        for p in sorted(d.rglob("*")):
            if p.is_symlink():
                snap[str(p)] = "-> " + os.readlink(p)
            elif p.is_file():
                snap[str(p)] = sha256(p)
    for p in WATCHED_FILES:
        snap[str(p)] = sha256(p) if p.exists() else None
    return snap


def snapshot_diff(before: dict, after: dict) -> list:
    return [f"{k}: {before.get(k)} -> {after.get(k)}"
            for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]


def package_status(pkg: str) -> str | None:
    """dpkg's abbreviated status ('ii', 'rc', ...), or None when dpkg does not know it."""
    proc = run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", pkg], check=False)
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


def known_packages() -> list:
    return [p for p in PACKAGES if package_status(p) not in (None, "un")]


def purge_packages() -> subprocess.CompletedProcess | None:
    present = known_packages()
    if not present:
        return None
    return run(["dpkg", "--purge", *present], check=False, timeout=300)


def remove_test_services() -> None:
    for p in Path("/etc/pam.d").glob(SERVICE_PREFIX + "*"):
        p.unlink()


def set_aside(paths) -> list:
    """Move paths that exist before the test out of the way (restored by restore_aside)."""
    moved = []
    for p in paths:
        if p.exists() or p.is_symlink():
            os.rename(p, str(p) + SAVED_SUFFIX)
            moved.append(p)
    return moved


def restore_aside(paths) -> None:
    for p in paths:
        saved = Path(str(p) + SAVED_SUFFIX)
        if not (saved.exists() or saved.is_symlink()):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
        os.rename(saved, p)


def newest(pattern: str) -> Path | None:
    found = sorted(DEB_DIR.glob(pattern), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def current_debs() -> dict:
    """The .debs, rebuilt with `make deb` when missing or older than the build."""
    def stale(debs):
        if any(d is None for d in debs.values()):
            return True
        built = max(p.stat().st_mtime for p in (BUILT_MODULE, BUILT_CLI) if p.exists())
        return any(d.stat().st_mtime < built for d in debs.values())

    debs = {p: newest(f"{p}_*.deb") for p in PACKAGES}
    if stale(debs):
        run(["make", "deb", "SKIP_DEPS=1"], cwd=REPO, timeout=3600)
        debs = {p: newest(f"{p}_*.deb") for p in PACKAGES}
        assert not stale(debs), f"make deb did not produce current packages: {debs}"
    return debs


def mounted_paths() -> str:
    return Path("/proc/self/mountinfo").read_text()


# -- conversations with pamtester -------------------------------------------


def answer_prompts(argv: list, answers: dict) -> Conversation:
    """argv under a pty, PAM's prompts answered from answers (each at most once: another one
    gets an end of file)."""
    return system.converse(argv, answers, timeout=TIMEOUT, env=clean_env(DEBIAN_FRONTEND="noninteractive"),
                           hang_up=True)


def pamtester(service: str, user: str, answers: dict) -> Conversation:
    return answer_prompts(["pamtester", service, user, "authenticate"], answers)


def ns_command(script: str) -> list:
    """A shell in a private mount namespace: mounts made there vanish with it."""
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script]


def binds_script(binds) -> str:
    return " && ".join(f"mount --bind {shlex.quote(str(src))} {shlex.quote(str(dst))}"
                       for src, dst in binds)


# -- TOTP steps of the enrolled user ----------------------------------------


class Steps:
    """Hands out codes of ever newer time steps for one user: the module accepts a step once
    (replay protection) and only within window=1 of now, so each login takes the next unused
    step and waits only when the next one is more than one step ahead of the clock."""

    def __init__(self, secret: str):
        self.secret = secret
        self.last: int | None = None

    def next_code(self) -> str:
        while True:
            now = time.time()
            cur = int(now) // PERIOD
            left = PERIOD - now % PERIOD
            low = cur - 1 if left > 5 else cur       # step cur-1 stops working when cur ends
            want = low if self.last is None else max(self.last + 1, low)
            if want <= cur + 1:
                self.last = want
                return code(self.secret, want * PERIOD + 1)
            time.sleep(max(0.2, (want - 1) * PERIOD - now + 0.2))


@dataclass
class Installed:
    debs: dict
    owned: dict = field(default_factory=dict)      # package -> files (not dirs) dpkg lists
    before: dict = field(default_factory=dict)     # snapshot before installing


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def debs() -> dict:
    return current_debs()


@pytest.fixture(scope="module")
def installed(debs):
    """Both packages installed; everything undone (and checked) afterwards."""
    # A killed earlier run may have left things behind.
    purge_packages()
    for name in (USER, USER2):
        delete_user(name)
    remove_test_services()
    restore_aside([STATE_ROOT, *INSTALLED_PATHS])
    leftovers = known_packages()
    assert not leftovers, f"could not purge {leftovers} left by an earlier run"

    before = snapshot()
    aside = set_aside([STATE_ROOT, *INSTALLED_PATHS])
    inst = Installed(debs=debs, before=before)
    errors = []
    try:
        run(["dpkg", "-i", debs["libpam-mfa"], debs["libpam-mfa-ldap"], debs["mfa-enroll"]], timeout=300)
        for pkg in PACKAGES:
            listed = run(["dpkg", "-L", pkg]).stdout.split("\n")
            inst.owned[pkg] = sorted(p for p in listed
                                     if p.startswith("/") and not os.path.isdir(p))
        yield inst
    finally:
        proc = purge_packages()
        if proc is not None and proc.returncode != 0:
            errors.append(f"dpkg --purge failed: {proc.stdout}{proc.stderr}")
        # e.g. a module installed under /usr/lib while libpam's own directory is /lib (Debian 12)
        if proc is not None and "not empty so not removed" in proc.stdout + proc.stderr:
            errors.append(f"dpkg --purge warns: {proc.stdout}{proc.stderr}")
        for name in (USER2, USER):
            try:
                delete_user(name)
            except Exception as e:      # keep cleaning up
                errors.append(f"userdel {name}: {e}")
        remove_test_services()
        try:
            restore_aside(aside)
        except Exception as e:
            errors.append(f"restoring {aside}: {e}")
        diff = snapshot_diff(before, snapshot())
        if diff:
            errors.append("the machine differs from before the packages were installed:\n"
                          + "\n".join(diff))
        left = [u for u in (USER, USER2) if user_exists(u)]
        if left:
            errors.append(f"users not deleted: {left}")
    assert not errors, "\n".join(errors)


@pytest.fixture(scope="module")
def users(installed):
    """(password of USER, password of USER2); the users are deleted with their homes."""
    try:
        yield create_user(USER), create_user(USER2)
    finally:
        delete_user(USER2)
        delete_user(USER)


@pytest.fixture(scope="module")
def enrolled(users) -> Enrolled:
    """USER enrolled as root with the installed CLI, answers on a pipe."""
    password = users[0]
    steps = []

    def answer(uri: str) -> str:
        steps.append(Steps(uri_secret(uri)))
        return steps[0].next_code()

    enr = enroll_on_pipe([str(INSTALLED_CLI), "--user", USER, "--qr", "none"], answer, TIMEOUT,
                         env=clean_env(DEBIAN_FRONTEND="noninteractive"))
    assert enr.rc == 0, (enr.rc, enr.out, enr.err)
    enr.user, enr.password, enr.steps = USER, password, steps[0]
    enr.path = home_of(USER) / ".config/pam_mfa/secret"
    return enr


@pytest.fixture(scope="module")
def services(installed) -> dict:
    """pam/sshd, pam/sudo and pam/login as /etc/pam.d/mfa-pkgtest-<name>."""
    names = {}
    try:
        for name, src in STACKS.items():
            dst = Path("/etc/pam.d") / (SERVICE_PREFIX + name)
            shutil.copyfile(src, dst)
            os.chmod(dst, 0o644)
            names[name] = dst.name
        yield names
    finally:
        remove_test_services()


def login_with_code(service: str, enr: Enrolled) -> Conversation:
    return pamtester(service, enr.user, {"password": enr.password, "code": enr.steps.next_code()})


def check_enrolled_stack(service: str, enr: Enrolled, wrong_password: bool = False) -> None:
    """Right password + right code pass; right password + wrong code fail (a success first,
    so that the failure counter never nears the lockout)."""
    conv = login_with_code(service, enr)
    assert conv.asked == ["password", "code"] and conv.ok, str(conv)
    conv = pamtester(service, enr.user, {"password": enr.password,
                                         "code": wrong_code(enr.secret)})
    assert conv.asked == ["password", "code"], str(conv)
    assert not conv.ok and "Authentication failure" in conv.output, str(conv)
    if wrong_password:
        # pam_unix fails first: the stack ends before the code is asked
        conv = pamtester(service, enr.user, {"password": enr.password + "x", "code": "000000"})
        assert conv.asked == ["password"] and not conv.ok, str(conv)


def namespace_conf(work: Path) -> Path:
    """A copy of the installed pam_mfa.conf with a private state_dir (logins inside a namespace
    then touch no state of the host)."""
    conf = work / "pam_mfa.conf"
    conf.write_text(CONFFILE.read_text() + f"\nstate_dir={work}/state\n")
    os.chmod(conf, 0o644)
    return conf


# ---------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------


def test_sshd_config_lines_are_known_keywords():
    allowed = {"UsePAM", "KbdInteractiveAuthentication", "AuthenticationMethods"}
    lines = [ln.strip() for ln in SSHD_CONFIG.read_text().splitlines()]
    settings = [ln for ln in lines if ln and not ln.startswith("#")]
    assert settings, "pam/sshd_config has no settings"
    for ln in settings:
        m = re.fullmatch(r"(\S+)[ \t]+(\S.*)", ln)
        assert m, f"pam/sshd_config: not 'Keyword value': {ln!r}"
        assert m.group(1) in allowed, f"pam/sshd_config: unexpected keyword {m.group(1)!r}"
    # the two it is there for
    keys = dict(re.fullmatch(r"(\S+)[ \t]+(\S.*)", ln).groups() for ln in settings)
    assert keys.get("UsePAM") == "yes" and keys.get("KbdInteractiveAuthentication") == "yes", keys


def test_installed_files(installed):
    assert INSTALLED_MODULE.is_file() and INSTALLED_MODULE.read_bytes()[:4] == b"\x7fELF"
    assert stat.S_IMODE(INSTALLED_MODULE.stat().st_mode) == 0o644
    # the helper for screen lockers: setuid root, as the lintian override says
    assert INSTALLED_HELPER.stat().st_uid == 0, INSTALLED_HELPER.stat()
    assert stat.S_IMODE(INSTALLED_HELPER.stat().st_mode) == 0o4755, oct(INSTALLED_HELPER.stat().st_mode)
    assert INSTALLED_CLI.is_file() and os.access(INSTALLED_CLI, os.X_OK)
    proc = run([INSTALLED_CLI, "--help"])
    assert "USAGE: mfa-enroll" in proc.stdout, proc.stdout
    # the shipped texts are the repository's
    assert CONFFILE.read_bytes() == CONF_SRC.read_bytes()
    assert PROFILE.read_bytes() == PROFILE_SRC.read_bytes()
    for name, path in MAN_PAGES.items():
        assert path.is_file(), path
        assert gzip.decompress(path.read_bytes()) == MAN_SRC[name].read_bytes(), path
    conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "libpam-mfa"]).stdout
    assert str(CONFFILE) in [ln.split()[0] for ln in conffiles.splitlines() if ln.strip()], \
        conffiles
    # dpkg's lists hold exactly these, besides docs and lintian overrides
    owned = set(installed.owned["libpam-mfa"]) | set(installed.owned["mfa-enroll"])
    assert {str(p) for p in INSTALLED_PATHS} <= owned, owned
    extra = {p for p in owned - {str(p) for p in INSTALLED_PATHS}
             if not p.startswith(("/usr/share/doc/", "/usr/share/lintian/overrides/"))}
    assert not extra, f"unexpected files in the packages: {sorted(extra)}"
    assert str(INSTALLED_CLI) in installed.owned["mfa-enroll"]
    assert str(INSTALLED_MODULE) in installed.owned["libpam-mfa"]
    for lang, path in CATALOGS.items():
        assert str(path) in installed.owned["libpam-mfa"], path
        assert catalog_text(path) == catalog_text(BUILD / "locale" / lang / "LC_MESSAGES/pam_mfa.mo")
    # The LDAP store is its own package: hosts using files never get libldap.
    plugin = PAMDIR / "pam_mfa" / "store_ldap.so"
    ldap_files = {str(plugin), "/usr/share/man/man5/pam_mfa-ldap.5.gz",
                  *(f"/usr/share/pam_mfa/ldap/{n}" for n in ("pam_mfa.schema", "pam_mfa.ldif", "acl-example.ldif", "mirror-mode-example.ldif",
                                                              *DS389_FILES))}
    assert ldap_files <= set(installed.owned["libpam-mfa-ldap"]), installed.owned["libpam-mfa-ldap"]
    assert plugin.stat().st_uid == 0 and stat.S_IMODE(plugin.stat().st_mode) == 0o644
    assert "libldap" not in run(["readelf", "-d", str(INSTALLED_MODULE)]).stdout


def test_depends_name_this_releases_libraries(installed):
    """Depends come from shlibs, not from a hard-coded list: every library an installed binary
    needs is named by the package that holds it on this release (libssl3 on Debian 12,
    libssl3t64 on Debian 13)."""
    binaries = {"libpam-mfa": INSTALLED_MODULE, "mfa-enroll": INSTALLED_CLI,
                "libpam-mfa-ldap": PAMDIR / "pam_mfa" / "store_ldap.so"}
    for pkg, binary in binaries.items():
        depends = {d.strip().split(" ")[0].split(":")[0]
                   for d in run(["dpkg-query", "-W", "-f=${Depends}", pkg]).stdout.replace("|", ",").split(",")}
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", run(["readelf", "-d", str(binary)]).stdout)
        ldd = run(["ldd", str(binary)]).stdout
        resolved = dict(re.findall(r"^\s*(\S+) => (/\S+)", ldd, re.M))
        # the dynamic loader is listed by its path alone
        resolved.update((Path(p).name, p) for p in re.findall(r"^\s*(/\S+) \(0x", ldd, re.M))
        assert needed, binary
        for lib in needed:
            assert lib in resolved, (binary, lib, resolved)
            owner = owning_package(Path(os.path.realpath(resolved[lib])))
            assert owner in depends, f"{pkg} needs {lib} from {owner}, but Depends is {sorted(depends)}"


def test_example_stacks_and_sshd_drop_in_are_installed(installed):
    examples = Path("/usr/share/doc/libpam-mfa/examples")
    for name in ("sshd", "sshd_config", "sudo", "login"):
        assert (examples / name).read_bytes() == (REPO / "pam" / name).read_bytes(), name


def test_profile_is_registered_but_not_enabled(installed):
    for p in Path("/etc/pam.d").glob("common-*"):
        assert "pam_mfa" not in p.read_text(), p
    diff = snapshot_diff(installed.before, snapshot())
    assert not [d for d in diff if d.startswith("/etc/pam.d/common-")], diff
    # postinst ran pam-auth-update --package: the profile is known (seen), not used
    assert "mfa" in Path("/var/lib/pam/seen").read_text().split()
    assert "Module: mfa" not in Path("/var/lib/pam/auth").read_text()


def test_enroll_with_the_installed_cli(enrolled):
    assert f"Enrolling {USER}" in enrolled.out, enrolled.out
    pw = run(["getent", "passwd", USER]).stdout.split(":")
    uid, gid = int(pw[2]), int(pw[3])
    st = os.lstat(enrolled.path)
    assert stat.S_ISREG(st.st_mode)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (uid, gid, 0o600), (
        st.st_uid, st.st_gid, oct(st.st_mode))
    dst = os.lstat(enrolled.path.parent)
    assert (dst.st_uid, stat.S_IMODE(dst.st_mode)) == (uid, 0o700)
    assert f"secret={enrolled.secret}" in enrolled.path.read_text()


def test_sshd_stack(services, enrolled):
    check_enrolled_stack(services["sshd"], enrolled, wrong_password=True)


def test_sudo_stack(services, enrolled, users):
    check_enrolled_stack(services["sudo"], enrolled)
    # no nullok in pam/sudo: a user who has not enrolled is refused despite the password
    conv = pamtester(services["sudo"], USER2, {"password": users[1]})
    assert conv.asked == ["password"] and not conv.ok, str(conv)


def test_pam_auth_update_profile_in_a_namespace(installed, enrolled, users):
    """`pam-auth-update --enable mfa` over copies of /etc/pam.d, /var/lib/pam and debconf in a
    private mount namespace: common-auth gets pam_mfa after pam_unix, enrolled users need the
    code, users without an enrollment still get in with their password (nullok)."""
    host_common_auth = Path("/etc/pam.d/common-auth").read_bytes()
    work = Path(tempfile.mkdtemp(prefix="pam_mfa_pkgtest."))
    try:
        pamd, varlibpam, debconf = work / "pam.d", work / "var-lib-pam", work / "debconf"
        shutil.copytree("/etc/pam.d", pamd, symlinks=True)
        shutil.copytree("/var/lib/pam", varlibpam, symlinks=True)
        shutil.copytree("/var/cache/debconf", debconf, symlinks=True)
        svc = SERVICE_PREFIX + "profile"
        (pamd / svc).write_text("@include common-auth\naccount required pam_permit.so\n")
        binds = binds_script([(pamd, "/etc/pam.d"), (varlibpam, "/var/lib/pam"),
                              (debconf, "/var/cache/debconf"),
                              (namespace_conf(work), CONFFILE)])

        proc = run(ns_command(f"{binds} && pam-auth-update --enable mfa"))
        text = (pamd / "common-auth").read_text()
        lines = [ln.split() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
        mfa = [i for i, w in enumerate(lines) if "pam_mfa.so" in w]
        unix = [i for i, w in enumerate(lines) if "pam_unix.so" in w]
        assert len(mfa) == 1 and unix, (proc.stdout, proc.stderr, text)
        assert lines[mfa[0]] == ["auth", "required", "pam_mfa.so", "nullok"], text
        assert mfa[0] > max(unix), text
        assert "Module: mfa" in (varlibpam / "auth").read_text()

        def ns_login(user, answers):
            return answer_prompts(ns_command(f"{binds} && exec pamtester {svc} {user} authenticate"),
                            answers)

        secret = enrolled.secret
        # the next step's code (the enrollment used up the current one); the locker's is newer
        steps = Steps(secret)
        steps.last = int(time.time()) // PERIOD + 1
        conv = ns_login(USER, {"password": enrolled.password,
                               "code": code(secret, steps.last * PERIOD + 1)})
        assert conv.asked == ["password", "code"] and conv.ok, str(conv)
        conv = ns_login(USER, {"password": enrolled.password, "code": wrong_code(secret)})
        assert conv.asked == ["password", "code"] and not conv.ok, str(conv)
        conv = ns_login(USER2, {"password": users[1]})
        assert conv.asked == ["password"] and conv.ok, str(conv)
        # a screen locker runs as the user: the installed setuid helper checks the code
        locker = answer_prompts(ns_command(f"{binds} && exec setpriv --reuid {USER} --regid {USER} "
                                     f"--init-groups pamtester {svc} {USER} authenticate"),
                          {"password": enrolled.password, "code": steps.next_code()})
        assert locker.asked == ["password", "code"] and locker.ok, str(locker)
        # the logins used the namespace's state directory
        assert (work / "state" / USER).is_file()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert str(work) not in mounted_paths(), "a namespace mount leaked to the host"
    assert Path("/etc/pam.d/common-auth").read_bytes() == host_common_auth
    assert "pam_mfa" not in Path("/etc/pam.d/common-auth").read_text()


def test_installed_files_work_without_the_swift_toolchain(services, enrolled):
    work = Path(tempfile.mkdtemp(prefix="pam_mfa_pkgtest."))
    try:
        hide = (f"mount -t tmpfs none {SWIFT_ROOT} && " if SWIFT_ROOT.is_dir() else "")
        script = (
            f"{hide}"
            f"if [ -e {SWIFT_ROOT}/usr/bin/swift ] || command -v swift >/dev/null; then "
            f"echo SWIFT_STILL_VISIBLE; exit 5; fi && "
            f"{INSTALLED_CLI} --help >/dev/null; echo HELP_STATUS=$? && "
            f"{binds_script([(namespace_conf(work), CONFFILE)])} && "
            f"exec pamtester {services['sudo']} {USER} authenticate")
        conv = answer_prompts(ns_command(script), {"password": enrolled.password,
                                             "code": next_step_code(enrolled.secret)})
        assert "SWIFT_STILL_VISIBLE" not in conv.output, str(conv)
        assert "HELP_STATUS=0" in conv.output, str(conv)
        assert conv.asked == ["password", "code"] and conv.ok, str(conv)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if SWIFT_ROOT.is_dir():
        assert (SWIFT_ROOT / "usr/bin/swift").exists(), "the tmpfs leaked out of the namespace"


def test_lintian_is_clean(debs):
    proc = run(["lintian", "--fail-on", "error,warning", *debs.values()], check=False,
               timeout=300)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)


def catalog_text(mo: Path) -> list:
    """A .mo file's messages; dh_strip_nondeterminism clamps its PO-Revision-Date in the .deb."""
    lines = run(["msgunfmt", str(mo)]).stdout.splitlines()
    return [line for line in lines if not line.startswith('"PO-Revision-Date:')]


def install_tree(dest: Path) -> set:
    return {str(p.relative_to(dest)) for p in dest.rglob("*") if not p.is_dir()}


def test_make_install_and_uninstall():
    # install depends on build (not run here: `-o build` installs the current build, which
    # `make build` would re-strip and so make the .debs look out of date)
    dry = run(["make", "-n", "install", "SKIP_DEPS=1", "DESTDIR=/nonexistent", "PREFIX=/usr"],
              cwd=REPO).stdout
    assert "swift build" in dry and dry.index("swift build") < dry.index("install -D"), dry
    dest = Path(tempfile.mkdtemp(prefix="pam_mfa_pkgtest."))
    try:
        def make(target, prefix="/usr", destdir=dest):
            return run(["make", "--no-print-directory", "-o", "build", target,
                        f"DESTDIR={destdir}", f"PREFIX={prefix}", "SKIP_DEPS=1"], cwd=REPO)

        make("install")
        expected = {
            f"{PAMDIR_IN_TREE}/pam_mfa.so": (BUILT_MODULE, 0o644),
            "usr/bin/mfa-enroll": (BUILT_CLI, 0o755),
            "usr/share/man/man8/pam_mfa.8": (REPO / "man/pam_mfa.8", 0o644),
            "usr/share/man/man5/pam_mfa.conf.5": (REPO / "man/pam_mfa.conf.5", 0o644),
            "usr/share/man/man1/mfa-enroll.1": (REPO / "man/mfa-enroll.1", 0o644),
            "usr/share/pam-configs/mfa": (PROFILE_SRC, 0o644),
            "etc/security/pam_mfa.conf": (CONF_SRC, 0o644),
            f"{PAMDIR_IN_TREE}/pam_mfa/store_ldap.so": (BUILT_PLUGIN, 0o644),
            f"{PAMDIR_IN_TREE}/pam_mfa/mfa_chkcode": (BUILT_HELPER, 0o4755),
            "usr/share/man/man8/mfa_chkcode.8": (REPO / "man/mfa_chkcode.8", 0o644),
            "usr/share/man/man5/pam_mfa-ldap.5": (REPO / "man/pam_mfa-ldap.5", 0o644),
            **{f"usr/share/pam_mfa/ldap/{n}": (REPO / "ldap" / n, 0o644)
               for n in ("pam_mfa.schema", "pam_mfa.ldif", "acl-example.ldif", "mirror-mode-example.ldif", *DS389_FILES)},
            **{"usr/" + CATALOG.format(lang): (BUILD / "locale" / lang / "LC_MESSAGES/pam_mfa.mo", 0o644)
               for lang in LINGUAS},
        }
        assert install_tree(dest) == set(expected), sorted(install_tree(dest))
        for rel, (src, mode) in expected.items():
            p = dest / rel
            assert p.read_bytes() == src.read_bytes(), rel
            assert stat.S_IMODE(p.stat().st_mode) == mode, (rel, oct(p.stat().st_mode))

        conf = dest / "etc/security/pam_mfa.conf"
        edited = conf.read_text() + "# local edit kept by make install\nwindow=2\n"
        conf.write_text(edited)
        out = make("install").stdout
        assert conf.read_text() == edited, "make install overwrote pam_mfa.conf"
        assert "keeping existing" in out, out

        make("uninstall")
        assert install_tree(dest) == {"etc/security/pam_mfa.conf"}, sorted(install_tree(dest))
        assert conf.read_text() == edited

        # the default PREFIX moves the CLI and man pages, never the module
        local = dest / "local"
        make("install", prefix="/usr/local", destdir=local)
        tree = install_tree(local)
        assert f"{PAMDIR_IN_TREE}/pam_mfa.so" in tree, sorted(tree)
        assert "usr/local/bin/mfa-enroll" in tree, sorted(tree)
        assert "usr/local/share/man/man8/pam_mfa.8" in tree, sorted(tree)
        assert "usr/local/" + CATALOG.format("de") in tree, sorted(tree)
        make("uninstall", prefix="/usr/local", destdir=local)
        assert install_tree(local) == {"etc/security/pam_mfa.conf"}, sorted(install_tree(local))
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_conffile_edit_survives_reinstall(installed):
    before_common = {p: p.read_bytes() for p in Path("/etc/pam.d").glob("common-*")}
    marker = f"# local edit {secrets.token_hex(4)}\n"
    original = CONFFILE.read_text()
    CONFFILE.write_text(original + marker)
    run(["dpkg", "-i", installed.debs["libpam-mfa"]], timeout=300)
    assert CONFFILE.read_text() == original + marker, CONFFILE.read_text()
    assert package_status("libpam-mfa") == "ii"
    assert {p: p.read_bytes() for p in Path("/etc/pam.d").glob("common-*")} == before_common


def test_login_stack(services, enrolled, users):
    check_enrolled_stack(services["login"], enrolled)
    # pam/login has nullok: a user who has not enrolled logs in with the password alone
    conv = pamtester(services["login"], USER2, {"password": users[1]})
    assert conv.asked == ["password"] and conv.ok, str(conv)


def test_purge_removes_everything(installed, services, enrolled):
    state = STATE_ROOT / "state" / USER
    if not state.exists():      # when run alone: one login creates the state
        conv = login_with_code(services["sudo"], enrolled)
        assert conv.ok, str(conv)
    assert state.is_file(), "the logins left no state to purge"
    run(["dpkg", "--purge", *PACKAGES], timeout=300)
    for p in INSTALLED_PATHS:
        assert not p.exists(), f"{p} is still there after purge"
    for pkg, files in installed.owned.items():
        left = [f for f in files if os.path.lexists(f)]
        assert not left, f"{pkg}: left after purge: {left}"
    assert not STATE_ROOT.exists(), sorted(str(p) for p in STATE_ROOT.rglob("*"))
    listed = run(["dpkg-query", "-W", "-f=${db:Status-Abbrev} ${Package}\n"]).stdout
    ours = [ln for ln in listed.splitlines()
            if ln.split() and ln.split()[-1] in PACKAGES and not ln.startswith("un")]
    assert not ours, ours
    diff = [d for d in snapshot_diff(installed.before, snapshot())
            if d.startswith(("/etc/pam.d/common-", "/var/lib/pam/"))]
    assert not diff, diff
