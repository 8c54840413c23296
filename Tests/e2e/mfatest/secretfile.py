"""Secret files: writing them, parsing them independently of the module, and backup codes (the
printed block, the stored PBKDF2 hashes, every spelling a test types)."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path

from .world import ALICE_UID


def secret_text(secret_b32: str, algorithm: str = "SHA1", digits: int = 6,
                period: int = 30, name: str = "default") -> str:
    return (
        "# pam_mfa secret file; see pam_mfa.conf(5)\n"
        "pam_mfa 1\n"
        f"totp name={name} algorithm={algorithm} digits={digits} period={period} "
        f"secret={secret_b32}\n"
    )


def make_dirs(path: Path, owner_uid: int, mode: int = 0o700) -> None:
    """Create the missing directories of path (owned by owner_uid, mode)."""
    missing = []
    p = Path(path)
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir()
        os.chown(d, owner_uid, owner_uid)
        os.chmod(d, mode)


def write_secret(path, secret_b32: str, algorithm: str = "SHA1", digits: int = 6,
                 period: int = 30, owner_uid: int = ALICE_UID, mode: int = 0o600,
                 text: str | None = None) -> Path:
    """Write a secret file (or the raw `text`) owned by owner_uid with mode."""
    path = Path(path)
    make_dirs(path.parent, owner_uid)
    if text is None:
        text = secret_text(secret_b32, algorithm, digits, period)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chown(path, owner_uid, owner_uid)
    os.chmod(path, mode)
    return path


def b32(text: str) -> bytes:
    return base64.b32decode(text + "=" * (-len(text) % 8))


# -- parsing a secret file ---------------------------------------------------------------------

HEADER_RE = re.compile(r"pam_mfa 1")
TOTP_RE = re.compile(r"totp name=default algorithm=SHA1 digits=6 period=30 (?:confirmed=\d+ )?secret=([A-Z2-7]{32})")
BACKUP_RE = re.compile(r"backup kdf=pbkdf2-sha256 iterations=(\d+) salt=([A-Z2-7]+) hash=([A-Z2-7]+)")


@dataclass
class BackupLine:
    text: str
    iterations: int
    salt: bytes
    digest: bytes


def backup_line(ln: str) -> BackupLine:
    """A well-formed backup line: 16 bytes of salt, a SHA-256 sized hash."""
    b = BACKUP_RE.fullmatch(ln)
    assert b, f"not a well-formed backup line: {ln!r}"
    salt, digest = b32(b.group(2)), b32(b.group(3))
    assert len(salt) == 16 and len(digest) == 32, ln
    return BackupLine(ln, int(b.group(1)), salt, digest)


def parse_secret_file(path) -> tuple:
    """(totp secret, [BackupLine]) of a secret file; asserts the whole format: comments, the
    header, one totp line, then only well-formed backup lines."""
    text = Path(path).read_text()
    lines = [ln for ln in text.split("\n") if ln and not ln.startswith("#")]
    assert len(lines) >= 2 and HEADER_RE.fullmatch(lines[0]), text
    m = TOTP_RE.fullmatch(lines[1])
    assert m, text
    rest = lines[2:]
    # a fresh enrollment voids earlier remembered hosts: one `forget before=TIME` record
    if rest and re.fullmatch(r"forget before=\d+", rest[0]):
        rest = rest[1:]
    return m.group(1), [backup_line(ln) for ln in rest]


def records(path) -> dict:
    """{name: (kind, {key: value})} of the authenticator (totp, hotp) lines of a secret file."""
    found = {}
    for ln in Path(path).read_text().split("\n"):
        words = ln.split()
        if words and words[0] in ("totp", "hotp"):
            fields = dict(w.split("=", 1) for w in words[1:])
            assert fields["name"] not in found, ln
            found[fields["name"]] = (words[0], fields)
    return found


# -- backup codes ------------------------------------------------------------------------------

ALPHABET = "23456789abcdefghijkmnpqrstuvwxyz"
C4 = "[2-9a-kmnp-z]{4}"
DISPLAYED_RE = re.compile(rf"{C4}-{C4}-{C4}")
CODE_ROW_RE = re.compile(rf"    ({C4}-{C4}-{C4})(?:    ({C4}-{C4}-{C4}))?")
BLOCK_HEAD = "Your backup codes (each works once, instead of a code from the app):"
BLOCK_TAIL = "Store them somewhere safe now"


def canonical(typed: str) -> str:
    return typed.replace("-", "").replace(" ", "").lower()


def dashed(c: str) -> str:
    c = canonical(c)
    return f"{c[0:4]}-{c[4:8]}-{c[8:12]}"


def remember_code(env, c: str) -> None:
    """Feed the leak check every spelling of a code used here."""
    c = canonical(c)
    for v in (c, dashed(c), c.upper(), dashed(c).upper(), " ".join((c[0:4], c[4:8], c[8:12]))):
        env.remember(v)


def remember_codes(env, codes) -> None:
    for c in codes:
        remember_code(env, c)


def pbkdf2(c: str, line: BackupLine) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", canonical(c).encode(), line.salt, line.iterations)


def matching(c: str, backups: list) -> list:
    """Indexes of the backup lines whose hash is PBKDF2-HMAC-SHA256(code, salt, iterations)."""
    return [i for i, line in enumerate(backups) if pbkdf2(c, line) == line.digest]


def backup_lines(path) -> list:
    """The backup lines of a secret file (each well-formed), wherever they stand."""
    return [backup_line(ln) for ln in Path(path).read_text().split("\n") if ln.startswith("backup ")]


def hash_matches(c: str, path) -> int:
    """How many backup lines of the file are PBKDF2-HMAC-SHA256(code) (Python's own PBKDF2)."""
    return len(matching(c, backup_lines(path)))


def assert_codes_stored(path, codes) -> list:
    """The file's backup lines are exactly the hashes of `codes` (one line each)."""
    _, backups = parse_secret_file(path)
    assert len(backups) == len(codes), (len(backups), len(codes))
    seen = []
    for c in codes:
        found = matching(c, backups)
        assert len(found) == 1, f"{c!r} matches lines {found}"
        seen += found
    assert sorted(seen) == list(range(len(backups))), seen
    return backups


def printed_codes(out: str) -> list:
    """The codes of the one code block in mfa-enroll's output (as displayed); [] if none."""
    lines = out.split("\n")
    heads = [i for i, ln in enumerate(lines) if ln == BLOCK_HEAD]
    if not heads:
        assert not DISPLAYED_RE.search(out), out
        return []
    assert len(heads) == 1, out
    i = heads[0] + 1
    assert lines[i] == "", out
    i += 1
    codes = []
    while lines[i] != "":
        m = CODE_ROW_RE.fullmatch(lines[i])
        assert m, f"not a row of codes: {lines[i]!r}"
        codes += [g for g in m.groups() if g]
        i += 1
    assert lines[i + 1].startswith(BLOCK_TAIL), out
    # two per row: only the last row may hold one
    assert len(lines[heads[0] + 2:i]) == (len(codes) + 1) // 2
    return codes


def random_code(exclude=()) -> str:
    """A well-formed backup code (dashed) that is none of `exclude`."""
    excluded = {canonical(c) for c in exclude}
    rng = random.SystemRandom()
    while True:
        c = "".join(rng.choice(ALPHABET) for _ in range(12))
        if not c.isdigit() and c not in excluded:
            return dashed(c)
