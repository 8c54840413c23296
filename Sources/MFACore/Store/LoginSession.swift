/// The state changes one login may make, inside `CredentialStore.session`. Each is atomic:
/// a right answer is made to stick, and clears the failures, only if no other login got there
/// first.
public protocol LoginSession {
  /// Takes one attempt from the failure budget, before the answer is checked (so parallel
  /// attempts cannot outrun the limit); a right answer then clears the count.
  mutating func countFailure(options: ModuleOptions, now: Int64) throws(FileError) -> FailureCount
  /// Accepts TOTP step `step` of `authenticator` only if no step ≥ it was accepted before;
  /// on success also clears the failures and records `now` as the last success.
  mutating func acceptStep(_ step: Int64, of authenticator: [UInt8], now: Int64) throws(FileError) -> Bool
  /// HOTP: moves the counter to `next` only if it is still `expected`; clears failures too.
  mutating func advanceCounter(of authenticator: [UInt8], from expected: UInt64, to next: UInt64, now: Int64)
    throws(FileError) -> Bool
  /// Uses up the backup code that matches `code`, exactly once; the codes left, or nil when none
  /// matches (or another login used it first). Clears failures on success.
  mutating func consumeBackupCode(_ code: [UInt8], now: Int64) throws(FileError) -> Int?
  /// Uses up a code sent by e-mail or text message (kept per host); clears failures on success.
  mutating func consumeSentCode(_ code: [UInt8], now: Int64) throws(FileError) -> Bool
  /// Changes the learned clock offsets (kept with the shared state: the whole fleet learns).
  mutating func updateDrift(_ change: (inout ClockDrift) -> Void) throws(FileError)
  /// remember=: this host need not ask again for `duration` (kept per host).
  mutating func remember(_ remoteHost: [UInt8], now: Int64, for duration: Int64) throws(FileError)
}
