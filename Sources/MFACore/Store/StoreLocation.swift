/// Where a user's enrollment is and what kind of store holds it, decided here once: the module,
/// mfa_chkcode and mfa-enroll must never disagree about who may write it.
public struct StoreLocation {
  public enum Kind: Equatable {
    /// A secret file the user owns and writes (in their home, or wherever root does not own
    /// the directories).
    case userFile
    /// A secret file in a root-owned store (e.g. /var/lib/pam_mfa/%u): root reads and writes
    /// it; the file itself may still be the user's.
    case rootFile
    /// The user's entry in the LDAP directory (store=ldap).
    case directory
  }

  public let kind: Kind
  /// The secret file's path, or "directory URI (dn)".
  public let place: String
  /// This host's state directory, for errors that may come from either file (file stores).
  let stateDirectory: String?

  public init(kind: Kind, place: String, stateDirectory: String?) {
    self.kind = kind
    self.place = place
    self.stateDirectory = stateDirectory
  }

  /// "secret file /path" or "directory ldaps://host (uid=alice,...)".
  public var description: String { kind == .directory ? place : "secret file " + place }
  /// The same, with the state directory: for errors of a login's state operations.
  public var withState: String { stateDirectory.map { description + " (state in " + $0 + ")" } ?? description }
  /// Why there is no enrollment: "/path does not exist", or "directory ... has no enrollment"
  /// (after a reset the entry is still there).
  public var missing: String { kind == .directory ? place + " has no enrollment" : place + " does not exist" }

  /// The one rule for a secret file: inside the user's home it is theirs (a home that is not
  /// mounted must never turn into a root store); elsewhere it is root's when the nearest
  /// directory on its path that exists, and every one above it, is root's and writable by no
  /// one else — so mfa-enroll --user may create the rest of the path (a login never does:
  /// `PrivilegeSwitch.createsRootDirectories`), and the module reads what root wrote.
  public static func fileKind(path: String, home: [UInt8]) -> Kind {
    var base = home
    while base.count > 1 && base.last == ASCII.slash { base.removeLast() }
    // A home of "/" (some system accounts) holds nothing, and one that is root's all the way
    // up (a service account's /var/lib) may hold a root-owned store.
    if base.count > 1 && [UInt8](path.utf8).starts(with: base + [ASCII.slash])
      && !TrustedFile.isRootOwnedDirectory(base.text)
    {
      return .userFile
    }
    guard var (directory, _) = try? SafeFile.split(path) else { return .userFile }
    while directory.utf8.count > 1 && !SafeFile.exists(directory) {
      guard let (above, _) = try? SafeFile.split(directory) else { return .userFile }
      directory = above
    }
    return TrustedFile.isRootOwnedDirectory(directory) ? .rootFile : .userFile
  }
}
