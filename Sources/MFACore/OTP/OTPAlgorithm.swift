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
    guard let digest = evpDigest() else { return nil }
    var output = [UInt8](repeating: 0, count: 64)
    var length: UInt32 = 0
    let ok = key.withUnsafeBufferPointer { keyBuffer in
      message.withUnsafeBufferPointer { messageBuffer in
        output.withUnsafeMutableBufferPointer { outBuffer in
          HMAC(
            digest, keyBuffer.baseAddress, Int32(keyBuffer.count), messageBuffer.baseAddress,
            messageBuffer.count, outBuffer.baseAddress, &length) != nil
        }
      }
    }
    guard ok, length > 0, length <= 64 else { return nil }
    return Array(output[0..<Int(length)])
  }

  private func evpDigest() -> OpaquePointer? {
    switch self {
    case .sha1: return EVP_sha1()
    case .sha256: return EVP_sha256()
    case .sha512: return EVP_sha512()
    }
  }
}

/// Constant-time equality of two byte strings of the same length (CRYPTO_memcmp).
public func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
  if lhs.count != rhs.count { return false }
  if lhs.isEmpty { return true }
  return lhs.withUnsafeBytes { left in
    rhs.withUnsafeBytes { right in
      CRYPTO_memcmp(left.baseAddress, right.baseAddress, left.count) == 0
    }
  }
}
