/// What the user typed, sorted by shape: digits are a one-time code, 12 letters and digits
/// from the backup alphabet a backup code, anything else no code at all. The one classifier of
/// answers, for the login and for mfa-enroll's confirmations.
public enum CodeAnswer {
  case oneTimeCode([UInt8])
  case backupCode([UInt8])
  case notACode

  public init(_ typed: [UInt8]) {
    if let digits = try? CodeInput.digits(typed) {
      self = .oneTimeCode(digits)
    } else if let code = BackupCodes.normalize(typed) {
      self = .backupCode(code)
    } else {
      self = .notACode
    }
  }

  /// The code's bytes overwritten; the answer is `.notACode` afterwards.
  public mutating func wipe() {
    let answer = self
    self = .notACode
    // Consumed, so that the code's buffer is not shared when it is overwritten.
    switch consume answer {
    case .oneTimeCode(var code), .backupCode(var code): code.wipe()
    case .notACode: break
    }
  }
}
