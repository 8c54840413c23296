/// A message as mfa_chkcode sends it to the module: untranslated, so that the module renders
/// it in the application's language. The setuid helper never reads a locale from its caller
/// (its environment is cleared), and its catalog lookups would be in C anyway.
extension UserText {
  /// Flags, English text, plural, count, then one field per value (0: bytes, 1: a message).
  public var encoded: [UInt8] {
    let flags: UInt8 = (translated ? 1 : 0) | (englishPlural != nil ? 2 : 0)
    var fields: [[UInt8]] = [[flags], english, englishPlural ?? [], Array(String(count).utf8)]
    for value in values {
      if let message = value.message.first {
        fields.append([1] + message.encoded)
      } else {
        fields.append([0] + value.bytes)
      }
    }
    defer { fields.wipeEach() }
    return HandleFields.encode(fields)
  }

  /// nil for anything but what `encoded` makes (messages nested at most `depth` deep).
  init?(encoded bytes: [UInt8], depth: Int = 4) {
    guard depth > 0, var fields = HandleFields.decode(bytes), fields.count >= 4, fields[0].count == 1,
      fields[0][0] <= 3, let count = parseDecimal(fields[3])
    else { return nil }
    defer { fields.wipeEach() }
    var values: [Value] = []
    for field in fields[4...] {
      guard let tag = field.first else { return nil }
      let rest = Array(field.dropFirst())
      if tag == 0 {
        values.append(.verbatim(rest))
      } else if tag == 1, let message = UserText(encoded: rest, depth: depth - 1) {
        values.append(.text(message))
      } else {
        return nil
      }
    }
    let flags = fields[0][0]
    self.init(
      english: fields[1], plural: flags & 2 != 0 ? fields[2] : nil, count: UInt64(count), values: values,
      translated: flags & 1 != 0)
  }
}
