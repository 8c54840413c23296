/// Per-user login state the module keeps: the last accepted TOTP step of each authenticator
/// (replay protection), recent failures and lockouts, and the last success. Kept apart from the
/// secret file, in a root-owned directory, so a user can neither reset it nor lose it by
/// re-enrolling.
public struct UserState: Equatable {
  public struct StepMark: Equatable {
    public var authenticator: [UInt8]
    public var step: Int64
  }

  public var lastSteps: [StepMark] = []
  /// HOTP: the next counter each token is expected at (under the user's lock).
  public var hotpCounters: [StepMark] = []
  /// Failures and lockouts (deny, fail_interval, unlock_time).
  public var failure = FailureRecord()
  /// The last successful login (0: never).
  public var lastSuccess: Int64 = 0
  /// When a login last found the user's enrollment (updated at most hourly; 0: never): a
  /// missing file after that is out of reach unless the user turned it off since.
  public var seenEnrolled: Int64 = 0
  /// TOTP authenticators' clock offsets, learned or seen once (max_drift).
  public var drift = ClockDrift()
  /// Remote hosts that need no code until `until` (`remember=`), newest last.
  public var remembered: [RememberedHost] = []

  public struct RememberedHost: Equatable {
    public var host: [UInt8]
    /// When the code was typed from there.
    public var since: Int64
    public var until: Int64
  }

  /// Codes sent by e-mail or text message that are still valid: only a salted SHA-256 of each.
  public var sentCodes: [SentCode] = []
  /// When codes were sent (for the per-user rate limit).
  public var sendTimes: [Int64] = []

  public struct SentCode: Equatable {
    public var salt: [UInt8]
    public var hash: [UInt8]
    public var expires: Int64
  }

  /// At most this many hosts are kept per user; the oldest goes first.
  public static let maxRemembered = 12

  public init() {}

  public func lastStep(of authenticator: [UInt8]) -> Int64? {
    lastSteps.first { $0.authenticator == authenticator }?.step
  }

  public mutating func setLastStep(_ step: Int64, of authenticator: [UInt8]) {
    if let index = lastSteps.firstIndex(where: { $0.authenticator == authenticator }) {
      lastSteps[index].step = step
    } else {
      lastSteps.append(StepMark(authenticator: authenticator, step: step))
    }
  }

  public func isLocked(at now: Int64) -> Bool { failure.isLocked(at: now) }

  /// Where a token with this counter key is expected at least: its own counter, or one kept
  /// under its bare name before counters had key fingerprints (never back below a used code).
  public func hotpFloor(of counterKey: [UInt8]) -> UInt64 {
    let legacy = Array(counterKey.dropLast(min(counterKey.count, 9)))
    return Swift.max(hotpCounter(of: counterKey), legacy.isEmpty ? 0 : hotpCounter(of: legacy))
  }

  public func hotpCounter(of authenticator: [UInt8]) -> UInt64 {
    UInt64(hotpCounters.first { $0.authenticator == authenticator }?.step ?? 0)
  }

  public mutating func setHOTPCounter(_ counter: UInt64, of authenticator: [UInt8]) {
    if let index = hotpCounters.firstIndex(where: { $0.authenticator == authenticator }) {
      hotpCounters[index].step = Int64(counter)
    } else {
      hotpCounters.append(StepMark(authenticator: authenticator, step: Int64(counter)))
    }
  }

  /// Whether `host` is remembered at `now`, counting only entries made after `forgetBefore`.
  public func remembers(_ host: [UInt8], at now: Int64, forgetBefore: Int64) -> Bool {
    remembered.contains { $0.host == host && $0.until > now && $0.since >= forgetBefore }
  }

  public mutating func remember(_ host: [UInt8], at now: Int64, for duration: Int64) {
    remembered.removeAll { $0.host == host || $0.until <= now }
    remembered.append(RememberedHost(host: host, since: now, until: now + duration))
    if remembered.count > UserState.maxRemembered { remembered.removeFirst(remembered.count - UserState.maxRemembered) }
  }

  /// A host name that can be stored and logged as one word.
  public static func isStorableHost(_ host: [UInt8]) -> Bool {
    // 128 bytes × 16 hosts keeps the state well inside one 4 KiB slot.
    !host.isEmpty && host.count <= 128 && !host.contains { $0 <= 0x20 || $0 >= 0x7F || $0 == ASCII.hash }
  }

  /// Clears failures and lockouts (a success, or root's `unlock`).
  public mutating func clearFailures() { failure = FailureRecord() }
}
