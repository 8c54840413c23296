import CCrypto

/// The HMAC hash of an authenticator (RFC 6238 §1.2 allows SHA-1, SHA-256 and SHA-512).
public enum OTPAlgorithm: Equatable, Sendable {
  case sha1
  case sha256
  case sha512

  /// The spelling used in the secret file and in otpauth URIs.
  public var name: String {
    switch self {
    case .sha1: return "SHA1"
    case .sha256: return "SHA256"
    case .sha512: return "SHA512"
    }
  }

  /// Parses "SHA1", "sha256", ... (case-insensitive).
  public init?(name: [UInt8]) {
    var upper: [UInt8] = []
    for byte in name { upper.append(byte >= 0x61 && byte <= 0x7A ? byte - 0x20 : byte) }
    if upper == [UInt8]("SHA1") {
      self = .sha1
    } else if upper == [UInt8]("SHA256") {
      self = .sha256
    } else if upper == [UInt8]("SHA512") {
      self = .sha512
    } else {
      return nil
    }
  }

  /// HMAC(key, message) with libcrypto; nil only if libcrypto fails.
  func hmac(key: [UInt8], message: [UInt8]) -> [UInt8]? {
    Crypto.hmac(self, key: key, message: message)
  }

  /// The hash's number in CCrypto's `mfa_hash`.
  var hashID: Int32 {
    switch self {
    case .sha1: return Int32(MFA_HASH_SHA1.rawValue)
    case .sha256: return Int32(MFA_HASH_SHA256.rawValue)
    case .sha512: return Int32(MFA_HASH_SHA512.rawValue)
    }
  }
}
