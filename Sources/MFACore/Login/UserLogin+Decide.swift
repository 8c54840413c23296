/// An answer against the enrollment and the store, inside the login's session.
extension UserLogin {
  /// Checks an answer that was already counted; a right one is made to stick through the
  /// store's atomic operations, which also clear the count. `centres`: where each
  /// authenticator's window is, and whether clock offsets may be learned (UserLogin+ClockDrift).
  func decide(
    _ answer: CodeAnswer, attempt: Attempt, enrollment: Enrollment, shared: UserState, centres: Centres,
    in session: inout Store.Session
  ) throws(FileError) -> Verdict {
    let now = host.now()
    switch answer {
    case .notACode:
      return .notACode(attempt)
    case .backupCode(let code):
      return try useBackupCode(code, attempt: attempt, now: now, in: &session)
    case .oneTimeCode(let code):
      let matches = TOTPVerifier.matches(
        code: code, enrollment: enrollment, time: now, window: options.window, centre: centres.centre)
      for match in matches {
        let authenticator = enrollment.authenticators[match.authenticator]
        // The step typed to confirm the enrollment counts as used too.
        if let confirmed = authenticator.confirmedStep, confirmed >= match.step { continue }
        if try session.acceptStep(match.step, of: authenticator.name, now: now) {
          recentre(after: match, centres, shared: shared, in: &session)
          return .accepted(authenticator: match.authenticator)
        }
      }
      // HOTP tokens: the counter moves past the code used, if no other login moved it first.
      let hotp = HOTPVerifier.match(code: code, enrollment: enrollment, lookAhead: options.hotpWindow) {
        shared.hotpFloor(of: $0)
      }
      if let hotp {
        let name = enrollment.authenticators[hotp.authenticator].counterKey
        if try session.advanceCounter(of: name, from: shared.hotpCounter(of: name), to: hotp.counter + 1, now: now) {
          return .accepted(authenticator: hotp.authenticator)
        }
        return .replayed(attempt)
      }
      // A code sent by e-mail or text message (single use, until it expires; kept per host).
      if matches.isEmpty, try session.consumeSentCode(code, now: now) { return .acceptedSentCode }
      // Scratch codes imported from google-authenticator are 8 digits.
      if matches.isEmpty && code.count == BackupCodes.importedLength && !enrollment.backupCodes.isEmpty {
        return try useBackupCode(code, attempt: attempt, now: now, in: &session)
      }
      if matches.isEmpty
        && !HOTPVerifier.isOld(
          code: code, enrollment: enrollment, lookBack: UInt64(options.hotpWindow), next: { shared.hotpFloor(of: $0) })
      {
        let drifted = try checkOffset(
          code, attempt: attempt, enrollment: enrollment, centres: centres, shared: shared, now: now, in: &session)
        return drifted ?? .wrongCode(attempt)
      }
      return .replayed(attempt)
    }
  }

  /// Used up (exactly once, wherever the store is) before anyone says yes.
  func useBackupCode(_ code: [UInt8], attempt: Attempt, now: Int64, in session: inout Store.Session)
    throws(FileError) -> Verdict
  {
    guard let remaining = try session.consumeBackupCode(code, now: now) else { return .wrongBackupCode(attempt) }
    return .acceptedBackupCode(remaining: remaining)
  }
}
