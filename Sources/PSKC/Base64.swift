import MFACore

/// RFC 4648 base64 as XML Schema's base64Binary writes it: white space anywhere is skipped,
/// '=' only as the final padding, nothing else outside the alphabet.
enum Base64 {
  /// The decoded bytes, or nil for anything malformed. Decodes straight into a buffer of the
  /// final size, so no partial copy of a key is left in freed memory.
  static func decode(_ text: [UInt8]) -> [UInt8]? {
    var symbols = 0
    var padding = 0
    for byte in text where !XMLReader.isSpace(byte) {
      if byte == 0x3D {
        padding += 1
      } else {
        guard padding == 0, value(byte) != nil else { return nil }
        symbols += 1
      }
    }
    let total = symbols + padding
    guard total % 4 == 0, padding <= 2, padding == 0 || total > 0 else { return nil }
    let length = total / 4 * 3 - padding
    var output = [UInt8](repeating: 0, count: length)
    var accumulator: UInt32 = 0
    var bits = 0
    var written = 0
    for byte in text where !XMLReader.isSpace(byte) && byte != 0x3D {
      guard let sextet = value(byte) else { return nil }
      accumulator = accumulator << 6 | UInt32(sextet)
      bits += 6
      if bits >= 8 {
        bits -= 8
        guard written < length else { return nil }
        output[written] = UInt8(truncatingIfNeeded: accumulator >> UInt32(bits))
        written += 1
      }
      accumulator &= (1 << UInt32(bits)) - 1
    }
    // Leftover bits must be zero: one text per value (RFC 4648 §3.5, canonical encoding).
    guard written == length, accumulator == 0 else {
      output.wipe()
      return nil
    }
    return output
  }

  static func value(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x41...0x5A: return byte - 0x41
    case 0x61...0x7A: return byte - 0x61 + 26
    case 0x30...0x39: return byte - 0x30 + 52
    case 0x2B: return 62
    case 0x2F: return 63
    default: return nil
    }
  }
}
