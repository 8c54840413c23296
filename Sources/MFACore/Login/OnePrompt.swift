/// One prompt for password and code (forward_pass, use_first_pass, try_first_pass). That line
/// runs before the password is checked, so it asks everyone the same, tells nothing, and counts
/// nothing: a stranger who knows only a user name can neither lock the user out nor learn who
/// is enrolled. It still checks the code (a right one is used up; a wrong one fails) and hands
/// the password on. What happened to the code waits in the PAM handle for a plain pam_mfa line
/// after the password module, which counts a failure (lockout) and explains it.
enum OnePrompt {
  /// What the line before the password saw, for the line after it.
  enum Fate: UInt8 {
    case accepted = 1
    case wrongCode = 2
    case wrongBackupCode = 3
    case notACode = 4
    case replayed = 5
    case locked = 6
    /// No code asked of this user (not enrolled with nullok, exempt, outside require_group).
    case noCode = 7
    /// Refused for another reason (unknown user, a file out of reach, an unusable state).
    case refused = 8
  }

  /// With the one-prompt line's arguments, so the line after the password needs none of its own
  /// and counts in the same state.
  struct FirstAnswer {
    var user: [UInt8]
    var fate: Fate
    var arguments: [[UInt8]]

    var encoded: [UInt8] { HandleFields.encode([[fate.rawValue], user] + arguments) }

    init(user: [UInt8], fate: Fate, arguments: [[UInt8]]) {
      self.user = user
      self.fate = fate
      self.arguments = arguments
    }

    init?(_ bytes: [UInt8]) {
      guard let fields = HandleFields.decode(bytes), fields.count >= 2, fields[0].count == 1,
        let fate = Fate(rawValue: fields[0][0])
      else { return nil }
      self.init(user: fields[1], fate: fate, arguments: Array(fields[2...]))
    }
  }

  // MARK: the line before the password

  /// Gets password and code, then checks the code without counting a failure.
  static func firstLine<Host: LoginHost, Local: StateStore>(
    host: Host, local: Local, options: ModuleOptions, context: LoginContext
  ) -> LoginOutcome {
    let who = context.audit
    // A retry in the same handle starts over.
    _ = host.take(.firstAnswer)
    var combined = options.firstPass != .none ? host.authToken() : nil
    if combined == nil {
      if options.firstPass == .use {
        host.log(.error, who + ": use_first_pass, but no earlier module or application set a password; denied")
        return .denied
      }
      combined = host.prompt(LoginFlow.combinedPrompt, echo: false)
    }
    guard var combined else {
      host.log(.error, who + ": conversation failed")
      return .conversationFailed
    }
    defer { combined.wipe() }
    // Asked the same whoever it is: the answer goes on whole unless it holds a code.
    switch LoginFlow.admit(host: host, options: options, context: context) {
    case .decided(let outcome):
      return handOn(combined, outcome: outcome, host: host, context: context, options: options)
    case .check(let account, let mustUseCode):
      return LoginFlow.withStore(
        host: host, local: local, options: options, context: context, account: account,
        task: .firstLine(combined, mustUseCode: mustUseCode))
    }
  }

  /// No code to check: the whole answer goes on as the password, and the line after the
  /// password learns the outcome (so it neither asks nor decides anew).
  static func handOn(
    _ password: [UInt8], outcome: LoginOutcome, host: some LoginHost, context: LoginContext, options: ModuleOptions
  ) -> LoginOutcome {
    let who = context.audit
    guard host.setAuthToken(password) else {
      host.log(.error, who + ": cannot pass the password on to the next module; denied")
      return .denied
    }
    let fate: Fate = outcome == .notEnrolledAllowed ? .noCode : .refused
    return note(fate, host: host, user: context.user, options: options, who: who, outcome: outcome)
  }

  static func check<Host: LoginHost, Store: CredentialStore & EnrollmentStore, Local: StateStore>(
    _ combined: [UInt8], host: Host, store: Store, local: Local, options: ModuleOptions, context: LoginContext,
    account: UserAccount, mustUseCode: Bool
  ) -> LoginOutcome {
    let who = context.audit
    var enrollment: Enrollment
    let shared: UserState
    switch LoginFlow.load(store, host: host, who: who) {
    case .found(let found, let state):
      enrollment = found
      shared = state
    case .outOfReach, .unusable:
      // Nothing is told before the password is checked.
      return handOn(combined, outcome: .denied, host: host, context: context, options: options)
    case .missing:
      let outcome = LoginFlow.notEnrolled(
        host: host, options: options, who: who, location: store.enrollmentLocation, missing: store.missingEnrollment,
        mustUseCode: mustUseCode)
      return handOn(combined, outcome: outcome, host: host, context: context, options: options)
    }
    defer { enrollment.wipe() }
    var split = CombinedInput.split(combined, enrollment: enrollment, time: host.now(), window: options.window)
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
      return note(.locked, host: host, user: context.user, options: options, who: who)
    }
    var answer = LoginFlow.Answer(split.code)
    defer { answer.wipe() }
    let verdict: LoginFlow.Verdict
    do throws(FileError) {
      // Not counted: a failure here may come from someone without the password.
      verdict = try LoginFlow.decide(
        answer, attempt: LoginFlow.Attempt(failures: 0, lockedFor: 0), enrollment: enrollment, shared: shared,
        store: store, local: local, options: options, user: account.name, now: host.now())
    } catch {
      host.log(.error, who + ": " + store.location + " " + error.description + "; denied")
      return .denied
    }
    guard let fate = fate(of: verdict) else {
      // Accepted: the code is used up (replay state) before anyone says yes.
      _ = LoginFlow.report(verdict, host: host, who: who, enrollment: enrollment, options: options, explain: false)
      return note(.accepted, host: host, user: context.user, options: options, who: who)
    }
    host.log(.notice, who + ": " + fate.text + " with the password; counted once the password is right")
    return note(fate, host: host, user: context.user, options: options, who: who)
  }

  static func fate(of verdict: LoginFlow.Verdict) -> Fate? {
    switch verdict {
    case .accepted, .acceptedBackupCode, .acceptedSentCode: return nil
    case .locked: return .locked
    case .wrongCode: return .wrongCode
    case .wrongBackupCode: return .wrongBackupCode
    case .notACode: return .notACode
    case .replayed: return .replayed
    }
  }

  /// Leaves the fate for the line after the password; a failure denies here too.
  /// `user` is PAM_USER as the application gave it, which the next line compares.
  static func note(
    _ fate: Fate, host: some LoginHost, user: [UInt8], options: ModuleOptions, who: String,
    outcome: LoginOutcome? = nil
  ) -> LoginOutcome {
    let first = FirstAnswer(user: user, fate: fate, arguments: options.arguments)
    guard host.keep(first.encoded, in: .firstAnswer) else {
      host.log(.error, who + ": libpam cannot keep the result for the next pam_mfa line; denied")
      return .denied
    }
    return outcome ?? (fate == .accepted ? .accepted : .denied)
  }

  // MARK: the line after the password

  /// A plain line after a one-prompt line: the password was right, so a failure now counts
  /// and is explained. nil when no one-prompt line ran before it.
  static func secondLine<Host: LoginHost>(host: Host, context: LoginContext) -> LoginOutcome? {
    guard let bytes = host.take(.firstAnswer) else { return nil }
    let who = context.audit
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
    let options: ModuleOptions
    do throws(OptionError) {
      options = try LoginFlow.settings(first.arguments, host: host)
    } catch {
      host.log(.error, "configuration error: " + error.description + "; refusing every login")
      return .configurationError
    }
    guard case .check(let account, _) = LoginFlow.admit(host: host, options: options, context: context) else {
      return .denied
    }
    return LoginFlow.withStore(
      host: host, local: FileStateStore(directory: options.stateDirectory), options: options, context: context,
      account: account, task: .count(first.fate))
  }

  /// Counts the failure the line before the password saw, and says why it failed.
  static func count<Host: LoginHost, Store: CredentialStore>(
    _ fate: Fate, host: Host, store: Store, options: ModuleOptions, who: String
  ) -> LoginOutcome {
    let result: FailureCount
    do throws(FileError) {
      result = try store.countFailure(options: options, now: host.now())
    } catch {
      host.log(.error, who + ": " + store.location + " " + error.description + "; denied")
      return .denied
    }
    switch result {
    case .locked(let until):
      return LoginFlow.refuseLocked(host: host, who: who, until: until)
    case .counted(let failures, let lockedFor):
      let attempt = LoginFlow.Attempt(failures: failures, lockedFor: lockedFor)
      let verdict: LoginFlow.Verdict
      switch fate {
      case .accepted, .locked, .wrongCode, .noCode, .refused: verdict = .wrongCode(attempt)
      case .wrongBackupCode: verdict = .wrongBackupCode(attempt)
      case .notACode: verdict = .notACode(attempt)
      case .replayed: verdict = .replayed(attempt)
      }
      return LoginFlow.report(
        verdict, host: host, who: who, enrollment: Enrollment(authenticators: []), options: options, explain: true)
    }
  }
}

extension OnePrompt.Fate {
  var text: String {
    switch self {
    case .accepted: return "a right code"
    case .wrongCode: return "a wrong code"
    case .wrongBackupCode: return "a wrong backup code"
    case .notACode: return "no code"
    case .replayed: return "an already used code"
    case .locked: return "a locked-out user"
    case .noCode: return "no code asked"
    case .refused: return "a refusal"
    }
  }
}
