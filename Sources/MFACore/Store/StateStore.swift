/// Where per-user state lives. `update` is the one atomic operation the login check needs:
/// everything it decides (lockout, replay, failure count) happens under one lock, so parallel
/// logins can neither reuse a code nor get more guesses than the limit.
public protocol StateStore {
  /// For log lines: where the state is.
  var location: String { get }
  /// The current state without locking: only for telling a locked-out user early.
  func peek(user: [UInt8]) throws(FileError) -> UserState
  /// Runs `body` on the user's state under the user's lock; if `body` changed it, the new
  /// state is durable before `update` returns — also when `body` throws (a counted attempt
  /// must stick).
  func update<Result>(user: [UInt8], _ body: (inout UserState) throws(FileError) -> Result) throws(FileError)
    -> Result
}
