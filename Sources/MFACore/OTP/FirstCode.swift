/// The three tries at a code that prove something before anything is saved or changed: a new
/// authenticator's first code (mfa-enroll's enroll and add, the enrollment at login), a current
/// code before new backup codes or turning two-factor login off, the code sent to a new address.
/// The right code is never shown.
public enum FirstCode {
  public static let tries = 3

  /// Why no code was confirmed.
  public enum Failure: Error, Equatable {
    /// No answer came: the input ended, or the conversation failed.
    case noAnswer
    /// `tries` answers, none of them right.
    case wrong
  }

  /// What a right code was.
  public enum Match: Equatable {
    case totp(authenticator: Int, step: Int64)
    case hotp(authenticator: Int, counter: UInt64)
    /// The index of a backup code (checked, not spent).
    case backupCode(Int)
  }

  /// Which codes count: a time-based code within `window` steps of now, one of a token's next
  /// `hotpLookAhead` presses, and with `backupCodes` a backup code.
  public struct Accepting: Equatable {
    public var window: Int
    public var hotpLookAhead: Int
    public var backupCodes: Bool

    public init(window: Int = 1, hotpLookAhead: Int = 0, backupCodes: Bool = false) {
      self.window = window
      self.hotpLookAhead = hotpLookAhead
      self.backupCodes = backupCodes
    }
  }

  /// Asks up to `tries` times. `prompt` returns what was typed (nil: no answer), `check` judges
  /// it as classified (nil: not right), and `retry(left)` follows each wrong answer that leaves
  /// tries. What was typed is wiped after each try.
  public static func ask<Found>(
    prompt: () -> [UInt8]?, check: (CodeAnswer) -> Found?, retry: (_ left: Int) -> Void
  ) throws(Failure) -> Found {
    for attempt in 1...tries {
      guard var typed = prompt() else { throw .noAnswer }
      var answer = CodeAnswer(typed)
      typed.wipe()
      let found = check(answer)
      answer.wipe()
      if let found { return found }
      if attempt < tries { retry(tries - attempt) }
    }
    throw .wrong
  }

  /// A code of `enrollment`'s authenticators (or one of its backup codes), checked at `now()`
  /// when it is typed.
  public static func ask(
    for enrollment: Enrollment, accepting: Accepting, now: () -> Int64, prompt: () -> [UInt8]?,
    retry: (_ left: Int) -> Void
  ) throws(Failure) -> Match {
    try ask(
      prompt: prompt, check: { match($0, in: enrollment, accepting: accepting, time: now()) }, retry: retry)
  }

  /// The first thing `answer` matches: a time-based code (the newest step), a token's press,
  /// then a backup code (also the 8-digit scratch codes imported from google-authenticator).
  public static func match(
    _ answer: CodeAnswer, in enrollment: Enrollment, accepting: Accepting, time: Int64
  ) -> Match? {
    switch answer {
    case .notACode:
      return nil
    case .oneTimeCode(let code):
      if let found = TOTPVerifier.matches(code: code, enrollment: enrollment, time: time, window: accepting.window)
        .first
      {
        return .totp(authenticator: found.authenticator, step: found.step)
      }
      // Where the token is expected is the file's counter: a first code cannot see the state.
      if let found = HOTPVerifier.match(
        code: code, enrollment: enrollment, lookAhead: accepting.hotpLookAhead, next: { _ in 0 })
      {
        return .hotp(authenticator: found.authenticator, counter: found.counter)
      }
      guard code.count == BackupCodes.importedLength else { return nil }
      return backupCode(code, in: enrollment, accepting: accepting)
    case .backupCode(let code):
      return backupCode(code, in: enrollment, accepting: accepting)
    }
  }

  static func backupCode(_ code: [UInt8], in enrollment: Enrollment, accepting: Accepting) -> Match? {
    guard accepting.backupCodes, let index = BackupCodes.match(code, in: enrollment.backupCodes) else { return nil }
    return .backupCode(index)
  }
}

extension Enrollment {
  /// The confirming code spent, so that the module never accepts it for a login: its time step
  /// recorded on the authenticator (never moved back), or the token's counter moved past it.
  /// A backup code only confirms; it is not used up here.
  public mutating func spend(_ match: FirstCode.Match) {
    switch match {
    case .totp(let index, let step):
      let previous = authenticators[index].confirmedStep ?? step
      authenticators[index].confirmedStep = max(previous, step)
    case .hotp(let index, let counter):
      authenticators[index].counter = counter + 1
    case .backupCode:
      break
    }
  }
}
