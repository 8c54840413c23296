"""A private 389 Directory Server for the store=ldap end-to-end tests: DSDirectory is
mfatest.ldapdir.Directory's counterpart, with the same interface as the tests use it.

Debian's 389-ds-base assumes systemd, which this machine may not have: dscreate and dsctl
start and stop instances with systemctl.  So the instance is created with lib389's own
installer (under /usr/bin/python3, the only interpreter that imports lib389) told not to use
systemd, stopped when it is made (start = False), configured offline (listen on 127.0.0.1
only, TLS with the test CA's server certificate, client certificates mapped by certmap.conf,
the shipped ldap/389ds/60pam_mfa.ldif in its schema directory), and then run by ns-slapd
itself.  The base entries are those of the OpenLDAP fixture, and the access rules are the
shipped ldap/389ds/aci-example.ldif with its suffix replaced (the tests prove those files),
plus one rule that lets everyone read the rest of the tree (acl-example.ldif's rules 1-3), so
that the tests show ou=mfa stays hidden even then.

    d = DSDirectory(tmpdir); d.start()
    d.uri / d.ldaps_uri / d.ldapi_uri, d.base, d.suffix, d.ca
    d.host_cert("host-a") -> (cert, key)    client certificate for SASL EXTERNAL
    d.bind_dn, d.bind_password              host-b, simple bind over TLS
    d.root_dn, d.root_password              cn=Directory Manager (bypasses the ACIs)
    d.search(dn, *attrs, as_user=None), d.modify(ldif), d.add_person(uid, password)
    d.limit_plain_searches("host-a", 1), d.default_size_limit
    d.pause() / d.resume(), d.stop() / d.start(), d.remove(), and `with DSDirectory(t) as d:`

389-ds insists on a few places outside tmpdir: the instance's configuration and NSS database
(/etc/dirsrv/slapd-NAME) and its pid file (/run/dirsrv/slapd-NAME.pid).  Everything else
(database, logs, locks, the ldapi socket) is under tmpdir, which user dirsrv must be able to
reach.  ns-slapd runs as a daemon (in the foreground, -d, it writes no error log), so it is not
a child of the test: remove() stops it by its pid and deletes the instance (dsctl NAME remove
--do-it), atexit does that for an instance a test left behind, and the next DSDirectory
removes those of test processes that were killed outright (remove_orphans).  The database is
LMDB (see db_lib), and the server's size limit is slapd's 500 entries (default_size_limit).

Identities: cn=host-a and cn=host-b (ou=hosts) are members of cn=pam-mfa-hosts (ou=groups).
A client certificate with subject CN=NAME maps to the entry with cn=NAME (certmap.conf), so
host_cert(NAME) for any other NAME also adds cn=NAME,ou=hosts, in no group: a valid host the
directory does not let in, as a certificate mapped to a DN nobody created is for OpenLDAP.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

from mfatest.ldapdir import EXAMPLE_SUFFIX, REPO, SUFFIX, Directory, LDAPError

DS_SCHEMA_LDIF = REPO / "ldap" / "389ds" / "60pam_mfa.ldif"
DS_ACI_LDIF = REPO / "ldap" / "389ds" / "aci-example.ldif"
DS_CERTMAP = REPO / "ldap" / "389ds" / "certmap-example.conf"
EXAMPLE_ISSUER = "CN=pam_mfa hosts CA,O=Example"
TEST_ISSUER = "CN=pam_mfa test CA"  # the subject of ldapdir's test CA

NS_SLAPD = "/usr/sbin/ns-slapd"
DSCTL = "/usr/sbin/dsctl"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python3-lib389 is importable by it only
CONFIG_ROOT = Path("/etc/dirsrv")
RUN_DIR = Path("/run/dirsrv")
USER = "dirsrv"

ROOT_DN = "cn=Directory Manager"
ROOT_PW = "directory-manager-secret"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
CREATE_TIMEOUT = 180

# lib389's installer, without systemd: DirSrv.start/stop then run ns-slapd and signal it.
CREATE = """\
import logging, sys
import lib389
from lib389.instance.setup import SetupDs
lib389.DirSrv.with_systemd = lambda self: False
logging.basicConfig(level=logging.INFO, format="%(message)s")
SetupDs(verbose=False, dryrun=False, log=logging.getLogger("dscreate")).create_from_inf(sys.argv[1])
"""

TMP_PREFIX = "pam_mfa_389ds."  # tempfile.mkdtemp(prefix=TMP_PREFIX): a test's directory for one
NAME_PREFIX = "mfatest"        # instance names: NAME_PREFIX + the pid of the test process + -N

_instances: set[DSDirectory] = set()  # created and not removed yet
_counter = 0


def _remove_leftovers() -> None:
    for d in list(_instances):
        try:
            d.remove()
        except Exception:
            pass


atexit.register(_remove_leftovers)


def unavailable() -> str | None:
    """Why no 389-ds instance can be made here, or None."""
    if os.geteuid() != 0:
        return "not root: a 389-ds instance needs /etc/dirsrv/slapd-NAME and runs as user dirsrv"
    if not os.access(NS_SLAPD, os.X_OK):
        return f"389-ds-base is not installed ({NS_SLAPD} is missing): Tests/deps/install test"
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return f"389-ds-base is installed, but its user {USER} does not exist"
    proc = subprocess.run([SYSTEM_PYTHON, "-c", "import lib389"], capture_output=True, text=True)
    if proc.returncode != 0:
        return f"{SYSTEM_PYTHON} cannot import lib389 (python3-lib389): {proc.stderr.strip()[-300:]}"
    return None


def _pid_alive(pid: int) -> bool:
    """pid is a live process (a zombie is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class DSDirectory(Directory):
    root_dn = ROOT_DN
    root_password = ROOT_PW
    # LMDB, not 389-ds 2.3's default Berkeley DB: with BDB, 20 logins of one user at once on a
    # loaded 2-core machine wait 0.25-0.46 s (median) and up to 1.9 s for each modify of the
    # user's entry, and one in five runs of the CPU-hog test had a login time out at
    # ldap_timeout=2; with LMDB the median is 14-32 ms and the longest 0.2 s.
    # MFA_E2E_389DS_DB_LIB=bdb runs the tests on BDB.
    db_lib = os.environ.get("MFA_E2E_389DS_DB_LIB", "mdb")

    def __init__(self, tmpdir: Path | str):
        global _counter
        if self.db_lib not in ("bdb", "mdb"):
            raise ValueError(f"db_lib {self.db_lib!r}: bdb or mdb")
        super().__init__(tmpdir)
        _counter += 1
        self.name = f"{NAME_PREFIX}{os.getpid()}-{_counter}"
        self.config_dir = CONFIG_ROOT / f"slapd-{self.name}"
        self.pid_file = RUN_DIR / f"slapd-{self.name}.pid"
        self.data = self.dir / "ds"  # owned by dirsrv: database, logs, locks, ldapi socket
        self.socket = self.data / "ldapi"
        self.ldapi_uri = "ldapi://" + urllib.parse.quote(str(self.socket), safe="")
        self.log = self.data / "log" / "errors"
        self._ready_marker = self.dir / "ds-ready"
        self.pid: int | None = None
        self.timings: dict[str, float] = {}

    # -- lifecycle ------------------------------------------------------------

    def __exit__(self, *exc) -> None:
        self.remove()

    @property
    def running(self) -> bool:
        return self.pid is not None and _pid_alive(self.pid)

    def start(self) -> None:
        """Create and set up the instance (first time only), start ns-slapd, wait until it
        answers."""
        if self.running:
            return
        if not self._ready_marker.exists():
            self._setup()
            self._ready_marker.touch()
            return
        self._start_server()

    def stop(self) -> None:
        """SIGTERM ns-slapd and wait until it has gone (about 3 s); the instance stays."""
        pid = self.pid if self.pid is not None else self._server_pid()
        if pid is None:
            return
        if _pid_alive(pid):
            os.kill(pid, signal.SIGCONT)  # in case it is paused
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        self._kill_hard()

    def pause(self) -> None:
        """SIGSTOP ns-slapd: connections are accepted by the kernel but never answered."""
        assert self.running, "ns-slapd is not running"
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.running, "ns-slapd is not running"
        os.kill(self.pid, signal.SIGCONT)

    def remove(self) -> None:
        """Stop the server and delete the instance: /etc/dirsrv/slapd-NAME, the pid file and
        the data under tmpdir."""
        self.stop()
        if self.config_dir.exists():
            # dsctl prints a D-Bus error without systemd, but removes everything.
            subprocess.run([DSCTL, self.name, "remove", "--do-it"], capture_output=True,
                           text=True, timeout=120)
            shutil.rmtree(self.config_dir, ignore_errors=True)
        self.pid_file.unlink(missing_ok=True)
        shutil.rmtree(self.data, ignore_errors=True)
        self._ready_marker.unlink(missing_ok=True)
        _instances.discard(self)

    def _kill_hard(self) -> None:
        for pid in {self.pid, self._server_pid()} - {None}:
            if _pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)  # works on a stopped process too
                except ProcessLookupError:
                    pass
                deadline = time.monotonic() + 10
                while _pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.02)
        self.pid = None

    def _server_pid(self) -> int | None:
        """The pid of this instance's ns-slapd, by its pid file or by its -D argument (the
        installer's own server, if it failed halfway)."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
            if self._is_ours(pid):
                return pid
        except (OSError, ValueError, IndexError):
            pass
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and self._is_ours(int(entry.name)):
                return int(entry.name)
        return None

    def _is_ours(self, pid: int) -> bool:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return argv[:1] == [NS_SLAPD.encode()] and str(self.config_dir).encode() in argv

    @staticmethod
    def remove_orphans() -> list[str]:
        """Remove the instances of test processes that are gone without removing them (killed
        with SIGKILL, so atexit never ran): stop their server by its pid and delete them and
        their data.  Another test run's live instances are left alone.  Returns their names."""
        removed = []
        for config in CONFIG_ROOT.glob(f"slapd-{NAME_PREFIX}*"):
            match = re.fullmatch(rf"slapd-({NAME_PREFIX}(\d+)-\d+)", config.name)
            if not match or _pid_alive(int(match.group(2))):
                continue
            orphan = DSDirectory.__new__(DSDirectory)
            orphan.name, orphan.config_dir = match.group(1), config
            orphan.pid_file = RUN_DIR / f"slapd-{orphan.name}.pid"
            orphan.pid = None
            dse = config / "dse.ldif"
            ldif_dir = re.search(r"^nsslapd-ldifdir: (.+)$", dse.read_text(), re.M) if dse.exists() else None
            data = Path(ldif_dir.group(1)).parent if ldif_dir else None
            orphan.stop()
            subprocess.run([DSCTL, orphan.name, "remove", "--do-it"], capture_output=True, text=True,
                           timeout=120)
            shutil.rmtree(config, ignore_errors=True)
            orphan.pid_file.unlink(missing_ok=True)
            if data is not None and data.name == "ds":
                tmp = data.parent
                shutil.rmtree(tmp if tmp.name.startswith(TMP_PREFIX) else data, ignore_errors=True)
            removed.append(orphan.name)
        return removed

    def _start_server(self) -> None:
        self.pid_file.unlink(missing_ok=True)
        log_start = self.log.stat().st_size if self.log.exists() else 0
        started = time.monotonic()
        # ns-slapd daemonizes: it returns once it has forked (and fails at once on a bad
        # configuration, e.g. a schema file it cannot read).
        proc = subprocess.run([NS_SLAPD, "-D", str(self.config_dir), "-i", str(self.pid_file)],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"ns-slapd exited with {proc.returncode}: {proc.stderr[-2000:]}"
                               f"\nits error log:\n{self._log_text(log_start)}")
        _instances.add(self)
        try:
            self._wait_ready(started, log_start)
        except RuntimeError:
            self._kill_hard()
            raise
        self.timings["start"] = time.monotonic() - started

    def _wait_ready(self, started: float, log_start: int) -> None:
        deadline = started + START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.pid is None:
                pid = self._server_pid()
                if pid is not None:
                    self.pid = pid
            if self.pid is not None and not _pid_alive(self.pid):
                raise RuntimeError(f"ns-slapd exited; its error log:\n{self._log_text(log_start)}")
            last = subprocess.run(
                ["ldapsearch", "-x", "-LLL", "-H", self.ldapi_uri, "-o", "nettimeout=2",
                 "-b", "", "-s", "base", "1.1"],
                capture_output=True, text=True, env=self.client_env())
            if last.returncode == 0 and self.pid is not None:
                return
            time.sleep(0.05)
        raise RuntimeError(f"ns-slapd did not answer within {START_TIMEOUT} s: "
                           f"{last.stderr if last else ''}; its error log:\n{self._log_text(log_start)}")

    # -- setup ----------------------------------------------------------------

    def _setup(self) -> None:
        started = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        self._check_reachable()
        DSDirectory.remove_orphans()
        if self.config_dir.exists():
            raise RuntimeError(f"{self.config_dir} exists already: another instance named {self.name}?")
        if not (self.ca.exists() and self._server_cert.exists()):
            self._make_certs()
        dirsrv = pwd.getpwnam(USER)
        RUN_DIR.mkdir(mode=0o770, exist_ok=True)  # where the pid file must be
        os.chown(RUN_DIR, dirsrv.pw_uid, dirsrv.pw_gid)
        shutil.rmtree(self.data, ignore_errors=True)
        self.data.mkdir(mode=0o700)
        os.chown(self.data, dirsrv.pw_uid, dirsrv.pw_gid)
        _instances.add(self)
        try:
            self._create()
            self.timings["dscreate"] = time.monotonic() - started
            self._configure_offline()
            self._start_server()
            # slapd's default size limit, paged searches too (389-ds: 2000 entries)
            self.modify(f"dn: cn=config\nchangetype: modify\nreplace: nsslapd-sizelimit\n"
                        f"nsslapd-sizelimit: {self.default_size_limit}\n")
            self.modify(self._base_ldif_changes())
            self.modify(self._read_everything_else_ldif())
            self.modify(self.acl_ldif())
            # TLS works (the test CA's server certificate, accepted by NSS) and certmap maps
            self._run("ldapwhoami", ["-x", "-ZZ", "-H", self.uri])
        except BaseException as e:
            log = self._log_text()
            self.remove()
            raise RuntimeError(f"the 389-ds instance {self.name} did not come up properly: {e}\n"
                               f"its error log:\n{log}") from None
        self.timings["create"] = time.monotonic() - started

    def _check_reachable(self) -> None:
        """ns-slapd runs as dirsrv and must reach its data directory under tmpdir."""
        for p in [self.dir, *self.dir.parents]:
            st = p.stat()
            if not st.st_mode & stat.S_IXOTH:
                raise ValueError(f"{p} is not searchable by others: user {USER} cannot reach "
                                 f"{self.dir} (use a directory like tempfile.mkdtemp's, mode 0755)")

    def _inf(self) -> str:
        d = self.data
        return f"""\
[general]
full_machine_name = localhost
strict_host_checking = False
selinux = False
systemd = False
start = False

[slapd]
instance_name = {self.name}
port = {self.port}
secure_port = {self.ldaps_port}
root_dn = {ROOT_DN}
root_password = {ROOT_PW}
self_sign_cert = False
db_lib = {self.db_lib}
ldapi = {self.socket}
db_dir = {d}/db
db_home_dir = {d}/db
ldif_dir = {d}/ldif
backup_dir = {d}/bak
log_dir = {d}/log
run_dir = {d}/run
lock_dir = {d}/lock
inst_dir = {d}/inst
tmp_dir = {d}/tmp

[backend-userroot]
suffix = {SUFFIX}
create_suffix_entry = True
sample_entries = no
"""

    def _create(self) -> None:
        inf = self.dir / "instance.inf"
        inf.write_text(self._inf())
        inf.chmod(0o600)
        proc = subprocess.run([SYSTEM_PYTHON, "-c", CREATE, str(inf)], capture_output=True,
                              text=True, timeout=CREATE_TIMEOUT, cwd=self.dir)
        if proc.returncode != 0 or not (self.config_dir / "dse.ldif").exists():
            raise LDAPError(f"creating the 389-ds instance {self.name} with lib389", proc)

    def _configure_offline(self) -> None:
        """What needs a restart, done while the server is stopped: loopback only, TLS on
        with the test CA's certificates, the certificate mapping and the pam_mfa schema."""
        dirsrv = pwd.getpwnam(USER)
        dse = self.config_dir / "dse.ldif"
        text = dse.read_text()
        head = "dn: cn=config\ncn: config\n"
        assert head in text, f"unexpected {dse}"
        dse.write_text(text.replace(head, head + "nsslapd-security: on\n"
                                    "nsslapd-listenhost: 127.0.0.1\n"
                                    "nsslapd-securelistenhost: 127.0.0.1\n", 1))
        pin = self.config_dir / "pwdfile.txt"
        self._nss("certutil", "-A", "-d", str(self.config_dir), "-f", str(pin),
                  "-n", "pam_mfa test CA", "-t", "CT,,", "-a", "-i", str(self.ca))
        p12 = self.tls / "server.p12"
        self._openssl("pkcs12", "-export", "-in", str(self._server_cert), "-inkey", str(self._server_key),
                      "-name", "Server-Cert", "-passout", "pass:server-p12", "-out", str(p12))
        self._nss("pk12util", "-i", str(p12), "-d", str(self.config_dir), "-k", str(pin),
                  "-W", "server-p12")
        p12.unlink()
        certmap = self.config_dir / "certmap.conf"
        mapping = [line for line in DS_CERTMAP.read_text().splitlines()
                   if line.strip() and not line.startswith("#")]
        certmap.write_text("certmap default\tdefault\n"
                           + "".join(line.replace(EXAMPLE_ISSUER, TEST_ISSUER) + "\n" for line in mapping))
        schema = self.config_dir / "schema" / DS_SCHEMA_LDIF.name
        shutil.copyfile(DS_SCHEMA_LDIF, schema)
        for path, mode in ((certmap, 0o440), (schema, 0o440)):
            os.chown(path, dirsrv.pw_uid, dirsrv.pw_gid)
            path.chmod(mode)

    def _nss(self, tool: str, *args: str) -> None:
        proc = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise LDAPError(f"{tool} {' '.join(args)}", proc)

    def _base_ldif_changes(self) -> str:
        """The OpenLDAP fixture's base entries (ou=mfa, ou=hosts, host-a, host-b, the hosts
        group), as ldapmodify adds; lib389 made the suffix entry (a domain)."""
        blocks = [b for b in self._base_ldif().split("\n\n")
                  if b.strip() and not b.startswith(f"dn: {SUFFIX}\n")]
        return "\n".join(re.sub(r"^(dn: [^\n]*\n)", r"\1changetype: add\n", b) + "\n" for b in blocks)

    def _read_everything_else_ldif(self) -> str:
        """acl-example.ldif's rules 1-3 in 389-ds form: everyone reads the tree, except
        passwords.  Without it everything is hidden by default and the tests would not show
        that aci-example.ldif keeps ou=mfa hidden in a directory where the rest is readable."""
        return (f"dn: {SUFFIX}\nchangetype: modify\nadd: aci\n"
                '''aci: (targetattr != "userPassword")(version 3.0; acl "tests: everyone reads '''
                '''the rest of the tree"; allow (read, search, compare) userdn = "ldap:///anyone";)\n''')

    def acl_ldif(self) -> str:
        """The shipped ldap/389ds/aci-example.ldif for this directory's suffix."""
        return DS_ACI_LDIF.read_text().replace(EXAMPLE_SUFFIX, SUFFIX)

    # -- clients --------------------------------------------------------------

    def host_cert(self, name: str) -> tuple[Path, Path]:
        cert, key = super().host_cert(name)
        if name not in ("host-a", "host-b") and self.running:
            try:
                self.modify(f"dn: cn={name},ou=hosts,{SUFFIX}\nchangetype: add\n"
                            f"objectClass: applicationProcess\ncn: {name}\n"
                            "description: a host in no group: its certificate maps, the ACIs let it see nothing\n")
            except LDAPError as e:
                if e.returncode != 68:  # alreadyExists
                    raise
        return cert, key

    def limit_plain_searches(self, host: str, entries: int | None) -> None:
        """The host entry's nsSizeLimit (searches without paging) and nsPagedSizeLimit (-1: no
        limit for paged ones); None removes both."""
        values = (f"nsSizeLimit: {entries}\n", "nsPagedSizeLimit: -1\n") if entries is not None else ("", "")
        self.modify(f"dn: cn={host},ou=hosts,{SUFFIX}\nchangetype: modify\nreplace: nsSizeLimit\n{values[0]}"
                    f"-\nreplace: nsPagedSizeLimit\n{values[1]}")

    def _bind_args(self, as_user: tuple[str, str] | None) -> list[str]:
        if as_user is None:
            return ["-x", "-H", self.ldapi_uri, "-D", ROOT_DN, "-w", ROOT_PW]
        return super()._bind_args(as_user)


@contextlib.contextmanager
def running_ds_directory():
    """A started DSDirectory for one test module (about 7 s to make; tests that stop it start
    the same instance again), removed at the end; pytest.skip with the reason where 389-ds
    cannot run here."""
    import pytest

    reason = unavailable()
    if reason:
        pytest.skip(reason)
    # user dirsrv must reach its data under it: not under pytest's 0700 tmp_path_factory
    base = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
    try:
        os.chmod(base, 0o755)
        d = DSDirectory(base)
        try:
            d.start()
            yield d
        finally:
            d.remove()
    finally:
        shutil.rmtree(base, ignore_errors=True)
