"""QR codes as mfa-enroll and the module print them (half blocks, ASCII, ANSI colours), read back
into module rows and decoded by zbarimg."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
HALF = {"█": (True, True), "▀": (True, False), "▄": (False, True), " ": (False, False)}


def _longest_run(lines: list, belongs) -> list:
    """The longest run of consecutive lines for which belongs(line) holds."""
    best, cur = [], []
    for ln in lines:
        if belongs(ln):
            cur.append(ln)
        else:
            if len(cur) > len(best):
                best = cur
            cur = []
    return cur if len(cur) > len(best) else best


def qr_utf8(text: str) -> list:
    """Module rows from half-block lines (ANSI colour escapes stripped)."""
    lines = [ANSI_RE.sub("", ln) for ln in text.split("\n")]
    best = _longest_run(lines, lambda ln: ln and set(ln) <= set(HALF) and set(ln) & {"█", "▀", "▄"})
    assert best, f"no half-block QR lines in:\n{text}"
    width = max(len(ln) for ln in best)
    rows = []
    for ln in best:
        ln = ln.ljust(width)
        rows.append([HALF[c][0] for c in ln])
        rows.append([HALF[c][1] for c in ln])
    return rows


def qr_ascii(text: str) -> list:
    lines = [ANSI_RE.sub("", ln) for ln in text.split("\n")]
    block = _longest_run(lines, lambda ln: "##" in ln and set(ln) <= {"#", " "})
    assert block, f"no ASCII QR lines in:\n{text}"
    width = max(len(ln) for ln in block)
    width += width % 2
    rows = []
    for ln in block:
        ln = ln.ljust(width)
        cells = [ln[i:i + 2] for i in range(0, width, 2)]
        for c in cells:
            assert c in ("##", "  "), f"odd ASCII module {c!r} in line {ln!r}"
        rows.append([c == "##" for c in cells])
    return rows


def qr_ansi(text: str) -> list:
    token = re.compile(r"\x1b\[([0-9;]*)m|(.)", re.S)
    rows = []
    for ln in text.split("\n"):
        if "\x1b[40m" not in ln and "\x1b[107m" not in ln:
            continue
        bg = None
        cells = []
        for m in token.finditer(ln):
            if m.group(2) is None:
                for p in (m.group(1) or "0").split(";"):
                    if p == "40":
                        bg = True
                    elif p == "107":
                        bg = False
                    elif p in ("0", "", "49"):
                        bg = None
                continue
            ch = m.group(2)
            if bg is None:
                continue            # indentation or text outside the code
            assert ch == " ", f"unexpected character {ch!r} inside the ANSI QR: {ln!r}"
            cells.append(bg)
        assert len(cells) % 2 == 0, f"odd number of cells in ANSI QR line {ln!r}"
        pairs = [cells[i:i + 2] for i in range(0, len(cells), 2)]
        for a, b in pairs:
            assert a == b, f"a module's two cells differ in {ln!r}"
        rows.append([a for a, _ in pairs])
    assert rows, f"no ANSI QR lines in:\n{text!r}"
    width = max(len(r) for r in rows)
    return [r + [False] * (width - len(r)) for r in rows]


def write_pgm(rows: list, path: Path, scale: int = 8, border: int = 4) -> None:
    h, w = len(rows), max(len(r) for r in rows)
    W, H = (w + 2 * border) * scale, (h + 2 * border) * scale
    img = bytearray(b"\xff" * (W * H))
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if not dark:
                continue
            for dy in range(scale):
                start = ((y + border) * scale + dy) * W + (x + border) * scale
                img[start:start + scale] = b"\x00" * scale
    path.write_bytes(b"P5\n%d %d\n255\n" % (W, H) + bytes(img))


def zbar(rows: list, path: Path):
    write_pgm(rows, path)
    proc = subprocess.run(["zbarimg", "--raw", "-q", str(path)], capture_output=True,
                          timeout=30)
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", errors="replace").rstrip("\n")


def assert_qr_decodes(rows: list, uri: str, tmp: Path) -> None:
    decoded = zbar(rows, tmp / "qr.pgm")
    if decoded is None:
        inverted = zbar([[not c for c in r] for r in rows], tmp / "qr-inv.pgm")
        assert inverted is None, (
            "the QR only decodes with dark and light swapped (inverted rendering); "
            f"decoded: {inverted!r}")
    assert decoded == uri, f"zbarimg decoded {decoded!r}, printed URI {uri!r}"


def has_any_qr(text: str) -> bool:
    plain = ANSI_RE.sub("", text)
    return (any(c in plain for c in "█▀▄") or "\x1b[40m" in text or "\x1b[107m" in text
            or bool(re.search(r"^[# ]*####[# ]*$", plain, re.M)))
