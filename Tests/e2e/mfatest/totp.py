"""TOTP and HOTP codes, always from oathtool (an independent implementation), and time steps."""

from __future__ import annotations

import base64
import ctypes
import os
import re
import subprocess
import time


def new_secret(nbytes: int = 20) -> str:
    """A random base32 secret without padding."""
    return base64.b32encode(os.urandom(nbytes)).decode().rstrip("=")


def _oathtool(args: list, digits: int) -> str:
    out = subprocess.run(["oathtool", *args], capture_output=True, text=True, check=True).stdout.strip()
    assert re.fullmatch(r"\d{%d}" % digits, out), out
    return out


def code(secret_b32: str, t: float | None = None, digits: int = 6,
         algorithm: str = "SHA1", period: int = 30) -> str:
    """The TOTP code for time t (default now), computed by oathtool."""
    if t is None:
        t = time.time()
    alg = algorithm.lower()
    if alg not in ("sha1", "sha256", "sha512"):
        raise ValueError(algorithm)
    return _oathtool([f"--totp={alg}", "-d", str(digits), "-s", f"{period}s",
                      "-b", secret_b32, "-N", f"@{int(t)}"], digits)


def hotp(secret_b32: str, counter: int, digits: int = 6) -> str:
    """The HOTP code of `counter`, computed by oathtool."""
    return _oathtool(["--hotp", "-d", str(digits), "-c", str(counter), "-b", secret_b32], digits)


def wrong_code(secret_b32: str, t: float | None = None, digits: int = 6,
               algorithm: str = "SHA1", period: int = 30, steps: int = 3) -> str:
    """A well-formed code that is not valid for any step within +-steps of t."""
    if t is None:
        t = time.time()
    valid = {code(secret_b32, t + k * period, digits, algorithm, period)
             for k in range(-steps, steps + 1)}
    n = int(code(secret_b32, t, digits, algorithm, period))
    while True:
        n = (n + 1) % (10 ** digits)
        candidate = str(n).zfill(digits)
        if candidate not in valid:
            return candidate


_LIBC = ctypes.CDLL(None)
_LIBC.time.restype = ctypes.c_long


def time_now() -> int:
    """time(2), as the module and mfa-enroll read the clock: for a lower bound on a time they
    record. int(time.time()) may be a second ahead of it for a few ms after each tick."""
    return _LIBC.time(None)


def fresh_step(period: int = 30, margin: float = 2.0) -> float:
    """Return the current time, first sleeping into the next step when fewer
    than `margin` seconds are left in the current one."""
    now = time.time()
    left = period - (now % period)
    if left < margin:
        time.sleep(left + 0.05)
        now = time.time()
    return now


def wait_next_step(t_used: float, period: int = 30) -> float:
    """Sleep until the step after the one containing t_used has started."""
    step = int(t_used) // period
    while int(time.time()) // period <= step:
        target = (step + 1) * period
        time.sleep(max(0.05, target - time.time() + 0.05))
    return fresh_step(period)


def next_step_code(secret: str, period: int = 30) -> str:
    """A code no earlier login used, for a fresh state dir: the next step's, accepted (window=1)
    from now until that step has ended, so there is nothing to wait for.  The step typed at
    enrollment (confirmed=) is always older than this one."""
    return code(secret, time.time() + period)
