/// Failures and lockouts of one user: what `deny`, `fail_interval` and `unlock_time` act on.
/// The same value lives in the state file and, with `store=ldap`, in one directory attribute,
/// so both stores count in exactly the same way.
public struct FailureRecord: Equatable {
  /// Attempts counted in the current interval (each attempt is counted before it is checked).
  public var failures = 0
  /// When the first of them happened (seconds since the epoch; 0 with no failures).
  public var firstFailure: Int64 = 0
  /// Lockouts in a row without a success in between (for the doubling back-off).
  public var lockouts = 0
  /// No attempt is checked before this time.
  public var lockedUntil: Int64 = 0

  public init() {}

  public func isLocked(at now: Int64) -> Bool { lockedUntil > now }

  /// Counts one attempt in the current interval; the `deny`-th starts a lockout whose length
  /// doubles for each lockout in a row. Not counted when the user is locked out already.
  public mutating func count(options: ModuleOptions, now: Int64) -> FailureCount {
    if isLocked(at: now) { return .locked(until: lockedUntil) }
    if failures > 0 && now - firstFailure >= options.failInterval { failures = 0 }
    // A lockout that ended long ago does not make the next one longer.
    if lockouts > 0 && now - lockedUntil >= options.failInterval { lockouts = 0 }
    if failures == 0 { firstFailure = now }
    failures += 1
    let counted = failures
    guard counted >= options.deny else { return .counted(failures: counted, lockedFor: 0) }
    lockouts += 1
    let duration = options.lockoutDuration(consecutive: lockouts)
    lockedUntil = now + duration
    failures = 0
    firstFailure = 0
    return .counted(failures: counted, lockedFor: duration)
  }

  /// "FAILURES FIRST LOCKOUTS LOCKEDUNTIL": the directory's `pamMfaFailures` value.
  public var text: [UInt8] {
    let counts = String(failures) + " " + String(firstFailure)
    let lock = String(lockouts) + " " + String(lockedUntil)
    return [UInt8](counts + " " + lock)
  }

  public init?(text: [UInt8]) {
    let words = SecretFileFormat.splitWords(text)
    var numbers: [Int64] = []
    for word in words {
      guard let number = parseDecimal(word) else { return nil }
      numbers.append(number)
    }
    guard numbers.count == 4, numbers[0] <= 1000, numbers[2] <= 1000 else { return nil }
    failures = Int(numbers[0])
    firstFailure = numbers[1]
    lockouts = Int(numbers[2])
    lockedUntil = numbers[3]
  }
}

/// The result of counting an attempt against the failure budget.
public enum FailureCount: Equatable {
  /// Counted as the `failures`-th; `lockedFor` > 0 when it reached `deny` and started a lockout
  /// (which a right answer on this very attempt lifts again).
  case counted(failures: Int, lockedFor: Int64)
  /// Not counted and not to be checked: locked out until then.
  case locked(until: Int64)
}
