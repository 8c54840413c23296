"""The state file, parsed independently of the module: two 4096-byte slots, each a header, a
checksum (version 2: zlib's CRC-32; version 1: SHA-256) and a text payload; the newest intact
slot is the state."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
import zlib
from pathlib import Path

from .secretfile import b32

SLOT = 4096
STATE_SIZE = 2 * SLOT
PAYLOAD_AT = 24 + 32


def parse_slot(slot: bytes):
    """(sequence, payload) of an intact slot, else None."""
    if len(slot) != SLOT or slot[0:4] != b"PMFS" or slot[4] not in (1, 2) or slot[5:8] != bytes(3):
        return None
    sequence = int.from_bytes(slot[8:16], "little")
    length = int.from_bytes(slot[16:20], "little")
    if slot[20:24] != bytes(4) or sequence == 0 or length > SLOT - PAYLOAD_AT:
        return None
    payload = slot[PAYLOAD_AT:PAYLOAD_AT + length]
    if slot_checksum(slot[4], slot[0:24] + payload) != slot[24:PAYLOAD_AT]:
        return None
    return sequence, payload


def slot_checksum(version: int, data: bytes) -> bytes:
    """The 32-byte checksum field of a slot of this version over its header and payload."""
    if version == 1:
        return hashlib.sha256(data).digest()
    return zlib.crc32(data).to_bytes(4, "little") + bytes(28)


def slots_of(path) -> list:
    data = Path(path).read_bytes()
    assert len(data) == STATE_SIZE, f"{path}: {len(data)} bytes, expected {STATE_SIZE}"
    return [data[i * SLOT:(i + 1) * SLOT] for i in range(2)]


# Every record the module writes; a line that is none of these fails the parse.
STATE_LINE_RES = [
    re.compile(r"totp-step [A-Za-z0-9._-]+ \d+"),
    re.compile(r"hotp-counter [A-Za-z0-9._-]+ \d+"),
    re.compile(r"failures \d+ \d+"),
    re.compile(r"lockouts \d+ \d+"),
    re.compile(r"last-success \d+"),
    re.compile(r"seen-enrolled \d+"),
    re.compile(r"remember [!-~]+ \d+ \d+"),
    re.compile(r"sent [A-Z2-7]+ [A-Z2-7]+ \d+"),
    re.compile(r"send-time \d+"),
    re.compile(r"totp-offset [A-Za-z0-9._-]+ -?\d+"),
    re.compile(r"totp-offset-seen [A-Za-z0-9._-]+ -?\d+ \d+ \d+"),
]


def parse_payload(payload: bytes) -> dict:
    """The state text: {'totp-step': {name: step}, 'hotp-counter': {name: n},
    'remember': [(host, since, until)], 'sent': [(salt, hash, expires)], 'send-time': [t],
    'totp-offset': {key: (offset,)}, 'totp-offset-seen': {key: (offset, step, until)},
    'failures': (n, t), ...}; raises on junk or a duplicate record."""
    text = payload.decode("ascii")
    lines = [ln for ln in text.split("\n") if ln]
    assert lines and lines[0] == "pam_mfa-state 1", text
    state: dict = {"totp-step": {}, "hotp-counter": {}, "remember": [], "sent": [], "send-time": [],
                   "totp-offset": {}, "totp-offset-seen": {}}
    for ln in lines[1:]:
        assert any(r.fullmatch(ln) for r in STATE_LINE_RES), f"bad state line {ln!r} in {text!r}"
        w = ln.split(" ")
        if w[0] in ("totp-step", "hotp-counter"):
            assert w[1] not in state[w[0]], f"duplicate {ln!r} in {text!r}"
            state[w[0]][w[1]] = int(w[2])
        elif w[0] == "remember":
            state["remember"].append((w[1], int(w[2]), int(w[3])))
        elif w[0] == "sent":
            salt, digest = b32(w[1]), b32(w[2])
            assert len(salt) == 16 and len(digest) == 32, ln
            state["sent"].append((salt, digest, int(w[3])))
        elif w[0] in ("totp-offset", "totp-offset-seen"):
            assert w[1] not in state[w[0]], f"duplicate {ln!r} in {text!r}"
            state[w[0]][w[1]] = tuple(int(x) for x in w[2:])
        elif w[0] == "send-time":
            state["send-time"].append(int(w[1]))
        else:
            assert w[0] not in state, f"duplicate {w[0]} in {text!r}"
            state[w[0]] = tuple(int(x) for x in w[1:])
    return state


def parse_state_file(path) -> tuple:
    """(sequence, state dict, intact slot count) of the newest intact slot; the file
    must be 8192 bytes with at least one intact slot."""
    slots = [parse_slot(s) for s in slots_of(path)]
    intact = [s for s in slots if s is not None]
    assert intact, f"{path}: no intact slot: {Path(path).read_bytes()[:64]!r}"
    sequence, payload = max(intact, key=lambda s: s[0])
    return sequence, parse_payload(payload), len(intact)


def read_state(path) -> dict:
    """The state dict of the newest intact slot (see parse_payload) of a state file the module
    wrote: root's, private."""
    check_state_file_private(path)
    return parse_state_file(path)[1]


def is_locked(state: dict) -> bool:
    return state.get("lockouts", (0, 0))[1] > time.time()


def check_state_file_private(path) -> None:
    """A regular file of root's, mode 0600."""
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode) and st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o600, (
        f"{path}: uid {st.st_uid} mode {oct(st.st_mode)}")


def write_state_text(path, text: str, sequence: int = 5) -> None:
    """A state file holding `text` in one intact version-2 slot (root's, 0600), written the way
    the module writes it: for tests that plant a record the module never writes."""
    payload = text.encode()
    header = (b"PMFS" + bytes([2, 0, 0, 0]) + sequence.to_bytes(8, "little")
              + len(payload).to_bytes(4, "little") + bytes(4))
    slot = header + slot_checksum(2, header + payload) + payload
    path = Path(path)
    path.write_bytes(slot + bytes(STATE_SIZE - len(slot)))
    os.chown(path, 0, 0)
    path.chmod(0o600)
