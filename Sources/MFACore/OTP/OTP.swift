/// HOTP (RFC 4226) and TOTP (RFC 6238) code generation.
public enum OTP {
  /// The decimal code for `counter`, zero-padded to `digits` (6...8), as ASCII digits.
  /// Returns nil only when libcrypto fails.
  public static func hotp(key: [UInt8], counter: UInt64, digits: Int, algorithm: OTPAlgorithm)
    -> [UInt8]?
  {
    var message = [UInt8](repeating: 0, count: 8)
    for index in 0..<8 { message[index] = UInt8(truncatingIfNeeded: counter >> UInt64(56 - 8 * index)) }
    guard var mac = algorithm.hmac(key: key, message: message) else { return nil }
    defer { mac.wipe() }
    // Dynamic truncation, RFC 4226 §5.3.
    let offset = Int(mac[mac.count - 1] & 0x0F)
    let binary =
      (UInt32(mac[offset] & 0x7F) << 24) | (UInt32(mac[offset + 1]) << 16)
      | (UInt32(mac[offset + 2]) << 8) | UInt32(mac[offset + 3])
    var modulus: UInt32 = 1
    for _ in 0..<digits { modulus *= 10 }
    var value = binary % modulus
    var code = [UInt8](repeating: ASCII.zero, count: digits)
    var index = digits - 1
    while index >= 0 {
      code[index] = ASCII.zero + UInt8(value % 10)
      value /= 10
      index -= 1
    }
    return code
  }

  /// The TOTP time step containing `time` (seconds since the epoch, T0 = 0).
  public static func timeStep(at time: Int64, period: Int) -> Int64 {
    let period64 = Int64(period)
    // Floor division, so times before 1970 do not round toward zero.
    return time >= 0 ? time / period64 : -((-time + period64 - 1) / period64)
  }
}
