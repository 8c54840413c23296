/// A backup code as stored: only a salted PBKDF2-HMAC-SHA256 hash, never the code.
public struct BackupCodeHash: Equatable, Sendable {
  public var iterations: Int
  public var salt: [UInt8]
  public var hash: [UInt8]

  public init(iterations: Int, salt: [UInt8], hash: [UInt8]) {
    self.iterations = iterations
    self.salt = salt
    self.hash = hash
  }

  /// At most what mfa-enroll writes: the user writes the file, root pays for each round inside
  /// sshd (10 codes × 1,000,000 rounds would be seconds of CPU per backup-shaped answer).
  public static let iterationRange = 1000...BackupCodes.defaultIterations
  public static let saltLengthRange = 8...64
  public static let hashLength = 32
}

/// Single-use backup codes: 12 characters from a 32-letter alphabet without 0/o and 1/l, the
/// last one a letter (about 59.6 bits), shown as `k7dq-2mxp-w9fh`; typing ignores case, dashes
/// and spaces.
public enum BackupCodes {
  /// 2–9 and a–z without l and o: 32 symbols, so 5 random bits pick one with no bias.
  static let alphabet: [UInt8] = Array("23456789abcdefghijkmnpqrstuvwxyz".utf8)
  public static let length = 12
  public static let defaultCount = 10
  public static let countRange = 0...10
  /// PBKDF2 rounds per code: 10 codes × 10,000 rounds measured 32 ms on the reference machine
  /// (2 cores), under the 50 ms budget for checking one typed code against a full set.
  public static let defaultIterations = 10_000
  static let saltLength = 16

  /// `count` fresh codes (plain, for showing once) and their hashes (for the file).
  public static func generate(count: Int, iterations: Int = defaultIterations) throws(SystemError)
    -> (codes: [[UInt8]], hashes: [BackupCodeHash])
  {
    var codes: [[UInt8]] = []
    var hashes: [BackupCodeHash] = []
    while codes.count < count {
      var random = try SystemRandom.bytes(length)
      var code: [UInt8] = []
      for byte in random { code.append(alphabet[Int(byte & 0x1F)]) }
      random.wipe()
      // Ending in a letter, so a backup code never looks like a one-time code, not even at the end
      // of a password typed with it in one prompt (forward_pass); 11 × 5 + 4.6 bits. No duplicates.
      if code.last.map(ASCII.isDigit) ?? true || codes.contains(code) { continue }
      let salt = try SystemRandom.bytes(saltLength)
      guard let hash = pbkdf2(code, salt: salt, iterations: iterations) else {
        throw SystemError("PKCS5_PBKDF2_HMAC", code: 0)
      }
      codes.append(code)
      hashes.append(BackupCodeHash(iterations: iterations, salt: salt, hash: hash))
    }
    return (codes, hashes)
  }

  /// Imported codes (google-authenticator's 8-digit scratch codes) hashed like our own.
  public static func hash(_ code: [UInt8], iterations: Int = defaultIterations) throws(SystemError) -> BackupCodeHash {
    let salt = try SystemRandom.bytes(saltLength)
    guard let hash = pbkdf2(code, salt: salt, iterations: iterations) else {
      throw SystemError("PKCS5_PBKDF2_HMAC", code: 0)
    }
    return BackupCodeHash(iterations: iterations, salt: salt, hash: hash)
  }

  /// Imported scratch codes are 8 digits; they are checked after the one-time codes failed.
  public static let importedLength = 8

  /// The canonical form of what the user typed (lowercase, no dashes or spaces), or nil when it
  /// cannot be a backup code.
  public static func normalize(_ typed: [UInt8]) -> [UInt8]? {
    if typed.count > CodeInput.maxLength { return nil }
    var code: [UInt8] = []
    for byte in typed {
      if byte == ASCII.dash || ASCII.isBlank(byte) { continue }
      let lower = byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte
      guard alphabet.contains(lower) else {
        code.wipe()
        return nil
      }
      code.append(lower)
    }
    guard code.count == length else {
      code.wipe()
      return nil
    }
    return code
  }

  /// `k7dq-2mxp-w9fh`: groups of four for reading aloud and typing.
  public static func display(_ code: [UInt8]) -> String {
    var out: [UInt8] = []
    for (index, byte) in code.enumerated() {
      if index > 0 && index % 4 == 0 { out.append(ASCII.dash) }
      out.append(byte)
    }
    return out.text
  }

  /// The index of the stored hash `code` matches, or nil. Every stored hash is computed and
  /// compared (constant time), so timing does not tell which code matched.
  public static func match(_ code: [UInt8], in hashes: [BackupCodeHash]) -> Int? {
    var found: Int?
    for (index, stored) in hashes.enumerated() {
      guard var candidate = pbkdf2(code, salt: stored.salt, iterations: stored.iterations) else { continue }
      if constantTimeEqual(candidate, stored.hash) && found == nil { found = index }
      candidate.wipe()
    }
    return found
  }

  static func pbkdf2(_ code: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8]? {
    Crypto.pbkdf2(code, salt: salt, iterations: iterations, length: BackupCodeHash.hashLength)
  }
}
