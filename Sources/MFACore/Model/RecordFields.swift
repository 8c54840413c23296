/// The `key=value` fields of one secret-file record: each key at most once and one the record
/// knows. Values may hold a key's text, so `wipe` clears them before they are freed.
struct RecordFields {
  private var pairs: [(key: [UInt8], value: [UInt8])] = []
  let line: Int

  init(_ words: [[UInt8]], allowed: [String], line: Int) throws(FormatError) {
    self.line = line
    for word in words {
      guard let split = word.firstIndex(of: ASCII.equals), split > 0 else {
        wipe()
        throw FormatError(line: line, "expected key=value")
      }
      let key = Array(word[0..<split])
      guard allowed.contains(where: { [UInt8]($0) == key }) else {
        wipe()
        throw FormatError(line: line, "unknown key")
      }
      if self[key] != nil {
        wipe()
        throw FormatError(line: line, "duplicate key")
      }
      pairs.append((key, Array(word[(split + 1)...])))
    }
  }

  subscript(_ key: [UInt8]) -> [UInt8]? { pairs.first { $0.key == key }?.value }
  subscript(_ key: String) -> [UInt8]? { self[[UInt8](key)] }

  /// A decimal field that `isValid` accepts (`fallback` when absent); `message` says what is.
  func number(_ key: String, fallback: Int64, _ message: String, isValid: (Int64) -> Bool = { _ in true })
    throws(FormatError) -> Int64
  {
    guard let value = self[key] else { return fallback }
    guard let number = parseDecimal(value), isValid(number) else { throw FormatError(line: line, message) }
    return number
  }

  mutating func wipe() {
    for index in pairs.indices { pairs[index].value.wipe() }
    pairs = []
  }
}
