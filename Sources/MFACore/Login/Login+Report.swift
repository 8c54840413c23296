/// What the user is told and the admin reads once an attempt is decided.
extension Login {
  /// Logs the verdict; with `explain`, tells the user why a code failed.
  func report(_ verdict: Verdict, enrollment: Enrollment, explain: Bool) -> LoginOutcome {
    let limit = " (failure "
    switch verdict {
    case .accepted(let index):
      let authenticator = enrollment.authenticators[index]
      let method = authenticator.kind == .hotp ? "hotp" : "totp"
      host.log(.info, who + ": accepted " + method + " code (authenticator " + authenticator.name.text + ")")
      return .accepted
    case .acceptedSentCode:
      host.log(.info, who + ": accepted a code sent by e-mail or text message")
      return .accepted
    case .acceptedBackupCode(let remaining):
      host.log(.info, who + ": accepted backup code (" + String(remaining) + " left)")
      tellRemaining(remaining)
      return .accepted
    case .wrongBackupCode(let attempt):
      host.log(
        .notice,
        who + ": wrong backup code" + limit + String(attempt.failures) + " of " + String(options.deny) + "); denied")
      return failed(lockedFor: attempt.lockedFor, why: explain ? LoginText.wrongCode : nil)
    case .locked(let until):
      return refuseLocked(until: until)
    case .wrongCode(let attempt):
      host.log(
        .notice, who + ": wrong code" + limit + String(attempt.failures) + " of " + String(options.deny) + "); denied")
      return failed(lockedFor: attempt.lockedFor, why: explain ? LoginText.wrongCode : nil)
    case .notACode(let attempt):
      host.log(
        .notice,
        who + ": the answer is not a code" + limit + String(attempt.failures) + " of " + String(options.deny)
          + "); denied")
      return failed(lockedFor: attempt.lockedFor, why: explain ? LoginText.notACode : nil)
    case .replayed(let attempt):
      host.log(
        .warning,
        who + ": replay: an already used code was refused" + limit + String(attempt.failures) + " of "
          + String(options.deny) + "); denied")
      return failed(lockedFor: attempt.lockedFor, why: explain ? LoginText.replay : nil)
    }
  }

  /// After a backup code: how many are left, and a nudge to make new ones when few are.
  func tellRemaining(_ remaining: Int) {
    let count = Int64(remaining)
    if remaining <= 2 {
      host.tell(
        .plural(
          "Backup code accepted. Only %d backup code left: run 'mfa-enroll backup-codes' to make a new set.",
          "Backup code accepted. Only %d backup codes left: run 'mfa-enroll backup-codes' to make a new set.",
          count: count), isError: false)
    } else {
      host.tell(
        .plural(
          "Backup code accepted. You have %d backup code left.", "Backup code accepted. You have %d backup codes left.",
          count: count), isError: false)
    }
  }

  /// A failure the user is told about (why, unless one prompt held the password too), or the
  /// lockout it caused.
  func failed(lockedFor: Int64, why: UserText?) -> LoginOutcome {
    guard lockedFor > 0 else {
      if let why { host.tell(why, isError: true) }
      return .denied
    }
    host.log(.warning, who + ": lockout: too many failures; locked for " + String(lockedFor) + " s")
    host.tell(LoginText.lockedOut(for: lockedFor), isError: true)
    return .lockedOut
  }

  func refuseLocked(until: Int64) -> LoginOutcome {
    let left = max(1, until - host.now())
    host.log(.notice, who + ": refused: locked out for another " + String(left) + " s")
    host.tell(LoginText.lockedOut(for: left), isError: true)
    return .lockedOut
  }
}
