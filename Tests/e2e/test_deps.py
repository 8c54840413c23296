"""Every program the tests, the demo, the benchmark and the Makefile run comes from a Debian
package that Tests/deps/apt-packages lists (or that every Debian system has: Essential packages
and apt), so a missing install step fails on any machine, not only on a new one.

The programs are found in the sources: each string in the Python files that starts with a
program name or is an absolute path (argv lists, shell lines, shutil.which arguments), and each
word of the shell scripts and the Makefile's recipes.  A word counts as a program when it names
an executable in the system's directories; its package comes from dpkg.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
from pathlib import Path

from mfatest.system import owning_package
from mfatest.world import REPO

APT_PACKAGES = REPO / "Tests" / "deps" / "apt-packages"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
E2E = sorted(p for p in (REPO / "Tests" / "e2e").rglob("*.py") if p.name != "test_deps.py")
# Each source, checked against the groups the make target that runs it installs (the toolchain
# group is the README's prerequisite, there before any target runs).
SOURCES = [
    *((p, "python", ("build", "demo", "deb", "test")) for p in E2E),
    *((p, "python", ("build", "test", "bench"))
      for p in sorted((REPO / "Tests" / "Bench").glob("*.py"))),
    (REPO / "Tests" / "demo" / "demo.sh", "shell", ("build", "demo")),
    (REPO / "Makefile", "make", ("build", "demo", "deb", "test", "bench")),
    (REPO / "Tests" / "deps" / "install", "shell", ()),
    (REPO / "Tests" / "clean-root" / "run", "shell", ("clean-root",)),
    (REPO / "Tests" / "clean-root" / "readme-walkthrough", "python", ("build", "deb", "test")),
    (REPO / ".ci" / "run", "shell", ("clean-root",)),
]
WORD = re.compile(r"^(/[\w.+/-]+|[a-z0-9][\w.+-]*)$")
# English words in messages and option names that happen to name a program on some machines;
# shell builtins; policy-rc.d, the file Tests/deps/install writes; sudo, its way up when it is
# not run as root (the README says root).
NOT_PROGRAMS = {"policy-rc.d", "sudo", "kill", "echo", "printf", "true", "false", "pwd", "look", "write", "wall", "column", "more", "which", "time", "users", "last", "host",
                "test", "script", "install", "link", "tail", "head", "cut", "join", "expand"}


def listed_packages(groups=None) -> set[str]:
    """The packages of these groups (all when None) and the toolchain group, on any release."""
    names = set()
    for line in APT_PACKAGES.read_text().splitlines():
        if line.startswith("#") or ":" not in line:
            continue
        group, packages = line.split(":", 1)
        if groups is None or group in groups or group == "toolchain":
            names.update(word.split("@")[0] for word in packages.split())
    return names


def _strings(nodes) -> list[str]:
    return [n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def words_in_python(path: Path) -> set[str]:
    """Argument vectors (list or tuple literals starting with a string), shutil.which's argument
    and absolute paths."""
    words = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.List, ast.Tuple)) and _strings(node.elts[:1]):
            words.update(s.split()[0] for s in _strings(node.elts) if s.split())
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "which":
            words.update(_strings(node.args))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            words.update(w for w in node.value.split() if w.startswith("/"))
    return words


def words_in_shell(path: Path, recipes_only: bool = False) -> set[str]:
    words = set()
    for line in path.read_text().splitlines():
        if recipes_only and not line.startswith("\t"):
            continue
        line = line.split(" #")[0].strip()
        if line.startswith("#"):
            continue
        # quoted text is data (messages, debconf answers) unless it runs a command
        line = re.sub(r"'[^']*'|\"[^\"$]*\"", " ", line)
        words.update(re.split(r"[\s\"'`()|;&=<>$@{}\[\],]+", line))
    return words


def program_path(word: str) -> Path | None:
    if not WORD.match(word) or word.rsplit("/", 1)[-1] in NOT_PROGRAMS:
        return None
    if word.startswith("/"):
        path = Path(word)
        in_path = str(path.parent) in SYSTEM_PATH.split(":")
        return path if in_path and path.is_file() and os.access(path, os.X_OK) else None
    for directory in SYSTEM_PATH.split(":"):
        path = Path(directory) / word
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def always_present(package: str) -> bool:
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Essential}", package],
                          capture_output=True, text=True)
    return package == "apt" or proc.stdout.strip() == "yes"


def hard_dependencies(packages: set[str]) -> set[str]:
    """What installing packages always brings: their Depends and Pre-Depends (first choice)."""
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}\\n", *packages],
                          capture_output=True, text=True)
    names = set()
    for clause in re.split(r"[,\n]", proc.stdout):
        name = clause.split("|")[0].strip().split(" ")[0].split(":")[0]
        if name:
            names.add(name)
    return names


def words_in(path: Path, kind: str) -> set[str]:
    if kind == "python":
        return words_in_python(path)
    return words_in_shell(path, recipes_only=kind == "make")


def test_every_program_the_suite_runs_comes_from_a_listed_package():
    """Only programs installed on this machine can be traced to a package: on a fresh machine a
    program from an unlisted package is missing, and the test that runs it fails instead."""
    problems = []
    seen = set()
    for path, kind, groups in SOURCES:
        allowed = listed_packages(groups)
        allowed |= hard_dependencies(allowed)
        for word in sorted(words_in(path, kind)):
            seen.add(word)
            program = program_path(word)
            if program is None:
                continue
            package = owning_package(program)
            where = f"{word} ({program}, run by {path.relative_to(REPO)})"
            if package is None:
                problems.append(f"{where} is in no Debian package")
            elif package not in allowed and not always_present(package):
                problems.append(f"{where} comes from {package}, which is not in the groups "
                                f"{', '.join(('toolchain',) + groups)} of Tests/deps/apt-packages")
    # The scan must see the programs the suite is known to run, or it has gone blind.
    for word in ("oathtool", "zbarimg", "pamtester", "sshd", "slapd", "google-authenticator",
                 "lintian", "mandoc", "ssh-keygen", "ldapsearch", "openssl", "mmdebstrap"):
        assert word in seen, f"the scan no longer sees {word}"
    assert not problems, "\n".join(problems)


def test_listed_groups_cover_each_make_target():
    text = APT_PACKAGES.read_text()
    groups = {line.split(":", 1)[0] for line in text.splitlines()
              if line and not line.startswith("#")}
    assert {"toolchain", "build", "demo", "deb", "test", "bench", "clean-root"} <= groups
    makefile = (REPO / "Makefile").read_text()
    for group in ("build", "demo", "deb", "test", "bench"):
        assert re.search(rf"INSTALL_DEPS\) [\w ]*\b{group}\b", makefile), group
