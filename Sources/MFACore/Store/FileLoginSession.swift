/// One login's changes to a file store: made to the user's state in memory while
/// `SecretFileStore.session` holds the state file's lock, and written once when it ends.
public struct FileLoginSession<Privileges: PrivilegeSwitch, State: StateStore>: LoginSession {
  var state: UserState
  let secrets: SecretFileStore<Privileges, State>

  public mutating func countFailure(options: ModuleOptions, now: Int64) -> FailureCount {
    state.failure.count(options: options, now: now)
  }

  public mutating func acceptStep(_ step: Int64, of authenticator: [UInt8], now: Int64) -> Bool {
    if let last = state.lastStep(of: authenticator), last >= step { return false }
    state.setLastStep(step, of: authenticator)
    succeed(now)
    return true
  }

  public mutating func advanceCounter(of authenticator: [UInt8], from expected: UInt64, to next: UInt64, now: Int64)
    -> Bool
  {
    guard state.hotpCounter(of: authenticator) == expected else { return false }
    state.setHOTPCounter(next, of: authenticator)
    succeed(now)
    return true
  }

  public mutating func consumeBackupCode(_ code: [UInt8], now: Int64) throws(FileError) -> Int? {
    // Matched and removed under the secret file's lock, durably, before anyone says yes.
    let remaining = try secrets.updateEnrollment { current -> Int? in
      guard let index = BackupCodes.match(code, in: current.backupCodes) else { return nil }
      current.backupCodes.remove(at: index)
      return current.backupCodes.count
    }
    if remaining != nil { succeed(now) }
    return remaining
  }

  public mutating func consumeSentCode(_ code: [UInt8], now: Int64) -> Bool {
    guard CodeDelivery.consume(code, state: &state, now: now) else { return false }
    succeed(now)
    return true
  }

  public mutating func updateDrift(_ change: (inout ClockDrift) -> Void) { change(&state.drift) }

  public mutating func remember(_ remoteHost: [UInt8], now: Int64, for duration: Int64) {
    state.remember(remoteHost, at: now, for: duration)
  }

  mutating func succeed(_ now: Int64) {
    state.clearFailures()
    state.lastSuccess = now
  }
}
