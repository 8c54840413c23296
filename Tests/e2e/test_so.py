"""The shipped pam_mfa.so as a binary: exports, dependencies, no toolchain needed."""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from mfatest.totp import code, fresh_step
from mfatest.world import MODULE, PAMDRIVE, REPO

# libcrypto is dlopen()ed when a code is checked, never linked (test_libcrypto.py).
ALLOWED_NEEDED = {"libc.so.6", "libpam.so.0"}
SWIFT_ROOT = Path("/opt/swift")


def exported_symbols(path) -> list:
    """(type, name) of the defined dynamic symbols other objects can bind to.

    LOCAL entries in .dynsym (the linker keeps some there after a version
    script has made them local) are not exported, and ABS entries named after
    version nodes are not symbols, so both are left out."""
    out = subprocess.run(["readelf", "--dyn-syms", "-W", str(path)],
                         capture_output=True, text=True, check=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split()
        # Num: Value Size Type Bind Vis Ndx Name
        if len(parts) < 8 or not parts[0].rstrip(":").isdigit():
            continue
        typ, bind, ndx, name = parts[3], parts[4], parts[6], parts[7]
        if ndx == "UND" or bind == "LOCAL":
            continue
        if ndx == "ABS" and typ == "OBJECT" and parts[2] == "0":
            continue
        syms.append((typ, name.split("@")[0]))
    return syms


def test_exports_only_pam_sm_functions(module_so):
    syms = exported_symbols(module_so)
    names = {n for _, n in syms}
    assert "pam_sm_authenticate" in names, syms
    assert "pam_sm_setcred" in names, syms
    assert "pam_sm_acct_mgmt" in names, syms
    others = sorted(n for n in names if not n.startswith("pam_sm_"))
    assert others == [], f"unexpected exported symbols: {others}"
    for typ, name in syms:
        assert typ == "FUNC", (typ, name)


def test_dlopen_and_lookup_with_ctypes(module_so):
    script = (
        "import ctypes, sys\n"
        "lib = ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_LOCAL)\n"
        "for name in ('pam_sm_authenticate', 'pam_sm_setcred', 'pam_sm_acct_mgmt'):\n"
        "    getattr(lib, name)\n"
        "for name in ('swift_retain', 'swift_release', 'swift_allocObject'):\n"
        "    try:\n"
        "        getattr(lib, name)\n"
        "    except AttributeError:\n"
        "        continue\n"
        "    print('visible:', name)\n"
        "    sys.exit(3)\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(module_so)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", (proc.stdout, proc.stderr)


def dynamic_section(path) -> str:
    return subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True,
                          check=True).stdout


def test_no_rpath_or_runpath(module_so):
    d = dynamic_section(module_so)
    assert "(RPATH)" not in d, d
    assert "(RUNPATH)" not in d, d


def test_needed_libraries_are_minimal(module_so):
    d = dynamic_section(module_so)
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", d))
    assert needed, d
    assert needed <= ALLOWED_NEEDED, f"extra NEEDED: {sorted(needed - ALLOWED_NEEDED)}"
    assert "libpam.so.0" in needed


def test_no_executable_stack(module_so):
    out = subprocess.run(["readelf", "-lW", str(module_so)], capture_output=True,
                         text=True, check=True).stdout
    stack = [line for line in out.splitlines() if "GNU_STACK" in line]
    assert stack and "RWE" not in stack[0], stack


def test_loads_without_swift_toolchain(env):
    if not SWIFT_ROOT.is_dir():
        pytest.skip("/opt/swift does not exist here: nothing to hide")
    swift_before = (SWIFT_ROOT / "usr" / "bin" / "swift").exists()
    _, secret = env.write_secret()
    args = env.module_args(f"secret={env.secret_path()}")
    env.write_service([f"auth required {MODULE} {' '.join(args)}"])
    t = fresh_step(margin=5)
    c = code(secret, t)
    env.remember(c)
    drive = " ".join(shlex.quote(x) for x in [
        str(PAMDRIVE), "--confdir", str(env.confdir), "--service", "mfa-test",
        "--user", "alice", "--answer", c])
    inner = (
        f"mount -t tmpfs none {SWIFT_ROOT} && "
        f"if [ -e {SWIFT_ROOT}/usr/bin/swift ]; then echo SWIFT_STILL_VISIBLE; exit 5; fi && "
        f"{drive}"
    )
    proc = subprocess.run(["unshare", "-m", "sh", "-c", inner], capture_output=True,
                          text=True, env=env.env(), timeout=60)
    if "Operation not permitted" in proc.stderr and "unshare" in proc.stderr:
        pytest.skip(f"cannot unshare a mount namespace here: {proc.stderr.strip()}")
    assert "SWIFT_STILL_VISIBLE" not in proc.stdout
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "RESULT PAM_SUCCESS 0" in proc.stdout.splitlines(), (proc.stdout, proc.stderr)
    # the host's view is untouched
    assert (SWIFT_ROOT / "usr" / "bin" / "swift").exists() == swift_before, \
        "the tmpfs leaked out of the namespace"


def test_only_the_embedded_configuration_declares_the_module():
    """A plain `swift build` must never make a pam_mfa.so (it would load the Swift runtime into
    sshd): Package.swift declares the module only when MFA_EMBEDDED=1 (`make build`)."""
    def products(embedded: bool) -> list:
        env = {k: v for k, v in os.environ.items() if k != "MFA_EMBEDDED"}
        if embedded:
            env["MFA_EMBEDDED"] = "1"
        out = subprocess.run(["swift", "package", "dump-package"], cwd=REPO, env=env,
                             capture_output=True, text=True, check=True, timeout=120).stdout
        return [p["name"] for p in json.loads(out)["products"]]

    assert "pam_mfa" not in products(embedded=False)
    assert {"pam_mfa", "mfa_chkcode"} <= set(products(embedded=True))
