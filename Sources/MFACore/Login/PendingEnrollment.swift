/// An enrollment made at login, kept in the PAM handle until the application says the whole
/// stack succeeded (pam_acct_mgmt or pam_setcred): a stranger who passes only our prompt, before
/// or after a failing password module, never gets their phone bound to the account.
public struct PendingEnrollment {
  /// The auth line's arguments, so that the account or setcred line needs none of its own.
  public var arguments: [[UInt8]]
  public var user: [UInt8]
  public var step: Int64
  public var enrollment: Enrollment

  /// The enrollment in the secret file's own format.
  public func encoded() -> [UInt8] {
    var file = SecretFileFormat.serialize(enrollment)
    defer { file.wipe() }
    return HandleFields.encode([user, [UInt8](String(step).utf8)] + arguments + [file])
  }

  public static func decode(_ bytes: [UInt8]) -> PendingEnrollment? {
    guard var fields = HandleFields.decode(bytes) else { return nil }
    defer { for index in fields.indices { fields[index].wipe() } }
    let count = fields.count
    guard count >= 3, let step = Int64(fields[1].text) else { return nil }
    var file = fields[count - 1]
    defer { file.wipe() }
    guard let enrollment = try? SecretFileFormat.parse(file) else { return nil }
    return PendingEnrollment(
      arguments: Array(fields[2..<count - 1]), user: fields[0], step: step, enrollment: enrollment)
  }

  public mutating func wipe() { enrollment.wipe() }
}

/// Byte fields, each with its length, for what one pam_mfa call keeps in the handle for another.
enum HandleFields {
  static func encode(_ fields: [[UInt8]]) -> [UInt8] {
    var out: [UInt8] = []
    // Sized once: a field may hold a key's text.
    out.reserveCapacity(fields.reduce(4) { $0 + 4 + $1.count })
    appendLength(fields.count, to: &out)
    for field in fields {
      appendLength(field.count, to: &out)
      out += field
    }
    return out
  }

  /// nil unless `bytes` is exactly such a list (at most 64 fields).
  static func decode(_ bytes: [UInt8]) -> [[UInt8]]? {
    var index = 0
    guard let count = readLength(bytes, &index), count <= 64 else { return nil }
    var fields: [[UInt8]] = []
    for _ in 0..<count {
      guard let length = readLength(bytes, &index), length <= bytes.count - index else { return nil }
      fields.append(Array(bytes[index..<index + length]))
      index += length
    }
    return index == bytes.count ? fields : nil
  }

  private static func appendLength(_ length: Int, to out: inout [UInt8]) {
    for shift in [24, 16, 8, 0] { out.append(UInt8(truncatingIfNeeded: length >> shift)) }
  }

  private static func readLength(_ bytes: [UInt8], _ index: inout Int) -> Int? {
    guard bytes.count - index >= 4 else { return nil }
    var length = 0
    for _ in 0..<4 {
      length = length << 8 | Int(bytes[index])
      index += 1
    }
    return length
  }
}
