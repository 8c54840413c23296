"""Shared fixtures for the pam_mfa end-to-end tests; the helpers are in the mfatest package.

The tests drive the built artefacts (build/pam_mfa.so, build/mfa-enroll)
through real libpam, with fake users from nss_wrapper and syslog captured by
an LD_PRELOAD shim.  TOTP codes always come from oathtool, an independent
implementation; Python never computes a code itself.

Everything a test creates lives in its own directory under /tmp (made
world-traversable, because the module reads a user's secret file with that
user's privileges) and is removed when the test ends.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from mfatest.desk import CONF, Desk, Syslog
from mfatest.ldapdir import Directory, MirrorPair
from mfatest.pam import Env, RealEnv, world
from mfatest.system import create_user, delete_user
from mfatest.world import ENROLL, HELPER_BUILT, LDAP_REFUSE, MODULE, PAMDRIVE, SYSLOGCAP


@pytest.fixture(scope="session")
def test_tools() -> None:
    """The C test tools are built by `make test-tools` (make e2e-test runs it), never here."""
    for tool in (PAMDRIVE, SYSLOGCAP, LDAP_REFUSE):
        if not tool.exists():
            pytest.fail(f"{tool.name} was not built: run make test-tools (make e2e-test does)")


@pytest.fixture(scope="session")
def module_so(test_tools) -> Path:
    if not MODULE.exists():
        pytest.fail(f"{MODULE} does not exist: build it first (make)")
    return MODULE


@pytest.fixture(scope="session")
def enroll_bin() -> Path:
    if not ENROLL.exists():
        pytest.fail(f"{ENROLL} does not exist: build it first (make)")
    return ENROLL


@pytest.fixture
def env(test_tools, module_so):
    """A fresh world for one module test; checks the syslog for leaks at the end."""
    yield from world(Env)


@pytest.fixture
def stock_env(test_tools):
    """The same world without needing pam_mfa.so (for checking the test tools)."""
    yield from world(Env)


@pytest.fixture
def real_env(test_tools, module_so):
    """A world for users from the real /etc/passwd."""
    yield from world(RealEnv)


@pytest.fixture
def tmpdir_world():
    """A bare world-traversable temp dir, removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="pam_mfa_e2e."))
    try:
        os.chmod(base, 0o755)
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def root_store():
    """A private root-owned directory under /var/lib (root-owned, not group/other
    writable all the way up): a root-owned store as the module defines it."""
    for p in ("/", "/var", "/var/lib"):
        st = os.lstat(p)
        assert st.st_uid == 0 and not st.st_mode & 0o022 and stat.S_ISDIR(st.st_mode), (
            f"{p} is not a root-owned, non-writable directory; cannot test the root store")
    d = Path(tempfile.mkdtemp(prefix="pam_mfa_e2e.", dir="/var/lib"))
    try:
        os.chmod(d, 0o700)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    """A private slapd on 127.0.0.1 (mfatest.ldapdir), for the tests of one module."""
    base = tmp_path_factory.mktemp("ldap")
    os.chmod(base, 0o755)
    d = Directory(base)
    d.start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def mirror_pair(tmp_path_factory):
    """Two private slapd in OpenLDAP mirror mode (mfatest.ldapdir.MirrorPair), one test CA."""
    base = tmp_path_factory.mktemp("ldap-pair")
    os.chmod(base, 0o755)
    with MirrorPair(base) as pair:
        yield pair


@pytest.fixture(scope="module")
def delta_pair(tmp_path_factory):
    """The same pair with delta-syncrepl, configured from the shipped ldap/mirror-mode-example.ldif."""
    base = tmp_path_factory.mktemp("ldap-delta-pair")
    os.chmod(base, 0o755)
    with MirrorPair(base, delta=True) as pair:
        yield pair


@pytest.fixture
def syslog():
    """A socket at /dev/log, or over it in a private mount namespace (the prefix to use)."""
    with tempfile.TemporaryDirectory(prefix="pam_mfa-syslog.") as tmp:
        os.chmod(tmp, 0o755)
        record = Path(tmp) / "lines"
        if os.path.lexists("/dev/log"):
            log = Syslog(Path(tmp) / "log", record)
            prefix = ["unshare", "-m", "sh", "-c",
                      f'mount --bind {tmp}/log /dev/log && exec "$@"', "sh"]
        else:
            log = Syslog(Path("/dev/log"), record)
            prefix = []
        try:
            yield log, prefix
        finally:
            log.close()
            if not prefix:
                os.unlink("/dev/log")


@pytest.fixture
def desk(syslog, module_so):
    """Real users mfalocka and mfalockb, the staged setuid helper, pam_mfa.conf (the host's is
    put back afterwards) and the PAM service `lock`."""
    if not HELPER_BUILT.exists():
        pytest.fail(f"{HELPER_BUILT} was not built: run make build")
    log, prefix = syslog
    names = ["mfalocka", "mfalockb"]
    saved = CONF.read_bytes() if CONF.exists() else None
    base = Path(tempfile.mkdtemp(prefix="pam_mfa-lock."))
    os.chmod(base, 0o755)
    try:
        for name in names:
            create_user(name)
        yield Desk(base, names, log, prefix)
    finally:
        for name in names:
            delete_user(name)
        if saved is None:
            CONF.unlink(missing_ok=True)
        else:
            CONF.write_bytes(saved)
        shutil.rmtree(base, ignore_errors=True)
