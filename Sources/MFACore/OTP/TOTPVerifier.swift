/// A typed code matched an authenticator at a time step, `offset` steps from now.
public struct TOTPMatch: Equatable {
  public let authenticator: Int
  public let step: Int64
  public let offset: Int64
}

/// Checks a code against every authenticator and every step in the window.
public enum TOTPVerifier {
  /// Every (authenticator, step) whose code equals `code`, newest step first: the window's
  /// steps on each side of now, shifted by each authenticator's `centre` (its learned clock
  /// offset). Each candidate is computed and compared in constant time, with no early exit,
  /// so timing reveals nothing.
  public static func matches(
    code: [UInt8], enrollment: Enrollment, time: Int64, window: Int, centre: (Int) -> Int64 = { _ in 0 }
  ) -> [TOTPMatch] {
    scan(code: code, enrollment: enrollment, time: time) { index, offset in
      Swift.abs(offset - centre(index)) <= Int64(window)
    } within: { index in
      (centre(index) - Int64(window), centre(index) + Int64(window))
    }
  }

  /// The matches up to `bound` steps from now that `matches` does not check: a phone whose
  /// clock is off (never accepted alone; ClockDrift).
  public static func outsideWindow(
    code: [UInt8], enrollment: Enrollment, time: Int64, window: Int, bound: Int, centre: (Int) -> Int64
  ) -> [TOTPMatch] {
    scan(code: code, enrollment: enrollment, time: time) { index, offset in
      Swift.abs(offset - centre(index)) > Int64(window)
    } within: { _ in
      (-Int64(bound), Int64(bound))
    }
  }

  /// The offsets `within` gives for each TOTP authenticator of the code's length, newest first,
  /// those that `include` takes.
  private static func scan(
    code: [UInt8], enrollment: Enrollment, time: Int64, include: (Int, Int64) -> Bool,
    within: (Int) -> (Int64, Int64)
  ) -> [TOTPMatch] {
    var found: [TOTPMatch] = []
    for (index, authenticator) in enrollment.authenticators.enumerated() {
      if authenticator.kind != .totp || authenticator.digits != code.count { continue }
      let now = OTP.timeStep(at: time, period: authenticator.period)
      let (lowest, highest) = within(index)
      var offset = highest
      while offset >= lowest {
        let step = now + offset
        defer { offset -= 1 }
        if step < 0 || !include(index, offset) { continue }
        guard
          var expected = OTP.hotp(
            key: authenticator.key, counter: UInt64(step), digits: authenticator.digits,
            algorithm: authenticator.algorithm)
        else { continue }
        if constantTimeEqual(expected, code) {
          found.append(TOTPMatch(authenticator: index, step: step, offset: offset))
        }
        expected.wipe()
      }
    }
    return found
  }
}

/// Checks a code against the HOTP authenticators: counters from the next expected one to
/// `lookAhead` presses beyond it (a token pressed without logging in resynchronises).
public enum HOTPVerifier {
  /// The first (authenticator index, counter) whose code equals `code`; `next(counterKey)` is
  /// where each token is expected to be. Every candidate is computed and compared in constant time.
  public static func match(
    code: [UInt8], enrollment: Enrollment, lookAhead: Int, next: ([UInt8]) -> UInt64
  ) -> (authenticator: Int, counter: UInt64)? {
    var found: (authenticator: Int, counter: UInt64)?
    for (index, authenticator) in enrollment.authenticators.enumerated() {
      if authenticator.kind != .hotp || authenticator.digits != code.count { continue }
      let start = max(next(authenticator.counterKey), authenticator.counter)
      for offset in 0..<UInt64(lookAhead) {
        guard
          var expected = OTP.hotp(
            key: authenticator.key, counter: start + offset, digits: authenticator.digits,
            algorithm: authenticator.algorithm)
        else { continue }
        if constantTimeEqual(expected, code) && found == nil { found = (index, start + offset) }
        expected.wipe()
      }
    }
    return found
  }

  /// Whether `code` is one of the `lookBack` presses before where a token is expected: a code
  /// used (or skipped) already, told apart from a wrong one for the log.
  public static func isOld(
    code: [UInt8], enrollment: Enrollment, lookBack: UInt64, next: ([UInt8]) -> UInt64
  ) -> Bool {
    var found = false
    for authenticator in enrollment.authenticators where authenticator.kind == .hotp {
      if authenticator.digits != code.count { continue }
      let start = max(next(authenticator.counterKey), authenticator.counter)
      for counter in (start - min(start, lookBack))..<start {
        guard
          var expected = OTP.hotp(
            key: authenticator.key, counter: counter, digits: authenticator.digits, algorithm: authenticator.algorithm)
        else { continue }
        if constantTimeEqual(expected, code) { found = true }
        expected.wipe()
      }
    }
    return found
  }
}
