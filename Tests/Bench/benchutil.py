"""The small helpers every part of `make bench` uses: commands, statistics, files put back
untimed, TOTP codes from oathtool, the e2e test helpers (Tests/e2e/mfatest) and the paths of the
built files and the C tools."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
# The C helpers, built by `make test-tools` (never here).
TEST_TOOLS = BUILD / "test-tools"
PAMDRIVE, SYSLOGCAP, DLOPEN_PROBE, CYCLE_HOST, OSSL_START = (
    TEST_TOOLS / name for name in ("pamdrive", "syslogcap.so", "dlopen_probe", "cycle_host",
                                   "ossl_start.so"))
E2E_DIR = REPO / "Tests" / "e2e"  # mfatest/: the fixtures the bench shares with the e2e tests

PAM_WRAPPER = "libpam_wrapper.so"
NSS_WRAPPER = "libnss_wrapper.so"
LIBCRYPTO = "libcrypto.so.3"

PERIOD = 30

# The rows: the modules and set-ups measured side by side.
GA = "pam_google_authenticator"
OATH = "pam_oath"
MFA = "pam_mfa"
PERMIT = "pam_permit"
GA_REUSE = "pam_google_authenticator +DISALLOW_REUSE"
OSSL_GA_REUSE = "OpenSSL start-up + pam_google_authenticator +DISALLOW_REUSE"
MFA_LDAP = "pam_mfa store=ldap"
# dlopen rows beside the modules'
CRYPTO_ALONE = "libcrypto.so.3 alone"
MFA_CRYPTO_LOADED = "pam_mfa, libcrypto already loaded"


def e2e_helpers() -> None:
    """Makes Tests/e2e/mfatest importable (imported only where needed: the rest of the bench
    runs without it)."""
    if str(E2E_DIR) not in sys.path:
        sys.path.insert(0, str(E2E_DIR))



def die(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr)
    sys.exit(1)


def run(cmd, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run([str(c) for c in cmd], **kw)


def median(values):
    s = sorted(values)
    n = len(s)
    if n == 0:
        return float("nan")
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def percentile(values, p: float):
    """Nearest-rank percentile (p in 0..100)."""
    s = sorted(values)
    if not s:
        return float("nan")
    rank = max(1, -(-len(s) * p // 100))  # ceil
    return s[int(rank) - 1]


def ratio(value, base) -> str:
    if base is None or value is None or base <= 0:
        return "–"
    return f"{value / base:.2f}×"


def b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=")


def new_secret() -> str:
    return b32(os.urandom(20))


def write_file(path: Path, text: str, mode: int = 0o600, uid: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chown(path, uid, uid)
    os.chmod(path, mode)


def disk_counters(path: Path) -> tuple[int, int, int, int]:
    """(writes, KiB written, flushes, discards) so far of the block device holding `path`
    (/proc/diskstats; the whole device, so other writers show up too: take medians)."""
    st = os.stat(path)
    device = Path(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}").resolve().name
    for line in Path("/proc/diskstats").read_text().splitlines():
        fields = line.split()
        if fields[2] == device:
            v = [int(x) for x in fields[3:]]
            flushes = v[15] if len(v) > 15 else 0
            discards = v[11] if len(v) > 11 else 0
            return v[4] - flushes, v[6] // 2, flushes, discards
    return (0, 0, 0, 0)


def restore(pristine: Path, target: Path) -> None:
    """Put a pristine copy in place atomically (owner and mode kept) and durably, as a file
    written long ago is: nothing of it is left for the module's fsync/fdatasync to write (on a
    file system without a journal, syncing a never-synced new inode also writes its directory)."""
    tmp = target.with_name(target.name + ".bench-tmp")
    shutil.copy2(pristine, tmp)
    st = os.stat(pristine)
    os.chown(tmp, st.st_uid, st.st_gid)
    fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    directory = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)  # the rename
    finally:
        os.close(directory)


class Codes:
    """TOTP codes from oathtool, cached per step."""

    def __init__(self, secret: str):
        self.secret = secret
        self.cache: dict[int, str] = {}

    def at(self, t: float) -> str:
        step = int(t) // PERIOD
        if step not in self.cache:
            out = run(["oathtool", "--totp", "-b", self.secret, "-N", f"@{step * PERIOD}"],
                      check=True).stdout.strip()
            if not re.fullmatch(r"\d{6}", out):
                die(f"oathtool printed {out!r}")
            self.cache[step] = out
        return self.cache[step]

    def now(self) -> str:
        return self.at(time.time())

    def steps_from_now(self, count: int) -> list[tuple[int, str]]:
        """(step, code) for the current step and the count-1 after it."""
        step = int(time.time()) // PERIOD
        out = run(["oathtool", "--totp", "-b", self.secret, "-N", f"@{step * PERIOD}",
                   "-w", str(count - 1)], check=True).stdout.split()
        if len(out) != count:
            die(f"oathtool -w printed {len(out)} codes, not {count}")
        return [(step + k, c) for k, c in enumerate(out)]


def seconds_left_in_step() -> float:
    return PERIOD - (time.time() % PERIOD)


def wait_for_step_margin(margin: float) -> None:
    """Sleep into the next step when fewer than `margin` seconds are left in this one."""
    left = seconds_left_in_step()
    if left < margin:
        time.sleep(left + 0.2)


def one_line(error: BaseException | str, limit: int = 240) -> str:
    """The first meaningful line of an error, fit for a table cell."""
    text = str(error)
    line = next((x.strip() for x in text.splitlines() if x.strip()), type(error).__name__)
    line = line.replace("|", "/")
    return line if len(line) <= limit else line[:limit - 1] + "…"


def last_line(text: str) -> str:
    """The last meaningful line (pamtester's verdict, ldapmodify's complaint), for a table cell."""
    lines = [x for x in str(text).splitlines() if x.strip()]
    return one_line(lines[-1] if lines else text)


def timing_table(times: dict[str, list[float]], rows, base: str) -> list[str]:
    """Markdown lines: each row's median and p90 (ms) and its ratio to row `base`."""
    base_med = median(times[base])
    out = [f"| row | median ms | p90 ms | × {base} |", "| --- | ---: | ---: | ---: |"]
    for name in rows:
        med = median(times[name])
        out.append(f"| {name} | {med:.2f} | {percentile(times[name], 90):.2f} "
                   f"| {ratio(med, base_med)} |")
    return out
