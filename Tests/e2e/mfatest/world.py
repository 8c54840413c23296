"""The fixed facts of the test world: the built files under test (staged as world-readable
copies), the test tools, nss_wrapper's fake users, the PAM service and the module's prompt."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
BUILD = REPO / "build"


def _stage() -> Path:
    """A world-readable directory for copies of the built files: tests run them as other users
    (and sshd's privilege-separated children open them), and the checkout may be where only
    root can enter, as in root's 0700 home.  Removed when the test run ends."""
    stage = Path(tempfile.mkdtemp(prefix="pam_mfa-e2e-bin."))
    os.chmod(stage, 0o755)
    atexit.register(shutil.rmtree, stage, True)
    return stage


STAGE = _stage()


def staged(built: Path) -> Path:
    """built's copy in STAGE (same name, same mode, owned by root), or STAGE's path for it."""
    copy = STAGE / built.relative_to(BUILD)
    if built.exists():
        copy.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        shutil.copy2(built, copy)
    return copy


# MFA_E2E_MODULE / MFA_E2E_ENROLL point the tests at other builds (e.g. installed ones).
MODULE = Path(os.environ["MFA_E2E_MODULE"]).resolve() if "MFA_E2E_MODULE" in os.environ \
    else staged(BUILD / "pam_mfa.so")
ENROLL = Path(os.environ["MFA_E2E_ENROLL"]).resolve() if "MFA_E2E_ENROLL" in os.environ \
    else staged(BUILD / "mfa-enroll")
PLUGIN = staged(BUILD / "pam_mfa" / "store_ldap.so")
HELPER_BUILT = BUILD / "pam_mfa" / "mfa_chkcode"
# Built by `make test-tools` (make e2e-test and make test build them first), never here.
PAMDRIVE = staged(BUILD / "test-tools" / "pamdrive")
SYSLOGCAP = staged(BUILD / "test-tools" / "syslogcap.so")
LDAP_REFUSE = staged(BUILD / "test-tools" / "ldap_refuse.so")
FLEET_HOST = staged(BUILD / "test-tools" / "fleet_host")

NSS_WRAPPER = "libnss_wrapper.so"
PAM_WRAPPER = "libpam_wrapper.so"

PROMPT = "Verification code: "
SERVICE = "mfa-test"

# nss_wrapper's fake users (see pam.Env)
ALICE_UID = 4242
BOB_UID = 4243
