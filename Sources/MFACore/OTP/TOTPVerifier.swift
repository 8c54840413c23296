/// A typed code matched an authenticator at a time step.
public struct TOTPMatch: Equatable {
  public let authenticator: Int
  public let step: Int64
}

/// Checks a code against every authenticator and every step in the window.
public enum TOTPVerifier {
  /// Every (authenticator, step) whose code equals `code`, newest step first. Each candidate is
  /// computed and compared in constant time, with no early exit, so timing reveals nothing.
  public static func matches(
    code: [UInt8], enrollment: Enrollment, time: Int64, window: Int
  ) -> [TOTPMatch] {
    var found: [TOTPMatch] = []
    for (index, authenticator) in enrollment.authenticators.enumerated() {
      if authenticator.kind != .totp || authenticator.digits != code.count { continue }
      let now = OTP.timeStep(at: time, period: authenticator.period)
      var offset = window
      while offset >= -window {
        let step = now + Int64(offset)
        offset -= 1
        if step < 0 { continue }
        guard
          var expected = OTP.hotp(
            key: authenticator.key, counter: UInt64(step), digits: authenticator.digits,
            algorithm: authenticator.algorithm)
        else { continue }
        if constantTimeEqual(expected, code) { found.append(TOTPMatch(authenticator: index, step: step)) }
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
