/// One way a user proves the second factor. Only TOTP exists today; HOTP, e-mail and SMS
/// authenticators are later record types in the same file.
public struct Authenticator: Equatable, Sendable {
  /// Unique within the user's file ("default", "tablet", ...); keys the replay state.
  public var name: [UInt8]
  public var algorithm: OTPAlgorithm
  /// Code length, 6...8.
  public var digits: Int
  /// TOTP period in seconds.
  public var period: Int
  /// The raw shared key (decoded from base32). Wiped by `Enrollment.wipe()`.
  public var key: [UInt8]
  /// The time step of the code typed to confirm this authenticator in mfa-enroll (which cannot
  /// write the root-owned state): the module treats it and older steps as used.
  public var confirmedStep: Int64?

  public init(name: [UInt8], algorithm: OTPAlgorithm, digits: Int, period: Int, key: [UInt8]) {
    self.name = name
    self.algorithm = algorithm
    self.digits = digits
    self.period = period
    self.key = key
  }

  public static let digitRange = 6...8
  public static let periodRange = 15...300
  /// 80 bits is what google-authenticator issues; we generate 160.
  public static let keyLengthRange = 10...128
  public static let nameLengthRange = 1...32
  public static let defaultName: [UInt8] = Array("default".utf8)

  /// Names are short tokens so that they can appear unquoted in files and logs.
  public static func isValidName(_ name: [UInt8]) -> Bool {
    guard nameLengthRange.contains(name.count) else { return false }
    for byte in name {
      let ok =
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || ASCII.isDigit(byte)
        || byte == ASCII.dash || byte == 0x5F || byte == 0x2E
      if !ok { return false }
    }
    return true
  }
}

/// Everything a user's secret file holds.
public struct Enrollment: Equatable, Sendable {
  public var authenticators: [Authenticator]
  /// Hashes of the unused backup codes; a used one is removed from the file.
  public var backupCodes: [BackupCodeHash]

  /// `mfa-enroll forget`: remote hosts remembered before this time need a code again. (The user
  /// cannot write the root-owned state, so the revocation lives in their own file.)
  public var forgetBefore: Int64 = 0

  public init(authenticators: [Authenticator], backupCodes: [BackupCodeHash] = []) {
    self.authenticators = authenticators
    self.backupCodes = backupCodes
  }

  /// Overwrites every key in memory.
  public mutating func wipe() {
    for index in authenticators.indices { authenticators[index].key.wipe() }
  }
}
