/// The otpauth:// URI authenticator apps scan (Google's Key Uri Format, used by every major app).
public enum OTPAuthURI {
  /// `otpauth://totp/ISSUER:LABEL?secret=...&issuer=ISSUER&algorithm=...&digits=...&period=...`
  /// with issuer and label percent-encoded (RFC 3986: everything but unreserved characters).
  public static func totp(issuer: String, label: String, authenticator: Authenticator) -> String {
    uri(issuer: issuer, label: label, authenticator: authenticator)
  }

  /// `otpauth://totp/...&period=30` or, for an HOTP authenticator, `otpauth://hotp/...&counter=N`.
  public static func uri(issuer: String, label: String, authenticator: Authenticator) -> String {
    var uri: [UInt8] = Array((authenticator.kind == .hotp ? "otpauth://hotp/" : "otpauth://totp/").utf8)
    if !issuer.isEmpty {
      uri += percentEncode(Array(issuer.utf8))
      uri.append(0x3A)  // ":" separates issuer and account in the label
    }
    uri += percentEncode(Array(label.utf8))
    uri += Array("?secret=".utf8)
    uri += Base32.encode(authenticator.key, padding: false)
    if !issuer.isEmpty {
      uri += Array("&issuer=".utf8)
      uri += percentEncode(Array(issuer.utf8))
    }
    uri += Array(("&algorithm=" + authenticator.algorithm.name).utf8)
    uri += Array(("&digits=" + String(authenticator.digits)).utf8)
    if authenticator.kind == .hotp {
      uri += Array(("&counter=" + String(authenticator.counter)).utf8)
    } else {
      uri += Array(("&period=" + String(authenticator.period)).utf8)
    }
    return uri.text
  }

  public static func percentEncode(_ bytes: [UInt8]) -> [UInt8] {
    let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    for byte in bytes {
      let unreserved =
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || ASCII.isDigit(byte)
        || byte == ASCII.dash || byte == 0x2E || byte == 0x5F || byte == 0x7E
      if unreserved {
        out.append(byte)
      } else {
        out += [0x25, hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
      }
    }
    return out
  }

  /// The key as people type it: base32 in groups of four ("JBSW Y3DP EHPK 3PXP").
  public static func groupedKey(_ key: [UInt8]) -> String {
    var out: [UInt8] = []
    for (index, byte) in Base32.encode(key, padding: false).enumerated() {
      if index > 0 && index % 4 == 0 { out.append(ASCII.space) }
      out.append(byte)
    }
    return out.text
  }
}
