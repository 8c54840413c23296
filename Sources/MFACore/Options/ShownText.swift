/// The rule for text an admin's setting puts in front of users (prompts, contact): valid UTF-8
/// without C0 controls, DEL or C1 controls (0x9B alone is a terminal's CSI).
public enum ShownText {
  public static func isPrintable(_ text: [UInt8]) -> Bool {
    var index = 0
    while index < text.count {
      let lead = text[index]
      if lead < 0x20 || lead == 0x7F { return false }
      if lead < 0x80 {
        index += 1
        continue
      }
      guard let length = sequenceLength(lead), index + length <= text.count else { return false }
      var scalar = UInt32(lead) & (0xFF >> UInt32(length + 1))
      for continuation in text[(index + 1)..<(index + length)] {
        guard continuation & 0xC0 == 0x80 else { return false }
        scalar = scalar << 6 | UInt32(continuation & 0x3F)
      }
      // Overlong forms, surrogates and beyond U+10FFFF are not UTF-8; U+0080-U+009F are C1.
      let smallest: UInt32 = length == 2 ? 0xA0 : length == 3 ? 0x800 : 0x10000
      if scalar < smallest || (scalar >= 0xD800 && scalar <= 0xDFFF) || scalar > 0x10FFFF { return false }
      index += length
    }
    return true
  }

  private static func sequenceLength(_ lead: UInt8) -> Int? {
    if lead & 0xE0 == 0xC0 { return 2 }
    if lead & 0xF0 == 0xE0 { return 3 }
    if lead & 0xF8 == 0xF0 { return 4 }
    return nil
  }
}
