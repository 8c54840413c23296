"""`mfa-enroll --user NAME import pskc FILE`: hardware tokens from their vendor's PSKC file
(RFC 6030), end to end through the built mfa-enroll and pam_mfa.so.

The files are RFC 6030's own example (figure 6: AES-128-CBC under a pre-shared key, the MAC key
encrypted too) and files built by mfatest.pskc (the openssl command encrypts, Python's hmac
signs). Codes come from oathtool with the seed the file carries: a code confirms the import,
and a later one logs in through the real module. Every refusal leaves nothing written."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest

from mfatest.cli import TIMEOUT, as_alice, enroll_cmd, secret_path
from mfatest.pskc import (HMAC_SHA256, HOTP, RFC6030_FIGURE6, RFC_KEY, RFC_PSK, TOTP, Encryption, Token,
                          b32, container, write_key_file)
from mfatest.secretfile import records
from mfatest.totp import code, fresh_step, hotp, next_step_code, wait_next_step

NOTHING = "nothing was changed"


def import_pskc(env, pskc: Path, *extra, answers=(), secret: Path | None = None, **kw):
    """Root runs `mfa-enroll --user alice import pskc FILE ...` with answers on stdin."""
    secret = secret or secret_path(env)
    for a in answers:
        env.remember(a)
    return subprocess.run(
        enroll_cmd("--user", "alice", "import", "pskc", pskc, "--secret-file", secret, *extra),
        input="".join(a + "\n" for a in answers), capture_output=True, text=True, env=env.env(),
        timeout=TIMEOUT, **kw)


def write(env, name: str, text: str) -> Path:
    path = env.base / name
    path.write_text(text)
    return path


def key_file(env, psk: str = RFC_PSK, name: str = "psk.hex", **kw) -> Path:
    return write_key_file(env.base / name, psk, **kw)


def login(env, secret: Path, answer: str):
    return env.run_pam([f"secret={secret}"], answers=[answer])


# ---------------------------------------------------------------------------
# imports that work, then logins through the module
# ---------------------------------------------------------------------------


def test_rfc6030_figure6_encrypted_hotp_token(env):
    """The RFC's AES-128-CBC example decrypts to the RFC 4226 key; the token's first press
    confirms it and is spent, the next one logs in once."""
    pskc = write(env, "figure6.pskcxml", RFC6030_FIGURE6)
    secret = b32(RFC_KEY)
    env.remember(secret)
    proc = import_pskc(env, pskc, "--key-file", key_file(env), answers=[hotp(secret, 0, digits=8)])
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert ("Token 987654321 (Manufacturer): counter-based (HOTP), SHA1, 8 digits, from counter 0."
            in proc.stdout), proc.stdout
    assert "Enter the 8-digit code from the token (press its button): " in proc.stdout
    path = secret_path(env)
    assert f"Imported the token as token-987654321 into {path}." in proc.stdout, proc.stdout
    assert "alice had no enrollment: the token is their only authenticator" in proc.stdout
    assert secret not in proc.stdout + proc.stderr
    assert records(path) == {"token-987654321": ("hotp", {
        "name": "token-987654321", "algorithm": "SHA1", "digits": "8", "counter": "1",
        "secret": secret})}, path.read_text()
    st = os.lstat(path)
    assert (st.st_uid, st.st_mode & 0o777) == (env.uid(), 0o600)
    # the confirming press is spent; the next ones work, each once
    assert login(env, path, hotp(secret, 0, digits=8)).result == "PAM_AUTH_ERR"
    run = login(env, path, hotp(secret, 1, digits=8))
    assert run.result == "PAM_SUCCESS", str(run)
    assert login(env, path, hotp(secret, 1, digits=8)).result == "PAM_AUTH_ERR"
    assert login(env, path, hotp(secret, 2, digits=8)).result == "PAM_SUCCESS"


def test_encrypted_totp_token_aes256_hmac_sha256(env):
    """AES-256-CBC, an HMAC-SHA256 MAC, a SHA256 TOTP key with 8 digits: the code the token
    shows confirms it (that step is spent), the next step's code logs in."""
    enc = Encryption(psk=os.urandom(32).hex(), mac_algorithm=HMAC_SHA256)
    token = Token(key=os.urandom(32), serial="TOTP-0042", algorithm=TOTP, digits=8, suite="HMAC-SHA256",
                  counter=None, time_interval=30, time0=0)
    env.remember(token.secret)
    pskc = write(env, "totp.pskcxml", container([token], enc))
    t = fresh_step(margin=5)
    proc = import_pskc(env, pskc, "--key-file", key_file(env, enc.psk),
                       answers=[code(token.secret, t, digits=8, algorithm="SHA256")])
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "Token TOTP-0042 (Test Tokens): time-based (TOTP), SHA256, 8 digits, every 30 s." in proc.stdout
    assert "Enter the 8-digit code the token shows: " in proc.stdout
    path = secret_path(env)
    kind, fields = records(path)["token-TOTP-0042"]
    assert kind == "totp" and fields["secret"] == token.secret, fields
    assert (fields["algorithm"], fields["digits"], fields["period"]) == ("SHA256", "8", "30"), fields
    assert int(fields["confirmed"]) == int(t) // 30, fields
    run = login(env, path, code(token.secret, t, digits=8, algorithm="SHA256"))
    assert run.result == "PAM_AUTH_ERR", str(run)
    t = wait_next_step(t)
    run = login(env, path, code(token.secret, t, digits=8, algorithm="SHA256"))
    assert run.result == "PAM_SUCCESS", str(run)


def test_serial_picks_one_key_of_several(env):
    tokens = [Token(serial=f"SN{n:04d}", counter=n) for n in range(1, 4)]
    tokens[1].pin_mode = "Local"          # a PIN the token checks itself: fine
    tokens[1].expiry = "2099-12-31T00:00:00Z"
    for t in tokens:
        env.remember(t.secret)
    pskc = write(env, "batch.pskcxml", container(tokens))
    path = secret_path(env)
    proc = import_pskc(env, pskc)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert ("the file holds 3 keys (serial numbers SN0001, SN0002, SN0003); choose one with --serial"
            in proc.stderr), proc.stderr
    assert not path.exists()
    proc = import_pskc(env, pskc, "--serial", "SN0009")
    assert proc.returncode == 1 and "no key with serial number SN0009" in proc.stderr, proc.stderr
    assert not path.exists()
    # the second token starts at its counter 2: a press within the look-ahead confirms it
    proc = import_pskc(env, pskc, "--serial", "SN0002", "--name", "fob", answers=[hotp(tokens[1].secret, 5)])
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "from counter 2." in proc.stdout, proc.stdout
    assert "Its key expires on 2099-12-31" in proc.stdout, proc.stdout
    assert records(path) == {"fob": ("hotp", {
        "name": "fob", "algorithm": "SHA1", "digits": "6", "counter": "6", "secret": tokens[1].secret})}
    assert login(env, path, hotp(tokens[1].secret, 4)).result == "PAM_AUTH_ERR"
    assert login(env, path, hotp(tokens[1].secret, 6)).result == "PAM_SUCCESS"


def test_token_is_added_to_an_existing_enrollment(env):
    path, app_secret = env.write_secret(path=secret_path(env))
    before = records(path)
    token = Token(serial="A/B#7")       # '/' and '#' are not allowed in a name
    env.remember(token.secret)
    pskc = write(env, "one.pskcxml", container([token]))
    proc = import_pskc(env, pskc, answers=[hotp(token.secret, 0)])
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "no enrollment" not in proc.stdout
    after = records(path)
    assert after["default"] == before["default"], after
    assert after["token-A-B-7"] == ("hotp", {
        "name": "token-A-B-7", "algorithm": "SHA1", "digits": "6", "counter": "1", "secret": token.secret})
    # the app and the token both log in
    assert login(env, path, next_step_code(app_secret)).result == "PAM_SUCCESS"
    assert login(env, path, hotp(token.secret, 1)).result == "PAM_SUCCESS"
    # the same name again: refused before any code is asked
    text = path.read_text()
    proc = import_pskc(env, pskc)
    assert proc.returncode == 1, proc.stdout
    assert ("alice already has an authenticator named token-A-B-7 (see mfa-enroll list); "
            "choose another with --name") in proc.stderr, proc.stderr
    assert "Enter" not in proc.stdout and path.read_text() == text
    # the same key under another name: refused too (codes are spent per authenticator, so the
    # same token twice would take each code twice)
    proc = import_pskc(env, pskc, "--name", "again")
    assert proc.returncode == 1, proc.stdout
    assert ("alice already has this token's key as token-A-B-7 (see mfa-enroll list); nothing was changed"
            in proc.stderr), proc.stderr
    assert "Enter" not in proc.stdout and path.read_text() == text


@pytest.mark.parametrize("existing", [False, True])
def test_wrong_codes_save_nothing(env, existing):
    token = Token(serial="W1", counter=0)
    env.remember(token.secret)
    path = secret_path(env)
    if existing:
        env.write_secret(path=path)
    before = path.read_bytes() if existing else None
    pskc = write(env, "w.pskcxml", container([token]))
    valid = {hotp(token.secret, c) for c in range(0, 12)}
    wrong = [c for c in (f"{n:06d}" for n in range(123456, 123500)) if c not in valid][:3]
    proc = import_pskc(env, pskc, answers=wrong)
    assert proc.returncode == 1, proc.stdout
    assert proc.stdout.count("That code is not right") == 2, proc.stdout
    assert f"no correct code after 3 tries; {NOTHING}" in proc.stderr, proc.stderr
    assert (path.read_bytes() == before) if existing else not path.exists()
    # a code from a press beyond the look-ahead (counter 11 from 0) is not accepted either
    proc = import_pskc(env, pskc, answers=[hotp(token.secret, 11)])
    assert proc.returncode == 1 and NOTHING in proc.stderr, proc.stderr
    assert (path.read_bytes() == before) if existing else not path.exists()


# ---------------------------------------------------------------------------
# refusals: one line, exit status 1, nothing written, no code asked
# ---------------------------------------------------------------------------


def tamper_cipher(text: str) -> str:
    """Flips one bit of the key's ciphertext (the second CipherValue: the first is the MAC key's)."""
    head, rest = text.split("<xenc:CipherValue>", 1)
    mid, rest = rest.split("<xenc:CipherValue>", 1)
    value, tail = rest.split("</xenc:CipherValue>", 1)
    value = "".join(value.split())
    raw = bytearray(base64.b64decode(value))
    raw[-1] ^= 0x01
    return (head + "<xenc:CipherValue>" + mid + "<xenc:CipherValue>"
            + base64.b64encode(bytes(raw)).decode() + "</xenc:CipherValue>" + tail)


def tamper_mac(text: str) -> str:
    return text.replace("Su+NvtQfmvfJzF6bmQiJqoLRExc=", "Su+MvtQfmvfJzF6bmQiJqoLRExc=")


def plain_secret_in(text: str) -> str:
    """Figure 6 with its encrypted Secret swapped for the key in plain text."""
    head, rest = text.split("<Secret>", 1)
    _, tail = rest.split("</Secret>", 1)
    return head + "<Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret>" + tail


MANY_ATTRIBUTES = " ".join(f'a{i}="x"' for i in range(40))

REFUSALS = {
    # name: (file text, extra arguments (K: the RFC key file), message)
    "wrong key file": (RFC6030_FIGURE6, ["--key-file", "OTHER"], "a wrong key file, or a tampered file"),
    "tampered ciphertext": (tamper_cipher(RFC6030_FIGURE6), ["--key-file", "K"],
                            "the MAC of the Secret does not verify: a wrong key file, or a tampered file"),
    "tampered MAC": (tamper_mac(RFC6030_FIGURE6), ["--key-file", "K"],
                     "the MAC of the Secret does not verify"),
    "encrypted without --key-file": (RFC6030_FIGURE6, [],
                                     "the key is encrypted with a pre-shared key (KeyName Pre-shared-key); "
                                     "give it with --key-file"),
    "key file for a plain key": (container([Token()]), ["--key-file", "K"], "--key-file is not needed"),
    "OCRA": (container([Token(algorithm="urn:ietf:params:xml:ns:keyprov:pskc#OCRA-1:HOTP-SHA1-6:QN08")]), [],
             "the key's algorithm urn:ietf:params:xml:ns:keyprov:pskc#OCRA-1:HOTP-SHA1-6:QN08 is not supported"),
    "ALPHANUMERIC": (container([Token(encoding="ALPHANUMERIC")]), [],
                     "the key's codes have Encoding ALPHANUMERIC; only DECIMAL codes are supported"),
    "PIN Prepend": (container([Token(pin_mode="Prepend")]), [], "PINUsageMode Prepend"),
    "PIN Algorithmic": (container([Token(pin_mode="Algorithmic")]), [], "PINUsageMode Algorithmic"),
    "9 digits": (container([Token(digits=9)]), [], "the key's codes are 9 digits long"),
    "TimeInterval 10": (container([Token(algorithm=TOTP, counter=None, time_interval=10)]), [],
                        "a TimeInterval of 10 s is not supported"),
    "T0": (container([Token(algorithm=TOTP, counter=None, time0=1000)]), [], "a Time (T0) other than 0"),
    "MD5": (container([Token(suite="HMAC-MD5")]), [], "the key's Suite HMAC-MD5 is not supported"),
    "expired": (container([Token(expiry="2020-01-01T00:00:00Z")]), [],
                "the key expired on 2020-01-01 00:00 UTC"),
    "DOCTYPE": (container([Token()], prolog='<!DOCTYPE KeyContainer [<!ENTITY x "y">]>\n'), [],
                "not well-formed XML: line 2: a DOCTYPE is not allowed"),
    "unclosed": (container([Token()]).replace("</KeyContainer>", ""), [], "not well-formed XML: line"),
    "not PSKC": ('<?xml version="1.0"?><KeyContainer Version="1.0"/>', [],
                 "not a PSKC file (RFC 6030)"),
    "huge Counter": (container([Token(counter=10 ** 17)]), [], "a Counter above 999999999999999 is not supported"),
    "control characters in SerialNo": (container([Token(serial="S1&#x9b;2J")]), [],
                                       "SerialNo has characters other than printable ASCII"),
    "space in SerialNo": (container([Token(serial="X user=root")]), [],
                          "SerialNo has characters other than printable ASCII (or a space)"),
    "many attributes": (container([Token()]).replace("<Issuer>", f"<Issuer {MANY_ATTRIBUTES}>"), [],
                        "more than 32 attributes in <Issuer>"),
    "unknown Policy attribute": (container([Token(expiry="2099-01-01T00:00:00Z")]).replace(
        "<Policy>", '<Policy Foo="1">'), [], "the key's Policy has the attribute Foo"),
    "plain Secret in an encrypted file": (plain_secret_in(RFC6030_FIGURE6), [],
                                          "the Secret is in plain text in a file that declares an encryption key"),
    "key wrap": (RFC6030_FIGURE6.replace("aes128-cbc", "kw-aes128"), ["--key-file", "K"], "(AES key wrap)"),
    "PBKDF2": (RFC6030_FIGURE6.replace(
        "<ds:KeyName>Pre-shared-key</ds:KeyName>",
        '<xenc11:DerivedKey xmlns:xenc11="http://www.w3.org/2009/xmlenc11#"/>'), ["--key-file", "K"],
        "derived from a password (PBKDF2"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refused(env, case):
    text, extra, message = REFUSALS[case]
    pskc = write(env, "refused.pskcxml", text)
    psk = key_file(env)
    other = key_file(env, "00112233445566778899aabbccddeeff", name="other.hex")
    args = [{"K": psk, "OTHER": other}.get(a, a) for a in extra]
    proc = import_pskc(env, pskc, *args)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith(f"mfa-enroll: {pskc}: "), proc.stderr
    assert message in lines[0] and lines[0].endswith(NOTHING), (message, lines[0])
    assert "Enter" not in proc.stdout, proc.stdout
    assert not secret_path(env).exists()


@pytest.mark.parametrize("mode,content,message", [
    (0o644, RFC_PSK, "(it must be root's, mode 0600 or stricter)"),
    (0o600, "not hex at all", "not an AES key as 32, 48 or 64 hex digits"),
    (0o600, RFC_PSK[:-2], "not an AES key as 32, 48 or 64 hex digits"),
])
def test_key_file_must_be_roots_private_hex(env, mode, content, message):
    pskc = write(env, "figure6.pskcxml", RFC6030_FIGURE6)
    keyf = write_key_file(env.base / "k.hex", content, mode=mode)
    proc = import_pskc(env, pskc, "--key-file", keyf)
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert not secret_path(env).exists()


def test_root_only(env):
    pskc = write(env, "figure6.pskcxml", RFC6030_FIGURE6)
    os.chmod(pskc, 0o644)
    path = secret_path(env)
    proc = subprocess.run(enroll_cmd("import", "pskc", pskc, "--secret-file", path),
                          capture_output=True, text=True, env=env.env(), timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL, **as_alice())
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stderr == "mfa-enroll: only root can do this\n", proc.stderr
    assert not path.exists()


def test_help_names_the_options(enroll_bin):
    proc = subprocess.run(enroll_cmd("import", "pskc", "--help"), capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    for option in ("--serial", "--key-file", "--name", "--secret-file"):
        assert option in proc.stdout, proc.stdout
    proc = subprocess.run(enroll_cmd("import", "lastpass"), capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 64, (proc.stdout, proc.stderr)
