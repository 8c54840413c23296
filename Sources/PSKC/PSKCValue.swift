import MFACore

/// A value under <Data> (Secret, Counter, Time, TimeInterval, TimeDrift): a <PlainValue>, or an
/// <EncryptedValue> with its <ValueMAC>.
enum PSKCValue {
  /// The bytes of a binary value (the key), decrypted when encrypted.
  static func binary(
    _ element: XMLReader.Element, _ name: String, _ decryption: PSKCDecryption?
  ) throws(PSKCError) -> [UInt8] {
    if let plain = try plainValue(element, name) {
      guard let bytes = Base64.decode(plain.text) else {
        throw .malformed("not a valid PSKC file: line \(plain.line): the \(name) is not base64")
      }
      return bytes
    }
    return try encrypted(element, name, decryption)
  }

  /// An integer value: decimal text when plain, big-endian bytes when encrypted.
  static func integer(
    _ element: XMLReader.Element, _ name: String, _ decryption: PSKCDecryption?
  ) throws(PSKCError) -> Int64 {
    if let plain = try plainValue(element, name) {
      var text = plain.trimmedText[...]
      let negative = text.first == 0x2D
      if negative { text = text.dropFirst() }
      guard !text.isEmpty, text.count <= 18, text.allSatisfy(ASCIIClass.isDigit) else {
        throw .malformed("not a valid PSKC file: line \(plain.line): the \(name) is not an integer")
      }
      let value = text.reduce(Int64(0)) { $0 * 10 + Int64($1 - 0x30) }
      return negative ? -value : value
    }
    var bytes = try encrypted(element, name, decryption)
    defer { bytes.wipe() }
    guard (1...8).contains(bytes.count) else {
      throw .malformed("not a valid PSKC file: the encrypted \(name) is not an integer of 1 to 8 bytes")
    }
    var value: UInt64 = 0
    for byte in bytes { value = value << 8 | UInt64(byte) }
    return Int64(bitPattern: value)
  }

  /// The <PlainValue>, nil when the value is encrypted; exactly one of the two must be there.
  static func plainValue(_ element: XMLReader.Element, _ name: String) throws(PSKCError) -> XMLReader.Element? {
    let plain = try element.one("PlainValue")
    let encrypted = try element.one("EncryptedValue")
    guard (plain == nil) != (encrypted == nil) else {
      throw .malformed(
        "not a valid PSKC file: line \(element.line): the \(name) needs one PlainValue or one EncryptedValue")
    }
    return plain
  }

  static func encrypted(
    _ element: XMLReader.Element, _ name: String, _ decryption: PSKCDecryption?
  ) throws(PSKCError) -> [UInt8] {
    guard let decryption, let value = try element.one("EncryptedValue") else {
      throw .keyFile("the \(name) is encrypted; give the pre-shared key with --key-file")
    }
    guard let mac = try element.one("ValueMAC") else {
      throw .integrity("the encrypted \(name) has no ValueMAC, so its integrity cannot be checked")
    }
    return try decryption.decrypt(value, mac: mac, name)
  }
}
