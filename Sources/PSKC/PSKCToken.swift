import MFACore

/// The key of one KeyPackage as an authenticator, once everything in it has been checked to
/// be something pam_mfa honours.
public struct PSKCToken {
  /// HOTP or TOTP, with the key, digits, hash, period and (HOTP) the counter to start at.
  public var authenticator: Authenticator
  /// Policy/ExpiryDate (or the device's), seconds since the epoch: pam_mfa does not enforce it.
  public var expiry: Int64?
  /// Whether the key was encrypted (and its MAC verified).
  public var wasEncrypted: Bool
  /// The highest HOTP Counter a file may start a token at.
  public static let maxCounter: UInt64 = 999_999_999_999_999

  public mutating func wipe() {
    authenticator.key.wipe()
  }
}

extension PSKCContainer {
  /// Whether `package`'s key holds encrypted values, so that importing it needs the
  /// pre-shared key.
  public func isEncrypted(_ package: PSKCPackage) -> Bool {
    guard let data = try? package.key.one("Data") else { return false }
    return data.children.contains { !$0.children(PSKCNames.pskc, "EncryptedValue").isEmpty }
  }

  /// `package`'s key, decrypted with `preSharedKey` where it is encrypted (each value's MAC
  /// verified first), as an authenticator named `name`. Refuses what pam_mfa cannot honour:
  /// other algorithms than HOTP and TOTP, codes other than 6 to 8 decimal digits, check
  /// digits, challenges, a PIN the server must check, periods outside 15 to 300 s, a T0 or
  /// drift other than 0, policies it does not understand, and keys outside their validity.
  public func token(
    _ package: PSKCPackage, name: [UInt8], preSharedKey: [UInt8]?, now: Int64
  ) throws(PSKCError) -> PSKCToken {
    let key = package.key
    let kind: Authenticator.Kind
    switch package.algorithm {
    case PSKCNames.hotp: kind = .hotp
    case PSKCNames.totp: kind = .totp
    default:
      throw .unsupported(
        "the key's algorithm \(package.algorithm) is not supported (only \(PSKCNames.hotp) and \(PSKCNames.totp))")
    }
    let expiry = try PSKCPolicy.check(key: key, device: package.device, now: now)
    let format = try PSKCFormat(key)
    guard let data = try key.one("Data"), let secret = try data.one("Secret") else {
      throw .unsupported("the key has no Data/Secret: the file does not carry the key itself")
    }
    let encrypted = isEncrypted(package)
    var decryption: PSKCDecryption?
    if encrypted {
      guard let preSharedKey else {
        let keyName = (try? encryptionKey?.one("KeyName", in: PSKCNames.xmldsig))?.trimmedText.text
        throw .keyFile(
          "the key is encrypted with a pre-shared key\(keyName.map { " (KeyName \($0))" } ?? ""); give it with --key-file"
        )
      }
      decryption = try PSKCDecryption(container: self, preSharedKey: preSharedKey)
    } else if preSharedKey != nil {
      throw .keyFile("the key is not encrypted: --key-file is not needed")
    }
    defer { decryption?.wipe() }

    // In a file that declares encryption a key in plain text bypasses the MAC: someone put it there.
    if encrypted || encryptionKey != nil, !secret.children(PSKCNames.pskc, "PlainValue").isEmpty {
      throw .integrity("the Secret is in plain text in a file that declares an encryption key")
    }
    var keyBytes = try PSKCValue.binary(secret, "Secret", decryption)
    defer { keyBytes.wipe() }
    guard Authenticator.keyLengthRange.contains(keyBytes.count) else {
      throw .unsupported(
        "the key is \(keyBytes.count) bytes long; pam_mfa takes \(Authenticator.keyLengthRange.lowerBound) to "
          + "\(Authenticator.keyLengthRange.upperBound)")
    }
    var authenticator = Authenticator(
      name: name, algorithm: format.hash, digits: format.digits, period: 30, key: keyBytes)
    authenticator.kind = kind
    if kind == .hotp {
      let counter = try data.one("Counter").map { (value) throws(PSKCError) in
        try PSKCValue.integer(value, "Counter", decryption)
      }
      guard let start = UInt64(exactly: counter ?? 0) else { throw .unsupported("a negative Counter") }
      // The secret file's counters have at most 18 digits, with room for the presses ahead.
      guard start <= PSKCToken.maxCounter else {
        throw .unsupported("a Counter above \(PSKCToken.maxCounter) is not supported")
      }
      authenticator.counter = start
    } else {
      authenticator.period = try timeInterval(data, decryption)
    }
    return PSKCToken(authenticator: authenticator, expiry: expiry, wasEncrypted: encrypted)
  }

  /// TOTP's period (TimeInterval, default 30 s); T0 (Time) and TimeDrift must be 0, as the
  /// module counts steps from the epoch and keeps no drift.
  func timeInterval(_ data: XMLReader.Element, _ decryption: PSKCDecryption?) throws(PSKCError) -> Int {
    if let time = try data.one("Time"), try PSKCValue.integer(time, "Time", decryption) != 0 {
      throw .unsupported("a Time (T0) other than 0 is not supported")
    }
    if let drift = try data.one("TimeDrift"), try PSKCValue.integer(drift, "TimeDrift", decryption) != 0 {
      throw .unsupported("a TimeDrift other than 0 is not supported")
    }
    guard let interval = try data.one("TimeInterval") else { return 30 }
    let period = try PSKCValue.integer(interval, "TimeInterval", decryption)
    guard period >= Authenticator.periodRange.lowerBound, period <= Authenticator.periodRange.upperBound else {
      throw .unsupported(
        "a TimeInterval of \(period) s is not supported (\(Authenticator.periodRange.lowerBound) to "
          + "\(Authenticator.periodRange.upperBound))")
    }
    return Int(period)
  }
}

extension XMLReader.Element {
  /// The one child `name` (in PSKC's namespace unless told); several are malformed.
  func one(_ name: String, in namespace: String = PSKCNames.pskc) throws(PSKCError) -> XMLReader.Element? {
    do throws(XMLError) {
      return try child(namespace, name)
    } catch {
      throw .malformed("not a valid PSKC file: \(error.description)")
    }
  }
}
