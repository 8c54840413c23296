/// One way a user proves the second factor: a TOTP app (RFC 6238) or an HOTP token (RFC 4226).
public struct Authenticator: Equatable, Sendable {
  public enum Kind: Equatable, Sendable {
    /// Time-based: the code of the current `period`.
    case totp
    /// Counter-based: each button press gives the next counter's code.
    case hotp
  }

  public var kind: Kind = .totp
  /// HOTP: the next counter the file expects (after the code that confirmed the enrollment).
  /// The module's root-owned state keeps the real position; this is its floor.
  public var counter: UInt64 = 0
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

  /// Where the state keeps this token's HOTP counter: the name and a fingerprint of the key,
  /// so that a new token under an old name (re-enrolled, --force, removed and added again)
  /// starts afresh, while the same token's counter never goes back.
  public var counterKey: [UInt8] {
    guard let digest = Crypto.sha256(key) else { return name }
    var text = name + [ASCII.dot]
    for byte in digest.prefix(4) {
      text.append(Authenticator.hexDigits[Int(byte >> 4)])
      text.append(Authenticator.hexDigits[Int(byte & 0x0F)])
    }
    return text
  }

  static let hexDigits = [UInt8]("0123456789abcdef".utf8)

  /// A name, or a counter key (a name, a dot and 8 hex digits), as the state stores them.
  public static func isValidStateName(_ name: [UInt8]) -> Bool {
    isValidName(name, maxLength: nameLengthRange.upperBound + 9)
  }

  /// Names are short tokens so that they can appear unquoted in files and logs.
  public static func isValidName(_ name: [UInt8], maxLength: Int = nameLengthRange.upperBound) -> Bool {
    guard name.count >= nameLengthRange.lowerBound && name.count <= maxLength else { return false }
    for byte in name {
      let ok =
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || ASCII.isDigit(byte)
        || byte == ASCII.dash || byte == 0x5F || byte == ASCII.dot
      if !ok { return false }
    }
    return true
  }
}

/// Where codes can be sent when the user has no app at hand: an e-mail address or a phone number
/// for text messages, confirmed by typing back a code sent to it.
public struct DeliveryAddress: Equatable, Sendable {
  public enum Method: Equatable, Sendable {
    case email
    case sms

    public var name: String { self == .email ? "email" : "sms" }
    /// How the prompt and messages name it.
    public var spoken: String { self == .email ? "e-mail" : "text message" }
  }

  public var method: Method
  public var address: [UInt8]

  public init(method: Method, address: [UInt8]) {
    self.method = method
    self.address = address
  }

  /// E-mail: printable ASCII with one "@", at most 254 bytes, not starting with "-" (a delivery
  /// program could read it as an option). SMS: "+" and digits, 6–20.
  public static func isValid(_ address: [UInt8], for method: Method) -> Bool {
    switch method {
    case .email:
      return address.count <= 254 && address.filter { $0 == 0x40 }.count == 1 && address.first != 0x40
        && address.first != 0x2D && address.last != 0x40
        && address.allSatisfy { $0 > 0x20 && $0 < 0x7F && !Array(",;:<>()[]\\\"'`=|&$".utf8).contains($0) }
    case .sms:
      let digits = address.first == 0x2B ? Array(address.dropFirst()) : address
      return (6...20).contains(digits.count) && digits.allSatisfy(ASCII.isDigit)
    }
  }

  /// "a***@example.com" / "+49******321": enough to recognise, not to harvest.
  public var masked: String {
    switch method {
    case .email:
      guard let at = address.firstIndex(of: 0x40), at > 0 else { return "***" }
      return [address[0]].text + "***" + Array(address[at...]).text
    case .sms:
      let keep = 3
      guard address.count > keep + 3 else { return "***" }
      return Array(address.prefix(3)).text + String(repeating: "*", count: address.count - keep - 3)
        + Array(address.suffix(keep)).text
    }
  }
}

/// Everything a user's secret file holds.
public struct Enrollment: Equatable, Sendable {
  public var authenticators: [Authenticator]
  /// Hashes of the unused backup codes; a used one is removed from the file.
  public var backupCodes: [BackupCodeHash]
  /// Confirmed addresses codes can be sent to (the first is used).
  public var deliveries: [DeliveryAddress] = []

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
