/// One `pamMfaStep` value: `totp:NAME:STEP` or `hotp:NAME:COUNTER`. No spaces, so a substring
/// filter on `totp:NAME:` matches exactly this authenticator's value.
struct StepValue {
  static let totp: [UInt8] = Array("totp".utf8)
  static let hotp: [UInt8] = Array("hotp".utf8)

  var kind: [UInt8]
  var name: [UInt8]
  var number: Int64

  init?(_ value: [UInt8]) {
    let parts = value.fields(separatedBy: 0x3A)
    guard parts.count == 3, parts[0] == StepValue.totp || parts[0] == StepValue.hotp,
      Authenticator.isValidStateName(parts[1]), let parsed = parseDecimal(parts[2])
    else { return nil }
    kind = parts[0]
    name = parts[1]
    number = parsed
  }

  static func prefix(kind: [UInt8], name: [UInt8]) -> [UInt8] { kind + [0x3A] + name + [0x3A] }
}
