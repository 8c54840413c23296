/// What the module learned about the user from the system's user database.
public struct UserAccount {
  public var name: [UInt8]
  public var uid: UInt32
  public var gid: UInt32
  public var home: [UInt8]

  public init(name: [UInt8], uid: UInt32, gid: UInt32, home: [UInt8]) {
    self.name = name
    self.uid = uid
    self.gid = gid
    self.home = home
  }
}

/// syslog priorities the module uses (values of <syslog.h>).
public enum LogPriority: Int32 {
  case error = 3
  case warning = 4
  case notice = 5
  case info = 6
  case debug = 7
}

/// Everything the login check needs from its surroundings. The PAM bridge implements it with
/// the conversation function, getpwnam and pam_syslog; tests implement it with fakes.
public protocol LoginHost: PrivilegeSwitch {
  func lookupUser(_ name: [UInt8]) -> UserAccount?
  /// The admin's configuration file; nil when it does not exist.
  func readConfigFile(_ path: String) throws(FileError) -> [UInt8]?
  /// Asks a question; nil when the conversation failed.
  func prompt(_ text: String, echo: Bool) -> [UInt8]?
  /// PAM_AUTHTOK: a password an earlier module or the application has set (nil when none).
  func authToken() -> [UInt8]?
  /// Sets PAM_AUTHTOK for the modules after this one; false when libpam refused.
  func setAuthToken(_ token: [UInt8]) -> Bool
  /// Shows a line to the user (an error or an information).
  func tell(_ text: String, isError: Bool)
  /// The QR code of `text` (width, modules row by row, true for dark); nil when unavailable.
  func qrCode(_ text: String) -> (width: Int, modules: [Bool])?
  /// This machine's name, for the issuer and label of an enrollment made at login.
  func hostName() -> [UInt8]
  /// Whether the user belongs to the group (primary or supplementary); nil: no such group.
  func isMember(_ account: UserAccount, ofGroup group: [UInt8]) -> Bool?
  /// Asks the application to pause after a failure (pam_fail_delay).
  func requestFailureDelay()
  /// Seconds since the epoch.
  func now() -> Int64
  /// One audit line; the bridge adds module, service and facility.
  func log(_ priority: LogPriority, _ message: String)
  /// Keeps `bytes` in the PAM handle for a later call (pam_set_data); false when libpam refused.
  func keep(_ bytes: [UInt8], in slot: HandleSlot) -> Bool
  /// What `keep` left in this handle (forgotten once taken); nil when nothing.
  func take(_ slot: HandleSlot) -> [UInt8]?
}

/// What one pam_mfa call leaves in the PAM handle for a later one.
public enum HandleSlot {
  /// enroll=login: the new enrollment, until the application reports the stack succeeded.
  case enrollment
  /// A one-prompt line: how the code typed with the password fared, for the line after the
  /// password module, which counts a failure only then.
  case firstAnswer

  public var name: String {
    switch self {
    case .enrollment: return "pam_mfa_pending_enrollment"
    case .firstAnswer: return "pam_mfa_first_answer"
    }
  }
}

/// How one authentication ended. `PAMResult` maps each case to exactly one PAM code.
public enum LoginOutcome: Equatable {
  /// A right, fresh code.
  case accepted
  /// No secret file and `nullok`: this module has no opinion (PAM_IGNORE).
  case notEnrolledAllowed
  /// Any refusal caused by the user, their file or the state (wrong code, replay, bad file, ...).
  case denied
  /// Too many failures: refused without checking the code until the lockout ends.
  case lockedOut
  /// The module settings are wrong; every login through this stack is refused.
  case configurationError
  /// No such user, or a name that cannot be used safely.
  case unknownUser
  /// The application's conversation function failed or was missing.
  case conversationFailed
}

/// Who is logging in, for audit lines: "user=alice service=sshd rhost=192.0.2.7".
public struct LoginContext {
  public var user: [UInt8]
  public var service: [UInt8]?
  public var remoteHost: [UInt8]?

  public init(user: [UInt8], service: [UInt8]?, remoteHost: [UInt8]?) {
    self.user = user
    self.service = service
    self.remoteHost = remoteHost
  }

  var audit: String {
    var text = "user=" + user.text
    if let service, !service.isEmpty { text += " service=" + service.text }
    if let remoteHost, !remoteHost.isEmpty { text += " rhost=" + remoteHost.text }
    return text
  }
}

/// The check itself: settings, user, secret file, lockout, prompt, code, replay state.
public enum LoginFlow {
  public static let prompt = "Verification code: "
  public static let combinedPrompt = "Password and verification code: "
  /// The pause after a failed attempt (pam_fail_delay; mfa_chkcode sleeps it itself).
  public static let failureDelayMicroseconds: UInt32 = 2_000_000

  /// Reads the configuration file and arguments and runs the check against the configured store.
  public static func run<Host: LoginHost>(host: Host, arguments: [[UInt8]], context: LoginContext) -> LoginOutcome {
    let options: ModuleOptions
    do throws(OptionError) {
      options = try LoginFlow.settings(arguments, host: host)
    } catch {
      host.log(.error, "configuration error: " + error.description + "; refusing every login")
      return .configurationError
    }
    return authenticate(
      host: host, store: FileStateStore(directory: options.stateDirectory), options: options, context: context)
  }

  /// A stack line's settings: its arguments over the configuration file.
  static func settings(_ arguments: [[UInt8]], host: some LoginHost) throws(OptionError) -> ModuleOptions {
    try ModuleOptions.resolve(arguments: arguments) { (path) throws(FileError) -> [UInt8]? in
      try host.readConfigFile(path)
    }
  }

  /// The check against the configured store; `store` keeps this host's own state (all of it with
  /// the files, remembered hosts and sent codes with the directory).
  public static func authenticate<Host: LoginHost, Local: StateStore>(
    host: Host, store: Local, options: ModuleOptions, context: LoginContext
  ) -> LoginOutcome {
    host.requestFailureDelay()
    // One prompt: this line runs before the password is checked (OnePrompt.swift).
    if options.isOnePrompt { return OnePrompt.firstLine(host: host, local: store, options: options, context: context) }
    if let outcome = OnePrompt.secondLine(host: host, context: context) {
      return outcome
    }
    let account: UserAccount
    let mustUseCode: Bool
    switch admit(host: host, options: options, context: context) {
    case .decided(let outcome): return outcome
    case .check(let user, let required):
      account = user
      mustUseCode = required
    }
    return withStore(
      host: host, local: store, options: options, context: context, account: account,
      task: .check(mustUseCode: mustUseCode))
  }

  /// What to do with the user's store once it is open.
  enum StoreTask {
    case check(mustUseCode: Bool)
    case saveEnrollment(PendingEnrollment)
    /// A one-prompt line, with password and code as typed.
    case firstLine([UInt8], mustUseCode: Bool)
    /// The line after the password counts what the one-prompt line saw.
    case count(OnePrompt.Fate)
  }

  /// Opens the configured store for `account` (the directory is contacted only now) and runs
  /// `task` against it.
  static func withStore<Host: LoginHost, Local: StateStore>(
    host: Host, local: Local, options: ModuleOptions, context: LoginContext, account: UserAccount, task: StoreTask
  ) -> LoginOutcome {
    if options.store == .ldap {
      let connection: PluginConnection
      do throws(FileError) {
        connection = try PluginConnection.open(options.directory)
      } catch {
        host.log(.error, context.audit + ": directory unavailable: " + error.description + "; denied")
        return .denied
      }
      let directory = DirectoryCredentialStore(
        connection: connection, user: account.name, base: options.directory.base ?? [])
      return run(task, host: host, store: directory, local: local, options: options, context: context, account: account)
    }
    let path: String
    do throws(FileError) {
      path = try PathTemplate.expand(options.secretPath, user: account.name, home: account.home)
    } catch {
      host.log(.error, "configuration error: secret=" + options.secretPath + ": " + error.description)
      return .configurationError
    }
    let secrets = SecretFileStore(path: path, account: account, privileges: host)
    return run(
      task, host: host, store: LocalCredentialStore(secrets: secrets, state: local), local: local, options: options,
      context: context, account: account)
  }

  static func run<Host: LoginHost, Store: CredentialStore & EnrollmentStore, Local: StateStore>(
    _ task: StoreTask, host: Host, store: Store, local: Local, options: ModuleOptions, context: LoginContext,
    account: UserAccount
  ) -> LoginOutcome {
    switch task {
    case .check(let mustUseCode):
      return check(
        host: host, store: store, local: local, options: options, context: context, account: account,
        mustUseCode: mustUseCode)
    case .saveEnrollment(let pending):
      return LoginEnrollment.save(
        host: host, store: store, pending: pending, who: context.audit, contact: options.contact)
    case .firstLine(let combined, let mustUseCode):
      return OnePrompt.check(
        combined, host: host, store: store, local: local, options: options, context: context, account: account,
        mustUseCode: mustUseCode)
    case .count(let fate):
      return OnePrompt.count(fate, host: host, store: store, options: options, who: context.audit)
    }
  }

  enum Admission {
    case decided(LoginOutcome)
    case check(UserAccount, mustUseCode: Bool)
  }

  /// Who is this, and does the policy ask them for a code at all?
  static func admit<Host: LoginHost>(host: Host, options: ModuleOptions, context: LoginContext) -> Admission {
    let who = context.audit
    if options.debug { host.log(.debug, "settings: " + options.summary) }

    guard PathTemplate.isSafeUserName(context.user), let account = host.lookupUser(context.user) else {
      host.log(.notice, who + ": unknown user")
      return .decided(.unknownUser)
    }
    // Policy by group: break-glass accounts pass; outside require_group a code is optional.
    var mustUseCode = true
    for (group, exempt) in [(options.exemptGroup, true), (options.requireGroup, false)] {
      guard let group else { continue }
      guard let member = host.isMember(account, ofGroup: group) else {
        host.log(.error, "configuration error: group " + group.text + " does not exist; refusing every login")
        return .decided(.configurationError)
      }
      if exempt && member {
        host.log(.notice, who + ": member of exempt_group " + group.text + ": no code asked")
        return .decided(.notEnrolledAllowed)
      }
      if !exempt && !member { mustUseCode = false }
    }
    return .check(account, mustUseCode: mustUseCode)
  }

  /// The check itself, against any store: enrollment, lockout, prompt, then the store's atomic
  /// operations. `local` holds what stays per host (remembered hosts, codes sent).
  static func check<Host: LoginHost, Store: CredentialStore & EnrollmentStore, Local: StateStore>(
    host: Host, store: Store, local: Local, options: ModuleOptions, context: LoginContext,
    account: UserAccount, mustUseCode: Bool
  ) -> LoginOutcome {
    let who = context.audit
    var enrollment: Enrollment
    let shared: UserState
    switch load(store, host: host, who: who) {
    case .found(let found, let state):
      enrollment = found
      shared = state
    case .outOfReach:
      host.tell("Your two-factor settings cannot be read right now. Contact " + options.contact + ".", isError: true)
      return .denied
    case .unusable:
      return .denied
    case .missing:
      if mustUseCode && options.enrollAtLogin && !(options.enrollDeadline.map { host.now() >= $0 } ?? false) {
        if options.callerIsUnprivileged { return refuseEnrollment(host: host, options: options, who: who) }
        return LoginEnrollment.run(host: host, account: account, user: context.user, options: options, who: who)
      }
      return notEnrolled(
        host: host, options: options, who: who, location: store.enrollmentLocation, missing: store.missingEnrollment,
        mustUseCode: mustUseCode)
    }
    defer { enrollment.wipe() }

    // Tell a locked-out user before they type; the decision itself is made by countFailure.
    if shared.isLocked(at: host.now()) {
      return refuseLocked(host: host, who: who, until: shared.failure.lockedUntil)
    }
    // remember=: a host this user typed a code from recently needs none (never without a host).
    let remoteHost = rememberableHost(context, options: options)
    if let remoteHost, let state = try? local.peek(user: account.name),
      state.remembers(remoteHost, at: host.now(), forgetBefore: enrollment.forgetBefore)
    {
      host.log(.info, who + ": remembered host: no code asked")
      return .accepted
    }

    // With a delivery address root may send to, an empty answer sends a code and asks again.
    let delivery = deliveryAddress(enrollment, store: store, options: options, host: host, who: who)
    let text = delivery.map { "Verification code (press Enter to get one by " + $0.method.spoken + "): " } ?? prompt
    guard var typed = host.prompt(text, echo: false) else {
      host.log(.error, who + ": conversation failed")
      return .conversationFailed
    }
    if let delivery, let program = options.deliverProgram, typed.trimmed().isEmpty {
      sendCode(
        host: host, store: local, options: options, program: program, delivery: delivery, account: account, who: who)
      typed.wipe()
      guard let again = host.prompt(prompt, echo: false) else {
        host.log(.error, who + ": conversation failed")
        return .conversationFailed
      }
      typed = again
    }
    defer { typed.wipe() }
    var answer = Answer(typed)
    defer { answer.wipe() }

    let verdict: Verdict
    do throws(FileError) {
      // Counted before it is checked: parallel attempts, on any host, cannot outrun `deny`.
      switch try store.countFailure(options: options, now: host.now()) {
      case .locked(let until):
        verdict = .locked(until: until)
      case .counted(let failures, let lockedFor):
        let attempt = Attempt(failures: failures, lockedFor: lockedFor)
        verdict = try decide(
          answer, attempt: attempt, enrollment: enrollment, shared: shared, store: store, local: local,
          options: options, user: account.name, now: host.now())
      }
      if let remoteHost, verdict.isSuccess {
        try local.update(user: account.name) { $0.remember(remoteHost, at: host.now(), for: options.remember) }
      }
    } catch {
      host.log(.error, who + ": " + store.location + " " + error.description + "; denied")
      return .denied
    }
    // Reaching the code prompt told the user the first factor was right: saying why the code
    // failed reveals nothing.
    return report(verdict, host: host, who: who, enrollment: enrollment, options: options, explain: true)
  }

  enum Loaded {
    case found(Enrollment, UserState)
    /// No enrollment, and that can be trusted: not enrolled.
    case missing
    /// No enrollment found, but it may only be out of reach (logged): deny.
    case outOfReach
    /// The enrollment or the state cannot be used (logged): deny.
    case unusable
  }

  /// The user's enrollment and shared state, every failure logged for the admin.
  static func load<Store: CredentialStore & EnrollmentStore>(_ store: Store, host: some LoginHost, who: String)
    -> Loaded
  {
    var enrollment: Enrollment
    do throws(FileError) {
      enrollment = try store.readEnrollment()
    } catch .notFound {
      // Out of reach is not "not enrolled": an enrolled user never passes because of it.
      guard let doubt = store.doubtAboutAbsence() else { return .missing }
      host.log(.error, who + ": no enrollment found, but " + doubt + "; denied")
      return .outOfReach
    } catch {
      host.log(.error, who + ": " + store.enrollmentDescription + " " + error.description + "; denied")
      return .unusable
    }
    do throws(FileError) {
      let shared = try store.readState()
      // Root's record that this user is enrolled, so that a file out of reach later is not
      // taken for "not enrolled" (at most hourly: one state write; failures surface later).
      let now = host.now()
      if now - shared.seenEnrolled >= 3600 { try? store.noteEnrolled(now: now) }
      return .found(enrollment, shared)
    } catch {
      enrollment.wipe()
      host.log(.error, who + ": " + store.location + " " + error.description + "; denied")
      return .unusable
    }
  }

  /// What the user typed, sorted by shape: digits are a one-time code, 12 letters and digits
  /// from the backup alphabet a backup code, anything else no code at all.
  enum Answer {
    case oneTimeCode([UInt8])
    case backupCode([UInt8])
    case notACode

    init(_ typed: [UInt8]) {
      if let digits = try? CodeInput.digits(typed) {
        self = .oneTimeCode(digits)
      } else if let code = BackupCodes.normalize(typed) {
        self = .backupCode(code)
      } else {
        self = .notACode
      }
    }

    mutating func wipe() {
      switch self {
      case .oneTimeCode(var code), .backupCode(var code):
        code.wipe()
        self = .notACode
      case .notACode: break
      }
    }
  }

  /// An empty answer: a fresh code to the user's first delivery address, if the rate limit
  /// allows; the user is told either way. A failed delivery never counts as a success.
  static func sendCode<Host: LoginHost, Store: StateStore>(
    host: Host, store: Store, options: ModuleOptions, program: String, delivery: DeliveryAddress,
    account: UserAccount, who: String
  ) {
    let now = host.now()
    let decision: CodeDelivery.Decision
    do throws(FileError) {
      decision = try store.update(user: account.name) { CodeDelivery.prepare(&$0, options: options, now: now) }
    } catch {
      host.log(.error, who + ": cannot record a code to send: state " + error.description)
      host.tell("No code could be sent. Use your app or a backup code.", isError: true)
      return
    }
    switch decision {
    case .rateLimited(let nextAt):
      host.log(.notice, who + ": code by " + delivery.method.name + " refused: send limit reached")
      host.tell(
        "Too many codes sent. The next can be sent in " + describe(seconds: max(1, nextAt - now)) + ".",
        isError: true)
    case .failed:
      host.log(.error, who + ": cannot make a code to send")
      host.tell("No code could be sent. Use your app or a backup code.", isError: true)
    case .send(var code):
      var input = CodeDelivery.input(
        user: account.name, to: delivery, code: code, host: host.hostName(), ttl: options.deliverTTL)
      code.wipe()
      let status = CodeDelivery.run(program: program, input: input)
      input.wipe()
      if status == 0 {
        host.log(.info, who + ": code sent by " + delivery.method.name + " to " + delivery.masked)
        host.tell(
          "A code was sent by " + delivery.method.spoken + " to " + delivery.masked + "; it is valid for "
            + describe(seconds: options.deliverTTL) + ".", isError: false)
      } else {
        host.log(
          .error,
          who + ": delivery program " + program
            + (status == -2
              ? " refused: it must be a regular file owned by root and writable by no one else (not a link), "
                + "in directories only root may write"
              : " failed (status " + String(status) + ")"))
        host.tell("The code could not be sent. Use your app or a backup code, or try again later.", isError: true)
      }
    }
  }

  /// The first address codes may be sent to (DeliveryPolicy); nil without deliver= or one.
  static func deliveryAddress(
    _ enrollment: Enrollment, store: some EnrollmentStore, options: ModuleOptions, host: some LoginHost, who: String
  ) -> DeliveryAddress? {
    // A code is sent only at a root login: a user's own process cannot ask root to send one.
    guard options.deliverProgram != nil, !options.callerIsUnprivileged, !enrollment.deliveries.isEmpty else {
      return nil
    }
    let allowed = enrollment.deliveries.first {
      DeliveryPolicy.allows($0, options: options, writtenByUser: store.isWrittenByUser)
    }
    if allowed == nil {
      host.log(
        .notice,
        who + ": no delivery address in " + store.enrollmentLocation
          + " is allowed (the user writes that file: deliver_domains= and deliver_numbers= decide); none offered")
    }
    return allowed
  }

  /// The host to remember after a success, when `remember=` is on and the login has one.
  static func rememberableHost(_ context: LoginContext, options: ModuleOptions) -> [UInt8]? {
    guard options.remember > 0, let host = context.remoteHost, UserState.isStorableHost(host) else { return nil }
    return host
  }

  /// enroll=login where the application does not run as root (a screen locker): the new
  /// secret could not be kept safe until the stack succeeds, so the user enrolls elsewhere.
  static func refuseEnrollment(host: some LoginHost, options: ModuleOptions, who: String) -> LoginOutcome {
    host.log(.notice, who + ": not enrolled; enroll=login is not offered to an unprivileged application; denied")
    host.tell(
      "Two-factor login is not set up for your account yet, and it cannot be set up here. Log in on the console or over SSH, or run mfa-enroll.",
      isError: true)
    return .denied
  }

  /// A user without a secret file: pass, refuse, or (enroll=login) enroll them now.
  static func notEnrolled(
    host: some LoginHost, options: ModuleOptions, who: String, location: String, missing: String, mustUseCode: Bool
  ) -> LoginOutcome {
    // Every pass without a code is logged.
    if !mustUseCode {
      host.log(.notice, who + ": not in require_group and not enrolled (" + location + "): no code asked")
      return .notEnrolledAllowed
    }
    if let deadline = options.enrollDeadline, host.now() >= deadline {
      host.log(.notice, who + ": not enrolled after the enrollment deadline; denied")
      host.tell(
        "Two-factor login was required from " + CivilDate.format(days: deadline / 86_400) + ". To set it up, contact "
          + options.contact + ".", isError: true)
      return .denied
    }
    if options.nullOK {
      host.log(.notice, who + ": not enrolled (" + location + "), nullok: no code asked")
      return .notEnrolledAllowed
    }
    host.log(.notice, who + ": not enrolled: " + missing + "; denied")
    return .denied
  }

  /// What happened to one attempt.
  enum Verdict {
    case accepted(authenticator: Int)
    case acceptedBackupCode(remaining: Int)
    case acceptedSentCode
    case locked(until: Int64)
    /// `lockedFor` > 0 when this failure started a lockout.
    case wrongCode(Attempt)
    case wrongBackupCode(Attempt)
    case notACode(Attempt)
    case replayed(Attempt)

    var isSuccess: Bool {
      switch self {
      case .accepted, .acceptedBackupCode, .acceptedSentCode: return true
      default: return false
      }
    }
  }

  /// This attempt's place in the failure budget: the n-th, and whether it started a lockout.
  struct Attempt {
    var failures: Int
    var lockedFor: Int64
  }

  /// Checks an answer that was already counted; a right one is made to stick through the
  /// store's atomic operations, which also clear the count.
  static func decide<Store: CredentialStore, Local: StateStore>(
    _ answer: Answer, attempt: Attempt, enrollment: Enrollment, shared: UserState, store: Store,
    local: Local, options: ModuleOptions, user: [UInt8], now: Int64
  ) throws(FileError) -> Verdict {
    switch answer {
    case .notACode:
      return .notACode(attempt)
    case .backupCode(let code):
      return try useBackupCode(code, store: store, attempt: attempt, now: now)
    case .oneTimeCode(let code):
      let matches = TOTPVerifier.matches(code: code, enrollment: enrollment, time: now, window: options.window)
      for match in matches {
        let authenticator = enrollment.authenticators[match.authenticator]
        // The step typed to confirm the enrollment counts as used too.
        if let confirmed = authenticator.confirmedStep, confirmed >= match.step { continue }
        if try store.acceptStep(match.step, of: authenticator.name, now: now) {
          return .accepted(authenticator: match.authenticator)
        }
      }
      // HOTP tokens: the counter moves past the code used, if no other login moved it first.
      let hotp = HOTPVerifier.match(code: code, enrollment: enrollment, lookAhead: options.hotpWindow) {
        shared.hotpFloor(of: $0)
      }
      if let hotp {
        let name = enrollment.authenticators[hotp.authenticator].counterKey
        if try store.advanceCounter(of: name, from: shared.hotpCounter(of: name), to: hotp.counter + 1, now: now) {
          return .accepted(authenticator: hotp.authenticator)
        }
        return .replayed(attempt)
      }
      // A code sent by e-mail or text message (single use, until it expires; kept per host).
      if matches.isEmpty, try local.update(user: user, { CodeDelivery.consume(code, state: &$0, now: now) }) {
        try store.reset(success: now)
        return .acceptedSentCode
      }
      // Scratch codes imported from google-authenticator are 8 digits.
      if matches.isEmpty && code.count == BackupCodes.importedLength && !enrollment.backupCodes.isEmpty {
        return try useBackupCode(code, store: store, attempt: attempt, now: now)
      }
      if matches.isEmpty
        && !HOTPVerifier.isOld(
          code: code, enrollment: enrollment, lookBack: UInt64(options.hotpWindow), next: { shared.hotpFloor(of: $0) })
      {
        return .wrongCode(attempt)
      }
      return .replayed(attempt)
    }
  }

  /// Used up (exactly once, wherever the store is) before anyone says yes.
  static func useBackupCode<Store: CredentialStore>(_ code: [UInt8], store: Store, attempt: Attempt, now: Int64)
    throws(FileError) -> Verdict
  {
    guard let remaining = try store.consumeBackupCode(code, now: now) else { return .wrongBackupCode(attempt) }
    return .acceptedBackupCode(remaining: remaining)
  }

  /// Logs the verdict; with `explain`, tells the user why a code failed.
  static func report(
    _ verdict: Verdict, host: some LoginHost, who: String, enrollment: Enrollment, options: ModuleOptions,
    explain: Bool
  ) -> LoginOutcome {
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
      tellRemaining(host: host, remaining)
      return .accepted
    case .wrongBackupCode(let attempt):
      host.log(
        .notice,
        who + ": wrong backup code" + limit + String(attempt.failures) + " of " + String(options.deny) + "); denied")
      return failed(host: host, who: who, lockedFor: attempt.lockedFor, why: explain ? wrongCodeMessage : nil)
    case .locked(let until):
      return refuseLocked(host: host, who: who, until: until)
    case .wrongCode(let attempt):
      host.log(
        .notice, who + ": wrong code" + limit + String(attempt.failures) + " of " + String(options.deny) + "); denied")
      return failed(host: host, who: who, lockedFor: attempt.lockedFor, why: explain ? wrongCodeMessage : nil)
    case .notACode(let attempt):
      host.log(
        .notice,
        who + ": the answer is not a code" + limit + String(attempt.failures) + " of " + String(options.deny)
          + "); denied")
      return failed(host: host, who: who, lockedFor: attempt.lockedFor, why: explain ? notACodeMessage : nil)
    case .replayed(let attempt):
      host.log(
        .warning,
        who + ": replay: an already used code was refused" + limit + String(attempt.failures) + " of "
          + String(options.deny) + "); denied")
      return failed(host: host, who: who, lockedFor: attempt.lockedFor, why: explain ? replayMessage : nil)
    }
  }

  /// After a backup code: how many are left, and a nudge to make new ones when few are.
  static func tellRemaining(host: some LoginHost, _ remaining: Int) {
    let count = String(remaining) + (remaining == 1 ? " backup code" : " backup codes")
    if remaining <= 2 {
      host.tell(
        "Backup code accepted. Only " + count + " left: run 'mfa-enroll backup-codes' to make a new set.",
        isError: false)
    } else {
      host.tell("Backup code accepted. You have " + count + " left.", isError: false)
    }
  }

  public static let wrongCodeMessage = "Wrong code."
  public static let notACodeMessage = "That is not a code: type the digits of a code, or a backup code."
  public static let replayMessage = "That code was already used: wait for a new one."

  /// A failure the user is told about (why, unless one prompt held the password too), or the
  /// lockout it caused.
  static func failed(host: some LoginHost, who: String, lockedFor: Int64, why: String?) -> LoginOutcome {
    guard lockedFor > 0 else {
      if let why { host.tell(why, isError: true) }
      return .denied
    }
    host.log(.warning, who + ": lockout: too many failures; locked for " + String(lockedFor) + " s")
    host.tell("Too many wrong codes. Try again in " + describe(seconds: lockedFor) + ".", isError: true)
    return .lockedOut
  }

  static func refuseLocked(host: some LoginHost, who: String, until: Int64) -> LoginOutcome {
    let left = max(1, until - host.now())
    host.log(.notice, who + ": refused: locked out for another " + String(left) + " s")
    host.tell("Too many wrong codes. Try again in " + describe(seconds: left) + ".", isError: true)
    return .lockedOut
  }

  /// "45 seconds", "5 minutes", "2 hours": rounded up so the user never comes back too early.
  static func describe(seconds: Int64) -> String {
    if seconds < 60 { return String(seconds) + (seconds == 1 ? " second" : " seconds") }
    if seconds < 2 * 3600 {
      let minutes = (seconds + 59) / 60
      return String(minutes) + (minutes == 1 ? " minute" : " minutes")
    }
    let hours = (seconds + 3599) / 3600
    return String(hours) + " hours"
  }
}
