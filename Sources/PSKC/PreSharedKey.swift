import MFACore

/// The key file of `import pskc --key-file`: the vendor's pre-shared AES key as hex text (32,
/// 48 or 64 hex digits for AES-128, -192, -256), white space around it allowed.
public enum PreSharedKey {
  /// The key bytes, or nil when `text` is not that.
  public static func parse(_ text: [UInt8]) -> [UInt8]? {
    var start = 0
    var end = text.count
    while start < end, XMLReader.isSpace(text[start]) { start += 1 }
    while end > start, XMLReader.isSpace(text[end - 1]) { end -= 1 }
    let digits = end - start
    guard [32, 48, 64].contains(digits) else { return nil }
    var key = [UInt8](repeating: 0, count: digits / 2)
    for index in 0..<key.count {
      guard let high = ASCIIClass.digitValue(text[start + 2 * index], hex: true),
        let low = ASCIIClass.digitValue(text[start + 2 * index + 1], hex: true)
      else {
        key.wipe()
        return nil
      }
      key[index] = UInt8(high << 4 | low)
    }
    return key
  }
}
