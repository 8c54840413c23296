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
    var authenticators: [Authenticator] = []
    var backupCodes: [BackupCodeHash] = []
    var forgetBefore: Int64 = 0
    var deliveries: [DeliveryAddress] = []
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
      if !sawHeader {
        guard words.count == 2, words[0] == header, let version = parseDecimal(words[1]) else {
          throw FormatError(line: lineNumber, "expected the header 'pam_mfa 1'")
        }
        guard version == SecretFileFormat.version else {
          throw FormatError(line: lineNumber, "unsupported format version " + String(version))
        }
        sawHeader = true
        continue
      }
      if words[0] == [UInt8]("totp") || words[0] == [UInt8]("hotp") {
        let kind: Authenticator.Kind = words[0] == [UInt8]("hotp") ? .hotp : .totp
        var authenticator = try parseOTP(Array(words.dropFirst()), kind: kind, line: lineNumber)
        for existing in authenticators where existing.name == authenticator.name {
          authenticator.key.wipe()
          throw FormatError(line: lineNumber, "duplicate authenticator name")
        }
        authenticators.append(authenticator)
      } else if words[0] == [UInt8]("forget") {
        guard words.count == 2, words[1].starts(with: [UInt8]("before=")),
          let before = parseDecimal(Array(words[1].dropFirst(7)))
        else { throw FormatError(line: lineNumber, "expected forget before=TIME") }
        if forgetBefore != 0 { throw FormatError(line: lineNumber, "duplicate forget record") }
        forgetBefore = before
      } else if words[0] == [UInt8]("email") || words[0] == [UInt8]("sms") {
        let method: DeliveryAddress.Method = words[0] == [UInt8]("email") ? .email : .sms
        guard words.count == 2, words[1].starts(with: [UInt8]("address=")) else {
          throw FormatError(line: lineNumber, "expected address=")
        }
        let address = Array(words[1].dropFirst(8))
        guard DeliveryAddress.isValid(address, for: method) else {
          throw FormatError(line: lineNumber, method == .email ? "not an e-mail address" : "not a phone number")
        }
        deliveries.append(DeliveryAddress(method: method, address: address))
      } else if words[0] == [UInt8]("backup") {
        // Each backup line costs a PBKDF2 run per answer: no more than mfa-enroll makes.
        guard backupCodes.count < BackupCodes.countRange.upperBound else {
          throw FormatError(line: lineNumber, "more than 10 backup codes")
        }
        backupCodes.append(try parseBackup(Array(words.dropFirst()), line: lineNumber))
      } else {
        throw FormatError(line: lineNumber, "unknown record type")
      }
    }
    if !sawHeader { throw FormatError(line: 0, "empty file (no 'pam_mfa 1' header)") }
    if authenticators.isEmpty && deliveries.isEmpty {
      throw FormatError(line: 0, "no authenticator or delivery address in the file")
    }
    var enrollment = Enrollment(authenticators: authenticators, backupCodes: backupCodes)
    enrollment.forgetBefore = forgetBefore
    enrollment.deliveries = deliveries
    return enrollment
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

  private static func parseBackup(_ fields: [[UInt8]], line: Int) throws(FormatError) -> BackupCodeHash {
    var kdf: [UInt8]?
    var iterations: Int?
    var salt: [UInt8]?
    var hash: [UInt8]?
    for field in fields {
      guard let split = field.firstIndex(of: ASCII.equals), split > 0 else {
        throw FormatError(line: line, "expected key=value")
      }
      let key = Array(field[0..<split])
      let value = Array(field[(split + 1)...])
      var duplicate = false
      if key == [UInt8]("kdf") {
        duplicate = kdf != nil
        kdf = value
      } else if key == [UInt8]("iterations") {
        duplicate = iterations != nil
        guard let number = parseDecimal(value), BackupCodeHash.iterationRange.contains(Int(number)) else {
          throw FormatError(line: line, "iterations must be 1000 to 10000")
        }
        iterations = Int(number)
      } else if key == [UInt8]("salt") {
        duplicate = salt != nil
        guard let decoded = Base32.decode(value), BackupCodeHash.saltLengthRange.contains(decoded.count) else {
          throw FormatError(line: line, "salt must be base32 for 8 to 64 bytes")
        }
        salt = decoded
      } else if key == [UInt8]("hash") {
        duplicate = hash != nil
        guard let decoded = Base32.decode(value), decoded.count == BackupCodeHash.hashLength else {
          throw FormatError(line: line, "hash must be base32 for 32 bytes")
        }
        hash = decoded
      } else {
        throw FormatError(line: line, "unknown key")
      }
      if duplicate { throw FormatError(line: line, "duplicate key") }
    }
    guard kdf == [UInt8]("pbkdf2-sha256") else { throw FormatError(line: line, "kdf must be pbkdf2-sha256") }
    guard let iterations, let salt, let hash else {
      throw FormatError(line: line, "backup needs iterations=, salt= and hash=")
    }
    return BackupCodeHash(iterations: iterations, salt: salt, hash: hash)
  }

  private static func parseOTP(_ fields: [[UInt8]], kind: Authenticator.Kind, line: Int) throws(FormatError)
    -> Authenticator
  {
    var counter: UInt64?
    var name: [UInt8]?
    var algorithm: OTPAlgorithm?
    var digits: Int?
    var period: Int?
    var key: [UInt8]?
    var confirmed: Int64?
    for field in fields {
      guard let split = field.firstIndex(of: ASCII.equals), split > 0 else {
        key?.wipe()
        throw FormatError(line: line, "expected key=value")
      }
      let fieldKey = Array(field[0..<split])
      var value = Array(field[(split + 1)...])
      defer { value.wipe() }
      var duplicate = false
      if fieldKey == [UInt8]("name") {
        duplicate = name != nil
        guard Authenticator.isValidName(value) else {
          key?.wipe()
          throw FormatError(line: line, "invalid name")
        }
        name = value
      } else if fieldKey == [UInt8]("algorithm") {
        duplicate = algorithm != nil
        algorithm = OTPAlgorithm(name: value)
        if algorithm == nil {
          key?.wipe()
          throw FormatError(line: line, "algorithm must be SHA1, SHA256 or SHA512")
        }
      } else if fieldKey == [UInt8]("digits") {
        duplicate = digits != nil
        guard let number = parseDecimal(value), Authenticator.digitRange.contains(Int(number)) else {
          key?.wipe()
          throw FormatError(line: line, "digits must be 6, 7 or 8")
        }
        digits = Int(number)
      } else if fieldKey == [UInt8]("counter") && kind == .hotp {
        duplicate = counter != nil
        guard let number = parseDecimal(value) else {
          key?.wipe()
          throw FormatError(line: line, "counter must be a number")
        }
        counter = UInt64(number)
      } else if fieldKey == [UInt8]("period") && kind == .totp {
        duplicate = period != nil
        guard let number = parseDecimal(value), Authenticator.periodRange.contains(Int(number)) else {
          key?.wipe()
          throw FormatError(line: line, "period must be 15 to 300 seconds")
        }
        period = Int(number)
      } else if fieldKey == [UInt8]("confirmed") {
        duplicate = confirmed != nil
        guard let number = parseDecimal(value) else {
          key?.wipe()
          throw FormatError(line: line, "confirmed must be a time step number")
        }
        confirmed = number
      } else if fieldKey == [UInt8]("secret") {
        duplicate = key != nil
        key?.wipe()
        guard let decoded = Base32.decode(value), Authenticator.keyLengthRange.contains(decoded.count)
        else {
          throw FormatError(line: line, "secret must be base32 for a key of 10 to 128 bytes")
        }
        key = decoded
      } else {
        key?.wipe()
        throw FormatError(line: line, "unknown key")
      }
      if duplicate {
        key?.wipe()
        throw FormatError(line: line, "duplicate key")
      }
    }
    guard let key else { throw FormatError(line: line, "missing secret=") }
    // name, algorithm, digits and period have the defaults authenticator apps assume.
    var authenticator = Authenticator(
      name: name ?? Authenticator.defaultName, algorithm: algorithm ?? .sha1, digits: digits ?? 6,
      period: period ?? 30, key: key)
    authenticator.confirmedStep = confirmed
    authenticator.kind = kind
    authenticator.counter = counter ?? 0
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
