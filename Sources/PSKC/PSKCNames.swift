import MFACore

/// The namespaces and algorithm identifiers RFC 6030 uses, and which of them pam_mfa honours.
enum PSKCNames {
  static let pskc = "urn:ietf:params:xml:ns:keyprov:pskc"
  static let xmldsig = "http://www.w3.org/2000/09/xmldsig#"
  static let xmlenc = "http://www.w3.org/2001/04/xmlenc#"
  static let xmlenc11 = "http://www.w3.org/2009/xmlenc11#"
  static let xmldsigMore = "http://www.w3.org/2001/04/xmldsig-more#"

  /// RFC 6030 §10.1's HOTP, and TOTP as token vendors write it.
  static let hotp = "urn:ietf:params:xml:ns:keyprov:pskc:hotp"
  static let totp = "urn:ietf:params:xml:ns:keyprov:pskc:totp"

  /// AES-CBC of XML Encryption, by key length in bytes.
  static func aesCBCKeyLength(_ algorithm: String) -> Int? {
    switch algorithm {
    case xmlenc + "aes128-cbc": return 16
    case xmlenc + "aes192-cbc": return 24
    case xmlenc + "aes256-cbc": return 32
    default: return nil
    }
  }

  /// The MAC algorithms of RFC 6030 §6.1.1 (HMAC-SHA1) and its SHA-2 relatives.
  static func macHash(_ algorithm: String) -> OTPAlgorithm? {
    switch algorithm {
    case xmldsig + "hmac-sha1": return .sha1
    case xmldsigMore + "hmac-sha256": return .sha256
    case xmldsigMore + "hmac-sha512": return .sha512
    default: return nil
    }
  }

  /// The HMAC of an HOTP/TOTP key from <Suite> (absent: SHA1).
  static func suiteHash(_ suite: String) -> OTPAlgorithm? {
    switch suite.uppercased() {
    case "HMAC-SHA1", "SHA1", "SHA-1": return .sha1
    case "HMAC-SHA256", "SHA256", "SHA-256": return .sha256
    case "HMAC-SHA512", "SHA512", "SHA-512": return .sha512
    default: return nil
    }
  }

  /// The last part of an identifier, for messages ("aes128-cbc", "kw-aes128").
  static func short(_ algorithm: String) -> String {
    if let hash = algorithm.lastIndex(of: "#") { return String(algorithm[algorithm.index(after: hash)...]) }
    return algorithm
  }
}
