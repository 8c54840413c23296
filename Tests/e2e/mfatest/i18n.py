"""Translations: the catalogs (po/), the generated locales the tests run in, and the scanner
that finds a user-visible string nobody marked for translation."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .world import BUILD, REPO

PO = REPO / "po"
LINGUAS = ("de", "es", "fr")
LOCALES = {"de": "de_DE", "es": "es_ES", "fr": "fr_FR"}

# The module's sources and mfa-enroll's: the ones `make pot` extracts (Makefile POT_SOURCES).
MODULE_SOURCES = ("Sources/MFACore", "Sources/PAMModule", "Sources/mfa_chkcode")
CLI_SOURCES = ("Sources/mfa-enroll",)
# Every line mfa-enroll prints is marked (its audit lines to syslog stay English).
CLI_MARKED = CLI_SOURCES
# Where the module talks to the person at the prompt: prose here is marked or a syslog line.
USER_FACING = ("Sources/MFACore/Login", "Sources/MFACore/Helper", "Sources/MFACore/Delivery",
               "Sources/MFACore/Text", "Sources/PAMModule", "Sources/mfa_chkcode") + CLI_MARKED
# Calls whose string arguments are msgids (xgettext keywords UserText:1 and plural:1,2).
MARKED = {"UserText", "plural"}
# Calls whose string arguments go to syslog, which stays English.
LOGGED = {"log", "refuse", "mfa_syslog", "SystemError", "record"}
# Calls whose argument reaches the user as it is (the module's, then mfa-enroll's: its help
# texts are prose in a user-facing file, which the scanner catches as such).
SHOWN = {"tell", "prompt", "verbatim",
         "print", "printError", "show", "showLine", "ask", "askBytes", "CLIError", "ValidationError"}


# ---------------------------------------------------------------------------
# catalogs
# ---------------------------------------------------------------------------


def _unquote(text: str) -> str:
    out, i = [], 0
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append(escapes.get(text[i + 1], text[i + 1]))
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


@dataclass
class Entry:
    msgid: str
    plural: str | None
    translations: list
    flags: set


def catalog(path: Path) -> dict:
    """The entries of a .po or .pot file by (msgid, msgid_plural), the header left out."""
    entries, current, field = {}, None, None

    def finish():
        if current is not None and current.msgid:
            entries[(current.msgid, current.plural)] = current

    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            finish()
            current, field = None, None
            continue
        if current is None:
            current = Entry("", None, [], set())
        if line.startswith("#,"):
            current.flags.update(f.strip() for f in line[2:].split(","))
            continue
        if line.startswith("#"):
            continue
        match = re.match(r'(msgid_plural|msgid|msgstr(?:\[\d+\])?) "(.*)"$', line)
        if match:
            field, value = match.group(1), _unquote(match.group(2))
            if field == "msgid":
                current.msgid = value
            elif field == "msgid_plural":
                current.plural = value
            else:
                current.translations.append(value)
        elif line.startswith('"'):
            value = _unquote(line[1:-1])
            if field == "msgid":
                current.msgid += value
            elif field == "msgid_plural":
                current.plural += value
            else:
                current.translations[-1] += value
    return entries


def fresh_template(directory: Path) -> Path:
    """po/pam_mfa.pot as `make pot-template` makes it from the sources now, in directory."""
    out = directory / "pam_mfa.pot"
    subprocess.run(["make", "-s", "--no-print-directory", "-C", str(REPO), "pot-template",
                    f"POT={out}"], check=True, capture_output=True, text=True, timeout=120)
    return out


# ---------------------------------------------------------------------------
# locales and the module's catalog directory
# ---------------------------------------------------------------------------


def generate_locales(directory: Path, languages=LINGUAS) -> None:
    """LL_CC.UTF-8 locales in directory (for LOCPATH), from the `locales` package's sources."""
    for lang in languages:
        name = f"{LOCALES[lang]}.UTF-8"
        subprocess.run(["localedef", "-i", LOCALES[lang], "-f", "UTF-8", str(directory / name)],
                       capture_output=True, text=True, timeout=120)
        # localedef exits 1 for mere warnings: what counts is the locale it wrote.
        assert (directory / name / "LC_MESSAGES").is_dir(), f"localedef made no {name}"


def compiled_locale_directory(binary: Path) -> Path:
    """The catalog directory compiled into the module (MFA_LOCALEDIR, from `make localedir`)."""
    found = set(re.findall(rb"\x00(/[\x21-\x7e]*/locale)\x00", binary.read_bytes()))
    assert len(found) == 1, f"{binary}: no single compiled-in locale directory: {found}"
    return Path(found.pop().decode())


class InstalledCatalogs:
    """The build's .mo files placed where the module under test looks, for a test's duration;
    whatever was there before (an installed package's catalogs) is put back afterwards."""

    def __init__(self, locale_directory: Path):
        self.root = locale_directory
        self.saved: dict = {}
        self.created: list = []

    def __enter__(self) -> "InstalledCatalogs":
        for lang in LINGUAS:
            built = BUILD / "locale" / lang / "LC_MESSAGES" / "pam_mfa.mo"
            assert built.is_file(), f"{built} was not built: run make build"
            target = self.root / lang / "LC_MESSAGES" / "pam_mfa.mo"
            self._make_parents(target.parent)
            self.saved[target] = target.read_bytes() if target.exists() else None
            shutil.copyfile(built, target)
            target.chmod(0o644)
        return self

    def _make_parents(self, directory: Path) -> None:
        missing = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for path in reversed(missing):
            path.mkdir(mode=0o755)
            self.created.append(path)

    def __exit__(self, *exc) -> None:
        for target, before in self.saved.items():
            if before is None:
                target.unlink(missing_ok=True)
            else:
                target.write_bytes(before)
        for path in reversed(self.created):
            path.rmdir()


def locale_env(lang: str | None, locpath: Path | None) -> dict:
    """The variables of a process running in LL_CC.UTF-8 (from locpath), or in C."""
    if lang is None:
        return {"LANG": "C"}
    return {"LANG": f"{LOCALES[lang]}.UTF-8", "LOCPATH": str(locpath)}


def scratch_directory() -> Path:
    path = Path(tempfile.mkdtemp(prefix="pam_mfa-i18n."))
    path.chmod(0o755)
    return path


# ---------------------------------------------------------------------------
# the scanner: user-visible strings nobody marked for translation
# ---------------------------------------------------------------------------


@dataclass
class Literal:
    line: int
    text: str
    calls: tuple        # names of the calls it is inside, innermost last
    interpolated: bool
    joined: bool        # a `+` right before or after it


def string_literals(source: str) -> list:
    """Every string literal of Swift source with the calls around it (comments skipped)."""
    literals, stack = [], []
    i, line, n = 0, 1, len(source)
    last_word, last_token = None, None
    while i < n:
        c = source[i]
        if c == "\n":
            line += 1
            i += 1
            continue
        if source.startswith("//", i):
            i = source.find("\n", i)
            i = n if i < 0 else i
            continue
        if source.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if source.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif source.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    line += source[i] == "\n"
                    i += 1
            continue
        if c == '"':
            start_line = line
            fence = '"""' if source.startswith('"""', i) else '"'
            i += len(fence)
            text, interpolated = [], False
            while i < n and not source.startswith(fence, i):
                if source[i] == "\\" and i + 1 < n:
                    if source[i + 1] == "(":
                        interpolated = True
                        depth, i = 1, i + 2
                        while i < n and depth:
                            depth += {"(": 1, ")": -1}.get(source[i], 0)
                            i += 1
                        continue
                    text.append(source[i:i + 2])
                    i += 2
                    continue
                line += source[i] == "\n"
                text.append(source[i])
                i += 1
            i += len(fence)
            after = source[i:].lstrip(" \t\n")
            literals.append(Literal(start_line, "".join(text),
                                    tuple(name for name in stack if name),
                                    interpolated, last_token == "+" or after.startswith("+")))
            last_token, last_word = '"', None
            continue
        if c.isalpha() or c == "_":
            j = i
            while j < n and (source[j].isalnum() or source[j] == "_"):
                j += 1
            last_word = last_token = source[i:j]
            i = j
            continue
        if c in "([{":
            stack.append(last_word if c == "(" else None)
        elif c in ")]}":
            if stack:
                stack.pop()
        if not c.isspace():
            last_token = c
            last_word = None
        i += 1
    return literals


def swift_unescape(text: str) -> str:
    """A plain Swift literal's text (msgids use only \\n, \\t, \\" and \\\\)."""
    return _unquote(text)


PROSE = re.compile(r"[A-Za-z]{2,}[ ,.:;'!?-]+[A-Za-z]{2,}")
# A command's or an option's name ("mfa-enroll", "--backup-codes"): never translated.
NAME = re.compile(r"-{0,2}[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
# A path or an identifier ("/common-auth", "pam_unix.so"): one word with a / or an _.
IDENTIFIER = re.compile(r"[^\s]*[/_][^\s]*")


def problems(path: str, source: str, allowed=frozenset()) -> list:
    """Why strings in source (a file of the module) may reach a user unmarked; allowed holds
    the prose literals that are known not to (log fragments kept in variables)."""
    found = []
    user_facing = path.startswith(USER_FACING)
    for lit in string_literals(source):
        where = f"{path}:{lit.line}: {lit.text!r}"
        inner = lit.calls[-1] if lit.calls else None
        if inner in MARKED:
            if lit.interpolated or lit.joined:
                found.append(f"{where}: a msgid is one plain literal (no \\( ) and no +)")
            continue
        if inner in SHOWN and re.search("[A-Za-z]", lit.text) and not NAME.fullmatch(lit.text):
            found.append(f"{where}: shown to the user without UserText(...)")
            continue
        if any(call in LOGGED for call in lit.calls):
            continue
        if user_facing and PROSE.search(lit.text) and not NAME.fullmatch(lit.text) \
                and not IDENTIFIER.fullmatch(lit.text) and lit.text not in allowed:
            found.append(f"{where}: prose neither marked (UserText) nor a syslog line")
    return found


def module_sources() -> list:
    return sorted(p for top in MODULE_SOURCES for p in (REPO / top).rglob("*.swift"))


def translated_sources() -> list:
    """What `make pot` extracts: the module's sources and mfa-enroll's."""
    return sorted(p for top in MODULE_SOURCES + CLI_SOURCES for p in (REPO / top).rglob("*.swift"))


def cli_sources() -> list:
    """mfa-enroll's sources the scanner holds to "every line marked"."""
    found = []
    for top in CLI_MARKED:
        path = REPO / top
        found += [path] if path.is_file() else path.rglob("*.swift")
    return sorted(found)
