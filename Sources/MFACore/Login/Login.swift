/// One call of the module (or of mfa_chkcode): the host, the settings, who is logging in and
/// this host's state. It decides whether the user must use a code, opens the user's store and
/// hands over to `UserLogin`, which holds the account and the store as well.
public struct Login<Host: LoginHost, Local: StateStore> {
  public let host: Host
  public let options: ModuleOptions
  public let context: LoginContext
  /// This host's own state: all of it with the files; remembered hosts and sent codes with the
  /// directory.
  public let local: Local
  /// The audit prefix of every log line: "user=alice service=sshd rhost=192.0.2.7".
  let who: String

  public init(host: Host, options: ModuleOptions, context: LoginContext, local: Local) {
    self.host = host
    self.options = options
    self.context = context
    self.local = local
    who = context.audit
  }

  /// The check: one prompt before the password, the line after it, or the plain code prompt.
  public func authenticate() -> LoginOutcome {
    host.requestFailureDelay()
    // One prompt: this line runs before the password is checked (Login+OnePrompt.swift).
    if options.isOnePrompt { return firstLine() }
    if let outcome = secondLine() { return outcome }
    switch admit() {
    case .decided(let outcome): return outcome
    case .check(let account, let mustUseCode): return withStore(for: account, .check(mustUseCode: mustUseCode))
    }
  }

  enum Admission {
    case decided(LoginOutcome)
    case check(UserAccount, mustUseCode: Bool)
  }

  /// Who is this, and does the policy ask them for a code at all?
  func admit() -> Admission {
    if options.debug { host.log(.debug, "settings: " + options.summary) }
    guard PathTemplate.isSafeUserName(context.user), let account = host.lookupUser(context.user) else {
      host.log(.notice, who + ": unknown user")
      return .decided(.unknownUser)
    }
    switch CodePolicy.decide(for: account, options: options, isMember: { host.isMember($0, ofGroup: $1) }) {
    case .groupMissing(_, let group):
      host.log(.error, "configuration error: group " + group.text + " does not exist; refusing every login")
      return .decided(.configurationError)
    case .exempt(let group):
      host.log(.notice, who + ": member of exempt_group " + group.text + ": no code asked")
      return .decided(.notEnrolledAllowed)
    case .optional: return .check(account, mustUseCode: false)
    case .required: return .check(account, mustUseCode: true)
    }
  }

  /// What to do with the user's store once it is open.
  enum StoreTask {
    case check(mustUseCode: Bool)
    case saveEnrollment(PendingEnrollment)
    /// A one-prompt line, with password and code as typed.
    case firstLine([UInt8], mustUseCode: Bool)
    /// The line after the password counts what the one-prompt line saw.
    case count(FirstAnswer.Fate)
  }

  /// Opens the configured store for `account` (the directory is contacted only now) and runs
  /// `task` against it.
  func withStore(for account: UserAccount, _ task: StoreTask) -> LoginOutcome {
    if options.store == .ldap {
      let connection: PluginConnection
      do throws(FileError) {
        connection = try DirectoryServers(settings: options.directory, stateDirectory: options.stateDirectory)
          .connect(now: host.now()) { host.log(.notice, who + ": " + $0) }
      } catch {
        host.log(.error, who + ": directory unavailable: " + error.description + "; denied")
        return .denied
      }
      var directory = DirectoryCredentialStore(
        connection: connection, user: account.name, base: options.directory.base ?? [], local: local)
      directory.trustsAbsence = options.directory.isFirst(connection.server)
      return UserLogin(login: self, account: account, store: directory).run(task)
    }
    let path: String
    do throws(FileError) {
      path = try PathTemplate.expand(options.secretPath, user: account.name, home: account.home)
    } catch {
      host.log(.error, "configuration error: secret=" + options.secretPath + ": " + error.description)
      return .configurationError
    }
    let files = SecretFileStore(path: path, account: account, privileges: host, state: local)
    return UserLogin(login: self, account: account, store: files).run(task)
  }

  /// The host to remember after a success, when `remember=` is on and the login has one.
  var rememberableHost: [UInt8]? {
    guard options.remember > 0, let remoteHost = context.remoteHost, UserState.isStorableHost(remoteHost) else {
      return nil
    }
    return remoteHost
  }
}

extension Login where Local == FileStateStore {
  /// The state in the configured `state_dir`.
  public init(host: Host, options: ModuleOptions, context: LoginContext) {
    self.init(host: host, options: options, context: context, local: FileStateStore(directory: options.stateDirectory))
  }

  /// Reads the configuration file and arguments and runs the check.
  public static func run(host: Host, arguments: [[UInt8]], context: LoginContext) -> LoginOutcome {
    guard let options = ModuleOptions.resolve(arguments: arguments, host: host) else { return .configurationError }
    return Login(host: host, options: options, context: context).authenticate()
  }
}

extension Login {
  /// Loads libcrypto (on first use; as root, before any file work as the user): false, logged,
  /// when no code can be checked. Called where a login first needs a code, never before.
  func canCheckCodes() -> Bool {
    guard let problem = Crypto.unavailable() else { return true }
    host.log(.error, who + ": " + problem + "; denied")
    return false
  }
}
