"""The documentation held to the product: the man pages lint clean, the options
pam_mfa(8) and pam_mfa.conf(5) document are the ones the module accepts (read
from the source and proven through the built module), mfa-enroll(1) and the
CLI's own help name the same options and commands, the README's commands
exist, and every example file in pam/ is used somewhere."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from mfatest.totp import code, fresh_step
from mfatest.world import ENROLL, REPO

MAN = REPO / "man"
PAM_MFA_8 = MAN / "pam_mfa.8"
PAM_MFA_CONF_5 = MAN / "pam_mfa.conf.5"
MFA_ENROLL_1 = MAN / "mfa-enroll.1"
OPTIONS_SWIFT = REPO / "Sources/MFACore/Options/ModuleOptions.swift"
SHIPPED_CONF = REPO / "pam/pam_mfa.conf"
TIMEOUT = 30

LONG_OPTION_RE = re.compile(r"(?<![\w-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*")


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def mdoc_section(path: Path, name: str) -> list:
    """The source lines of the .Sh section `name` (up to the next .Sh)."""
    lines = path.read_text().splitlines()
    starts = [i for i, ln in enumerate(lines) if ln.strip() == f".Sh {name}"]
    assert len(starts) == 1, f"{path.name}: expected one '.Sh {name}', found {len(starts)}"
    out = []
    for ln in lines[starts[0] + 1:]:
        if ln.startswith(".Sh "):
            break
        out.append(ln)
    return out


def documented_names(path: Path, section: str) -> list:
    """The NAME of every '.It Cm NAME' entry in the section."""
    names = []
    for ln in mdoc_section(path, section):
        m = re.match(r"\.It Cm (\S+)", ln)
        if m:
            names.append(m.group(1))
    assert names, f"{path.name}: no '.It Cm' entries in {section}"
    return names


def source_option_names() -> list:
    """The array literal of `public static let names` in ModuleOptions.swift."""
    text = OPTIONS_SWIFT.read_text()
    m = re.search(r"public static let names\s*:[^=]*=\s*\[(.*?)\]\s*\.map", text, re.S)
    assert m, "no `public static let names: ... = [...].map` in ModuleOptions.swift"
    names = re.findall(r'"([^"\\]*)"', m.group(1))
    assert names, m.group(0)
    return names


def cli(*args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NSS_WRAPPER", "PAM_WRAPPER", "LD_PRELOAD"))}
    env.update(LANG="C", LC_ALL="C", COLUMNS="80")
    return subprocess.run([str(ENROLL), *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=TIMEOUT)


def help_subcommands(help_text: str) -> list:
    """The names listed under SUBCOMMANDS: in --help (two-space indented lines)."""
    lines = help_text.splitlines()
    assert "SUBCOMMANDS:" in lines, help_text
    subs = []
    for ln in lines[lines.index("SUBCOMMANDS:") + 1:]:
        if not ln.strip():
            break
        m = re.match(r" {2}([a-z][a-z0-9-]*)(?:\s|$)", ln)
        if m:
            subs.append(m.group(1))
    assert subs, help_text
    return subs


def rendered(path: Path) -> str:
    """The page as a reader sees it (wide, so that no option is broken across lines)."""
    man = subprocess.run(["mandoc", "-Tascii", "-O", "width=1000", str(path)],
                         capture_output=True, check=True, timeout=TIMEOUT)
    return subprocess.run(["col", "-b"], input=man.stdout, capture_output=True,
                          check=True, timeout=TIMEOUT).stdout.decode()


def make_targets() -> set:
    text = (REPO / "Makefile").read_text()
    return {t for ln in text.splitlines()
            if (m := re.match(r"^([A-Za-z0-9_.-]+(?:\s+[A-Za-z0-9_.-]+)*)\s*:(?!=)", ln))
            for t in m.group(1).split()}


# ---------------------------------------------------------------------------
# man pages
# ---------------------------------------------------------------------------


def test_man_pages_lint_clean():
    pages = sorted(MAN.iterdir())
    assert {p.name for p in pages} >= {"pam_mfa.8", "pam_mfa.conf.5", "mfa-enroll.1"}
    proc = subprocess.run(["mandoc", "-Tlint", "-W", "warning", *map(str, pages)],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.stdout + proc.stderr == "", proc.stdout + proc.stderr
    assert proc.returncode == 0


def test_module_options_are_the_documented_ones():
    names = source_option_names()
    assert len(names) == len(set(names)), f"duplicate in ModuleOptions.names: {names}"
    documented = documented_names(PAM_MFA_8, "OPTIONS")
    assert len(documented) == len(set(documented)), documented
    assert set(documented) == set(names), (
        f"only in pam_mfa(8): {sorted(set(documented) - set(names))}; "
        f"only in ModuleOptions.names: {sorted(set(names) - set(documented))}")


def sample_args(env, option: str, secret_arg: str, state: Path) -> list:
    """Module arguments that use `option` with a valid value, plus what the login needs."""
    conf = env.base / "conf-sample"
    if option == "conf" and not conf.exists():
        # the shipped configuration file, with the settings that name no host path
        # uncommented: its example values must be accepted too
        text = SHIPPED_CONF.read_text()
        text = re.sub(r"^#((?:window|deny|fail_interval|unlock_time)=\S+)$", r"\1", text,
                      flags=re.M)
        conf.write_text(text)
        os.chown(conf, 0, 0)
        os.chmod(conf, 0o644)
    samples = {
        "secret": [secret_arg],
        "nullok": ["nullok"],
        "window": ["window=2"],
        "deny": ["deny=5"],
        "fail_interval": ["fail_interval=10m"],
        "unlock_time": ["unlock_time=90s"],
        "state_dir": [],            # always given below
        "conf": [f"conf={conf}"],
        "debug": ["debug"],
        # alice's primary group is alice; she is not in bob's group
        "require_group": ["require_group=alice"],
        "exempt_group": ["exempt_group=bob"],
        "enroll": ["enroll=login"],
        "enroll_deadline": ["enroll_deadline=2099-12-31"],
        "contact": ["contact=helpdesk"],
        "remember": ["remember=1h"],
        "hotp_window": ["hotp_window=20"],
        "max_drift": ["max_drift=4"],
        "prompt": ["prompt=Code:"],
        "combined_prompt": ["combined_prompt=Password+code:"],
        # one prompt for password and code: the answer is the code alone (an empty password)
        "forward_pass": ["forward_pass"],
        "try_first_pass": ["try_first_pass"],
        # pamdrive sets no PAM_AUTHTOK: use_first_pass is accepted, try_first_pass (last) asks
        "use_first_pass": ["use_first_pass", "try_first_pass"],
        # alice has no delivery address here, so nothing is sent
        "deliver": ["deliver=/bin/false"],
        "deliver_ttl": ["deliver_ttl=10m"],
        "deliver_limit": ["deliver_limit=5"],
        "deliver_interval": ["deliver_interval=1h"],
        "deliver_domains": ["deliver_domains=example.org,mail.example.org"],
        "deliver_numbers": ["deliver_numbers=+49,+4415"],
        # the LDAP settings are only checked for their form and stored unless store=ldap:
        # with store=files (the default) the login uses the secret file, never the plugin
        "store": ["store=files"],
        "store_plugin": ["store_plugin=/nonexistent/store_ldap.so"],
        "ldap_uri": ["ldap_uri=ldaps://ldap.example.org"],
        "ldap_base": ["ldap_base=ou=mfa,dc=example,dc=org"],
        "ldap_ca": ["ldap_ca=/etc/ssl/certs/ca-certificates.crt"],
        "ldap_cert": ["ldap_cert=/nonexistent/host.pem", "ldap_key=/nonexistent/host.key"],
        "ldap_key": ["ldap_key=/nonexistent/host.key"],
        "ldap_bind_dn": ["ldap_bind_dn=cn=host-a,ou=hosts,dc=example,dc=org"],
        "ldap_password_file": ["ldap_password_file=/nonexistent/ldap-password"],
        "ldap_timeout": ["ldap_timeout=10s"],
        "ldap_failback": ["ldap_failback=0", "ldap_failback=2m"],
        # used only when the application is not root (pamdrive runs as root here)
        "helper": ["helper=/nonexistent/mfa_chkcode"],
    }
    assert option in samples, f"no sample value for the documented option {option!r}: add one"
    args = [a for a in samples[option] if a != secret_arg]
    return [secret_arg, f"state_dir={state}", *args]


def test_documented_options_are_accepted_by_the_module(env):
    _, secret = env.write_secret()
    secret_arg = f"secret={env.secret_path()}"
    t = fresh_step(margin=8)
    c = code(secret, t)
    for i, option in enumerate(documented_names(PAM_MFA_8, "OPTIONS")):
        state = env.base / f"state-{i}"            # fresh replay state for each login
        args = sample_args(env, option, secret_arg, state)
        run = env.run_pam(args, answers=[c], add_state_dir=False)
        assert run.result != "PAM_SERVICE_ERR", f"{option}: {run}"
        assert run.result == "PAM_SUCCESS", f"{option}: {run}"
        # a near miss of the name is refused
        run = env.run_pam([secret_arg, f"{option}x"], answers=[c])
        assert run.result == "PAM_SERVICE_ERR", f"{option}x: {run}"


@pytest.mark.parametrize("argument", ["remember_me=1d", "nullok=yes", "window=11", "enroll=yes"])
def test_undocumented_or_invalid_option_is_a_service_error(env, argument):
    _, secret = env.write_secret()
    run = env.run_pam([f"secret={env.secret_path()}", argument], answers=[code(secret)])
    assert run.result == "PAM_SERVICE_ERR", str(run)


def test_pam_mfa_conf_5_settings_are_the_options():
    settings = documented_names(PAM_MFA_CONF_5, "SETTINGS")
    assert len(settings) == len(set(settings)), settings
    allowed = set(source_option_names()) - {"conf"}
    assert set(settings) == allowed, (
        f"only in pam_mfa.conf(5): {sorted(set(settings) - allowed)}; "
        f"not documented there: {sorted(allowed - set(settings))}")


def test_shipped_pam_mfa_conf_names_only_settings():
    allowed = set(source_option_names()) - {"conf"}
    keys = []
    for ln in SHIPPED_CONF.read_text().splitlines():
        m = re.match(r"^#?\s*([a-z_]+)\s*=", ln)
        if m:
            keys.append(m.group(1))
    assert keys, "pam/pam_mfa.conf shows no settings"
    assert set(keys) <= allowed, f"unknown keys in pam/pam_mfa.conf: {set(keys) - allowed}"


# ---------------------------------------------------------------------------
# mfa-enroll(1) and the CLI's help
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def helps(enroll_bin) -> dict:
    """{'': --help, 'enroll': help enroll, 'import pskc': help import pskc, ...} for every
    subcommand --help lists, and every subcommand of those (a command group's)."""
    top = cli("--help")
    assert top.returncode == 0, (top.stdout, top.stderr)
    out = {"": top.stdout}
    pending = help_subcommands(top.stdout)
    while pending:
        sub = pending.pop(0)
        proc = cli("help", *sub.split())
        assert proc.returncode == 0, (sub, proc.stdout, proc.stderr)
        assert f"USAGE: mfa-enroll {sub}" in proc.stdout, (sub, proc.stdout)
        out[sub] = proc.stdout
        if "SUBCOMMANDS:" in proc.stdout.splitlines():
            pending += [f"{sub} {nested}" for nested in help_subcommands(proc.stdout)]
    return out


def test_every_help_option_is_in_the_man_page(helps):
    page = rendered(MFA_ENROLL_1)
    page_options = set(LONG_OPTION_RE.findall(page))
    for sub, text in helps.items():
        options = set(LONG_OPTION_RE.findall(text))
        assert options, (sub, text)
        missing = sorted(options - page_options)
        assert not missing, f"help {sub or '(top)'} has options mfa-enroll(1) lacks: {missing}"


def test_every_man_page_option_is_in_the_help(helps):
    page_options = set(LONG_OPTION_RE.findall(rendered(MFA_ENROLL_1)))
    assert page_options, "no --options found in mfa-enroll(1)"
    known = set()
    for text in helps.values():
        known |= set(LONG_OPTION_RE.findall(text))
    assert not page_options - known, (
        f"mfa-enroll(1) names options no help shows: {sorted(page_options - known)}")


def test_every_subcommand_has_a_section(helps):
    source = MFA_ENROLL_1.read_text().splitlines()
    for sub in helps:
        if not sub:
            continue
        if " " in sub:      # a command group's subcommand: named in the group's section
            assert f".Cm {sub}" in source, f"mfa-enroll(1) never names '.Cm {sub}'"
            continue
        assert f".Ss {sub}" in source or f".It Cm {sub}" in source, (
            f"mfa-enroll(1) has no '.Ss {sub}' (or '.It Cm {sub}')")


# ---------------------------------------------------------------------------
# README, Makefile, pam/
# ---------------------------------------------------------------------------


def test_readme_commands_exist():
    readme = (REPO / "README.md").read_text()
    targets = make_targets()
    for cmd in ("make demo", "make test"):
        assert cmd in readme, f"README no longer mentions `{cmd}`"
    assert {"demo", "test"} <= targets, sorted(targets)
    # and every other `make TARGET` the README mentions
    mentioned = set(re.findall(r"\bmake ([a-z][a-z0-9_-]*)\b", readme))
    assert not mentioned - targets, f"README names missing make targets: {mentioned - targets}"


def test_readme_states_the_two_commands_and_the_prerequisites():
    """The clean-root runner (and so CI) runs exactly these; the prerequisites line is the
    toolchain group the runner installs into a fresh root, and nothing else."""
    readme = (REPO / "README.md").read_text()
    try_it = readme.split("## Try it", 1)[1].split("\n## ", 1)[0]
    block = try_it.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]
    assert commands == ["DEMO_AUTO=1 make demo", "make test"], commands
    runner = (REPO / "Tests/clean-root/run").read_text()
    assert 'set -- "DEMO_AUTO=1 make demo" "make test"' in runner
    # make test runs the first command too, so the demo cannot break unnoticed
    test_recipe = (REPO / "Makefile").read_text().split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "DEMO_AUTO=1 $(MAKE) --no-print-directory demo" in test_recipe, test_recipe
    groups = (REPO / "Tests/deps/apt-packages").read_text()
    toolchain = " ".join(line.split(":", 1)[1] for line in groups.splitlines() if line.startswith("toolchain:"))
    named = re.search(r"`apt-get install ([^`]+)`", try_it).group(1).split()
    bookworm = {p.split("@")[0] for p in toolchain.split() if "@" not in p or p.endswith("@bookworm")}
    assert sorted(named) == sorted(bookworm), (named, bookworm)
    for release_only in (p for p in toolchain.split() if "@" in p):
        assert release_only.split("@")[0] in try_it, release_only


def test_readme_secret_file_format_names_every_authenticator_field():
    """Every key the parser takes on a totp/hotp line appears in README's format example."""
    parser = (REPO / "Sources/MFACore/Model/SecretFileFormat.swift").read_text()
    allowed = re.search(r'let allowed = \[(.*?)\]\n', parser)
    assert allowed, "parseOTP's list of allowed keys not found"
    keys = set(re.findall(r'"(\w+)"', allowed.group(1)))
    assert {"secret", "confirmed"} <= keys, keys
    readme = (REPO / "README.md").read_text()
    block = readme.split("**Secret file format**", 1)[1].split("```", 2)[1]
    missing = {k for k in keys if not re.search(rf"\b{k}=", block)}
    assert not missing, f"README's secret file format omits {sorted(missing)}"


def test_every_pam_file_is_used():
    pam = REPO / "pam"
    files = sorted(str(p.relative_to(REPO)) for p in pam.rglob("*") if p.is_file())
    assert files, "pam/ is empty"
    this = Path(__file__).resolve()
    haystack = [p for p in (REPO / "Tests").rglob("*")
                if p.is_file() and p.resolve() != this and "__pycache__" not in p.parts]
    haystack += [REPO / "Package.swift", REPO / "Makefile"]
    haystack += [p for p in (REPO / "debian").iterdir() if p.is_file()]
    texts = []
    for p in haystack:
        try:
            texts.append(p.read_text())
        except UnicodeDecodeError:
            continue
    blob = "\n".join(texts)
    unused = [f for f in files
              if not re.search(re.escape(f) + r"(?![\w.-])", blob)]
    assert not unused, f"not referenced by Tests/, Package.swift, debian/ or Makefile: {unused}"


def readme_sshd_drop_in() -> str:
    """The sshd settings block of README's "Set it up for SSH", as an admin would copy it."""
    readme = (REPO / "README.md").read_text()
    step = readme.split("5. Put the sshd settings in a drop-in file", 1)[1].split("\n6. ", 1)[0]
    block = step.split("```\n", 1)[1].split("```", 1)[0]
    return "\n".join(line.strip() for line in block.splitlines()) + "\n"


def sshd_check(tmp_path: Path, drop_in: str | None, appended: str | None) -> subprocess.CompletedProcess:
    """`sshd -t` on Debian's stock sshd_config (openssh-server's own template), its Include
    pointed at a private sshd_config.d holding drop_in, with appended added at its end."""
    stock = Path("/usr/share/openssh/sshd_config").read_text()
    assert "Include /etc/ssh/sshd_config.d/*.conf" in stock, "Debian's sshd_config changed"
    conf_d = tmp_path / "sshd_config.d"
    conf_d.mkdir(exist_ok=True)
    for old in conf_d.iterdir():
        old.unlink()
    if drop_in is not None:
        (conf_d / "pam_mfa.conf").write_text(drop_in)
    text = stock.replace("Include /etc/ssh/sshd_config.d/*.conf", f"Include {conf_d}/*.conf")
    config = tmp_path / "sshd_config"
    config.write_text(text + (appended or ""))
    key = tmp_path / "host_key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return subprocess.run(["/usr/sbin/sshd", "-t", "-f", str(config), "-h", str(key)],
                          capture_output=True, text=True)


@pytest.fixture
def privsep_dir():
    """sshd -t wants its privilege separation directory; made here only when missing."""
    path = Path("/run/sshd")
    made = not path.exists()
    if made:
        path.mkdir(mode=0o755)
    yield
    if made:
        path.rmdir()


def test_readme_sshd_settings_pass_sshd_t_on_debians_stock_file(tmp_path, privsep_dir):
    drop_in = readme_sshd_drop_in()
    # the README shows the shipped drop-in's settings, word for word
    shipped = (REPO / "pam/sshd_config").read_text().splitlines()
    assert drop_in.strip().splitlines() == shipped[shipped.index("UsePAM yes"):], (drop_in, shipped)
    # As the README says: a drop-in, then sshd -t.
    proc = sshd_check(tmp_path, drop_in, None)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    # What the README said before: appended to the end, Debian's own "no" wins.
    proc = sshd_check(tmp_path, None, drop_in)
    assert proc.returncode != 0 and "keyboard-interactive" in proc.stderr, (proc.returncode, proc.stderr)
