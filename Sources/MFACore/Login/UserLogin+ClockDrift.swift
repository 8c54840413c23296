/// A phone whose clock is off (ClockDrift, `max_drift`): a code right only at a larger offset
/// than the window is refused and counted like any wrong code, but remembered; a later code at
/// the same offset within a few minutes is accepted and centres that authenticator's window
/// there. Without a sighting, a guess can hit only the window's codes.
extension UserLogin {
  /// Each authenticator's state key and window centre, by index (none for HOTP tokens).
  struct Centres {
    let keys: [[UInt8]]
    let offsets: [Int64]
    /// False on the one-prompt line before the password is checked: nothing is learned there,
    /// so a stranger's uncounted guesses cannot move a window or a watermark.
    let learning: Bool

    func centre(_ index: Int) -> Int64 { offsets[index] }
  }

  func centres(_ enrollment: Enrollment, shared: UserState, learning: Bool) -> Centres {
    let keys = enrollment.authenticators.map { $0.kind == .totp ? $0.counterKey : [] }
    return Centres(
      keys: keys, offsets: keys.map { shared.drift.centre(of: $0, bound: options.maxDrift) },
      learning: learning && options.maxDrift > 0)
  }

  /// After a code from the window was accepted: a code beyond the normal window moves the centre
  /// to it, so a clock that keeps drifting is followed (each login re-centres it); a sighting
  /// of this authenticator is over.
  func recentre(after match: TOTPMatch, _ centres: Centres, shared: UserState, in session: inout Store.Session) {
    guard centres.learning else { return }
    let key = centres.keys[match.authenticator]
    let moves = abs(match.offset) > Int64(options.window) && match.offset != centres.centre(match.authenticator)
    guard moves || shared.drift.seen.contains(where: { $0.authenticator == key }) else { return }
    learn(moves ? match.offset : centres.centre(match.authenticator), of: match.authenticator, centres, in: &session)
  }

  /// A code wrong in the window: if it is right at another offset up to `max_drift`, it either
  /// confirms the offset the previous code showed (accepted) or is remembered (refused). nil
  /// when it is right nowhere.
  func checkOffset(
    _ code: [UInt8], attempt: Attempt, enrollment: Enrollment, centres: Centres, shared: UserState, now: Int64,
    in session: inout Store.Session
  ) throws(FileError) -> Verdict? {
    guard centres.learning else { return nil }
    let found = TOTPVerifier.outsideWindow(
      code: code, enrollment: enrollment, time: now, window: options.window, bound: options.maxDrift,
      centre: centres.centre)
    guard let match = found.first else { return nil }
    let authenticator = enrollment.authenticators[match.authenticator]
    if let confirmed = authenticator.confirmedStep, confirmed >= match.step { return nil }
    let key = centres.keys[match.authenticator]
    let centre = centres.centre(match.authenticator)
    if shared.drift.confirms(key, step: match.step, offset: match.offset, now: now),
      try session.acceptStep(match.step, of: authenticator.name, now: now)
    {
      host.log(
        .notice,
        who + ": clock offset learned: " + authenticator.name.text + " at a clock offset of "
          + ClockDrift.describe(match.offset, period: authenticator.period) + ", confirmed by a second code")
      learn(
        abs(match.offset) > Int64(options.window) ? match.offset : 0, of: match.authenticator, centres, in: &session)
      return .accepted(authenticator: match.authenticator)
    }
    host.log(
      .notice,
      who + ": a code right only for authenticator " + authenticator.name.text + " at a clock offset of "
        + ClockDrift.describe(match.offset, period: authenticator.period)
        + (centre == 0
          ? "" : " (its window is centred at " + ClockDrift.describe(centre, period: authenticator.period) + ")")
        + ": refused; a later code at that offset within " + String(ClockDrift.confirmWithin / 60)
        + " minutes will be accepted")
    let sighting = ClockDrift.Seen(
      authenticator: key, offset: match.offset, step: match.step, until: now + ClockDrift.confirmWithin)
    update(in: &session) { $0.note(sighting, current: centres.keys, now: now) }
    return .wrongCode(attempt)
  }

  func learn(_ offset: Int64, of index: Int, _ centres: Centres, in session: inout Store.Session) {
    let now = host.now()
    update(in: &session) { $0.learn(offset, of: centres.keys[index], current: centres.keys, now: now) }
  }

  /// The offsets are a convenience: a store that cannot keep them (a directory without the
  /// attribute in its schema) costs the user a second code, never the login.
  func update(in session: inout Store.Session, _ change: (inout ClockDrift) -> Void) {
    do throws(FileError) {
      try session.updateDrift(change)
    } catch {
      host.log(.warning, who + ": cannot keep the clock offset: " + error.description)
    }
  }
}
