"""A private OpenLDAP directory for the store=ldap end-to-end tests.

Directory(tmpdir) builds everything under tmpdir (which the test owns): a test CA and
certificates made with the openssl CLI, a cn=config directory made with slapadd from
generated LDIF (Debian's core/cosine/inetorgperson/nis schemas plus the repository's
ldap/pam_mfa.ldif), an mdb database for dc=pam-mfa,dc=test with the base entries, and the
access rules of the shipped ldap/acl-example.ldif with its suffix replaced, applied through
ldapmodify over ldapi.  /usr/sbin/slapd then runs in the foreground (-d) as a child of the
test, listening only on 127.0.0.1 (StartTLS and ldaps) and on a ldapi socket under tmpdir.

    d = Directory(tmpdir); d.start()
    d.uri / d.ldaps_uri / d.ldapi_uri, d.base, d.ca
    d.host_cert("host-a") -> (cert, key)    client certificate for SASL EXTERNAL
    d.bind_dn, d.bind_password              host-b, simple bind over TLS
    d.add_person("alice", "alicepw")
    d.search(dn, *attrs, as_user=None), d.modify(ldif)
    d.limit_plain_searches("host-a", 1), d.default_size_limit
    d.pause() / d.resume(), d.stop(), and `with Directory(tmpdir) as d:`

Identities: cn=host-a and cn=host-b (ou=hosts) are members of cn=pam-mfa-hosts (ou=groups)
and may read and write ou=mfa; any other host_cert(NAME) maps to cn=NAME,ou=hosts, which
does not exist and is in no group.  The rootdn cn=admin bypasses the access rules.

MirrorPair(tmpdir) is two such directories in OpenLDAP mirror mode (server IDs 1 and 2,
syncprov on both, each a refreshAndPersist consumer of the other, olcMirrorMode TRUE) with
one test CA, so one ldap_ca trusts both:

    with MirrorPair(tmpdir) as pair:
        pair.first, pair.second                 Directory objects (stop/start/pause/resume)
        pair.wait_replicated(dn, attr, value)   until pair.second (or on=) holds the value
        pair.second.stop(); ...write...          a write the standby does not get (yet)

Replication binds as the rootdn over the peer's ldapi socket (it does not depend on the TCP
ports), retries every second, and brings a stopped server up to date when it starts again.

MirrorPair(tmpdir, delta=True) is the same pair with delta-syncrepl, configured FROM the shipped
ldap/mirror-mode-example.ldif (suffix, server ID, the peer's StartTLS URI, paths and secrets
substituted; every placeholder must be found, so the example cannot drift from what is tested):
each server logs its writes in its own cn=accesslog and replays the other's log operation by
operation, binding as cn=replicator over StartTLS and retrying every 5 s as the example says.
Its access rules are the example's (acl-example.ldif's after the replication identity's rule,
checked to be the same rules), not applied afterwards.

A slapd left behind by a crashed test is killed at interpreter exit (atexit) and, if the
test process itself dies, by the kernel (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCHEMA_LDIF = REPO / "ldap" / "pam_mfa.ldif"
ACL_LDIF = REPO / "ldap" / "acl-example.ldif"
MIRROR_LDIF = REPO / "ldap" / "mirror-mode-example.ldif"

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SLAPCAT = "/usr/sbin/slapcat"
MODULE_PATH = "/usr/lib/ldap"
SYSTEM_SCHEMA = Path("/etc/ldap/schema")

SUFFIX = "dc=pam-mfa,dc=test"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PW = "admin-secret"
HOSTS_GROUP = f"cn=pam-mfa-hosts,ou=groups,{SUFFIX}"
REPLICATOR_DN = f"cn=replicator,{SUFFIX}"
REPLICATOR_PW = "replicator-secret"
EXAMPLE_SUFFIX = "dc=example,dc=org"

START_TIMEOUT = 10.0
REPLICATION_TIMEOUT = 20.0

_live: set[Directory] = set()


def _kill_leftovers() -> None:
    for d in list(_live):
        d._kill_hard()


atexit.register(_kill_leftovers)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ssha(password: str) -> str:
    """An {SSHA} userPassword value, as slappasswd makes it."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def parse_ldif(text: str) -> list[tuple[str, dict[str, list[bytes]]]]:
    """Entries of ldapsearch -LLL output as (dn, {attribute: [values]})."""
    entries = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines: list[str] = []
        for line in block.splitlines():
            if line.startswith("#"):
                continue
            if line.startswith(" ") and lines:
                lines[-1] += line[1:]
            else:
                lines.append(line)
        dn, attrs = None, {}
        for line in lines:
            name, sep, rest = line.partition(":")
            if not sep:
                continue
            if rest.startswith(":"):
                value = base64.b64decode(rest[1:].strip())
            elif rest.startswith("<"):
                raise ValueError(f"unexpected URL value in LDIF: {line!r}")
            else:
                value = rest[1:].encode() if rest.startswith(" ") else rest.encode()
            if dn is None and name.lower() == "dn":
                dn = value.decode()
            else:
                attrs.setdefault(name, []).append(value)
        if dn is not None:
            entries.append((dn, attrs))
    return entries


def _olc_access(ldif: str, database: str) -> list[str]:
    """The olcAccess rules of one database entry of an LDIF (unfolded, comments dropped, the
    {n} prefix removed, whitespace runs as one space)."""
    rules, current, in_entry = [], None, False
    for line in ldif.splitlines():
        if line.startswith("#"):
            continue
        if line.startswith(" ") and current is not None:
            rules[-1] += line[1:]
            continue
        current = None
        if line.lower().startswith("dn:"):
            in_entry = line.split(":", 1)[1].strip() == database
        elif in_entry and line.startswith("olcAccess:"):
            rules.append(line.split(":", 1)[1])
            current = rules
    return [" ".join(re.sub(r"^\s*\{\d+\}", "", r).split()) for r in rules]


def check_mirror_example_acl(example: str) -> None:
    """mirror-mode-example.ldif's main database rules are the replication identity's read rule,
    then exactly acl-example.ldif's rules: the two shipped files cannot drift apart."""
    mirror = _olc_access(example, "olcDatabase={1}mdb,cn=config")
    acl = _olc_access(ACL_LDIF.read_text(), "olcDatabase={1}mdb,cn=config")
    replicator = f'to * by dn.exact="cn=replicator,{EXAMPLE_SUFFIX}" read by * break'
    assert acl and mirror == [replicator, *acl], (
        f"{MIRROR_LDIF.name}'s access rules are not the replication identity's and then "
        f"{ACL_LDIF.name}'s:\n{mirror}\n{acl}")


class LDAPError(RuntimeError):
    def __init__(self, what: str, proc: subprocess.CompletedProcess):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        super().__init__(f"{what}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}")


class Directory:
    base = f"ou=mfa,{SUFFIX}"
    suffix = SUFFIX
    root_dn = ROOT_DN
    root_password = ROOT_PW
    hosts_group = HOSTS_GROUP
    bind_dn = f"cn=host-b,ou=hosts,{SUFFIX}"
    bind_password = "host-b-secret"

    def __init__(self, tmpdir: Path | str, server_id: int | None = None,
                 ca_from: Directory | None = None, delta: bool = False):
        """server_id: a mirror-mode member (olcServerID, syncprov); MirrorPair sets its peer.
        ca_from: certificates from that directory's CA (one ldap_ca trusts both).
        delta: a delta-syncrepl mirror-mode member configured from ldap/mirror-mode-example.ldif."""
        self.dir = Path(tmpdir)
        self.server_id = server_id
        self.delta = delta
        assert not delta or server_id is not None, "delta-syncrepl is a mirror-mode set-up"
        self.peer: Directory | None = None  # mirror mode: the server this one replicates from
        self._ca_from = ca_from
        self.tls = self.dir / "tls"
        self.config_dir = self.dir / "slapd.d"
        self.db_dir = self.dir / "db"
        self.log_db_dir = self.dir / "accesslog"   # delta: the cn=accesslog database
        self.socket = self.dir / "ldapi"
        self.log = self.dir / "slapd.log"
        self.ca = self.tls / "ca.pem" if ca_from is None else ca_from.ca
        self._ca_key = self.tls / "ca.key" if ca_from is None else ca_from._ca_key
        self._server_cert = self.tls / "server.pem"
        self._server_key = self.tls / "server.key"
        self._pick_ports()
        self.ldapi_uri = "ldapi://" + urllib.parse.quote(str(self.socket), safe="")
        self._acl_marker = self.dir / "acl-applied"
        self._ever_started = False
        self.proc: subprocess.Popen | None = None
        self._logfile = None

    def _pick_ports(self) -> None:
        self.port = _free_port()
        self.ldaps_port = _free_port()
        while self.ldaps_port == self.port:
            self.ldaps_port = _free_port()
        self.uri = f"ldap://127.0.0.1:{self.port}"
        self.ldaps_uri = f"ldaps://127.0.0.1:{self.ldaps_port}"

    # -- context manager ------------------------------------------------------

    def __enter__(self) -> Directory:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- lifecycle ------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Set up (first time only), start slapd and wait until it answers."""
        if self.running:
            return
        if not (self.config_dir / "cn=config.ldif").exists():
            self._setup()
        for attempt in range(3):
            if self.socket.exists() or self.socket.is_symlink():
                self.socket.unlink()
            log_start = self.log.stat().st_size if self.log.exists() else 0
            self._logfile = open(self.log, "ab")
            self.proc = subprocess.Popen(
                # -d keeps slapd in the foreground as our child; 256 = stats log lines
                [SLAPD, "-d", "256", "-F", str(self.config_dir),
                 "-h", f"{self.uri}/ {self.ldaps_uri}/ {self.ldapi_uri}"],
                stdin=subprocess.DEVNULL, stdout=self._logfile, stderr=subprocess.STDOUT,
                cwd=self.dir, preexec_fn=_die_with_parent)
            _live.add(self)
            try:
                self._wait_ready()
                break
            except RuntimeError as e:
                self._kill_hard()
                lost_port = "Address already in use" in self._log_text(log_start)
                if not (lost_port and not self._ever_started and attempt < 2):
                    raise RuntimeError(f"{e}; slapd's output:\n{self._log_text()}") from None
                # another process took a port between __init__ and now: pick new ones
                self._pick_ports()
        self._ever_started = True
        try:
            if not self._acl_marker.exists():
                if not self.delta:   # delta: the example's configuration holds the rules
                    self._apply_acl()
                self._acl_marker.touch()
            # TLS works (certificates and key formats accepted by GnuTLS)
            self._run("ldapwhoami", ["-x", "-ZZ", "-H", self.uri])
        except BaseException:
            log = self._log_text()
            self._kill_hard()
            raise RuntimeError(f"slapd did not come up properly; its output:\n{log}")

    def stop(self) -> None:
        """Stop slapd and wait for it; the data and ports stay for another start()."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # in case it is paused
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._forget()

    def pause(self) -> None:
        """SIGSTOP slapd: connections are accepted by the kernel but never answered.

        -o nettimeout (LDAP_OPT_NETWORK_TIMEOUT) bounds only connect(), which still
        succeeds; a client needs LDAP_OPT_TIMEOUT (LDAPTIMEOUT=2 for ldap-utils) to give up
        on the answer.  An ldaps:// TLS handshake against a paused slapd hangs even with
        both (libldap 2.5 on Debian does a blocking handshake)."""
        assert self.running, "slapd is not running"
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.running, "slapd is not running"
        self.proc.send_signal(signal.SIGCONT)

    def _kill_hard(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL works on a stopped process too
            self.proc.wait()
        self._forget()

    def _forget(self) -> None:
        self.proc = None
        _live.discard(self)
        if self._logfile is not None:
            self._logfile.close()
            self._logfile = None

    def _log_text(self, start: int = 0) -> str:
        try:
            with open(self.log, "rb") as f:
                f.seek(start)
                return f.read().decode(errors="replace")[-20000:]
        except OSError:
            return ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"slapd exited with {self.proc.returncode}")
            last = subprocess.run(
                ["ldapsearch", "-x", "-LLL", "-H", self.ldapi_uri, "-o", "nettimeout=2",
                 "-b", "", "-s", "base", "1.1"],
                capture_output=True, text=True, env=self.client_env())
            if last.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"slapd did not answer within {START_TIMEOUT} s: "
                           f"{last.stderr if last else ''}")

    # -- setup ----------------------------------------------------------------

    def _openssl(self, *args: str) -> None:
        proc = subprocess.run(["openssl", *args], capture_output=True, text=True, cwd=self.tls)
        if proc.returncode != 0:
            raise LDAPError("openssl " + " ".join(args), proc)

    def _new_key(self, path: Path) -> None:
        # PKCS#8 ("BEGIN PRIVATE KEY"), which GnuTLS (Debian's libldap and slapd) reads;
        # openssl ecparam's "EC PARAMETERS" + "EC PRIVATE KEY" pair is avoided.
        self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-out", str(path))
        path.chmod(0o600)

    def _issue(self, name: str, subject: str, ext: str) -> tuple[Path, Path]:
        cert, key, csr, extfile = (self.tls / f"{name}{s}" for s in (".pem", ".key", ".csr", ".ext"))
        self._new_key(key)
        extfile.write_text(ext)
        self._openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
        self._openssl("x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey", str(self._ca_key),
                      "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "1",
                      "-sha256", "-extfile", str(extfile), "-out", str(cert))
        csr.unlink()
        extfile.unlink()
        return cert, key

    def _make_certs(self) -> None:
        self.tls.mkdir(parents=True, exist_ok=True)
        if self._ca_from is not None:
            if not self.ca.exists():
                self._ca_from._make_certs()
        else:
            self._make_ca()
        self._issue("server", "/CN=localhost",
                    "basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def _make_ca(self) -> None:
        self._new_key(self._ca_key)
        self._openssl("req", "-x509", "-new", "-key", str(self._ca_key), "-days", "1", "-sha256",
                      "-subj", "/CN=pam_mfa test CA",
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                      "-out", str(self.ca))

    def host_cert(self, name: str) -> tuple[Path, Path]:
        """A client certificate with subject CN=name (made once), as (cert, key)."""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", name):
            raise ValueError(f"bad host name {name!r}")
        cert, key = self.tls / f"host-{name}.pem", self.tls / f"host-{name}.key"
        if not (cert.exists() and key.exists()):
            if not self._server_cert.exists():
                self._make_certs()
            made = self._issue(f"host-{name}", f"/CN={name}",
                               "basicConstraints=critical,CA:FALSE\n"
                               "keyUsage=critical,digitalSignature\n"
                               "extendedKeyUsage=clientAuth\n")
            assert made == (cert, key)
        return cert, key

    def _config_ldif(self) -> str:
        if self.delta:
            return self._example_config_ldif()
        mirror = self._mirror_ldif()
        schemas = [SYSTEM_SCHEMA / f"{n}.ldif" for n in ("core", "cosine", "inetorgperson", "nis")]
        schemas.append(SCHEMA_LDIF)
        includes = "".join(f"include: file://{p}\n\n" for p in schemas)
        return f"""\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {self.dir}/slapd.pid
olcArgsFile: {self.dir}/slapd.args
olcTLSCACertificateFile: {self.ca}
olcTLSCertificateFile: {self._server_cert}
olcTLSCertificateKeyFile: {self._server_key}
olcTLSVerifyClient: allow
olcAuthzRegexp: {{0}}"^cn=([a-z0-9][a-z0-9.-]*)$" "cn=$1,ou=hosts,{SUFFIX}"
{mirror["global"]}
dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {MODULE_PATH}
olcModuleLoad: {{0}}back_mdb
{mirror["modules"]}
dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{includes}\
dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth manage by * break

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {self.db_dir}
olcSuffix: {SUFFIX}
olcRootDN: {ROOT_DN}
olcRootPW: {ssha(ROOT_PW)}
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: member eq
olcDbMaxSize: 104857600
{mirror["database"]}"""

    def _mirror_ldif(self) -> dict[str, str]:
        """The mirror-mode parts of cn=config (empty strings for a lone server)."""
        if self.server_id is None:
            return dict.fromkeys(("global", "modules", "database"), "")
        database = "olcDbIndex: entryCSN eq\nolcDbIndex: entryUUID eq\n"
        if self.peer is not None:
            assert self.peer.server_id not in (None, self.server_id), "mirror peers need distinct server IDs"
            database += (
                f'olcSyncrepl: {{0}}rid={self.peer.server_id:03d} provider={self.peer.ldapi_uri} '
                f'bindmethod=simple binddn="{ROOT_DN}" credentials={ROOT_PW} searchbase="{SUFFIX}" '
                f'type=refreshAndPersist retry="1 +" timeout=2 network-timeout=2\n'
                f"olcMirrorMode: TRUE\n")
        database += ("\ndn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config\n"
                     "objectClass: olcOverlayConfig\nobjectClass: olcSyncProvConfig\n"
                     "olcOverlay: {0}syncprov\nolcSpCheckpoint: 100 1\n")
        return {"global": f"olcServerID: {self.server_id}\n",
                "modules": "olcModuleLoad: {1}syncprov\n", "database": database}

    def _example_config_ldif(self) -> str:
        """ldap/mirror-mode-example.ldif for this server: its ID, its peer's StartTLS URI, this
        directory's files and secrets. Each placeholder must be there exactly as the test
        expects it, and the access rules must be acl-example.ldif's."""
        assert self.peer is not None, "a delta-syncrepl member needs its peer"
        text = MIRROR_LDIF.read_text()
        check_mirror_example_acl(text)
        for old, new in [
            ("olcServerID: 1\n", f"olcServerID: {self.server_id}\n"),
            ("rid=002 provider=ldap://ldap2.example.org\n",
             f"rid={self.peer.server_id:03d} provider={self.peer.uri}\n"),
            ("credentials=REPLICATOR-SECRET", f"credentials={REPLICATOR_PW}"),
            ("olcRootPW: {SSHA}set-with-slappasswd", f"olcRootPW: {ssha(ROOT_PW)}"),
            ("/var/run/slapd/slapd.pid", f"{self.dir}/slapd.pid"),
            ("/var/run/slapd/slapd.args", f"{self.dir}/slapd.args"),
            ("/etc/ldap/tls/ca.pem", str(self.ca)),
            ("/etc/ldap/tls/server.pem", str(self._server_cert)),
            ("/etc/ldap/tls/server.key", str(self._server_key)),
            ("olcModulePath: /usr/lib/ldap\n", f"olcModulePath: {MODULE_PATH}\n"),
            ("file:///usr/share/pam_mfa/ldap/pam_mfa.ldif", f"file://{SCHEMA_LDIF}"),
            ("olcDbDirectory: /var/lib/ldap/accesslog\n", f"olcDbDirectory: {self.log_db_dir}\n"),
            ("olcDbDirectory: /var/lib/ldap\n", f"olcDbDirectory: {self.db_dir}\n"),
            (EXAMPLE_SUFFIX, SUFFIX),
        ]:
            assert old in text, f"{MIRROR_LDIF.name} no longer holds {old!r}"
            text = text.replace(old, new)
        return text

    def _base_ldif(self) -> str:
        hosts = "".join(f"member: cn={h},ou=hosts,{SUFFIX}\n" for h in ("host-a", "host-b"))
        # delta: the example's replication identity (it reads; the access rules say so)
        replicator = "" if not self.delta else f"""
dn: {REPLICATOR_DN}
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: replicator
userPassword: {ssha(REPLICATOR_PW)}
"""
        return f"""\
dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: pam-mfa
o: pam_mfa tests

dn: {self.base}
objectClass: organizationalUnit
ou: mfa

dn: ou=people,{SUFFIX}
objectClass: organizationalUnit
ou: people

dn: ou=hosts,{SUFFIX}
objectClass: organizationalUnit
ou: hosts

dn: ou=groups,{SUFFIX}
objectClass: organizationalUnit
ou: groups

dn: cn=host-a,ou=hosts,{SUFFIX}
objectClass: applicationProcess
cn: host-a
description: pam_mfa host, authenticates with a TLS client certificate (SASL EXTERNAL)

dn: {self.bind_dn}
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: host-b
description: pam_mfa host, authenticates with a simple bind
userPassword: {ssha(self.bind_password)}

dn: {HOSTS_GROUP}
objectClass: groupOfNames
cn: pam-mfa-hosts
{hosts}{replicator}"""

    def _slapadd(self, args: list[str], ldif: str) -> None:
        proc = subprocess.run([SLAPADD, "-F", str(self.config_dir), *args],
                              input=ldif, capture_output=True, text=True, cwd=self.dir)
        if proc.returncode != 0:
            raise LDAPError("slapadd " + " ".join(args), proc)

    def _setup(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        for p in (self.config_dir, self.db_dir, self.log_db_dir):
            shutil.rmtree(p, ignore_errors=True)
        self._acl_marker.unlink(missing_ok=True)
        self.config_dir.mkdir(mode=0o700)
        self.db_dir.mkdir(mode=0o700)
        if self.delta:
            self.log_db_dir.mkdir(mode=0o700)
        try:
            if not (self.ca.exists() and self._server_cert.exists()):
                self._make_certs()
            self._slapadd(["-n0"], self._config_ldif())
            if self.server_id is None:
                self._slapadd(["-b", SUFFIX], self._base_ldif())
            elif self.peer is not None and (self.peer.db_dir / "data.mdb").exists():
                # mirror mode starts from identical data: a copy of the peer's (slapcat)
                self._slapadd(["-b", SUFFIX, "-w"], self.peer._slapcat())
            else:
                self._slapadd(["-b", SUFFIX, "-w"], self._base_ldif())  # -w: contextCSN
        except BaseException:
            shutil.rmtree(self.config_dir, ignore_errors=True)  # set up again next time
            raise

    def _slapcat(self) -> str:
        proc = subprocess.run([SLAPCAT, "-F", str(self.config_dir), "-b", SUFFIX],
                              capture_output=True, text=True, cwd=self.dir)
        if proc.returncode != 0:
            raise LDAPError("slapcat", proc)
        return proc.stdout

    def follow_peer_uri(self) -> None:
        """delta: replication uses the peer's StartTLS port, written into this server's
        configuration when it was set up. A peer that had to pick other ports at its first start
        (one was taken meanwhile) is followed through cn=config."""
        proc = self._run("ldapsearch", ["-Y", "EXTERNAL", "-H", self.ldapi_uri, "-LLL", "-o", "ldif-wrap=no",
                                        "-b", "olcDatabase={1}mdb,cn=config", "-s", "base", "olcSyncrepl"])
        (value,) = re.findall(r"^olcSyncrepl: (.*)$", proc.stdout, re.M)
        if f" provider={self.peer.uri} " not in value:
            value = re.sub(r" provider=\S+ ", f" provider={self.peer.uri} ", value)
            self._run("ldapmodify", ["-Y", "EXTERNAL", "-H", self.ldapi_uri],
                      input=f"dn: olcDatabase={{1}}mdb,cn=config\nchangetype: modify\n"
                            f"replace: olcSyncrepl\nolcSyncrepl: {value}\n")

    def acl_ldif(self) -> str:
        """The shipped ldap/acl-example.ldif for this directory's suffix."""
        return ACL_LDIF.read_text().replace(EXAMPLE_SUFFIX, SUFFIX)

    def _apply_acl(self) -> None:
        self._run("ldapmodify", ["-Y", "EXTERNAL", "-H", self.ldapi_uri], input=self.acl_ldif())

    # -- clients --------------------------------------------------------------

    def client_env(self, cert: Path | None = None, key: Path | None = None) -> dict[str, str]:
        """Environment for the ldap-utils clients: trust only the test CA."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LDAP")}
        env.update(LDAPTLS_CACERT=str(self.ca), LDAPTLS_REQCERT="demand")
        if cert is not None:
            env.update(LDAPTLS_CERT=str(cert), LDAPTLS_KEY=str(key))
        return env

    def _run(self, tool: str, args: list[str], input: str | None = None,
             env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([tool, *args], input=input, capture_output=True, text=True,
                              env=env or self.client_env(), timeout=60)
        if check and proc.returncode != 0:
            raise LDAPError(tool, proc)
        return proc

    def _bind_args(self, as_user: tuple[str, str] | None) -> list[str]:
        if as_user is None:
            return ["-x", "-H", self.ldapi_uri, "-D", ROOT_DN, "-w", ROOT_PW]
        dn, password = as_user
        return ["-x", "-ZZ", "-H", self.uri, "-D", dn, "-w", password]

    def search(self, dn: str, *attrs: str,
               as_user: tuple[str, str] | None = None) -> dict[str, list[bytes]] | None:
        """The entry dn (base search) as {attribute: [values]}, or None if it does not
        exist or is invisible to the binding identity (rootdn over ldapi by default)."""
        proc = self._run("ldapsearch",
                         [*self._bind_args(as_user), "-LLL", "-o", "ldif-wrap=no",
                          "-b", dn, "-s", "base", "(objectClass=*)", *attrs], check=False)
        if proc.returncode == 32:  # noSuchObject
            return None
        if proc.returncode != 0:
            raise LDAPError(f"ldapsearch {dn}", proc)
        entries = parse_ldif(proc.stdout)
        return entries[0][1] if entries else None

    def modify(self, ldif: str) -> subprocess.CompletedProcess:
        """ldapmodify as the rootdn over ldapi; raises LDAPError on failure."""
        return self._run("ldapmodify", self._bind_args(None), input=ldif)

    # slapd's limit for an identity without olcLimits: 500 entries per search, paged ones too
    default_size_limit = 500

    def limit_plain_searches(self, host: str, entries: int | None) -> None:
        """cn=HOST,ou=hosts gets at most `entries` entries from a search without paging and
        any number from a paged one; None: the server's default limits again."""
        dn = f"cn={host},ou=hosts,{SUFFIX}"
        change = (f"replace: olcLimits\nolcLimits: dn.exact=\"{dn}\" size.soft={entries} size.hard={entries} "
                  "size.prtotal=unlimited\n" if entries is not None else "replace: olcLimits\n")
        self._run("ldapmodify", ["-Y", "EXTERNAL", "-H", self.ldapi_uri],
                  input=f"dn: olcDatabase={{1}}mdb,cn=config\nchangetype: modify\n{change}")

    def add_person(self, uid: str, password: str) -> str:
        """uid=UID,ou=people with a userPassword; returns its DN."""
        dn = f"uid={uid},ou=people,{SUFFIX}"
        self.modify(f"dn: {dn}\nchangetype: add\nobjectClass: inetOrgPerson\n"
                    f"uid: {uid}\ncn: {uid}\nsn: {uid}\nuserPassword: {ssha(password)}\n")
        return dn


class MirrorPair:
    """Two directories in OpenLDAP mirror mode, each replicating from the other (see the
    module docstring). The tests use one active writer at a time: the hosts list first, then
    second, and reach the second only when the first does not answer."""

    def __init__(self, tmpdir: Path | str, delta: bool = False):
        """delta: delta-syncrepl from ldap/mirror-mode-example.ldif (the module docstring)."""
        base = Path(tmpdir)
        self.delta = delta
        self.first = Directory(base / "first", server_id=1, delta=delta)
        self.second = Directory(base / "second", server_id=2, ca_from=self.first, delta=delta)
        self.first.peer, self.second.peer = self.second, self.first

    def __enter__(self) -> MirrorPair:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def servers(self) -> tuple[Directory, Directory]:
        return self.first, self.second

    def start(self) -> None:
        """Start both (the second from a copy of the first's data), then wait until each
        consumer is connected: a change on either side shows up on the other."""
        try:
            for d in self.servers:
                d.start()
            if self.delta:
                for d in self.servers:
                    d.follow_peer_uri()
            for d, other in (self.first, self.second), (self.second, self.first):
                self.touch(d)
                self.wait_replicated(*self._marker(d), on=other)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for d in self.servers:
            d.stop()

    def other(self, d: Directory) -> Directory:
        return self.second if d is self.first else self.first

    def _marker(self, d: Directory) -> tuple[str, str, str]:
        return f"ou=hosts,{SUFFIX}", "description", f"written on server {d.server_id}"

    def touch(self, d: Directory) -> None:
        """A write on d alone (ou=hosts' description names it), for checking replication."""
        dn, attr, value = self._marker(d)
        d.modify(f"dn: {dn}\nchangetype: modify\nreplace: {attr}\n{attr}: {value}\n")

    def wait_replicated(self, dn: str, attr: str, value: str | None,
                        timeout: float = REPLICATION_TIMEOUT, on: Directory | None = None,
                        only: bool = False) -> float:
        """Wait until `on` (default: the second) holds value among dn's attr values (only=True:
        as its only value; value None: until attr is gone). Returns the seconds it took."""
        on = on or self.second
        start = time.monotonic()
        deadline = start + timeout
        seen = None
        while True:
            assert on.running, f"server {on.server_id} is not running"
            found = on.search(dn, attr)
            seen = [v.decode() for v in (found or {}).get(attr, [])]
            if value is None and not seen:
                return time.monotonic() - start
            if value is not None and value in seen and (not only or len(seen) == 1):
                return time.monotonic() - start
            if time.monotonic() > deadline:
                raise AssertionError(f"not replicated to server {on.server_id} within {timeout} s: "
                                     f"{dn} {attr} is {seen}, waiting for {value!r}")
            time.sleep(0.05)

    def wait_in_sync(self, dn: str, timeout: float = REPLICATION_TIMEOUT) -> dict[str, list[bytes]] | None:
        """Wait until both servers hold the same dn (every attribute and the entryCSN, or
        neither has it); returns it, each attribute's values sorted (their order is the
        server's own: it differs after replication)."""
        deadline = time.monotonic() + timeout
        while True:
            seen = [None if found is None else {k: sorted(vs) for k, vs in found.items()}
                    for found in (d.search(dn, "*", "entryCSN") for d in self.servers)]
            if seen[0] == seen[1]:
                return seen[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"{dn} differs between the servers after {timeout} s: {seen}")
            time.sleep(0.05)
