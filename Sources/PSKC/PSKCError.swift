/// Why a PSKC file (RFC 6030) or one of its keys cannot be imported; each is one line for the
/// administrator, and nothing is changed.
public enum PSKCError: Error, Equatable, CustomStringConvertible {
  /// Not well-formed XML, or XML that is not a PSKC KeyContainer as RFC 6030 writes it.
  case malformed(String)
  /// An algorithm, parameter or policy pam_mfa cannot honour.
  case unsupported(String)
  /// A MAC that does not verify, or a value the key does not decrypt: a wrong key file or a
  /// tampered file.
  case integrity(String)
  /// The key is encrypted and no pre-shared key was given, or one was given for a plain key.
  case keyFile(String)
  /// Which key to import is unclear: several without --serial, or none with that serial.
  case selection(String)
  /// The key's validity period (StartDate, ExpiryDate) excludes now.
  case notValid(String)

  public var description: String {
    switch self {
    case .malformed(let text), .unsupported(let text), .integrity(let text), .keyFile(let text),
      .selection(let text), .notValid(let text):
      return text
    }
  }
}
