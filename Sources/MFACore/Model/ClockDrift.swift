/// What the module learned about TOTP authenticators whose clock is off (a phone minutes fast
/// or slow): per authenticator, the offset in time steps at which its codes arrive, and an
/// offset seen once but not yet confirmed. Keyed by `Authenticator.counterKey`, so a new key
/// under an old name starts at 0. Kept in root's state file, or in the directory entry
/// (`pamMfaClockOffset`, one record per value) so the whole fleet learns together.
///
///     totp-offset KEY OFFSET
///     totp-offset-seen KEY OFFSET STEP UNTIL
public struct ClockDrift: Equatable {
  public struct Learned: Equatable {
    public var authenticator: [UInt8]
    /// The window is centred this many steps from now (never 0: that is not stored).
    public var offset: Int64
  }

  /// A code right at `offset`, outside the window: not accepted, but a later code at the same
  /// offset before `until` is.
  public struct Seen: Equatable {
    public var authenticator: [UInt8]
    public var offset: Int64
    /// The step of that code: the confirming code must be a later one.
    public var step: Int64
    public var until: Int64
  }

  public var learned: [Learned] = []
  public var seen: [Seen] = []

  /// How long after a code right at an offset the next one may confirm it.
  public static let confirmWithin: Int64 = 300
  /// How far the confirming code's offset may differ (a skew between two step boundaries).
  public static let tolerance: Int64 = 1
  /// The largest `max_drift`; a record further off is damage.
  public static let maxBound = 20

  public init() {}

  /// Where `authenticator`'s window is centred, within `bound` steps of now.
  public func centre(of authenticator: [UInt8], bound: Int) -> Int64 {
    let offset = learned.first { $0.authenticator == authenticator }?.offset ?? 0
    return Swift.min(Swift.max(offset, -Int64(bound)), Int64(bound))
  }

  /// Whether a code of `authenticator` at `step` (offset `offset`) confirms the offset seen before.
  public func confirms(_ authenticator: [UInt8], step: Int64, offset: Int64, now: Int64) -> Bool {
    seen.contains {
      $0.authenticator == authenticator && $0.until > now && step > $0.step
        && Swift.abs(offset - $0.offset) <= ClockDrift.tolerance
    }
  }

  /// Centres `authenticator`'s window at `offset` and forgets what it was seen at; records of
  /// authenticators not in `current` (removed, re-enrolled) and expired sightings go.
  public mutating func learn(_ offset: Int64, of authenticator: [UInt8], current: [[UInt8]], now: Int64) {
    learned.removeAll { $0.authenticator == authenticator || !current.contains($0.authenticator) }
    seen.removeAll { $0.authenticator == authenticator }
    if offset != 0 { learned.append(Learned(authenticator: authenticator, offset: offset)) }
    prune(current: current, now: now)
  }

  /// Remembers a code right at an offset outside the window (one sighting per authenticator).
  public mutating func note(_ sighting: Seen, current: [[UInt8]], now: Int64) {
    seen.removeAll { $0.authenticator == sighting.authenticator }
    seen.append(sighting)
    prune(current: current, now: now)
  }

  mutating func prune(current: [[UInt8]], now: Int64) {
    learned.removeAll { !current.contains($0.authenticator) }
    seen.removeAll { $0.until <= now || !current.contains($0.authenticator) }
  }

  /// "+4 steps (+120 s)" for the admin's log and mfa-enroll status.
  public static func describe(_ offset: Int64, period: Int) -> String {
    let sign = offset < 0 ? "-" : "+"
    let steps = Swift.abs(offset)
    return sign + String(steps) + (steps == 1 ? " step (" : " steps (") + sign + String(steps * Int64(period)) + " s)"
  }

  // MARK: records (the state file's lines and the directory's values)

  static let learnedRecord: [UInt8] = Array("totp-offset".utf8)
  static let seenRecord: [UInt8] = Array("totp-offset-seen".utf8)

  /// The records, one per line or directory value.
  public var records: [[UInt8]] {
    var out: [[UInt8]] = []
    for item in learned {
      out.append(ClockDrift.learnedRecord + [ASCII.space] + item.authenticator + [UInt8](" " + String(item.offset)))
    }
    for item in seen {
      let numbers = " " + String(item.offset) + " " + String(item.step) + " " + String(item.until)
      out.append(ClockDrift.seenRecord + [ASCII.space] + item.authenticator + [UInt8](numbers))
    }
    return out
  }

  /// Adds one record given as words; false when `words` is not one of ours or is malformed.
  /// A second record for one authenticator replaces the first (two servers' merged writes).
  public mutating func add(_ words: [[UInt8]]) -> Bool {
    guard words.count >= 3, Authenticator.isValidStateName(words[1]), let offset = ClockDrift.signed(words[2]),
      Swift.abs(offset) <= Int64(ClockDrift.maxBound)
    else { return false }
    if words[0] == ClockDrift.learnedRecord && words.count == 3 {
      learned.removeAll { $0.authenticator == words[1] }
      learned.append(Learned(authenticator: words[1], offset: offset))
      return true
    }
    guard words[0] == ClockDrift.seenRecord, words.count == 5, let step = parseDecimal(words[3]),
      let until = parseDecimal(words[4])
    else { return false }
    seen.removeAll { $0.authenticator == words[1] }
    seen.append(Seen(authenticator: words[1], offset: offset, step: step, until: until))
    return true
  }

  public static func isRecord(_ word: [UInt8]) -> Bool { word == learnedRecord || word == seenRecord }

  /// A small signed number ("-4", "12").
  static func signed(_ word: [UInt8]) -> Int64? {
    guard word.first == ASCII.dash else { return parseDecimal(word) }
    return parseDecimal(Array(word.dropFirst())).map { -$0 }
  }
}
