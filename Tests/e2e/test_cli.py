"""mfa-enroll end to end: under a pseudo-terminal (pexpect), with a pipe as
stdin, QR codes decoded by zbarimg, codes from oathtool, and a login through
pamtester + pam_wrapper with the file the CLI wrote."""

import os
import re
import time
from pathlib import Path

import pexpect
import pytest

from mfatest.cli import PROMPT_RE, TIMEOUT, URI_RE, enroll_on_pipe, mode_of, uri_params, uri_secret
from mfatest.qr import ANSI_RE, assert_qr_decodes, has_any_qr, qr_ansi, qr_ascii, qr_utf8
from mfatest.secretfile import write_secret
from mfatest.system import clean_env
from mfatest.totp import code, fresh_step, new_secret, wait_next_step
from mfatest.world import ENROLL, MODULE, PAM_WRAPPER, PROMPT

SETUP_KEY_RE = re.compile(r"^Setup key: ((?:[A-Z2-7]{4} )*[A-Z2-7]{1,4})$", re.M)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


@pytest.fixture
def work(enroll_bin, tmpdir_world):
    return tmpdir_world


def cli_env() -> dict:
    return clean_env(TERM="xterm-256color", LANG="C.UTF-8", LC_ALL="C.UTF-8")


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
    m = URI_RE.search(ANSI_RE.sub("", text).encode())
    assert m, f"no otpauth URI line in output:\n{text}"
    return m.group(1).decode()


def enroll_code(uri: str, t=None) -> str:
    p = uri_params(uri)
    return code(uri_secret(uri), t, digits=int(p.get("digits", 6)),
                algorithm=p.get("algorithm", "SHA1"), period=int(p.get("period", 30)))


# -- QR parsing and decoding -------------------------------------------------


# ---------------------------------------------------------------------------
# enrollment under a tty, then a login with pamtester
# ---------------------------------------------------------------------------


def start_enrollment(work: Path, *args) -> tuple:
    """mfa-enroll into work/s/secret under a tty, up to its prompt: (child, output, URI)."""
    child = spawn(["--secret-file", work / "s" / "secret", *args])
    out = until_prompt(child)
    return child, out, find_uri(out)


def confirm(child, uri: str) -> None:
    """Answers the prompt with the right code; the enrollment succeeds."""
    child.sendline(enroll_code(uri, fresh_step()))
    assert finish(child) == 0, transcript(child)


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


def pipe_enroll(cmd: list):
    """Runs an enrollment with answers on a pipe; the URI line must come before the CLI waits
    for the code (a stdout that is not flushed fails here)."""
    return enroll_on_pipe(cmd, lambda uri: enroll_code(uri, fresh_step()), TIMEOUT, env=cli_env())


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
    enr = pipe_enroll(wrapper + [str(ENROLL), "--secret-file", str(secret_file), "--qr", "none"])
    text = enr.out
    assert enr.rc == 0, (text, enr.err)
    if stack is None:
        assert "No PAM service on this host uses pam_mfa yet, so no login asks for the code." in text, text
        assert "pam-auth-update --enable mfa" in text, text
        assert "From now on" not in text, text
    else:
        assert "From now on, your logins through sshd ask for a code from your app." in text, text


def test_stdin_not_a_tty(work):
    secret_file = work / "s" / "secret"
    enr = pipe_enroll([str(ENROLL), "--secret-file", str(secret_file), "--qr", "none"])
    assert enr.rc == 0, (enr.out, enr.err)
    assert not has_any_qr(enr.out), enr.out
    assert secret_file.is_file() and mode_of(secret_file) == 0o600
    assert f"secret={uri_secret(enr.uri)}" in secret_file.read_text()


def test_qr_decodes_ascii(work):
    child, out, uri = start_enrollment(work, "--qr", "ascii")
    assert not any(c in out for c in "█▀▄"), "half blocks in --qr ascii output"
    assert_qr_decodes(qr_ascii(out), uri, work)
    confirm(child, uri)


def test_qr_decodes_ansi(work):
    child, out, uri = start_enrollment(work, "--qr", "ansi")
    assert "\x1b[40m" in out and "\x1b[107m" in out, repr(out[:400])
    assert_qr_decodes(qr_ansi(out), uri, work)
    confirm(child, uri)


def test_qr_none_prints_no_qr(work):
    child, out, uri = start_enrollment(work, "--qr", "none")
    assert SETUP_KEY_RE.search(ANSI_RE.sub("", out)), out
    assert not has_any_qr(out), out
    confirm(child, uri)


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
    confirm(child, uri)
