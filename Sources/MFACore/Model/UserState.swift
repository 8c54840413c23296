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

/// The state's text form, stored inside the checksummed slots of `StateFile`:
///
///     pam_mfa-state 1
///     totp-step default 59012345
///     failures 2 1764200000
///     lockouts 1 1764200300
///     last-success 1764199000
public enum UserStateFormat {
  static let header: [UInt8] = Array("pam_mfa-state".utf8)

  public static func parse(_ contents: [UInt8]) throws(FormatError) -> UserState {
    var state = UserState()
    var sawHeader = false
    var seen: [[UInt8]] = []
    var lineNumber = 0
    for raw in SecretFileFormat.lines(contents) {
      lineNumber += 1
      let words = SecretFileFormat.splitWords(raw.trimmed())
      if words.isEmpty || words[0].first == ASCII.hash { continue }
      if !sawHeader {
        guard words.count == 2, words[0] == header, parseDecimal(words[1]) == 1 else {
          throw FormatError(line: lineNumber, "expected the header 'pam_mfa-state 1'")
        }
        sawHeader = true
        continue
      }
      var numbers: [Int64] = []
      for word in words.dropFirst() {
        if let number = parseDecimal(word) { numbers.append(number) }
      }
      let record = words[0]
      if record == [UInt8]("totp-step"), words.count == 3, Authenticator.isValidName(words[1]),
        let step = parseDecimal(words[2])
      {
        if state.lastStep(of: words[1]) != nil { throw FormatError(line: lineNumber, "duplicate record") }
        state.setLastStep(step, of: words[1])
        continue
      }
      if record == [UInt8]("hotp-counter"), words.count == 3, Authenticator.isValidStateName(words[1]),
        let counter = parseDecimal(words[2])
      {
        if state.hotpCounters.contains(where: { $0.authenticator == words[1] }) {
          throw FormatError(line: lineNumber, "duplicate record")
        }
        state.setHOTPCounter(UInt64(counter), of: words[1])
        continue
      }
      if seen.contains(record) { throw FormatError(line: lineNumber, "duplicate record") }
      seen.append(record)
      if record == [UInt8]("failures"), words.count == 3, numbers.count == 2 {
        state.failure.failures = Int(numbers[0])
        // A zero count has no start time; normalising keeps parse and serialize inverse.
        state.failure.firstFailure = state.failure.failures > 0 ? numbers[1] : 0
      } else if record == [UInt8]("lockouts"), words.count == 3, numbers.count == 2 {
        state.failure.lockouts = Int(numbers[0])
        state.failure.lockedUntil = numbers[1]
      } else if record == [UInt8]("remember") {
        // Several remember lines are allowed; undo the duplicate check for them.
        seen.removeLast()
        guard words.count == 4, UserState.isStorableHost(words[1]), let since = parseDecimal(words[2]),
          let until = parseDecimal(words[3])
        else { throw FormatError(line: lineNumber, "bad remember record") }
        state.remembered.append(UserState.RememberedHost(host: words[1], since: since, until: until))
      } else if record == [UInt8]("sent") {
        seen.removeLast()
        guard words.count == 4, let salt = Base32.decode(words[1]), let hash = Base32.decode(words[2]),
          salt.count == 16, hash.count == 32, let expires = parseDecimal(words[3])
        else { throw FormatError(line: lineNumber, "bad sent record") }
        state.sentCodes.append(UserState.SentCode(salt: salt, hash: hash, expires: expires))
      } else if record == [UInt8]("send-time") {
        seen.removeLast()
        guard words.count == 2, numbers.count == 1 else { throw FormatError(line: lineNumber, "bad send-time record") }
        state.sendTimes.append(numbers[0])
      } else if record == [UInt8]("last-success"), words.count == 2, numbers.count == 1 {
        state.lastSuccess = numbers[0]
      } else if record == [UInt8]("seen-enrolled"), words.count == 2, numbers.count == 1 {
        state.seenEnrolled = numbers[0]
      } else {
        throw FormatError(line: lineNumber, "unknown record")
      }
    }
    if !sawHeader { throw FormatError(line: 0, "no header") }
    return state
  }

  public static func serialize(_ state: UserState) -> [UInt8] {
    var out = [UInt8]("pam_mfa-state 1\n")
    for mark in state.lastSteps {
      out += [UInt8]("totp-step ")
      out += mark.authenticator
      out += [UInt8](" " + String(mark.step) + "\n")
    }
    for mark in state.hotpCounters {
      out += [UInt8]("hotp-counter ")
      out += mark.authenticator
      out += [UInt8](" " + String(mark.step) + "\n")
    }
    let failure = state.failure
    if failure.failures > 0 {
      out += [UInt8]("failures " + String(failure.failures) + " " + String(failure.firstFailure) + "\n")
    }
    if failure.lockouts > 0 || failure.lockedUntil > 0 {
      out += [UInt8]("lockouts " + String(failure.lockouts) + " " + String(failure.lockedUntil) + "\n")
    }
    if state.lastSuccess > 0 { out += [UInt8]("last-success " + String(state.lastSuccess) + "\n") }
    if state.seenEnrolled > 0 { out += [UInt8]("seen-enrolled " + String(state.seenEnrolled) + "\n") }
    for code in state.sentCodes {
      out += [UInt8]("sent ")
      out += Base32.encode(code.salt, padding: false)
      out.append(ASCII.space)
      out += Base32.encode(code.hash, padding: false)
      out += [UInt8](" " + String(code.expires) + "\n")
    }
    for time in state.sendTimes { out += [UInt8]("send-time " + String(time) + "\n") }
    for entry in state.remembered {
      out += [UInt8]("remember ")
      out += entry.host
      out += [UInt8](" " + String(entry.since) + " " + String(entry.until) + "\n")
    }
    return out
  }
}
