/// Why a secret or state file could not be used. Messages name the problem, never the contents.
public enum FileError: Error {
  /// The file does not exist (the user is not enrolled).
  case notFound
  /// A system call failed.
  case system(SystemError)
  /// The path is a symbolic link (we never follow one).
  case symbolicLink
  /// Not a regular file (directory, FIFO, device...).
  case notRegularFile
  /// Owned by someone other than the expected uid.
  case wrongOwner(expected: UInt32, actual: UInt32)
  /// Group or other may read or write it.
  case insecurePermissions(mode: UInt32)
  /// A directory above it is not root's alone (or is a symbolic link).
  case untrustedDirectory
  /// Larger than the format allows.
  case tooLarge
  /// The contents do not parse.
  case malformed(FormatError)
  /// The path itself is not acceptable (relative, empty, ...).
  case invalidPath(String)
  /// The LDAP directory could not be used (unreachable, too slow, refused); names the server.
  case directory(String)
  /// The LDAP directory answered that it did not make a change (insufficientAccess, busy);
  /// names the server.
  case directoryRefused(String)

  public var description: String {
    switch self {
    case .notFound: return "does not exist"
    case .system(let error): return error.description
    case .symbolicLink: return "is a symbolic link (refused)"
    case .notRegularFile: return "is not a regular file"
    case .wrongOwner(let expected, let actual):
      return "is owned by uid " + String(actual) + ", expected uid " + String(expected)
    case .insecurePermissions(let mode):
      return "has mode " + octal(mode) + "; group and other must have no access (chmod 600)"
    case .untrustedDirectory: return "is in a directory that is not root's and writable by no one else"
    case .tooLarge: return "is too large"
    case .malformed(let error): return "is malformed: " + error.description
    case .invalidPath(let reason): return "invalid path: " + reason
    case .directory(let reason), .directoryRefused(let reason): return reason
    }
  }
}

/// "0644"-style rendering of permission bits.
func octal(_ mode: UInt32) -> String {
  var digits: [UInt8] = []
  var value = mode & 0o7777
  for _ in 0..<4 {
    digits.insert(ASCII.zero + UInt8(value & 7), at: 0)
    value >>= 3
  }
  return digits.text
}
