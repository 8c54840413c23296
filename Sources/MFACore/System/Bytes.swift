/// Byte-level helpers: the core works on [UInt8] so it needs no Unicode tables in Embedded mode.
enum ASCII {
  static let space: UInt8 = 0x20
  static let tab: UInt8 = 0x09
  static let newline: UInt8 = 0x0A
  static let carriageReturn: UInt8 = 0x0D
  static let hash: UInt8 = 0x23
  static let equals: UInt8 = 0x3D
  static let zero: UInt8 = 0x30
  static let nine: UInt8 = 0x39
  static let dash: UInt8 = 0x2D
  static let slash: UInt8 = 0x2F
  static let dot: UInt8 = 0x2E

  static func isDigit(_ byte: UInt8) -> Bool { byte >= zero && byte <= nine }
  static func isBlank(_ byte: UInt8) -> Bool { byte == space || byte == tab }
}

extension Array where Element == UInt8 {
  /// The bytes of a Swift string (UTF-8).
  init(_ string: String) { self = Array(string.utf8) }

  /// Splits on a separator, dropping empty pieces.
  func fields(separatedBy separator: UInt8) -> [[UInt8]] { fields { $0 == separator } }

  /// Splits where `isSeparator` holds, dropping empty pieces. Each piece is allocated once, at
  /// its size: a growing buffer would leave freed partial copies of what may be a key.
  func fields(where isSeparator: (UInt8) -> Bool) -> [[UInt8]] {
    var result: [[UInt8]] = []
    var start = 0
    for index in 0...count where index == count || isSeparator(self[index]) {
      if index > start { result.append(Array(self[start..<index])) }
      start = index + 1
    }
    return result
  }

  /// Without leading and trailing spaces, tabs and carriage returns.
  func trimmed() -> [UInt8] {
    var start = startIndex
    var end = endIndex
    while start < end, ASCII.isBlank(self[start]) || self[start] == ASCII.carriageReturn { start += 1 }
    while end > start, ASCII.isBlank(self[end - 1]) || self[end - 1] == ASCII.carriageReturn { end -= 1 }
    return Array(self[start..<end])
  }

  /// The bytes as text (invalid UTF-8 is repaired, which is fine for messages).
  public var text: String { String(decoding: self, as: UTF8.self) }

  /// Overwrites the contents before the memory is released.
  public mutating func wipe() {
    let count = self.count
    withUnsafeMutableBytes { raw in
      if let base = raw.baseAddress { wipeMemory(base, count) }
    }
  }
}

/// Parses an unsigned decimal number of at most 18 digits (no sign, no spaces).
func parseDecimal(_ bytes: [UInt8]) -> Int64? {
  if bytes.isEmpty || bytes.count > 18 { return nil }
  var value: Int64 = 0
  for byte in bytes {
    guard ASCII.isDigit(byte) else { return nil }
    value = value * 10 + Int64(byte - ASCII.zero)
  }
  return value
}

extension Array where Element == [UInt8] {
  /// Wipes every element (lines or words that may hold a key).
  mutating func wipeEach() {
    for index in indices { self[index].wipe() }
  }
}
