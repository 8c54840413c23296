import CCrypto

/// OpenSSL's libcrypto, the project's crypto, loaded on first use (CCrypto): a login that
/// computes no code never loads it. Every function fails closed (nil, false) without it.
public enum Crypto {
  /// Loads libcrypto now: nil, or why it cannot be loaded (for syslog).
  public static func unavailable() -> String? {
    guard mfa_crypto_load() != 0 else { return nil }
    return "libcrypto cannot be loaded (" + String(cString: mfa_crypto_error()) + ")"
  }

  /// Whether libcrypto is in this process at all (loaded by us or by the host).
  public static var isLoaded: Bool { mfa_crypto_is_loaded() == 1 }

  /// HMAC(key, message) with `algorithm`'s hash; nil only if libcrypto fails.
  public static func hmac(_ algorithm: OTPAlgorithm, key: [UInt8], message: [UInt8]) -> [UInt8]? {
    var output = [UInt8](repeating: 0, count: 64)
    let length = key.withUnsafeBytes { keyBytes in
      message.withUnsafeBytes { messageBytes in
        output.withUnsafeMutableBufferPointer { out in
          mfa_crypto_hmac(
            algorithm.hashID, keyBytes.baseAddress, keyBytes.count, messageBytes.baseAddress, messageBytes.count,
            out.baseAddress)
        }
      }
    }
    guard length > 0, length <= 64 else { return nil }
    return Array(output[0..<Int(length)])
  }

  /// SHA-256 of `data`; nil only if libcrypto fails.
  public static func sha256(_ data: [UInt8]) -> [UInt8]? {
    var digest = [UInt8](repeating: 0, count: 32)
    let ok = data.withUnsafeBytes { input in
      digest.withUnsafeMutableBufferPointer { mfa_crypto_sha256(input.baseAddress, input.count, $0.baseAddress) == 0 }
    }
    return ok ? digest : nil
  }

  /// PBKDF2-HMAC-SHA256 of `password` into `length` bytes; nil only if libcrypto fails.
  static func pbkdf2(_ password: [UInt8], salt: [UInt8], iterations: Int, length: Int) -> [UInt8]? {
    var output = [UInt8](repeating: 0, count: length)
    let ok = password.withUnsafeBytes { passwordBytes in
      salt.withUnsafeBytes { saltBytes in
        output.withUnsafeMutableBufferPointer { out in
          mfa_crypto_pbkdf2_sha256(
            passwordBytes.baseAddress, passwordBytes.count, saltBytes.baseAddress, saltBytes.count,
            Int32(clamping: iterations), out.baseAddress, out.count) == 0
        }
      }
    }
    return ok ? output : nil
  }
}

extension Crypto {
  /// AES-CBC decryption of `ciphertext` (a non-empty multiple of 16 bytes) under a 16-, 24- or
  /// 32-byte `key`, padding left in place (the caller's format says how to strip it); nil for
  /// other sizes or if libcrypto fails. A failed result is wiped, never returned in part.
  public static func aesCBCDecrypt(key: [UInt8], iv: [UInt8], ciphertext: [UInt8]) -> [UInt8]? {
    guard [16, 24, 32].contains(key.count), iv.count == 16, !ciphertext.isEmpty, ciphertext.count % 16 == 0 else {
      return nil
    }
    var plaintext = [UInt8](repeating: 0, count: ciphertext.count)
    let ok = key.withUnsafeBytes { keyBytes in
      iv.withUnsafeBytes { ivBytes in
        ciphertext.withUnsafeBytes { input in
          plaintext.withUnsafeMutableBufferPointer { out in
            mfa_crypto_aes_cbc_decrypt(
              keyBytes.baseAddress, keyBytes.count, ivBytes.baseAddress, input.baseAddress, input.count,
              out.baseAddress) == 0
          }
        }
      }
    }
    guard ok else {
      plaintext.wipe()
      return nil
    }
    return plaintext
  }
}

/// Constant-time equality of two byte strings of the same length (CRYPTO_memcmp); false
/// without libcrypto.
public func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
  if lhs.count != rhs.count { return false }
  if lhs.isEmpty { return true }
  return lhs.withUnsafeBytes { left in
    rhs.withUnsafeBytes { right in mfa_crypto_memcmp(left.baseAddress, right.baseAddress, left.count) == 0 }
  }
}
