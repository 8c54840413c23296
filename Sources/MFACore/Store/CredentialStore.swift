/// What a login needs from wherever the user's enrollment and shared login state live: the
/// files of one host (`LocalCredentialStore`) or a directory the fleet shares
/// (`DirectoryCredentialStore`). Each operation is atomic on its own, so logins in parallel —
/// on one host or on many — keep every guarantee: a time step is accepted once, a backup code
/// is used once, and no more than `deny` answers are checked before a lockout.
public protocol CredentialStore {
  /// Where this is, for log lines: "secret file /path" or "directory ldaps://host".
  var location: String { get }
  /// The user's enrollment; `.notFound` when there is none.
  func readEnrollment() throws(FileError) -> Enrollment
  /// After `readEnrollment` found none: why that may not mean "not enrolled" (for the admin's
  /// log); nil when it can be trusted.
  func doubtAboutAbsence() -> String?
  /// Records that a login found the enrollment (for `doubtAboutAbsence`).
  func noteEnrolled(now: Int64) throws(FileError)
  /// The shared state: step watermarks, HOTP counters, failures, lockout, last success.
  func readState() throws(FileError) -> UserState
  /// Takes one attempt from the failure budget, before the answer is checked (so parallel
  /// attempts cannot outrun the limit); a right answer then clears the count.
  func countFailure(options: ModuleOptions, now: Int64) throws(FileError) -> FailureCount
  /// Accepts TOTP step `step` of `authenticator` only if no step ≥ it was accepted before;
  /// on success also clears the failures and records `now` as the last success.
  func acceptStep(_ step: Int64, of authenticator: [UInt8], now: Int64) throws(FileError) -> Bool
  /// HOTP: moves the counter to `next` only if it is still `expected`; clears failures too.
  func advanceCounter(of authenticator: [UInt8], from expected: UInt64, to next: UInt64, now: Int64)
    throws(FileError) -> Bool
  /// Uses up the backup code that matches `code`, exactly once; the codes left, or nil when none
  /// matches (or another login used it first). Clears failures on success.
  func consumeBackupCode(_ code: [UInt8], now: Int64) throws(FileError) -> Int?
  /// Clears failures and lockout; with `success`, records it as the last success.
  func reset(success: Int64?) throws(FileError)
}

/// The files of one host: the secret file (enrollment, backup codes) and the state file in
/// `state_dir`; each operation runs under the state file's (or secret file's) lock.
public struct LocalCredentialStore<Privileges: PrivilegeSwitch, State: StateStore>: CredentialStore {
  public let secrets: SecretFileStore<Privileges>
  public let state: State

  public init(secrets: SecretFileStore<Privileges>, state: State) {
    self.secrets = secrets
    self.state = state
  }

  var user: [UInt8] { secrets.account.name }
  public var location: String { "secret file " + secrets.path + " (state in " + state.location + ")" }

  public func readEnrollment() throws(FileError) -> Enrollment { try secrets.read() }

  public func doubtAboutAbsence() -> String? {
    // Root's state knows whether this user has logged in with a code on this host.
    let lastSuccess: Int64
    do throws(FileError) {
      let known = try state.peek(user: user)
      lastSuccess = Swift.max(known.lastSuccess, known.seenEnrolled)
    } catch {
      return state.location + " " + error.description
    }
    return secrets.doubtAboutAbsence(knownEnrolledAt: lastSuccess)
  }

  public func noteEnrolled(now: Int64) throws(FileError) {
    try state.update(user: user) { $0.seenEnrolled = now }
  }

  public func readState() throws(FileError) -> UserState { try state.peek(user: user) }

  public func countFailure(options: ModuleOptions, now: Int64) throws(FileError) -> FailureCount {
    try state.update(user: user) { $0.failure.count(options: options, now: now) }
  }

  public func acceptStep(_ step: Int64, of authenticator: [UInt8], now: Int64) throws(FileError) -> Bool {
    try state.update(user: user) { current in
      if let last = current.lastStep(of: authenticator), last >= step { return false }
      current.setLastStep(step, of: authenticator)
      current.clearFailures()
      current.lastSuccess = now
      return true
    }
  }

  public func advanceCounter(of authenticator: [UInt8], from expected: UInt64, to next: UInt64, now: Int64)
    throws(FileError) -> Bool
  {
    try state.update(user: user) { current in
      guard current.hotpCounter(of: authenticator) == expected else { return false }
      current.setHOTPCounter(next, of: authenticator)
      current.clearFailures()
      current.lastSuccess = now
      return true
    }
  }

  public func consumeBackupCode(_ code: [UInt8], now: Int64) throws(FileError) -> Int? {
    // Matched and removed under the secret file's lock, durably, before anyone says yes.
    let remaining = try secrets.update { current -> Int? in
      guard let index = BackupCodes.match(code, in: current.backupCodes) else { return nil }
      current.backupCodes.remove(at: index)
      return current.backupCodes.count
    }
    if remaining != nil { try reset(success: now) }
    return remaining
  }

  public func reset(success: Int64?) throws(FileError) {
    try state.update(user: user) { current in
      current.clearFailures()
      if let success { current.lastSuccess = success }
    }
  }
}
