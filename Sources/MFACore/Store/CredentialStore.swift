/// Where a user's enrollment and shared login state live: their secret file with this host's
/// state file (`SecretFileStore`), or their entry in the directory the fleet shares
/// (`DirectoryCredentialStore`). The module, mfa_chkcode and mfa-enroll all work through this.
///
/// A login's writes go through `session`, so parallel logins — on one host or on many — keep
/// every guarantee: a time step is accepted once, a backup code is used once, and no more than
/// `deny` answers are checked before a lockout.
///
/// Design note — durable writes per login. The file store runs a whole session under the state
/// file's lock, so counting the attempt and accepting the code land in ONE durable write at
/// the end (a throw still writes the count): no other login can see the state in between. The
/// directory cannot hold a lock across round trips, so its session is the two-step protocol:
/// the attempt is counted in one conditional modify before the code is checked, and accepting
/// is a second one; each is atomic on the server, so hosts in parallel cannot outrun `deny`.
public protocol CredentialStore {
  associatedtype Session: LoginSession

  var location: StoreLocation { get }
  /// Whether the user writes it (a file they own), so that nothing in it was confirmed by
  /// root: delivery addresses need the admin's allow-list (DeliveryPolicy).
  var isWrittenByUser: Bool { get }
  /// Something is there, even a damaged enrollment (it is not overwritten without --force).
  var exists: Bool { get }

  /// The user's enrollment; `.notFound` when there is none.
  func readEnrollment() throws(FileError) -> Enrollment
  /// After `readEnrollment` found none: why that may not mean "not enrolled" (for the admin's
  /// log); nil when it can be trusted.
  func doubtAboutAbsence() -> String?
  /// Runs `body` on the current enrollment and stores the result atomically if it changed.
  func updateEnrollment<Result>(_ body: (inout Enrollment) -> Result) throws(FileError) -> Result
  /// Stores the whole enrollment; with `replace: false` never over an existing one (EEXIST).
  func save(_ enrollment: Enrollment, replace: Bool) throws(FileError)
  /// Removes the enrollment (keeping the replay state, so a re-enrollment cannot reuse a code).
  func removeEnrollment() throws(FileError)

  /// The shared state: step watermarks, HOTP counters, failures, lockout, last success.
  func readState() throws(FileError) -> UserState
  /// Records that a login found the enrollment (for `doubtAboutAbsence`).
  func noteEnrolled(now: Int64) throws(FileError)
  /// Runs one login's state changes (see the design note above).
  func session<Result>(_ body: (inout Session) throws(FileError) -> Result) throws(FileError) -> Result
  /// Clears failures and lockout; with `success`, records it as the last success.
  func reset(success: Int64?) throws(FileError)
}

extension CredentialStore {
  public func create(_ enrollment: Enrollment) throws(FileError) { try save(enrollment, replace: false) }
}
