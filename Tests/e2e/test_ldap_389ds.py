"""389 Directory Server: checks of the shipped schema (ldap/389ds/60pam_mfa.ldif) and access
rules (ldap/389ds/aci-example.ldif) against a private 389-ds instance (mfatest.dsdir), and of
what the server answers the store. The fleet guarantees themselves run against 389-ds as
against OpenLDAP in test_ldap.py, whose `directory` fixture has both.
"""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest

from mfatest.dsdir import DS_SCHEMA_LDIF, running_ds_directory
from mfatest.ldapdir import SCHEMA_LDIF, LDAPError, parse_ldif


@pytest.fixture(scope="module")
def directory():
    """A private 389-ds instance on 127.0.0.1 for the checks of this module."""
    with running_ds_directory() as d:
        yield d


# ---------------------------------------------------------------------------
# the shipped schema
# ---------------------------------------------------------------------------


def definitions(text: str, attributes: tuple[str, ...]) -> list[str]:
    """The values of attributes in LDIF text, unfolded, whitespace collapsed, X-ORIGIN left out."""
    unfolded = re.sub(r"\n ", "", "\n".join(ln for ln in text.splitlines() if not ln.startswith("#")))
    found = []
    for line in unfolded.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() in {a.lower() for a in attributes}:
            value = re.sub(r"\s+X-ORIGIN\s+(\([^)]*\)|'[^']*')", "", value)
            found.append(" ".join(value.split()))
    return found


def test_389ds_schema_has_the_openldap_definitions():
    """ldap/389ds/60pam_mfa.ldif and ldap/pam_mfa.ldif define the same, in the same order."""
    ds = DS_SCHEMA_LDIF.read_text()
    ours = definitions(ds, ("attributeTypes", "objectClasses"))
    openldap = definitions(SCHEMA_LDIF.read_text(), ("olcAttributeTypes", "olcObjectClasses"))
    assert ours == openldap
    assert len(ours) == 8 and "NAME 'pamMfaRevision'" in ours[5], ours
    assert "NAME 'pamMfaClockOffset'" in ours[6] and "$ pamMfaClockOffset )" in ours[7], ours[7]
    assert ds.count("X-ORIGIN 'pam_mfa' )") == 8


def server_schema(d: DSDirectory) -> list[str]:
    proc = d._run("ldapsearch", [*d._bind_args(None), "-LLL", "-o", "ldif-wrap=no", "-b", "cn=schema",
                                 "-s", "base", "(objectClass=*)", "attributeTypes", "objectClasses"])
    return [v for v in proc.stdout.splitlines() if "pamMfa" in v]


def test_389ds_loaded_the_shipped_schema_file(directory):
    d = directory
    loaded = server_schema(d)
    want = definitions(DS_SCHEMA_LDIF.read_text(), ("attributeTypes", "objectClasses"))
    assert sorted(definitions("\n".join(loaded), ("attributeTypes", "objectClasses"))) == sorted(want), loaded
    assert all("'pam_mfa'" in v for v in loaded), loaded


def test_389ds_schema_header_loads_it_with_ldapmodify_too(directory):
    """The header's sed | ldapmodify line is accepted by the running server (which keeps the
    definitions it already has from the schema file, and marks them 'user defined')."""
    d = directory
    header = DS_SCHEMA_LDIF.read_text()
    command = re.search(r"^#\s+(sed .*) 60pam_mfa\.ldif \| ldapmodify ", header, re.M)
    assert command, "no sed | ldapmodify line in the header"
    argv = shlex.split(command.group(1))
    assert argv[0] == "sed", argv
    converted = subprocess.run(["sed", *argv[1:], str(DS_SCHEMA_LDIF)], capture_output=True, text=True,
                               check=True).stdout
    assert converted.count("changetype: modify") == 8 and "add: objectClasses" in converted, converted
    d.modify(converted)
    revision = [v for v in server_schema(d) if "NAME 'pamMfaRevision'" in v]
    assert len(revision) == 1 and "'user defined'" in revision[0], revision


# ---------------------------------------------------------------------------
# the shipped access rules, identity by identity
# ---------------------------------------------------------------------------


def client(d: DSDirectory, who: str, uri: str) -> tuple[list[str], dict[str, str]]:
    """ldap-utils arguments and environment to bind as who over uri (TLS either way)."""
    tls = ["-ZZ"] if uri.startswith("ldap://") else []
    env = d.client_env()
    if who in ("host-a", "host-z"):
        cert, key = d.host_cert(who)
        env = d.client_env(cert, key)
        bind = ["-Y", "EXTERNAL", "-Q"]
    elif who == "host-b":
        bind = ["-x", "-D", d.bind_dn, "-w", d.bind_password]
    elif who == "alice":
        person = f"uid=alice,ou=people,{d.suffix}"
        if d.search(person) is None:
            d.add_person("alice", "alice-ldap-pw")
        bind = ["-x", "-D", person, "-w", "alice-ldap-pw"]
    else:
        assert who == "anonymous"
        bind = ["-x"]
    return [*tls, "-H", uri, *bind], env


def run_as(d: DSDirectory, who: str, uri: str, tool: str, *args: str, ldif: str | None = None):
    argv, env = client(d, who, uri)
    return subprocess.run([tool, *argv, *args], input=ldif, capture_output=True, text=True, env=env,
                          timeout=60)


def visible(d: DSDirectory, who: str, uri: str, dn: str, scope="base") -> list[str]:
    proc = run_as(d, who, uri, "ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-b", dn, "-s", scope,
                  "(objectClass=*)", "*")
    assert proc.returncode in (0, 32), (who, dn, proc.returncode, proc.stderr)
    return [entry_dn for entry_dn, _ in parse_ldif(proc.stdout)]


def new_account(d: DSDirectory, uid: str) -> str:
    dn = f"uid={uid},{d.base}"
    if d.search(dn) is not None:
        d.modify(f"dn: {dn}\nchangetype: delete\n")
    d.modify(f"dn: {dn}\nchangetype: add\nobjectClass: pamMfaAccount\nuid: {uid}\n"
             "pamMfaStep: totp:default:100\npamMfaRevision: 1\n")
    return dn


@pytest.mark.parametrize("who, how", [("host-a", "starttls"), ("host-a", "ldaps"), ("host-b", "starttls")])
def test_389ds_pam_mfa_hosts_read_write_and_create_pam_mfa_entries(directory, who, how):
    d = directory
    uri = d.uri if how == "starttls" else d.ldaps_uri
    whoami = run_as(d, who, uri, "ldapwhoami")
    assert whoami.returncode == 0 and whoami.stdout.strip() == f"dn: cn={who},ou=hosts,{d.suffix}", \
        (whoami.stdout, whoami.stderr)

    # an entry the store made: read, compare-and-swap the revision and the step mark
    dn = new_account(d, f"dsprobe-{who}")
    assert dn in visible(d, who, uri, d.base, "one")
    assert visible(d, who, uri, d.base) == [d.base], "a host must see the base entry"
    got = d.search(dn, as_user=None)
    assert got["pamMfaStep"] == [b"totp:default:100"], got
    swap = (f"dn: {dn}\nchangetype: modify\ndelete: pamMfaRevision\npamMfaRevision: 1\n-\n"
            "add: pamMfaRevision\npamMfaRevision: 2\n-\ndelete: pamMfaStep\npamMfaStep: totp:default:100\n-\n"
            "add: pamMfaStep\npamMfaStep: totp:default:101\n-\nreplace: pamMfaFailures\npamMfaFailures: 1 2 0 0\n")
    first = run_as(d, who, uri, "ldapmodify", ldif=swap)
    assert first.returncode == 0, first.stderr
    stale = run_as(d, who, uri, "ldapmodify", ldif=swap)
    assert stale.returncode == 16, stale.stderr  # noSuchAttribute: lost the race, nothing applied
    assert d.search(dn, "pamMfaRevision", "pamMfaStep", "pamMfaFailures") == {
        "pamMfaRevision": [b"2"], "pamMfaStep": [b"totp:default:101"], "pamMfaFailures": [b"1 2 0 0"]}

    # a new entry: pamMfaAccount only, only under ou=mfa
    mine = f"uid=dsnew-{who},{d.base}"
    if d.search(mine) is not None:
        d.modify(f"dn: {mine}\nchangetype: delete\n")
    add = f"dn: {mine}\nchangetype: add\nobjectClass: pamMfaAccount\nuid: dsnew-{who}\npamMfaRevision: 1\n"
    assert run_as(d, who, uri, "ldapmodify", ldif=add).returncode == 0
    assert run_as(d, who, uri, "ldapmodify", ldif=add).returncode == 68  # alreadyExists
    for other in (f"dn: uid=dsother-{who},{d.base}\nchangetype: add\nobjectClass: account\nuid: dsother-{who}\n",
                  f"dn: uid=dsother-{who},ou=hosts,{d.suffix}\nchangetype: add\nobjectClass: pamMfaAccount\n"
                  f"uid: dsother-{who}\n"):
        proc = run_as(d, who, uri, "ldapmodify", ldif=other)
        assert proc.returncode == 50, (other, proc.stderr)

    # ... and nothing else: not uid, not the entry itself, not ou=mfa, not its own host entry
    for ldif in (f"dn: {dn}\nchangetype: modify\nreplace: uid\nuid: mallory\n",
                 f"dn: {dn}\nchangetype: delete\n",
                 f"dn: {d.base}\nchangetype: modify\nreplace: description\ndescription: x\n",
                 f"dn: {d.base}\nchangetype: modify\nadd: aci\naci: (targetattr = \"*\")(version 3.0; "
                 "acl \"x\"; allow (all) userdn = \"ldap:///anyone\";)\n",
                 f"dn: cn={who},ou=hosts,{d.suffix}\nchangetype: modify\nreplace: description\ndescription: x\n"):
        proc = run_as(d, who, uri, "ldapmodify", ldif=ldif)
        assert proc.returncode == 50, (ldif, proc.returncode, proc.stderr)
    assert d.search(dn) is not None and d.search(mine) is not None


@pytest.mark.parametrize("who", ["host-z", "alice", "anonymous"])
def test_389ds_nobody_else_sees_or_touches_ou_mfa(directory, who):
    """A host in no group (its certificate maps to cn=host-z), the user, and anonymous see
    nothing of ou=mfa, though everyone may read the rest of the tree."""
    d = directory
    dn = new_account(d, "dsprobe-secret")
    if who == "host-z":
        whoami = run_as(d, who, d.uri, "ldapwhoami")
        assert whoami.stdout.strip() == f"dn: cn=host-z,ou=hosts,{d.suffix}", (whoami.stdout, whoami.stderr)
    assert visible(d, who, d.uri, f"ou=hosts,{d.suffix}"), "the rest of the tree is readable"
    assert visible(d, who, d.uri, d.base, "sub") == []
    assert visible(d, who, d.uri, dn) == []
    for ldif in (f"dn: {dn}\nchangetype: modify\nreplace: pamMfaFailures\npamMfaFailures: 0 0 0 0\n",
                 f"dn: {dn}\nchangetype: delete\n",
                 f"dn: uid=dsnew-{who},{d.base}\nchangetype: add\nobjectClass: pamMfaAccount\nuid: dsnew-{who}\n"):
        proc = run_as(d, who, d.uri, "ldapmodify", ldif=ldif)
        assert proc.returncode in (50, 32), (ldif, proc.returncode, proc.stderr)
    assert d.search(dn, "pamMfaStep") == {"pamMfaStep": [b"totp:default:100"]}


def test_389ds_answers_the_store_gets(directory):
    """What 389-ds answers where it differs from OpenLDAP (pinned so that an upgrade that
    changes one is noticed): no assertion control; a second value of a single-valued
    attribute is objectClassViolation (65; OpenLDAP: constraintViolation, 19); and a host
    that modifies a missing entry is told insufficientAccess (50), since ACIs hide whether it
    exists (the rootdn gets noSuchObject, 32)."""
    d = directory
    dn = new_account(d, "dsprobe-codes")
    uri = d.uri

    def modify(ldif: str, who="host-a", *extra: str) -> int:
        return run_as(d, who, uri, "ldapmodify", *extra, ldif=ldif).returncode

    change = f"dn: {dn}\nchangetype: modify\nreplace: pamMfaFailures\npamMfaFailures: 1 2 0 0\n"
    assert modify(change, "host-a", "-e", "!assert=(pamMfaRevision=1)") == 12  # unavailableCriticalExtension
    assert modify(f"dn: {dn}\nchangetype: modify\nadd: pamMfaRevision\npamMfaRevision: 2\n") == 65
    assert modify(f"dn: {dn}\nchangetype: modify\nadd: pamMfaRevision\npamMfaRevision: 1\n") == 20
    assert modify(f"dn: {dn}\nchangetype: modify\nadd: pamMfaStep\npamMfaStep: totp:default:100\n") == 20
    assert modify(f"dn: {dn}\nchangetype: modify\ndelete: pamMfaStep\npamMfaStep: totp:default:99\n") == 16
    assert modify(f"dn: {dn}\nchangetype: modify\ndelete: pamMfaFailures\n") == 16
    missing = f"dn: uid=dsprobe-nobody,{d.base}\nchangetype: modify\nreplace: pamMfaFailures\npamMfaFailures: 1 2 0 0\n"
    assert modify(missing) == 50
    assert modify(missing, "host-b") == 50
    with pytest.raises(LDAPError) as raised:
        d.modify(missing)
    assert raised.value.returncode == 32
    # a base search for a missing entry is noSuchObject for a host too
    proc = run_as(d, "host-a", uri, "ldapsearch", "-b", f"uid=dsprobe-nobody,{d.base}", "-s", "base")
    assert proc.returncode == 32, proc.stderr
    assert d.search(dn, "pamMfaRevision", "pamMfaFailures") == {"pamMfaRevision": [b"1"]}


def test_389ds_search_limits_of_the_fixture(directory):
    """limit_plain_searches and default_size_limit do on 389-ds what they do on slapd, so the
    listing test proves paging here too."""
    d = directory
    for uid in ("dslimit-1", "dslimit-2"):
        new_account(d, uid)
    one_level = ["-LLL", "-b", d.base, "-s", "one", "(objectClass=pamMfaAccount)", "1.1"]
    try:
        d.limit_plain_searches("host-a", 1)
        plain = run_as(d, "host-a", d.uri, "ldapsearch", *one_level)
        assert plain.returncode == 4, (plain.returncode, plain.stderr)  # sizeLimitExceeded
        paged = run_as(d, "host-a", d.uri, "ldapsearch", "-E", "pr=1/noprompt", *one_level)
        assert paged.returncode == 0 and paged.stdout.count("dn: ") >= 2, (paged.stdout, paged.stderr)
    finally:
        d.limit_plain_searches("host-a", None)
    assert run_as(d, "host-a", d.uri, "ldapsearch", *one_level).returncode == 0
    config = d.search("cn=config", "nsslapd-sizelimit")
    assert config == {"nsslapd-sizelimit": [str(d.default_size_limit).encode()]}, config


def test_389ds_listens_on_loopback_only(directory):
    d = directory
    listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout.splitlines()
    mine = [line.split()[3] for line in listening
            if line.split()[3].rsplit(":", 1)[1] in (str(d.port), str(d.ldaps_port))]
    assert sorted(mine) == sorted([f"127.0.0.1:{d.port}", f"127.0.0.1:{d.ldaps_port}"]), listening
