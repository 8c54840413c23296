/// The one-prompt modes against the user's store (Login+OnePrompt.swift says why).
extension UserLogin {
  /// The one-prompt line with the user's store: splits password and code, checks the code
  /// without counting, and hands the password on.
  func check(_ combined: [UInt8], mustUseCode: Bool) -> LoginOutcome {
    var enrollment: Enrollment
    let shared: UserState
    switch load() {
    case .found(let found, let state):
      enrollment = found
      shared = state
    case .outOfReach, .unusable:
      // Nothing is told before the password is checked.
      return login.handOn(combined, outcome: .denied)
    case .missing:
      return login.handOn(combined, outcome: notEnrolled(mustUseCode: mustUseCode))
    }
    defer { enrollment.wipe() }
    // Refused, not counted: the code cannot be told from the password without libcrypto.
    guard login.canCheckCodes() else { return login.handOn(combined, outcome: .denied) }
    // Nothing is learned before the password is checked; what was learned places the window.
    let centres = centres(enrollment, shared: shared, learning: false)
    var split = CombinedInput.split(
      combined, enrollment: enrollment, time: host.now(), window: options.window, centre: centres.centre)
    defer {
      split.password.wipe()
      split.code.wipe()
    }
    // The password goes on whatever the code: the password module decides whether the line
    // after it learns anything.
    guard host.setAuthToken(split.password) else {
      host.log(.error, who + ": cannot pass the password on to the next module; denied")
      return .denied
    }
    if shared.isLocked(at: host.now()) {
      host.log(.notice, who + ": locked out; the code was not checked (said after the password)")
      return login.note(.locked)
    }
    var answer = CodeAnswer(split.code)
    defer { answer.wipe() }
    let verdict: Verdict
    do throws(FileError) {
      // Not counted: a failure here may come from someone without the password.
      verdict = try store.session { (session) throws(FileError) -> Verdict in
        try decide(
          answer, attempt: Attempt(failures: 0, lockedFor: 0), enrollment: enrollment, shared: shared,
          centres: centres, in: &session)
      }
    } catch {
      host.log(.error, who + ": " + store.location.withState + " " + error.description + "; denied")
      return .denied
    }
    guard let fate = FirstAnswer.Fate(verdict) else {
      // Accepted: the code is used up (replay state) before anyone says yes.
      _ = login.report(verdict, enrollment: enrollment, explain: false)
      return login.note(.accepted)
    }
    host.log(.notice, who + ": " + fate.text + " with the password; counted once the password is right")
    return login.note(fate)
  }

  /// Counts the failure the line before the password saw, and says why it failed.
  func count(_ fate: FirstAnswer.Fate) -> LoginOutcome {
    let result: FailureCount
    do throws(FileError) {
      result = try store.session { (session) throws(FileError) -> FailureCount in
        try session.countFailure(options: options, now: host.now())
      }
    } catch {
      host.log(.error, who + ": " + store.location.withState + " " + error.description + "; denied")
      return .denied
    }
    switch result {
    case .locked(let until):
      return login.refuseLocked(until: until)
    case .counted(let failures, let lockedFor):
      let attempt = Attempt(failures: failures, lockedFor: lockedFor)
      let verdict: Verdict
      switch fate {
      case .accepted, .locked, .wrongCode, .noCode, .refused: verdict = .wrongCode(attempt)
      case .wrongBackupCode: verdict = .wrongBackupCode(attempt)
      case .notACode: verdict = .notACode(attempt)
      case .replayed: verdict = .replayed(attempt)
      }
      return login.report(verdict, enrollment: Enrollment(authenticators: []), explain: true)
    }
  }
}
