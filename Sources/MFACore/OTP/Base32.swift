/// RFC 4648 base32 (the alphabet authenticator apps use for setup keys).
public enum Base32 {
  static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

  /// Encodes with "=" padding when `padding` is true (RFC 4648 §6).
  public static func encode(_ data: [UInt8], padding: Bool = true) -> [UInt8] {
    var output: [UInt8] = []
    output.reserveCapacity((data.count + 4) / 5 * 8)
    var buffer: UInt32 = 0
    var bits = 0
    for byte in data {
      buffer = (buffer << 8) | UInt32(byte)
      bits += 8
      while bits >= 5 {
        output.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 0x1F)])
        bits -= 5
      }
    }
    if bits > 0 {
      output.append(alphabet[Int((buffer << UInt32(5 - bits)) & 0x1F)])
    }
    if padding {
      while output.count % 8 != 0 { output.append(ASCII.equals) }
    }
    return output
  }

  /// Decodes upper- or lower-case base32; trailing "=" padding is optional; spaces are not allowed.
  /// Returns nil for any other character or an impossible length.
  public static func decode(_ text: [UInt8]) -> [UInt8]? {
    var end = text.count
    while end > 0, text[end - 1] == ASCII.equals { end -= 1 }
    // Lengths 1, 3 and 6 (mod 8) cannot come from whole bytes.
    let remainder = end % 8
    if remainder == 1 || remainder == 3 || remainder == 6 { return nil }
    var output: [UInt8] = []
    output.reserveCapacity(end * 5 / 8)
    var buffer: UInt32 = 0
    var bits = 0
    for index in 0..<end {
      guard let value = digitValue(text[index]) else { return nil }
      buffer = (buffer << 5) | UInt32(value)
      bits += 5
      if bits >= 8 {
        output.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits - 8)))
        bits -= 8
      }
    }
    // Leftover bits must be zero, so every encoding decodes to one value only.
    if bits > 0, buffer & ((1 << UInt32(bits)) - 1) != 0 { return nil }
    return output
  }

  static func digitValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x41...0x5A: return byte - 0x41  // A-Z
    case 0x61...0x7A: return byte - 0x61  // a-z
    case 0x32...0x37: return byte - 0x32 + 26  // 2-7
    default: return nil
    }
  }
}
