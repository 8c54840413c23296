"""PSKC files (RFC 6030) for `mfa-enroll import pskc`: the RFC's own examples, and files built
here with Python's standard library for the XML and the MAC and the openssl command for the
AES-CBC encryption (independent of libcrypto's use inside mfa-enroll)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .world import REPO

PSKC_NS = "urn:ietf:params:xml:ns:keyprov:pskc"
HOTP = "urn:ietf:params:xml:ns:keyprov:pskc:hotp"
TOTP = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
XMLENC = "http://www.w3.org/2001/04/xmlenc#"
HMAC_SHA1 = "http://www.w3.org/2000/09/xmldsig#hmac-sha1"
HMAC_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"

# RFC 6030 §6.1: the pre-shared key of its AES-128-CBC example, and the key it protects (the
# RFC 4226 test key, ASCII).
RFC_PSK = "12345678901234567890123456789012"
RFC_KEY = b"12345678901234567890"

# RFC 6030 figure 6 (§6.1), as published: HOTP, 8 digits, counter 0, key and MAC key encrypted
# under RFC_PSK with AES-128-CBC, ValueMAC by HMAC-SHA1 (the unit tests read the same file).
RFC6030_FIGURE6 = (REPO / "Tests/PSKCTests/rfc6030-figure6.pskcxml").read_text()


def b32(key: bytes) -> str:
    """The key as the secret file and oathtool write it (base32, no padding)."""
    return base64.b32encode(key).decode().rstrip("=")


def xmlenc_pad(plain: bytes) -> bytes:
    """XML Encryption's padding: arbitrary bytes, then the count (1..16) as the last byte; not
    PKCS#7, so the filler is random here on purpose."""
    count = 16 - len(plain) % 16
    return plain + os.urandom(count - 1) + bytes([count])


def aes_cbc(psk_hex: str, plain: bytes, iv: bytes | None = None) -> bytes:
    """IV || AES-CBC(psk, padded plain), by the openssl command (no padding of its own)."""
    iv = iv if iv is not None else os.urandom(16)
    cipher = {32: "-aes-128-cbc", 48: "-aes-192-cbc", 64: "-aes-256-cbc"}[len(psk_hex)]
    out = subprocess.run(["openssl", "enc", cipher, "-K", psk_hex, "-iv", iv.hex(), "-nopad"],
                         input=xmlenc_pad(plain), capture_output=True, check=True).stdout
    return iv + out


@dataclass
class Token:
    """One KeyPackage: a device with its key."""
    key: bytes = field(default_factory=lambda: os.urandom(20))
    serial: str | None = "1000000001"
    algorithm: str = HOTP
    digits: int = 6
    encoding: str = "DECIMAL"
    suite: str | None = None
    counter: int | None = 0
    time_interval: int | None = None
    time0: int | None = None
    pin_mode: str | None = None
    expiry: str | None = None
    extra_data: str = ""

    @property
    def secret(self) -> str:
        return b32(self.key)


@dataclass
class Encryption:
    """A pre-shared key for the container: AES-CBC of its size, a MAC key under it."""
    psk: str = RFC_PSK
    mac_algorithm: str = HMAC_SHA1
    mac_key: bytes = field(default_factory=lambda: os.urandom(20))

    @property
    def cipher_uri(self) -> str:
        return XMLENC + {32: "aes128-cbc", 48: "aes192-cbc", 64: "aes256-cbc"}[len(self.psk)]

    def mac(self, data: bytes) -> bytes:
        digest = hashlib.sha256 if self.mac_algorithm == HMAC_SHA256 else hashlib.sha1
        return hmac.new(self.mac_key, data, digest).digest()


def encrypted_value(enc: Encryption, plain: bytes) -> tuple:
    """(<EncryptedValue> element, its <ValueMAC>) for plain."""
    raw = aes_cbc(enc.psk, plain)
    value = (f'<EncryptedValue><xenc:EncryptionMethod Algorithm="{enc.cipher_uri}"/>'
             f"<xenc:CipherData><xenc:CipherValue>{base64.b64encode(raw).decode()}"
             "</xenc:CipherValue></xenc:CipherData></EncryptedValue>")
    return value, f"<ValueMAC>{base64.b64encode(enc.mac(raw)).decode()}</ValueMAC>"


def key_package(token: Token, enc: Encryption | None) -> str:
    device = (f"<DeviceInfo><Manufacturer>Test Tokens</Manufacturer>"
              f"<SerialNo>{token.serial}</SerialNo></DeviceInfo>") if token.serial else ""
    suite = f"<Suite>{token.suite}</Suite>" if token.suite else ""
    if enc is None:
        secret = f"<PlainValue>{base64.b64encode(token.key).decode()}</PlainValue>"
    else:
        value, mac = encrypted_value(enc, token.key)
        secret = value + mac
    data = f"<Secret>{secret}</Secret>"
    if token.counter is not None:
        data += f"<Counter><PlainValue>{token.counter}</PlainValue></Counter>"
    if token.time0 is not None:
        data += f"<Time><PlainValue>{token.time0}</PlainValue></Time>"
    if token.time_interval is not None:
        data += f"<TimeInterval><PlainValue>{token.time_interval}</PlainValue></TimeInterval>"
    policy = ""
    if token.pin_mode or token.expiry:
        policy = "<Policy>"
        if token.expiry:
            policy += f"<ExpiryDate>{token.expiry}</ExpiryDate>"
        if token.pin_mode:
            policy += f'<PINPolicy PINKeyId="pin-{token.serial}" PINUsageMode="{token.pin_mode}" MinLength="4"/>'
        policy += "</Policy>"
    return (f"<KeyPackage>{device}<Key Id=\"{token.serial or 'k'}\" Algorithm=\"{token.algorithm}\">"
            f"<Issuer>Issuer</Issuer><AlgorithmParameters>{suite}"
            f'<ResponseFormat Length="{token.digits}" Encoding="{token.encoding}"/></AlgorithmParameters>'
            f"<Data>{data}{token.extra_data}</Data>{policy}</Key></KeyPackage>")


def container(tokens: list, enc: Encryption | None = None, prolog: str = "") -> str:
    """A KeyContainer holding tokens, encrypted under enc when given."""
    head = ""
    if enc is not None:
        mac_key = base64.b64encode(aes_cbc(enc.psk, enc.mac_key)).decode()
        head = ("<EncryptionKey><ds:KeyName>Pre-shared-key</ds:KeyName></EncryptionKey>"
                f'<MACMethod Algorithm="{enc.mac_algorithm}"><MACKey>'
                f'<xenc:EncryptionMethod Algorithm="{enc.cipher_uri}"/><xenc:CipherData>'
                f"<xenc:CipherValue>{mac_key}</xenc:CipherValue></xenc:CipherData></MACKey></MACMethod>")
    packages = "\n  ".join(key_package(t, enc) for t in tokens)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}'
            f'<KeyContainer Version="1.0" xmlns="{PSKC_NS}"\n'
            '    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xenc="http://www.w3.org/2001/04/xmlenc#">\n'
            f"  {head}\n  {packages}\n</KeyContainer>\n")


def write_key_file(path: Path, psk_hex: str, mode: int = 0o600, owner: int = 0) -> Path:
    path.write_text(psk_hex + "\n")
    os.chown(path, owner, owner)
    os.chmod(path, mode)
    return path
