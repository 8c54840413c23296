import CLibc

/// The one answer to "may this process trust that file?" (pam-u2f's `open_safely`), for the
/// configuration file, the delivery program, the store plugin, the LDAP key and password file,
/// secret and state files, and the state directory. The file is opened without following a
/// link and checked on the open descriptor — the kind (a regular file, or a directory), owned by
/// one of `owners`, none of `forbiddenMode` set — and the descriptor that was checked is the one
/// used afterwards, so nothing can be swapped in between. With `checksDirectories`, every
/// directory from `/` down to it must be root's and writable by no one else as well.
public struct TrustedFile: Sendable {
  public var owners: [UInt32]
  public var forbiddenMode: UInt32
  /// Walk the directories above the file (see `isRootOwnedDirectory`; root's sticky ones pass).
  public var checksDirectories: Bool
  /// A directory is expected, not a regular file.
  public var isDirectory: Bool

  public init(owners: [UInt32], forbiddenMode: UInt32, checksDirectories: Bool = false, isDirectory: Bool = false) {
    self.owners = owners
    self.forbiddenMode = forbiddenMode
    self.checksDirectories = checksDirectories
    self.isDirectory = isDirectory
  }

  /// Code that runs as root (the delivery program, the store plugin): whoever could replace it,
  /// or swap another root-owned file in by its name, would run code as root.
  public static let rootProgram = TrustedFile(owners: [0], forbiddenMode: 0o022, checksDirectories: true)
  /// The admin's settings (pam_mfa.conf): anyone may read them (mfa-enroll does, and the module
  /// of an unprivileged caller), only root may write them.
  public static let rootSettings = TrustedFile(owners: [0], forbiddenMode: 0o022)
  /// Root's credentials (the LDAP client key and password file): no one else may even read them.
  public static let rootSecret = TrustedFile(owners: [0], forbiddenMode: 0o077)

  /// A private file of `owners` (a secret or state file): no access for group or other.
  public static func privateFile(owners: [UInt32]) -> TrustedFile {
    TrustedFile(owners: owners, forbiddenMode: 0o077)
  }

  /// A directory only `owner` may change (the state directory: whoever could write it could
  /// reset replay state and failure counts).
  public static func privateDirectory(owner: UInt32) -> TrustedFile {
    TrustedFile(owners: [owner], forbiddenMode: 0o022, isDirectory: true)
  }

  /// Opens and checks `path`; `.notFound` when nothing is there.
  public func open(_ path: String, _ flags: Int32 = O_RDONLY) throws(FileError) -> FileDescriptor {
    if checksDirectories && !TrustedFile.isInRootOwnedDirectory(path, allowSticky: true) {
      throw .untrustedDirectory
    }
    let file: FileDescriptor
    do throws(SystemError) {
      file = try FileDescriptor.open(path, flags | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK)
    } catch {
      if error.code == ENOENT { throw .notFound }
      if error.code == ELOOP { throw .symbolicLink }
      throw .system(error)
    }
    try check(file)
    return file
  }

  /// Like `open`, but nil when nothing is there (a state file not written yet).
  public func openIfPresent(_ path: String, _ flags: Int32 = O_RDONLY) throws(FileError) -> FileDescriptor? {
    do throws(FileError) {
      return try open(path, flags)
    } catch .notFound {
      return nil
    }
  }

  /// Checks the file at `path` and closes it again (a file another program opens by its name).
  public func check(_ path: String) throws(FileError) {
    try open(path).close()
  }

  /// The whole file, at most `maxSize` bytes.
  public func read(_ path: String, maxSize: Int) throws(FileError) -> [UInt8] {
    try open(path).readAll(maxSize: maxSize)
  }

  /// Kind, owner and mode of an open file.
  public func check(_ file: borrowing FileDescriptor) throws(FileError) {
    let info: stat
    do throws(SystemError) {
      info = try file.status()
    } catch {
      throw .system(error)
    }
    if info.st_mode & 0o170000 != (isDirectory ? 0o040000 : 0o100000) { throw .notRegularFile }
    if !owners.contains(info.st_uid) { throw .wrongOwner(expected: owners.first ?? 0, actual: info.st_uid) }
    if info.st_mode & forbiddenMode != 0 { throw .insecurePermissions(mode: info.st_mode) }
  }

  /// True when `directory` and every directory above it is owned by root and writable by no one
  /// else: files there can only have been put there by root (a root-owned store). Walks with
  /// O_NOFOLLOW, so a symlink anywhere on the way makes the answer false.
  /// With `allowSticky`, a root-owned sticky directory that others may write (/tmp) passes too:
  /// no one but root can rename or remove root's entries there (for programs root runs).
  public static func isRootOwnedDirectory(_ directory: String, allowSticky: Bool = false) -> Bool {
    let bytes = [UInt8](directory)
    guard bytes.first == ASCII.slash, var current = try? FileDescriptor.open("/", O_RDONLY | O_DIRECTORY),
      isRootsAlone(current, allowSticky: allowSticky)
    else { return false }
    for component in bytes.fields(separatedBy: ASCII.slash) {
      guard let next = try? current.open(component.text, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) else { return false }
      current = next
      if !isRootsAlone(current, allowSticky: allowSticky) { return false }
    }
    return true
  }

  static func isRootsAlone(_ directory: borrowing FileDescriptor, allowSticky: Bool) -> Bool {
    guard let info = try? directory.status(), info.st_uid == 0 else { return false }
    return info.st_mode & 0o022 == 0 || (allowSticky && info.st_mode & 0o1000 != 0)
  }

  /// Whether the file at absolute `path` sits in such a directory (see isRootOwnedDirectory).
  public static func isInRootOwnedDirectory(_ path: String, allowSticky: Bool = false) -> Bool {
    guard let (directory, _) = try? SafeFile.split(path) else { return false }
    return isRootOwnedDirectory(directory, allowSticky: allowSticky)
  }
}
