"""mfa-enroll end to end: under a pseudo-terminal (pexpect), with a pipe as
stdin, QR codes decoded by zbarimg, codes from oathtool, and a login through
pamtester + pam_wrapper with the file the CLI wrote."""

import os
import re
import select
import stat
import subprocess
import time
import urllib.parse
from pathlib import Path

import pexpect
import pytest

from conftest import (ENROLL, MODULE, PAM_WRAPPER, PROMPT, code, fresh_step, new_secret,
                      wait_next_step, write_secret)

# The CLI's prompts all start with "Enter" (a line such as "Scan this QR code ... below):"
# must not pass for one when a read happens to end at its colon).
PROMPT_RE = r"Enter [^\r\n]*[Cc]ode[^\r\n]*: ?\Z"
ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
URI_RE = re.compile(r"^(otpauth://totp/\S+)$", re.M)
SETUP_KEY_RE = re.compile(r"^Setup key: ((?:[A-Z2-7]{4} )*[A-Z2-7]{1,4})$", re.M)
TIMEOUT = 20


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


@pytest.fixture
def work(enroll_bin, tmpdir_world):
    return tmpdir_world


def cli_env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NSS_WRAPPER", "PAM_WRAPPER", "LD_PRELOAD", "MFA_TEST"))}
    env.update(TERM="xterm-256color", LANG="C.UTF-8", LC_ALL="C.UTF-8")
    return env


def spawn(args) -> pexpect.spawn:
    child = pexpect.spawn(str(ENROLL), [str(a) for a in args], env=cli_env(),
                          encoding="utf-8", codec_errors="replace", timeout=TIMEOUT,
                          dimensions=(200, 300))
    child.transcript = []
    return child


def norm(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def until_prompt(child) -> str:
    """Everything the CLI printed up to and including its code prompt."""
    child.expect(PROMPT_RE)
    out = norm(child.before + child.after)
    child.transcript.append(out)
    return out


def finish(child) -> int:
    """Wait for the end; returns the exit status (or -signal)."""
    child.expect(pexpect.EOF)
    child.transcript.append(norm(child.before))
    child.close()
    if child.exitstatus is not None:
        return child.exitstatus
    return -child.signalstatus


def transcript(child) -> str:
    return "".join(child.transcript)


def find_uri(text: str) -> str:
    m = URI_RE.search(ANSI_RE.sub("", text))
    assert m, f"no otpauth URI line in output:\n{text}"
    return m.group(1)


def uri_params(uri: str) -> dict:
    q = urllib.parse.urlsplit(uri).query
    return {k: v[0] for k, v in urllib.parse.parse_qs(q, keep_blank_values=True).items()}


def uri_secret(uri: str) -> str:
    s = uri_params(uri)["secret"]
    assert re.fullmatch(r"[A-Z2-7]+", s), s
    return s


def enroll_code(uri: str, t=None) -> str:
    p = uri_params(uri)
    return code(uri_secret(uri), t, digits=int(p.get("digits", 6)),
                algorithm=p.get("algorithm", "SHA1"), period=int(p.get("period", 30)))


def mode_of(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# -- QR parsing and decoding -------------------------------------------------

HALF = {"█": (True, True), "▀": (True, False), "▄": (False, True), " ": (False, False)}


def qr_utf8(text: str) -> list:
    """Module rows from half-block lines (ANSI colour escapes stripped)."""
    lines = [ANSI_RE.sub("", ln) for ln in text.split("\n")]
    best, cur = [], []
    for ln in lines:
        if ln and set(ln) <= set(HALF) and set(ln) & {"█", "▀", "▄"}:
            cur.append(ln)
        else:
            if len(cur) > len(best):
                best = cur
            cur = []
    if len(cur) > len(best):
        best = cur
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
    block, cur = [], []
    for ln in lines:
        if "##" in ln and set(ln) <= {"#", " "}:
            cur.append(ln)
        else:
            if len(cur) > len(block):
                block = cur
            cur = []
    if len(cur) > len(block):
        block = cur
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


# ---------------------------------------------------------------------------
# enrollment under a tty, then a login with pamtester
# ---------------------------------------------------------------------------


def enroll(work: Path, extra=(), secret_file=None):
    """Run a successful enrollment; returns (uri, output, t_used)."""
    secret_file = secret_file or work / "s" / "secret"
    child = spawn(["--secret-file", secret_file, *extra])
    out = until_prompt(child)
    uri = find_uri(out)
    t = fresh_step(int(uri_params(uri).get("period", 30)))
    child.sendline(enroll_code(uri, t))
    rc = finish(child)
    assert rc == 0, f"exit {rc}\n{transcript(child)}"
    return uri, out, t


def test_enroll_prints_qr_key_uri_and_writes_file(work):
    secret_file = work / "s" / "secret"
    child = spawn(["--secret-file", secret_file])
    out = until_prompt(child)

    uri = find_uri(out)
    assert uri.startswith("otpauth://totp/"), uri
    secret = uri_secret(uri)
    m = SETUP_KEY_RE.search(ANSI_RE.sub("", out))
    assert m, f"no 'Setup key:' line in:\n{out}"
    assert m.group(1).replace(" ", "") == secret
    assert all(len(g) == 4 for g in m.group(1).split(" ")[:-1])
    # the QR block is printed before the prompt and decodes to the URI
    assert_qr_decodes(qr_utf8(out), uri, work)
    assert re.search(PROMPT_RE, out.rstrip("\n")), out[-200:]

    t = fresh_step()
    child.sendline(code(secret, t))
    rc = finish(child)
    assert rc == 0, f"exit {rc}\n{transcript(child)}"

    assert secret_file.is_file() and not secret_file.is_symlink()
    assert mode_of(secret_file) == 0o600, oct(mode_of(secret_file))
    assert mode_of(secret_file.parent) == 0o700, oct(mode_of(secret_file.parent))
    assert os.stat(secret_file).st_uid == os.getuid()
    text = secret_file.read_text()
    assert f"secret={secret}" in text
    assert [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")][0] \
        == "pam_mfa 1", text
    # nothing else left behind (no temp files); the lock file serialises rewrites
    assert sorted(p.name for p in secret_file.parent.iterdir()) == ["secret", "secret.lock"]


def pamtester_login(work: Path, secret_file: Path, answer: str) -> str:
    svc = work / "pam.d"
    svc.mkdir(exist_ok=True)
    state = work / "state"
    state.mkdir(mode=0o700, exist_ok=True)
    (svc / "mfa-demo").write_text(
        f"auth required {MODULE} secret={secret_file} state_dir={state}\n"
        "account required pam_permit.so\n")
    (svc / "other").write_text("auth required pam_deny.so\naccount required pam_deny.so\n")
    env = cli_env()
    env.update(LD_PRELOAD=PAM_WRAPPER, PAM_WRAPPER="1", PAM_WRAPPER_SERVICE_DIR=str(svc))
    child = pexpect.spawn("pamtester", ["mfa-demo", "root", "authenticate"], env=env,
                          encoding="utf-8", codec_errors="replace", timeout=TIMEOUT)
    child.expect_exact(PROMPT)
    child.sendline(answer)
    child.expect(pexpect.EOF)
    out = norm(child.before)
    child.close()
    return out


def test_enroll_then_login_with_pamtester(work, module_so):
    secret_file = work / "s" / "secret"
    uri, _, t_used = enroll(work, secret_file=secret_file)
    # the code typed to confirm the enrollment is spent: it cannot log in
    out = pamtester_login(work, secret_file, enroll_code(uri, t_used))
    assert "successfully authenticated" not in out, out
    t = wait_next_step(t_used)
    out = pamtester_login(work, secret_file, enroll_code(uri, t))
    assert "successfully authenticated" in out, out


def test_three_wrong_codes_fail_and_never_show_the_right_one(work):
    secret_file = work / "s" / "secret"
    t_start = time.time()
    child = spawn(["--secret-file", secret_file])
    out = until_prompt(child)
    uri = find_uri(out)
    secret = uri_secret(uri)
    valid = {code(secret, t_start + k * 30) for k in range(-3, 4)}
    wrong = next(str(n).zfill(6) for n in range(100000, 1000000) if str(n).zfill(6) not in valid)
    ended_early = None
    for i in range(3):
        child.sendline(wrong)
        if i < 2:
            idx = child.expect([PROMPT_RE, pexpect.EOF])
            if idx == 1:
                ended_early = i + 1
                child.transcript.append(norm(child.before))
                break
            child.transcript.append(norm(child.before + child.after))
    if ended_early is None:
        rc = finish(child)
    else:
        child.close()
        rc = child.exitstatus if child.exitstatus is not None else -child.signalstatus
    full = transcript(child)
    assert ended_early is None, f"the CLI gave up after {ended_early} wrong code(s):\n{full}"
    assert rc != 0, full
    assert not secret_file.exists(), "a secret file was written after three wrong codes"
    if secret_file.parent.exists():
        assert list(secret_file.parent.iterdir()) == [], list(secret_file.parent.iterdir())

    t_end = time.time()
    after_uri = ANSI_RE.sub("", full).split(uri, 1)[1]
    right = set()
    t = t_start - 30
    while t <= t_end + 30:
        right.add(code(secret, t))
        t += 10
    right.discard(wrong)
    for c in right:
        assert c not in after_uri, f"the output shows a valid code {c}:\n{after_uri}"


def test_existing_file_is_kept_without_force(work):
    secret_file = work / "s" / "secret"
    old_secret = new_secret()
    write_secret(secret_file, old_secret, owner_uid=os.getuid())
    before = secret_file.read_bytes()
    child = spawn(["--secret-file", secret_file])
    idx = child.expect([PROMPT_RE, pexpect.EOF])
    out = norm(child.before)
    if idx == 0:
        child.terminate(force=True)
        pytest.fail(f"the CLI asked for a code although the file exists:\n{out}")
    child.close()
    assert child.exitstatus not in (0, None), out
    assert secret_file.read_bytes() == before
    assert "otpauth://" not in out


def test_force_replaces_existing_file(work):
    secret_file = work / "s" / "secret"
    old_secret = new_secret()
    write_secret(secret_file, old_secret, owner_uid=os.getuid())
    uri, _, _ = enroll(work, extra=["--force"], secret_file=secret_file)
    text = secret_file.read_text()
    assert old_secret not in text
    assert f"secret={uri_secret(uri)}" in text
    assert mode_of(secret_file) == 0o600


def test_force_keeps_old_file_on_wrong_codes(work):
    secret_file = work / "s" / "secret"
    old_secret = new_secret()
    write_secret(secret_file, old_secret, owner_uid=os.getuid())
    before = secret_file.read_bytes()
    child = spawn(["--secret-file", secret_file, "--force"])
    out = until_prompt(child)
    secret = uri_secret(find_uri(out))
    valid = {code(secret, time.time() + k * 30) for k in range(-3, 4)}
    wrong = next(str(n).zfill(6) for n in range(100000, 1000000) if str(n).zfill(6) not in valid)
    for _ in range(3):
        child.sendline(wrong)
        if child.expect([PROMPT_RE, pexpect.EOF]) == 1:
            break
    else:
        child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus != 0
    assert secret_file.read_bytes() == before


def pipe_enroll(cmd: list) -> tuple:
    """Runs an enrollment with answers on a pipe: (everything printed, stderr, exit status, uri)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=cli_env())
    try:
        buf = b""
        uri = None
        deadline = time.time() + TIMEOUT
        while uri is None:
            left = deadline - time.time()
            assert left > 0, ("no URI line on stdout before the CLI waits for the code "
                              f"(stdout not flushed?): {buf!r}")
            ready, _, _ = select.select([proc.stdout], [], [], left)
            if not ready:
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                err = proc.stderr.read().decode(errors="replace")
                pytest.fail(f"stdout closed before a URI: {buf!r}\nstderr: {err}")
            buf += chunk
            m = URI_RE.search(buf.decode(errors="replace"))
            if m:
                uri = m.group(1)
        t = fresh_step()
        out, err = proc.communicate((enroll_code(uri, t) + "\n").encode(), timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return buf + out, err, proc.returncode, uri


@pytest.mark.parametrize("stack", [None, "auth required pam_mfa.so nullok\n"])
def test_enrollment_says_which_logins_ask_for_the_code(work, stack):
    """The last words of an enrollment are true for this host: which services run pam_mfa
    (an /etc/pam.d of the test's own, bind-mounted in a private mount namespace)."""
    pam_d = work / "pam.d"
    pam_d.mkdir()
    (pam_d / "other").write_text("auth required pam_deny.so\n")
    (pam_d / "common-auth").write_text("auth required pam_unix.so\n")
    if stack is not None:
        (pam_d / "sshd").write_text("@include common-auth\n" + stack)
        (pam_d / "sudo").write_text("@include common-auth\n")
    secret_file = work / "s" / "secret"
    wrapper = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/pam.d && exec "$@"', str(pam_d)]
    full, err, rc, _ = pipe_enroll(wrapper + [str(ENROLL), "--secret-file", str(secret_file), "--qr", "none"])
    text = full.decode(errors="replace")
    assert rc == 0, (text, err)
    if stack is None:
        assert "No PAM service on this host uses pam_mfa yet, so no login asks for the code." in text, text
        assert "pam-auth-update --enable mfa" in text, text
        assert "From now on" not in text, text
    else:
        assert "From now on, your logins through sshd ask for a code from your app." in text, text


def test_stdin_not_a_tty(work):
    secret_file = work / "s" / "secret"
    full, err, rc, uri = pipe_enroll([str(ENROLL), "--secret-file", str(secret_file), "--qr", "none"])
    assert rc == 0, (full, err)
    assert not has_any_qr(full.decode(errors="replace")), full
    assert secret_file.is_file() and mode_of(secret_file) == 0o600
    assert f"secret={uri_secret(uri)}" in secret_file.read_text()


def test_qr_decodes_ascii(work):
    child = spawn(["--secret-file", work / "s" / "secret", "--qr", "ascii"])
    out = until_prompt(child)
    uri = find_uri(out)
    assert not any(c in out for c in "█▀▄"), "half blocks in --qr ascii output"
    assert_qr_decodes(qr_ascii(out), uri, work)
    child.sendline(enroll_code(uri, fresh_step()))
    assert finish(child) == 0, transcript(child)


def test_qr_decodes_ansi(work):
    child = spawn(["--secret-file", work / "s" / "secret", "--qr", "ansi"])
    out = until_prompt(child)
    uri = find_uri(out)
    assert "\x1b[40m" in out and "\x1b[107m" in out, repr(out[:400])
    assert_qr_decodes(qr_ansi(out), uri, work)
    child.sendline(enroll_code(uri, fresh_step()))
    assert finish(child) == 0, transcript(child)


def test_qr_none_prints_no_qr(work):
    child = spawn(["--secret-file", work / "s" / "secret", "--qr", "none"])
    out = until_prompt(child)
    uri = find_uri(out)
    assert SETUP_KEY_RE.search(ANSI_RE.sub("", out)), out
    assert not has_any_qr(out), out
    child.sendline(enroll_code(uri, fresh_step()))
    assert finish(child) == 0, transcript(child)


def test_digits_algorithm_period(work):
    secret_file = work / "s" / "secret"
    child = spawn(["--secret-file", secret_file, "--digits", "8", "--algorithm", "SHA256",
                   "--period", "60"])
    out = until_prompt(child)
    uri = find_uri(out)
    p = uri_params(uri)
    assert p.get("digits") == "8", uri
    assert p.get("algorithm") == "SHA256", uri
    assert p.get("period") == "60", uri
    assert "digits=8" in uri and "algorithm=SHA256" in uri and "period=60" in uri
    assert_qr_decodes(qr_utf8(out), uri, work)
    t = fresh_step(60)
    c = code(uri_secret(uri), t, digits=8, algorithm="SHA256", period=60)
    child.sendline(c)
    assert finish(child) == 0, transcript(child)
    text = secret_file.read_text()
    rec = [ln for ln in text.splitlines() if ln.startswith("totp ")]
    assert len(rec) == 1, text
    fields = dict(f.split("=", 1) for f in rec[0].split()[1:])
    assert fields["algorithm"] == "SHA256" and fields["digits"] == "8" \
        and fields["period"] == "60", text


def test_sha256_digits8_file_works_for_login(work, module_so):
    secret_file = work / "s" / "secret"
    uri, _, t_used = enroll(work, extra=["--digits", "8", "--algorithm", "SHA256",
                                         "--period", "60"], secret_file=secret_file)
    # a code of the next 60 s step is inside the default window and newer
    # than the enrollment step, so no wait is needed
    c = code(uri_secret(uri), t_used + 60, digits=8, algorithm="SHA256", period=60)
    out = pamtester_login(work, secret_file, c)
    assert "successfully authenticated" in out, out


def test_issuer_and_label_are_percent_encoded(work):
    child = spawn(["--secret-file", work / "s" / "secret", "--issuer", "ACME Corp",
                   "--label", "alice@example"])
    out = until_prompt(child)
    uri = find_uri(out)
    assert uri.startswith("otpauth://totp/ACME%20Corp:alice%40example?"), uri
    assert "issuer=ACME%20Corp" in uri, uri
    assert_qr_decodes(qr_utf8(out), uri, work)
    child.sendline(enroll_code(uri, fresh_step()))
    assert finish(child) == 0, transcript(child)
