import CLibc

/// Where a user's enrollment is written: their secret file, or their entry in the directory.
/// `mfa-enroll` and enrollment at login work through this alone.
public protocol EnrollmentStore {
  /// For messages: "secret file /path" or "directory ldaps://host (uid=alice,ou=mfa,...)".
  var location: String { get }
  /// Where the enrollment itself is, for "enrolled (...)" and "not enrolled: ..." lines:
  /// the secret file's path, or the directory entry.
  var enrollmentLocation: String { get }
  /// The same with its kind, for error lines: "secret file /path" or "directory ...".
  var enrollmentDescription: String { get }
  /// Why there is no enrollment, for "not enrolled: ..." lines: "/path does not exist", or
  /// "directory ... has no enrollment" (after a reset the entry is still there).
  var missingEnrollment: String { get }
  /// Whether the user writes it (a file in their home), so that nothing in it was confirmed
  /// by root: delivery addresses need the admin's allow-list (DeliveryPolicy).
  var isWrittenByUser: Bool { get }
  func read() throws(FileError) -> Enrollment
  /// Runs `body` on the current enrollment and stores the result atomically if it changed.
  func update<Result>(_ body: (inout Enrollment) -> Result) throws(FileError) -> Result
  /// Stores a new enrollment, never over an existing one (EEXIST).
  func create(_ enrollment: Enrollment) throws(FileError)
  /// Stores the whole enrollment; `replace: false` as `create`. `asRoot` only matters to files.
  func save(_ enrollment: Enrollment, replace: Bool, asRoot: Bool?) throws(FileError)
  /// Removes the enrollment (keeping the replay state, so a re-enrollment cannot reuse a code).
  func remove() throws(FileError)
}

extension SecretFileStore: EnrollmentStore {
  public var location: String { "secret file " + path }
  public var enrollmentLocation: String { path }
  public var enrollmentDescription: String { location }
  public var missingEnrollment: String { path + " does not exist" }
  /// In a root-owned store the file may still be the user's own (and editable if they can
  /// reach the directory): only a file root owns there was written by root.
  public var isWrittenByUser: Bool {
    guard isRootStore else { return true }
    var info = stat()
    return path.withCString { lstat($0, &info) } != 0 || info.st_uid != 0
  }
}

extension LocalCredentialStore: EnrollmentStore {
  public var enrollmentLocation: String { secrets.path }
  public var enrollmentDescription: String { secrets.location }
  public var missingEnrollment: String { secrets.missingEnrollment }
  public var isWrittenByUser: Bool { secrets.isWrittenByUser }
  public func read() throws(FileError) -> Enrollment { try secrets.read() }
  public func update<Result>(_ body: (inout Enrollment) -> Result) throws(FileError) -> Result {
    try secrets.update(body)
  }
  public func create(_ enrollment: Enrollment) throws(FileError) { try secrets.create(enrollment) }
  public func save(_ enrollment: Enrollment, replace: Bool, asRoot: Bool?) throws(FileError) {
    try secrets.save(enrollment, replace: replace, asRoot: asRoot)
  }
  public func remove() throws(FileError) { try secrets.remove() }
}
