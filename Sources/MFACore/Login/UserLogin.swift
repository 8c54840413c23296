/// A login once the account is known and its store is open: everything the check needs, held
/// once, so each step below reads as a method of the login it belongs to.
struct UserLogin<Host: LoginHost, Local: StateStore, Store: CredentialStore> {
  let login: Login<Host, Local>
  let account: UserAccount
  let store: Store

  var host: Host { login.host }
  var options: ModuleOptions { login.options }
  var who: String { login.who }

  func run(_ task: Login<Host, Local>.StoreTask) -> LoginOutcome {
    switch task {
    case .check(let mustUseCode): return check(mustUseCode: mustUseCode)
    case .saveEnrollment(let pending): return save(pending)
    case .firstLine(let combined, let mustUseCode): return check(combined, mustUseCode: mustUseCode)
    case .count(let fate): return count(fate)
    }
  }

  /// The plain line: enrollment, lockout, remembered host, prompt, then one counted attempt.
  func check(mustUseCode: Bool) -> LoginOutcome {
    var enrollment: Enrollment
    let shared: UserState
    switch load() {
    case .found(let found, let state):
      enrollment = found
      shared = state
    case .outOfReach:
      host.tell(
        UserText("Your two-factor settings cannot be read right now. Contact %s.", LoginText.contact(options)),
        isError: true)
      return .denied
    case .unusable:
      return .denied
    case .missing:
      return whenMissing(mustUseCode: mustUseCode)
    }
    defer { enrollment.wipe() }
    // Tell a locked-out user before they type; the decision itself is made by countFailure.
    if shared.isLocked(at: host.now()) { return login.refuseLocked(until: shared.failure.lockedUntil) }
    // remember=: a host this user typed a code from recently needs none (never without a host).
    let remoteHost = login.rememberableHost
    if let remoteHost, let state = try? login.local.peek(user: account.name),
      state.remembers(remoteHost, at: host.now(), forgetBefore: enrollment.forgetBefore)
    {
      host.log(.info, who + ": remembered host: no code asked")
      return .accepted
    }
    guard login.canCheckCodes() else { return .denied }
    guard var typed = askForCode(enrollment) else { return .conversationFailed }
    defer { typed.wipe() }
    var answer = CodeAnswer(typed)
    defer { answer.wipe() }
    let verdict: Verdict
    do throws(FileError) {
      verdict = try store.session { (session) throws(FileError) -> Verdict in
        // Counted before it is checked: parallel attempts, on any host, cannot outrun `deny`.
        let attempt: Attempt
        switch try session.countFailure(options: options, now: host.now()) {
        case .locked(let until): return .locked(until: until)
        case .counted(let failures, let lockedFor): attempt = Attempt(failures: failures, lockedFor: lockedFor)
        }
        let verdict = try decide(
          answer, attempt: attempt, enrollment: enrollment, shared: shared,
          centres: centres(enrollment, shared: shared, learning: true), in: &session)
        if let remoteHost, verdict.isSuccess {
          try session.remember(remoteHost, now: host.now(), for: options.remember)
        }
        return verdict
      }
    } catch {
      host.log(.error, who + ": " + store.location.withState + " " + error.description + "; denied")
      return .denied
    }
    // Reaching the code prompt told the user the first factor was right: saying why the code
    // failed reveals nothing.
    return login.report(verdict, enrollment: enrollment, explain: true)
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
  func load() -> Loaded {
    var enrollment: Enrollment
    do throws(FileError) {
      enrollment = try store.readEnrollment()
    } catch .notFound {
      // Out of reach is not "not enrolled": an enrolled user never passes because of it.
      guard let doubt = store.doubtAboutAbsence() else { return .missing }
      host.log(.error, who + ": no enrollment found, but " + doubt + "; denied")
      return .outOfReach
    } catch {
      host.log(.error, who + ": " + store.location.description + " " + error.description + "; denied")
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
      host.log(.error, who + ": " + store.location.withState + " " + error.description + "; denied")
      return .unusable
    }
  }

  /// The prompt; with a delivery address root may send to, an empty answer sends a code and
  /// asks again. nil when the conversation failed (logged).
  func askForCode(_ enrollment: Enrollment) -> [UInt8]? {
    let delivery = deliveryAddress(enrollment)
    let text = delivery.map {
      $0.method == .email
        ? UserText("Verification code (press Enter to get one by e-mail): ")
        : UserText("Verification code (press Enter to get one by text message): ")
    }
    var typed = host.prompt(text ?? LoginText.prompt(options), echo: false)
    if let delivery, let program = options.deliverProgram, typed?.trimmed().isEmpty == true {
      send(by: program, to: delivery)
      typed?.wipe()
      typed = host.prompt(LoginText.prompt(options), echo: false)
    }
    if typed == nil { host.log(.error, who + ": conversation failed") }
    return typed
  }
}
