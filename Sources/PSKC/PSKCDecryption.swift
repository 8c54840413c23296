import MFACore

/// Encrypted values under a pre-shared key (RFC 6030 §6.1): AES-CBC as XML Encryption writes it
/// (the IV, then the ciphertext), each value with a MAC over IV and ciphertext under the
/// container's MAC key, which is itself encrypted under the pre-shared key (§6.1.1).
struct PSKCDecryption {
  var preSharedKey: [UInt8]
  var macKey: [UInt8]
  var macHash: OTPAlgorithm

  /// Checks the container's key set-up and decrypts its MAC key.
  init(container: PSKCContainer, preSharedKey: [UInt8]) throws(PSKCError) {
    if let encryptionKey = container.encryptionKey {
      try PSKCDecryption.checkPreSharedKey(encryptionKey)
    }
    guard let method = container.macMethod else {
      throw .integrity("the file has encrypted values but no MACMethod, so their integrity cannot be checked")
    }
    let algorithm = method.attribute("Algorithm") ?? "(none)"
    guard let hash = PSKCNames.macHash(algorithm) else {
      throw .unsupported("the MAC algorithm \(algorithm) is not supported (only \(PSKCNames.xmldsig)hmac-sha1)")
    }
    guard let encryptedKey = try method.one("MACKey") else {
      throw .unsupported("the MACMethod has no MACKey (a MAC key held elsewhere is not supported)")
    }
    self.preSharedKey = preSharedKey
    self.macHash = hash
    var raw = try PSKCDecryption.cipherValue(encryptedKey, "MAC key", keyLength: preSharedKey.count)
    defer { raw.wipe() }
    macKey = try PSKCDecryption.decryptCBC(raw, key: preSharedKey, "MAC key")
    guard !macKey.isEmpty else { throw .integrity("the MAC key is empty") }
  }

  /// Only a pre-shared key named by <ds:KeyName> (§6.1): refuses password-based (§6.2) and
  /// certificate-based (§6.3) encryption with what they are.
  static func checkPreSharedKey(_ encryptionKey: XMLReader.Element) throws(PSKCError) {
    for child in encryptionKey.children {
      if child.namespace == PSKCNames.xmldsig && child.name == "KeyName" { continue }
      if child.name == "DerivedKey" {
        throw .unsupported(
          "the file's key is derived from a password (PBKDF2, RFC 6030 §6.2), which is not supported: "
            + "ask the vendor for a file encrypted with a pre-shared AES key")
      }
      if child.name == "X509Data" {
        throw .unsupported("the file is encrypted to a certificate (RFC 6030 §6.3), which is not supported")
      }
      throw .unsupported("the file's EncryptionKey holds <\(child.name)>: only a pre-shared key (KeyName) is supported")
    }
  }

  /// The plaintext of an <EncryptedValue>, after its `mac` (<ValueMAC>) has been verified.
  func decrypt(_ value: XMLReader.Element, mac: XMLReader.Element, _ name: String) throws(PSKCError) -> [UInt8] {
    var raw = try PSKCDecryption.cipherValue(value, name, keyLength: preSharedKey.count)
    defer { raw.wipe() }
    guard let expected = Base64.decode(mac.text) else {
      throw .malformed("not a valid PSKC file: line \(mac.line): the ValueMAC is not base64")
    }
    guard let actual = Crypto.hmac(macHash, key: macKey, message: raw) else {
      throw .integrity("cannot compute the MAC: \(Crypto.unavailable() ?? "libcrypto failed")")
    }
    // Before anything is decrypted: a wrong key must not get as far as a padding check.
    guard constantTimeEqual(actual, expected) else {
      throw .integrity("the MAC of the \(name) does not verify: a wrong key file, or a tampered file")
    }
    return try PSKCDecryption.decryptCBC(raw, key: preSharedKey, name)
  }

  /// The algorithm's check and the IV and ciphertext of `value`'s CipherData/CipherValue.
  static func cipherValue(_ value: XMLReader.Element, _ name: String, keyLength: Int) throws(PSKCError) -> [UInt8] {
    let algorithm = try value.one("EncryptionMethod", in: PSKCNames.xmlenc)?.attribute("Algorithm") ?? "(none)"
    guard let needed = PSKCNames.aesCBCKeyLength(algorithm) else {
      let kind = PSKCNames.short(algorithm).hasPrefix("kw-") ? " (AES key wrap)" : ""
      throw .unsupported(
        "the \(name) is encrypted with \(algorithm)\(kind), which is not supported (only aes128-cbc, aes192-cbc, "
          + "aes256-cbc of \(PSKCNames.xmlenc))")
    }
    guard needed == keyLength else {
      throw .keyFile(
        "the key file holds a \(keyLength * 8)-bit key, but the file is encrypted with \(PSKCNames.short(algorithm))"
          + " (\(needed * 8)-bit keys)")
    }
    guard let data = try value.one("CipherData", in: PSKCNames.xmlenc),
      let cipher = try data.one("CipherValue", in: PSKCNames.xmlenc)
    else {
      throw .unsupported("the encrypted \(name) has no CipherData/CipherValue (a CipherReference is not supported)")
    }
    guard let raw = Base64.decode(cipher.text) else {
      throw .malformed("not a valid PSKC file: line \(cipher.line): the CipherValue is not base64")
    }
    guard raw.count >= 32, raw.count % 16 == 0 else {
      throw .malformed("not a valid PSKC file: line \(cipher.line): the CipherValue is not an IV and AES blocks")
    }
    return raw
  }

  /// AES-CBC with XML Encryption's padding: only the last byte counts, the number (1 to 16)
  /// of bytes to drop; the others are arbitrary, so this is not PKCS#7.
  static func decryptCBC(_ raw: [UInt8], key: [UInt8], _ name: String) throws(PSKCError) -> [UInt8] {
    guard var plain = Crypto.aesCBCDecrypt(key: key, iv: Array(raw[0..<16]), ciphertext: Array(raw[16...])) else {
      throw .integrity("cannot decrypt the \(name): \(Crypto.unavailable() ?? "libcrypto failed")")
    }
    defer { plain.wipe() }
    let padding = Int(plain[plain.count - 1])
    guard (1...16).contains(padding), padding <= plain.count else {
      throw .integrity("the \(name) does not decrypt: a wrong key file, or a tampered file")
    }
    return Array(plain[0..<(plain.count - padding)])
  }

  mutating func wipe() {
    preSharedKey.wipe()
    macKey.wipe()
  }
}
