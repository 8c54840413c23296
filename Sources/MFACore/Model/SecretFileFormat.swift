/// Why a secret file was rejected; `line` is 1-based (0: the file as a whole).
public struct FormatError: Error {
  public let line: Int
  public let reason: String

  public init(line: Int, _ reason: String) {
    self.line = line
    self.reason = reason
  }

  public var description: String {
    line > 0 ? "line " + String(line) + ": " + reason : reason
  }
}

/// The text format of a user's secret file (documented in pam_mfa.conf(5)):
///
///     # comment
///     pam_mfa 1
///     totp name=default algorithm=SHA1 digits=6 period=30 secret=BASE32
///     backup kdf=pbkdf2-sha256 iterations=10000 salt=BASE32 hash=BASE32
///
/// The header names the format version; every record is a type word and key=value fields.
/// Unknown versions, record types and keys are errors: a file we do not fully understand is
/// never half-used. Errors never quote the file's contents, which may hold a key.
public enum SecretFileFormat {
  public static let version: Int64 = 1
  /// Far above any real file; bounds the work an attacker-controlled file can cause.
  public static let maxSize = 64 * 1024
  static let header: [UInt8] = Array("pam_mfa".utf8)

  public static func parse(_ contents: [UInt8]) throws(FormatError) -> Enrollment {
    if contents.count > maxSize { throw FormatError(line: 0, "file larger than 64 KiB") }
    var sawHeader = false
    var enrollment = Enrollment(authenticators: [])
    var lineNumber = 0
    // Every copy of a line or word may hold the key's text: each is wiped before it is freed.
    var allLines = lines(contents)
    defer { allLines.wipeEach() }
    for rawLine in allLines {
      lineNumber += 1
      var line = rawLine.trimmed()
      defer { line.wipe() }
      if line.isEmpty || line[0] == ASCII.hash { continue }
      for byte in line where byte < 0x20 && byte != ASCII.tab || byte == 0x7F {
        throw FormatError(line: lineNumber, "control character")
      }
      var words = splitWords(line)
      defer { words.wipeEach() }
      if sawHeader {
        try add(words, line: lineNumber, to: &enrollment)
        continue
      }
      guard words.count == 2, words[0] == header, let version = parseDecimal(words[1]) else {
        throw FormatError(line: lineNumber, "expected the header 'pam_mfa 1'")
      }
      guard version == SecretFileFormat.version else {
        throw FormatError(line: lineNumber, "unsupported format version " + String(version))
      }
      sawHeader = true
    }
    if !sawHeader { throw FormatError(line: 0, "empty file (no 'pam_mfa 1' header)") }
    if enrollment.authenticators.isEmpty && enrollment.deliveries.isEmpty {
      throw FormatError(line: 0, "no authenticator or delivery address in the file")
    }
    return enrollment
  }

  /// One record after the header.
  private static func add(_ words: [[UInt8]], line: Int, to enrollment: inout Enrollment) throws(FormatError) {
    let type = words[0]
    let fields = Array(words.dropFirst())
    if type == [UInt8]("totp") || type == [UInt8]("hotp") {
      var authenticator = try parseOTP(fields, kind: type == [UInt8]("hotp") ? .hotp : .totp, line: line)
      if enrollment.authenticators.contains(where: { $0.name == authenticator.name }) {
        authenticator.key.wipe()
        throw FormatError(line: line, "duplicate authenticator name")
      }
      enrollment.authenticators.append(authenticator)
    } else if type == [UInt8]("forget") {
      guard words.count == 2, words[1].starts(with: [UInt8]("before=")),
        let before = parseDecimal(Array(words[1].dropFirst(7)))
      else { throw FormatError(line: line, "expected forget before=TIME") }
      if enrollment.forgetBefore != 0 { throw FormatError(line: line, "duplicate forget record") }
      enrollment.forgetBefore = before
    } else if type == [UInt8]("email") || type == [UInt8]("sms") {
      let method: DeliveryAddress.Method = type == [UInt8]("email") ? .email : .sms
      guard words.count == 2, words[1].starts(with: [UInt8]("address=")) else {
        throw FormatError(line: line, "expected address=")
      }
      let address = Array(words[1].dropFirst(8))
      guard DeliveryAddress.isValid(address, for: method) else {
        throw FormatError(line: line, method == .email ? "not an e-mail address" : "not a phone number")
      }
      enrollment.deliveries.append(DeliveryAddress(method: method, address: address))
    } else if type == [UInt8]("backup") {
      // Each backup line costs a PBKDF2 run per answer: no more than mfa-enroll makes.
      guard enrollment.backupCodes.count < BackupCodes.countRange.upperBound else {
        throw FormatError(line: line, "more than 10 backup codes")
      }
      enrollment.backupCodes.append(try parseBackup(fields, line: line))
    } else {
      throw FormatError(line: line, "unknown record type")
    }
  }

  public static func serialize(_ enrollment: Enrollment) -> [UInt8] {
    var out: [UInt8] = []
    // Sized once (a growing buffer would leave freed copies of the keys behind).
    out.reserveCapacity(
      256 + enrollment.authenticators.reduce(0) { $0 + 160 + $1.name.count + 2 * $1.key.count }
        + enrollment.deliveries.reduce(0) { $0 + 32 + $1.address.count } + 192 * enrollment.backupCodes.count)
    out += [UInt8]("# pam_mfa secret file, written by mfa-enroll. Keep it private; see pam_mfa.conf(5).\n")
    out += [UInt8]("pam_mfa " + String(version) + "\n")
    for authenticator in enrollment.authenticators {
      out += [UInt8](authenticator.kind == .hotp ? "hotp name=" : "totp name=")
      out += authenticator.name
      out += [UInt8](" algorithm=" + authenticator.algorithm.name)
      out += [UInt8](" digits=" + String(authenticator.digits))
      if authenticator.kind == .hotp {
        out += [UInt8](" counter=" + String(authenticator.counter))
      } else {
        out += [UInt8](" period=" + String(authenticator.period))
      }
      if let confirmed = authenticator.confirmedStep { out += [UInt8](" confirmed=" + String(confirmed)) }
      out += [UInt8](" secret=")
      var text = Base32.encode(authenticator.key, padding: false)
      out += text
      text.wipe()
      out.append(ASCII.newline)
    }
    for delivery in enrollment.deliveries {
      out += [UInt8](delivery.method.name + " address=")
      out += delivery.address
      out.append(ASCII.newline)
    }
    if enrollment.forgetBefore > 0 { out += [UInt8]("forget before=" + String(enrollment.forgetBefore) + "\n") }
    for code in enrollment.backupCodes {
      out += [UInt8]("backup kdf=pbkdf2-sha256 iterations=" + String(code.iterations) + " salt=")
      out += Base32.encode(code.salt, padding: false)
      out += [UInt8](" hash=")
      out += Base32.encode(code.hash, padding: false)
      out.append(ASCII.newline)
    }
    return out
  }

  private static func parseBackup(_ words: [[UInt8]], line: Int) throws(FormatError) -> BackupCodeHash {
    let fields = try RecordFields(words, allowed: ["kdf", "iterations", "salt", "hash"], line: line)
    guard fields["kdf"] == [UInt8]("pbkdf2-sha256") else { throw FormatError(line: line, "kdf must be pbkdf2-sha256") }
    guard fields["iterations"] != nil, fields["salt"] != nil, fields["hash"] != nil else {
      throw FormatError(line: line, "backup needs iterations=, salt= and hash=")
    }
    let iterations = try fields.number("iterations", fallback: 0, "iterations must be 1000 to 10000") {
      BackupCodeHash.iterationRange.contains(Int($0))
    }
    guard let salt = fields["salt"].flatMap(Base32.decode), BackupCodeHash.saltLengthRange.contains(salt.count) else {
      throw FormatError(line: line, "salt must be base32 for 8 to 64 bytes")
    }
    guard let hash = fields["hash"].flatMap(Base32.decode), hash.count == BackupCodeHash.hashLength else {
      throw FormatError(line: line, "hash must be base32 for 32 bytes")
    }
    return BackupCodeHash(iterations: Int(iterations), salt: salt, hash: hash)
  }

  private static func parseOTP(_ words: [[UInt8]], kind: Authenticator.Kind, line: Int) throws(FormatError)
    -> Authenticator
  {
    let allowed = ["name", "algorithm", "digits", kind == .hotp ? "counter" : "period", "confirmed", "secret"]
    var fields = try RecordFields(words, allowed: allowed, line: line)
    defer { fields.wipe() }
    // name, algorithm, digits and period have the defaults authenticator apps assume.
    let name = fields["name"] ?? Authenticator.defaultName
    guard Authenticator.isValidName(name) else { throw FormatError(line: line, "invalid name") }
    guard let algorithm = fields["algorithm"].map(OTPAlgorithm.init(name:)) ?? .sha1 else {
      throw FormatError(line: line, "algorithm must be SHA1, SHA256 or SHA512")
    }
    let digits = try fields.number("digits", fallback: 6, "digits must be 6, 7 or 8") {
      Authenticator.digitRange.contains(Int($0))
    }
    let counter = try fields.number("counter", fallback: 0, "counter must be a number")
    let period = try fields.number("period", fallback: 30, "period must be 15 to 300 seconds") {
      Authenticator.periodRange.contains(Int($0))
    }
    let confirmed =
      fields["confirmed"] == nil
      ? nil : try fields.number("confirmed", fallback: 0, "confirmed must be a time step number")
    guard let secret = fields["secret"] else { throw FormatError(line: line, "missing secret=") }
    guard let key = Base32.decode(secret), Authenticator.keyLengthRange.contains(key.count) else {
      throw FormatError(line: line, "secret must be base32 for a key of 10 to 128 bytes")
    }
    var authenticator = Authenticator(
      name: name, algorithm: algorithm, digits: Int(digits), period: Int(period), key: key)
    authenticator.confirmedStep = confirmed
    authenticator.kind = kind
    authenticator.counter = UInt64(counter)
    return authenticator
  }

  /// Lines split on "\n"; a missing final newline still yields the last line. Each line is
  /// allocated once, at its size (a growing buffer would leave freed partial copies).
  static func lines(_ contents: [UInt8]) -> [[UInt8]] {
    var result: [[UInt8]] = []
    var start = 0
    for index in contents.indices where contents[index] == ASCII.newline {
      result.append(Array(contents[start..<index]))
      start = index + 1
    }
    if start < contents.count { result.append(Array(contents[start...])) }
    return result
  }

  /// Words separated by spaces and tabs.
  static func splitWords(_ line: [UInt8]) -> [[UInt8]] { line.fields(where: ASCII.isBlank) }
}
