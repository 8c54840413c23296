/// What the user typed, sorted by shape: digits are a one-time code, 12 letters and digits
/// from the backup alphabet a backup code, anything else no code at all.
public enum Answer {
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

  public mutating func wipe() {
    switch self {
    case .oneTimeCode(var code), .backupCode(var code):
      code.wipe()
      self = .notACode
    case .notACode: break
    }
  }
}
