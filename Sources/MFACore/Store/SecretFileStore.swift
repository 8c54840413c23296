import CLibc

/// Runs file work with a user's privileges. The module and the helper switch file-system ids
/// (withUserIdentity), the CLI seteuid; tests simply run the body.
public protocol PrivilegeSwitch {
  func asUser<Result>(_ account: UserAccount, _ body: () throws(FileError) -> Result) throws(FileError) -> Result
  /// Whether missing directories of a root-owned store may be created: by root at a terminal
  /// (mfa-enroll --user), never by a login, where a directory that is not there yet may be a
  /// home that is not mounted yet.
  var createsRootDirectories: Bool { get }
}

extension PrivilegeSwitch {
  public var createsRootDirectories: Bool { false }
}

/// A user's secret file (enrollment, backup codes) with this host's state file for them (in
/// `state_dir`), in either kind of file store (StoreLocation.fileKind):
///   - a root-owned store (e.g. /var/lib/pam_mfa): root works on it; the file may be owned by
///     root or the user;
///   - anywhere else (the user's home): the work runs with the user's privileges, so root never
///     follows a link the user planted; the file must be owned by the user.
/// Either way: no symlink, a regular file, no group or other permissions. Rewrites hold
/// `PATH.lock` and replace the file atomically.
public struct SecretFileStore<Privileges: PrivilegeSwitch, State: StateStore>: CredentialStore {
  public let path: String
  public let account: UserAccount
  public let privileges: Privileges
  public let state: State
  /// Decided once: the check walks every directory from `/`, and a login reads and may
  /// rewrite the file.
  public let kind: StoreLocation.Kind

  public init(path: String, account: UserAccount, privileges: Privileges, state: State) {
    self.path = path
    self.account = account
    self.privileges = privileges
    self.state = state
    kind = StoreLocation.fileKind(path: path, home: account.home)
  }

  public var location: StoreLocation { StoreLocation(kind: kind, place: path, stateDirectory: state.location) }

  /// In a root-owned store the file may still be the user's own (and editable if they can
  /// reach the directory): only a file root owns there was written by root.
  public var isWrittenByUser: Bool {
    guard kind == .rootFile else { return true }
    return SafeFile.owner(of: path) != 0
  }

  public var exists: Bool { SafeFile.exists(path) }

  public func readEnrollment() throws(FileError) -> Enrollment {
    try withAccess { () throws(FileError) -> Enrollment in try load() }
  }

  /// Runs `body` on the current enrollment under the file's lock and, if it changed it, writes
  /// the new one durably before returning.
  public func updateEnrollment<Result>(_ body: (inout Enrollment) -> Result) throws(FileError) -> Result {
    try withAccess { () throws(FileError) -> Result in
      try withExclusiveLock(path + ".lock") { () throws(FileError) -> Result in
        var enrollment = try load()
        defer { enrollment.wipe() }
        let before = enrollment
        let result = body(&enrollment)
        if enrollment != before {
          var contents = SecretFileFormat.serialize(enrollment)
          defer { contents.wipe() }
          try SafeFile.write(path: path, contents: contents, mode: 0o600)
        }
        return result
      }
    }
  }

  /// Writes the whole file: parent directories 0700, the file 0600, atomically under the lock;
  /// a failure leaves any old file as it was.
  public func save(_ enrollment: Enrollment, replace: Bool) throws(FileError) {
    var contents = SecretFileFormat.serialize(enrollment)
    defer { contents.wipe() }
    let (directory, _) = try SafeFile.split(path)
    let write = { () throws(FileError) in
      if kind == .rootFile && !privileges.createsRootDirectories && !SafeFile.exists(directory) {
        throw .notFound
      }
      try SafeFile.makeDirectories(directory, mode: 0o700)
      try withExclusiveLock(path + ".lock") { () throws(FileError) in
        try SafeFile.write(path: path, contents: contents, mode: 0o600, replace: replace)
        // Enrolled again: an old "turned off" marker must not vouch for a missing file later.
        try? SafeFile.remove(SecretAbsence.markerPath(path))
      }
    }
    if kind == .rootFile { return try write() }
    try privileges.asUser(account, write)
  }

  /// Removes the secret file (the enrollment), under its lock.
  public func removeEnrollment() throws(FileError) {
    try withAccess { () throws(FileError) in
      // No directory, no file: nothing to remove, and no lock file to make there.
      do throws(FileError) {
        try withExclusiveLock(path + ".lock") { () throws(FileError) in try removeLocked() }
      } catch .system(let error) where error.operation == "open lock file" && error.code == ENOENT {
        throw .notFound
      }
    }
  }

  private func removeLocked() throws(FileError) {
    // Only a file we would have read: never follow or remove something else.
    try TrustedFile(owners: owners, forbiddenMode: 0).check(path)
    // The marker first: a file gone without it is a file out of reach, never "turned off".
    try SafeFile.write(
      path: SecretAbsence.markerPath(path), contents: SecretAbsence.marker(at: SystemClock.now()), mode: 0o600)
    do throws(SystemError) {
      try SafeFile.remove(path)
    } catch {
      throw .system(error)
    }
  }

  public func doubtAboutAbsence() -> String? {
    // Root's state knows whether this user has logged in with a code on this host.
    let knownEnrolledAt: Int64
    do throws(FileError) {
      let known = try state.peek(user: account.name)
      knownEnrolledAt = Swift.max(known.lastSuccess, known.seenEnrolled)
    } catch {
      return state.location + " " + error.description
    }
    do throws(FileError) {
      return try withAccess { () throws(FileError) -> String? in
        if let problem = SecretAbsence.unsafeDirectory(path: path, account: account) { return problem }
        guard knownEnrolledAt > 0 else { return nil }
        // Only the user's own `disable` (or root's reset) since that login explains a missing file.
        let marker = try? TrustedFile(owners: owners, forbiddenMode: 0o022).read(
          SecretAbsence.markerPath(path), maxSize: 64)
        if let marker, let since = SecretAbsence.markerTime(marker), since >= knownEnrolledAt { return nil }
        return "was enrolled here before, but " + path
          + " is missing (a home not mounted, or the file deleted by hand; to turn it off: mfa-enroll disable, "
          + "or as root: mfa-enroll --user NAME reset)"
      }
    } catch {
      return "cannot check " + path + " with the user's privileges: " + error.description
    }
  }

  var owners: [UInt32] { kind == .rootFile ? [0, account.uid] : [account.uid] }

  func withAccess<Result>(_ body: () throws(FileError) -> Result) throws(FileError) -> Result {
    if kind == .rootFile { return try body() }
    return try privileges.asUser(account, body)
  }

  func load() throws(FileError) -> Enrollment {
    var contents = try TrustedFile.privateFile(owners: owners).read(path, maxSize: SecretFileFormat.maxSize)
    defer { contents.wipe() }
    do throws(FormatError) {
      return try SecretFileFormat.parse(contents)
    } catch {
      throw .malformed(error)
    }
  }
}
