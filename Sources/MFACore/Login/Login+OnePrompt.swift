/// One prompt for password and code (forward_pass, use_first_pass, try_first_pass). That line
/// runs before the password is checked, so it asks everyone the same, tells nothing, and counts
/// nothing: a stranger who knows only a user name can neither lock the user out nor learn who
/// is enrolled. It still checks the code (a right one is used up; a wrong one fails) and hands
/// the password on. What happened to the code waits in the PAM handle for a plain pam_mfa line
/// after the password module, which counts a failure (lockout) and explains it.
extension Login {
  // MARK: the line before the password

  /// Gets password and code, then checks the code without counting a failure.
  func firstLine() -> LoginOutcome {
    // A retry in the same handle starts over.
    _ = host.take(.firstAnswer)
    var combined = options.firstPass != .none ? host.authToken() : nil
    if combined == nil {
      if options.firstPass == .use {
        host.log(.error, who + ": use_first_pass, but no earlier module or application set a password; denied")
        return .denied
      }
      combined = host.prompt(LoginText.combinedPrompt(options), echo: false)
    }
    guard var combined else {
      host.log(.error, who + ": conversation failed")
      return .conversationFailed
    }
    defer { combined.wipe() }
    // Asked the same whoever it is: the answer goes on whole unless it holds a code.
    switch admit() {
    case .decided(let outcome): return handOn(combined, outcome: outcome)
    case .check(let account, let mustUseCode):
      return withStore(for: account, .firstLine(combined, mustUseCode: mustUseCode))
    }
  }

  /// No code to check: the whole answer goes on as the password, and the line after the
  /// password learns the outcome (so it neither asks nor decides anew).
  func handOn(_ password: [UInt8], outcome: LoginOutcome) -> LoginOutcome {
    guard host.setAuthToken(password) else {
      host.log(.error, who + ": cannot pass the password on to the next module; denied")
      return .denied
    }
    let fate: FirstAnswer.Fate = outcome == .notEnrolledAllowed ? .noCode : .refused
    return note(fate, outcome: outcome)
  }

  /// Leaves the fate for the line after the password; a failure denies here too.
  /// The user is PAM_USER as the application gave it, which the next line compares.
  func note(_ fate: FirstAnswer.Fate, outcome: LoginOutcome? = nil) -> LoginOutcome {
    let first = FirstAnswer(user: context.user, fate: fate, arguments: options.arguments)
    guard host.keep(first.encoded, in: .firstAnswer) else {
      host.log(.error, who + ": libpam cannot keep the result for the next pam_mfa line; denied")
      return .denied
    }
    return outcome ?? (fate == .accepted ? .accepted : .denied)
  }

  // MARK: the line after the password

  /// A plain line after a one-prompt line: the password was right, so a failure now counts
  /// and is explained. nil when no one-prompt line ran before it.
  func secondLine() -> LoginOutcome? {
    guard let bytes = host.take(.firstAnswer) else { return nil }
    guard let first = FirstAnswer(bytes), first.user == context.user else {
      host.log(.error, who + ": the code typed with the password was for another user; denied")
      return .denied
    }
    switch first.fate {
    case .accepted:
      host.log(.info, who + ": the code typed with the password was accepted")
      return .accepted
    case .noCode:
      return .notEnrolledAllowed
    case .refused:
      return .denied
    default:
      break
    }
    // The one-prompt line's settings: the same state, deny and unlock_time.
    guard let options = ModuleOptions.resolve(arguments: first.arguments, host: host) else {
      return .configurationError
    }
    let counting = Login<Host, FileStateStore>(host: host, options: options, context: context)
    guard case .check(let account, _) = counting.admit() else { return .denied }
    return counting.withStore(for: account, .count(first.fate))
  }
}
