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
public protocol LoginHost {
  func lookupUser(_ name: [UInt8]) -> UserAccount?
  /// Reads the secret file with the user's privileges (so root never follows a user's symlink).
  func readSecretFile(_ path: String, as account: UserAccount) throws(FileError) -> [UInt8]
  /// Asks a question; nil when the conversation failed.
  func prompt(_ text: String, echo: Bool) -> [UInt8]?
  /// Seconds since the epoch.
  func now() -> Int64
  /// One audit line; the bridge adds module, service and facility.
  func log(_ priority: LogPriority, _ message: String)
}

/// How one authentication ended. `PAMResult` maps each case to exactly one PAM code.
public enum LoginOutcome: Equatable {
  /// A right, fresh code.
  case accepted
  /// No secret file and `nullok`: this module has no opinion (PAM_IGNORE).
  case notEnrolledAllowed
  /// Any refusal caused by the user, their file or the state (wrong code, replay, bad file, ...).
  case denied
  /// The module arguments are wrong; every login through this stack is refused.
  case configurationError
  /// No such user, or a name that cannot be used safely.
  case unknownUser
  /// The application's conversation function failed or was missing.
  case conversationFailed
}

/// The check itself: options, user, secret file, prompt, code, replay state.
public enum LoginFlow {
  public static let prompt = "Verification code: "

  /// Parses the module arguments and runs the check with the file state store.
  public static func run<Host: LoginHost>(host: Host, arguments: [[UInt8]], user: [UInt8], remoteHost: [UInt8]?)
    -> LoginOutcome
  {
    let options: ModuleOptions
    do throws(OptionError) {
      options = try ModuleOptions.parse(arguments)
    } catch {
      host.log(.error, "configuration error: " + error.description + "; refusing every login")
      return .configurationError
    }
    let store = FileStateStore(directory: options.stateDirectory)
    return authenticate(host: host, store: store, options: options, user: user, remoteHost: remoteHost)
  }

  public static func authenticate<Host: LoginHost, Store: StateStore>(
    host: Host, store: Store, options: ModuleOptions, user: [UInt8], remoteHost: [UInt8]?
  ) -> LoginOutcome {
    var who = "user=" + user.text
    if let remoteHost, !remoteHost.isEmpty { who += " rhost=" + remoteHost.text }
    if options.debug { host.log(.debug, "settings: " + options.summary) }

    guard PathTemplate.isSafeUserName(user), let account = host.lookupUser(user) else {
      host.log(.notice, who + ": unknown user")
      return .unknownUser
    }
    let path: String
    do throws(FileError) {
      path = try PathTemplate.expand(options.secretPath, user: account.name, home: account.home)
    } catch {
      host.log(.error, "configuration error: secret=" + options.secretPath + ": " + error.description)
      return .configurationError
    }

    var enrollment: Enrollment
    do throws(FileError) {
      enrollment = try loadEnrollment(host: host, path: path, account: account)
    } catch .notFound {
      if options.nullOK {
        if options.debug { host.log(.debug, who + ": not enrolled (" + path + "), nullok: ignoring") }
        return .notEnrolledAllowed
      }
      host.log(.notice, who + ": not enrolled: " + path + " does not exist; denied")
      return .denied
    } catch {
      host.log(.error, who + ": secret file " + path + " " + error.description + "; denied")
      return .denied
    }
    defer { enrollment.wipe() }

    guard var typed = host.prompt(prompt, echo: false) else {
      host.log(.error, who + ": conversation failed")
      return .conversationFailed
    }
    defer { typed.wipe() }
    var code: [UInt8]
    do throws(CodeInputError) {
      code = try CodeInput.digits(typed)
    } catch {
      host.log(.notice, who + ": failed: the answer is not a code; denied")
      return .denied
    }
    defer { code.wipe() }

    let matches = TOTPVerifier.matches(
      code: code, enrollment: enrollment, time: host.now(), window: options.window)
    if matches.isEmpty {
      host.log(.notice, who + ": failed: wrong code; denied")
      return .denied
    }
    for match in matches {
      let name = enrollment.authenticators[match.authenticator].name
      let fresh: Bool
      do throws(FileError) {
        fresh = try store.acceptStep(user: account.name, authenticator: name, step: match.step)
      } catch {
        host.log(.error, who + ": cannot record the accepted code in state " + error.description + "; denied")
        return .denied
      }
      if fresh {
        host.log(.info, who + ": accepted totp code (authenticator " + name.text + ")")
        return .accepted
      }
    }
    host.log(.warning, who + ": replay: a code that was already used was refused; denied")
    return .denied
  }

  static func loadEnrollment<Host: LoginHost>(host: Host, path: String, account: UserAccount)
    throws(FileError) -> Enrollment
  {
    var contents = try host.readSecretFile(path, as: account)
    defer { contents.wipe() }
    do throws(FormatError) {
      return try SecretFileFormat.parse(contents)
    } catch {
      throw .malformed(error)
    }
  }
}
