/// A setting the module cannot use. Every login through the stack is refused (PAM_SERVICE_ERR).
public enum OptionError: Error {
  case unknownOption(String)
  case invalidValue(option: String, reason: String)
  /// The configuration file is missing (when named explicitly), unsafe or unreadable.
  case configFile(path: String, FileError)
  /// A line of the configuration file is wrong.
  case configLine(path: String, line: Int, reason: String)

  public var description: String {
    switch self {
    case .unknownOption(let name): return "unknown option '" + name + "'"
    case .invalidValue(let option, let reason): return "invalid value for " + option + ": " + reason
    case .configFile(let path, let error): return path + " " + error.description
    case .configLine(let path, let line, let reason):
      return path + " line " + String(line) + ": " + reason
    }
  }
}

/// The admin's settings: defaults here, then `/etc/security/pam_mfa.conf`, then the module
/// arguments (which win). Nothing in a user's file can change them.
public struct ModuleOptions {
  public static let defaultConfigPath = "/etc/security/pam_mfa.conf"

  /// Where the user's secret file is; `${USER}`, `${HOME}` and `~` are expanded.
  public var secretPath = "~/.config/pam_mfa/secret"
  /// Let users without a secret file through (PAM_IGNORE) instead of denying them.
  public var nullOK = false
  /// Time steps accepted on each side of the current one.
  public var window = 1
  /// Root-owned directory for per-user state (replay, failures, lockout).
  public var stateDirectory = "/var/lib/pam_mfa/state"
  /// Log the effective settings and each decision (never secrets or codes).
  public var debug = false
  /// Failures within `failInterval` that lock the user out.
  public var deny = 3
  /// Seconds in which `deny` failures must fall to count together.
  public var failInterval: Int64 = 15 * 60
  /// Seconds of the first lockout; each further one in a row doubles, up to `maxUnlockTime`.
  public var unlockTime: Int64 = 5 * 60
  /// Only members of this group must use a code; others pass as with `nullok`.
  public var requireGroup: [UInt8]?
  /// Members of this group pass without a code (break-glass accounts).
  public var exemptGroup: [UInt8]?
  /// `enroll=login`: walk a user without an enrollment through it inside the login.
  public var enrollAtLogin = false
  /// After the end of this day (UTC, seconds since the epoch of the next midnight), a user
  /// without an enrollment is refused instead of being offered enrollment.
  public var enrollDeadline: Int64?
  /// Whom to contact, in messages to users who are refused for policy reasons.
  public var contact = "your system administrator"
  /// HOTP: how many counters are tried, starting at the expected one (a token pressed without
  /// logging in resynchronises within this many presses).
  public var hotpWindow = 10
  /// Seconds a remote host stays remembered after a successful code; 0: never remembered.
  public var remember: Int64 = 0
  /// The program that sends codes by e-mail or text message (user, method, address and the
  /// message on its standard input); nil: no delivery.
  public var deliverProgram: String?
  /// How long a sent code is valid.
  public var deliverTTL: Int64 = 5 * 60
  /// At most this many codes are sent to one user per `deliverInterval`.
  public var deliverLimit = 3
  public var deliverInterval: Int64 = 15 * 60
  /// E-mail domains and phone-number prefixes that addresses in a user-written secret file may
  /// have (lower-case domains; "+" and digits); empty: none (DeliveryPolicy).
  public var deliverDomains: [[UInt8]] = []
  public var deliverNumbers: [[UInt8]] = []

  /// forward_pass: ask for password and code in one prompt, and hand the password on to the
  /// next module as PAM_AUTHTOK.
  public var forwardPass = false
  /// use_first_pass / try_first_pass: take password+code from PAM_AUTHTOK (set by the
  /// application or an earlier module); `use` fails without it, `try` falls back to asking.
  public var firstPass: FirstPass = .none
  /// One prompt for password and code: this line runs before the password is checked.
  public var isOnePrompt: Bool { forwardPass || firstPass != .none }
  /// The stack line's own arguments, as given (an enrollment at login keeps them for later).
  public var arguments: [[UInt8]] = []

  public enum FirstPass {
    case none
    case use
    case `try`
  }

  /// Where enrollments and the shared login state live: the files (secret file + `state_dir`)
  /// or an LDAP directory the whole fleet shares (`store=ldap`, settings below).
  public var store: StoreKind = .files
  public var directory = DirectorySettings()

  public enum StoreKind {
    case files
    case ldap
  }

  /// The program that checks codes when the application does not run as root (mfa_chkcode(8)).
  public var helperPath = InstallPaths.helper
  /// Set by mfa_chkcode, never by an option: the caller is an unprivileged user, so nothing
  /// that needs root's judgement starts (enrollment at login, sending a code).
  public var callerIsUnprivileged = false

  /// The configuration file that was read (for `debug`).
  public var configPath = ModuleOptions.defaultConfigPath

  /// Every setting the module accepts (module arguments; all but `conf` also in the file).
  /// `apply` refuses anything else, and a test holds this list and pam_mfa(8) to each other.
  public static let names: [[UInt8]] = [
    "secret", "nullok", "window", "deny", "fail_interval", "unlock_time", "state_dir", "conf", "debug",
    "require_group", "exempt_group", "enroll", "enroll_deadline", "contact", "remember", "hotp_window",
    "forward_pass", "use_first_pass", "try_first_pass", "deliver", "deliver_ttl", "deliver_limit",
    "deliver_interval", "deliver_domains", "deliver_numbers", "store", "store_plugin", "ldap_uri", "ldap_base",
    "ldap_ca", "ldap_cert", "ldap_key",
    "ldap_bind_dn", "ldap_password_file", "ldap_timeout", "helper",
  ].map { Array($0.utf8) }

  public static let rememberRange: ClosedRange<Int64> = 60...(90 * 86_400)

  public static let failIntervalRange: ClosedRange<Int64> = 1...(7 * 86_400)
  public static let unlockTimeRange: ClosedRange<Int64> = 1...86_400
  public static let maxUnlockTime: Int64 = 86_400

  public init() {}

  /// Module arguments only (no configuration file): for tests and the CLI's defaults.
  public static func parse(_ arguments: [[UInt8]]) throws(OptionError) -> ModuleOptions {
    var options = ModuleOptions()
    for argument in arguments { try options.apply(argument, fromArguments: true) }
    options.arguments = arguments
    try options.checkStore()
    try options.checkCombinations()
    return options
  }

  /// The full precedence: defaults, then the configuration file (`conf=` or the default path,
  /// which may be missing), then the arguments. `readConfig` returns nil for a missing file.
  public static func resolve(
    arguments: [[UInt8]], readConfig: (String) throws(FileError) -> [UInt8]?
  ) throws(OptionError) -> ModuleOptions {
    var options = ModuleOptions()
    var explicit = false
    for argument in arguments {
      let (name, value) = splitOption(argument)
      if name == [UInt8]("conf") {
        options.configPath = try path(name, value)
        explicit = true
      }
    }
    let contents: [UInt8]?
    do throws(FileError) {
      contents = try readConfig(options.configPath)
    } catch {
      throw .configFile(path: options.configPath, error)
    }
    if let contents {
      try options.applyConfig(contents)
    } else if explicit {
      // Only the default configuration file may be missing.
      throw .configFile(path: options.configPath, .notFound)
    }
    for argument in arguments { try options.apply(argument, fromArguments: true) }
    options.arguments = arguments
    try options.checkStore()
    try options.checkCombinations()
    return options
  }

  /// Options that cannot be made safe together.
  func checkCombinations() throws(OptionError) {
    // One prompt means our line runs before the password is checked: a stranger could enroll.
    if enrollAtLogin && isOnePrompt {
      throw .invalidValue(
        option: "enroll",
        reason: "enroll=login cannot be combined with forward_pass, use_first_pass or try_first_pass "
          + "(the enrollment would be offered before any password is checked)")
    }
  }

  /// `store=ldap` needs a server, a base, a CA and one way to authenticate.
  func checkStore() throws(OptionError) {
    guard store == .ldap else { return }
    let missing: String? =
      directory.uri == nil
      ? "ldap_uri" : directory.base == nil ? "ldap_base" : directory.caFile == nil ? "ldap_ca" : nil
    if let missing { throw .invalidValue(option: "store", reason: "store=ldap needs " + missing) }
    if (directory.certFile == nil) != (directory.keyFile == nil) {
      throw .invalidValue(option: "store", reason: "ldap_cert and ldap_key go together")
    }
    if directory.certFile == nil && (directory.bindDN == nil || directory.passwordFile == nil) {
      throw .invalidValue(
        option: "store", reason: "store=ldap needs ldap_cert and ldap_key, or ldap_bind_dn and ldap_password_file")
    }
  }

  /// `key=value` or `key` lines, `#` comments; the same names as the module arguments.
  mutating func applyConfig(_ contents: [UInt8]) throws(OptionError) {
    var lineNumber = 0
    for raw in SecretFileFormat.lines(contents) {
      lineNumber += 1
      let line = raw.trimmed()
      if line.isEmpty || line[0] == ASCII.hash { continue }
      // "key = value" is accepted as well as "key=value".
      var argument: [UInt8] = []
      if let equals = line.firstIndex(of: ASCII.equals) {
        argument = Array(line[0..<equals]).trimmed() + [ASCII.equals] + Array(line[(equals + 1)...]).trimmed()
      } else {
        argument = line
      }
      do throws(OptionError) {
        try apply(argument, fromArguments: false)
      } catch {
        throw .configLine(path: configPath, line: lineNumber, reason: error.description)
      }
    }
  }

  mutating func apply(_ argument: [UInt8], fromArguments: Bool) throws(OptionError) {
    let (name, value) = ModuleOptions.splitOption(argument)
    guard ModuleOptions.names.contains(name) else { throw .unknownOption(name.text) }
    // Byte comparisons: String == needs Unicode tables in Embedded Swift.
    if name == [UInt8]("nullok") {
      try ModuleOptions.noValue(name, value)
      nullOK = true
    } else if name == [UInt8]("debug") {
      try ModuleOptions.noValue(name, value)
      debug = true
    } else if name == [UInt8]("secret") {
      secretPath = try ModuleOptions.path(name, value)
    } else if name == [UInt8]("state_dir") {
      stateDirectory = try ModuleOptions.path(name, value)
      guard value?.first == ASCII.slash else {
        throw .invalidValue(option: name.text, reason: "must be an absolute path")
      }
    } else if name == [UInt8]("window") {
      window = Int(try ModuleOptions.number(name, value, range: 0...10))
    } else if name == [UInt8]("deny") {
      deny = Int(try ModuleOptions.number(name, value, range: 1...100))
    } else if name == [UInt8]("fail_interval") {
      failInterval = try ModuleOptions.duration(name, value, range: ModuleOptions.failIntervalRange)
    } else if name == [UInt8]("unlock_time") {
      unlockTime = try ModuleOptions.duration(name, value, range: ModuleOptions.unlockTimeRange)
    } else if name == [UInt8]("deliver") {
      deliverProgram = try ModuleOptions.path(name, value)
      guard value?.first == ASCII.slash else {
        throw .invalidValue(option: name.text, reason: "must be an absolute path")
      }
    } else if name == [UInt8]("deliver_ttl") {
      deliverTTL = try ModuleOptions.duration(name, value, range: 60...3600)
    } else if name == [UInt8]("deliver_limit") {
      deliverLimit = Int(try ModuleOptions.number(name, value, range: 1...10))
    } else if name == [UInt8]("deliver_domains") {
      guard let value, let list = DeliveryPolicy.domains(value) else {
        throw .invalidValue(option: name.text, reason: "needs e-mail domains separated by commas, e.g. example.org")
      }
      deliverDomains = list
    } else if name == [UInt8]("deliver_numbers") {
      guard let value, let list = DeliveryPolicy.numberPrefixes(value) else {
        throw .invalidValue(option: name.text, reason: "needs number prefixes separated by commas, e.g. +49,+4415")
      }
      deliverNumbers = list
    } else if name == [UInt8]("deliver_interval") {
      deliverInterval = try ModuleOptions.duration(name, value, range: 60...86_400)
    } else if name == [UInt8]("hotp_window") {
      hotpWindow = Int(try ModuleOptions.number(name, value, range: 1...100))
    } else if name == [UInt8]("forward_pass") {
      try ModuleOptions.noValue(name, value)
      forwardPass = true
    } else if name == [UInt8]("use_first_pass") {
      try ModuleOptions.noValue(name, value)
      firstPass = .use
    } else if name == [UInt8]("try_first_pass") {
      try ModuleOptions.noValue(name, value)
      firstPass = .try
    } else if name == [UInt8]("require_group") {
      requireGroup = try ModuleOptions.groupName(name, value)
    } else if name == [UInt8]("exempt_group") {
      exemptGroup = try ModuleOptions.groupName(name, value)
    } else if name == [UInt8]("enroll") {
      if value == [UInt8]("login") {
        enrollAtLogin = true
      } else if value == [UInt8]("off") {
        enrollAtLogin = false
      } else {
        throw .invalidValue(option: name.text, reason: "must be login or off")
      }
    } else if name == [UInt8]("enroll_deadline") {
      guard let value, let day = CivilDate.parse(value) else {
        throw .invalidValue(option: name.text, reason: "must be a date YYYY-MM-DD")
      }
      enrollDeadline = (day + 1) * 86_400
    } else if name == [UInt8]("contact") {
      guard let value, !value.isEmpty, value.count <= 200, !value.contains(where: { $0 < 0x20 }) else {
        throw .invalidValue(option: name.text, reason: "needs a short text, e.g. the help desk's address")
      }
      contact = value.text
    } else if name == [UInt8]("remember") {
      if value == [UInt8]("0") || value == [UInt8]("off") {
        remember = 0
      } else {
        remember = try ModuleOptions.duration(name, value, range: ModuleOptions.rememberRange)
      }
    } else if name == [UInt8]("store") {
      if value == [UInt8]("files") {
        store = .files
      } else if value == [UInt8]("ldap") {
        store = .ldap
      } else {
        throw .invalidValue(option: name.text, reason: "must be files or ldap")
      }
    } else if name == [UInt8]("helper") {
      helperPath = try ModuleOptions.absolutePath(name, value)
    } else if name == [UInt8]("store_plugin") {
      directory.plugin = try ModuleOptions.absolutePath(name, value)
    } else if name == [UInt8]("ldap_uri") {
      guard let value, value.starts(with: [UInt8]("ldap://")) || value.starts(with: [UInt8]("ldaps://")),
        !value.contains(where: { $0 <= 0x20 || $0 >= 0x7F || $0 == 0x2C })
      else {
        throw .invalidValue(
          option: name.text, reason: "must be one ldap:// (StartTLS) or ldaps:// URI; TLS is required")
      }
      directory.uri = value.text
    } else if name == [UInt8]("ldap_base") || name == [UInt8]("ldap_bind_dn") {
      guard let value, !value.isEmpty, value.count <= 512, !value.contains(where: { $0 < 0x20 }) else {
        throw .invalidValue(option: name.text, reason: "needs a DN such as ou=mfa,dc=example,dc=org")
      }
      if name == [UInt8]("ldap_base") { directory.base = value } else { directory.bindDN = value }
    } else if name == [UInt8]("ldap_ca") {
      directory.caFile = try ModuleOptions.absolutePath(name, value)
    } else if name == [UInt8]("ldap_cert") {
      directory.certFile = try ModuleOptions.absolutePath(name, value)
    } else if name == [UInt8]("ldap_key") {
      directory.keyFile = try ModuleOptions.absolutePath(name, value)
    } else if name == [UInt8]("ldap_password_file") {
      directory.passwordFile = try ModuleOptions.absolutePath(name, value)
    } else if name == [UInt8]("ldap_timeout") {
      directory.timeout = try ModuleOptions.duration(name, value, range: 1...60)
    } else if name == [UInt8]("conf") && fromArguments {
      // Handled by resolve(); naming another file from inside a file is not allowed.
      _ = try ModuleOptions.path(name, value)
    } else {
      throw .unknownOption(name.text)
    }
  }

  /// One line for `debug`: what is in force after the file and the arguments.
  public var summary: String {
    "conf=" + configPath + " secret=" + secretPath + " state_dir=" + stateDirectory + " window="
      + String(window) + " deny=" + String(deny) + " fail_interval=" + String(failInterval)
      + " unlock_time=" + String(unlockTime) + " remember=" + String(remember)
      + (requireGroup.map { " require_group=" + $0.text } ?? "")
      + (exemptGroup.map { " exempt_group=" + $0.text } ?? "")
      + " hotp_window=" + String(hotpWindow) + (forwardPass ? " forward_pass" : "")
      + (firstPass == .use ? " use_first_pass" : firstPass == .try ? " try_first_pass" : "")
      + (enrollAtLogin ? " enroll=login" : "") + (enrollDeadline.map { " enroll_deadline=" + String($0) } ?? "")
      + (nullOK ? " nullok" : "") + (debug ? " debug" : "")
      + (store == .ldap
        ? " store=ldap ldap_uri=" + (directory.uri ?? "") + " ldap_base=" + (directory.base?.text ?? "")
          + " ldap_timeout=" + String(directory.timeout) : "")
  }

  /// How long the `lockouts`-th lockout in a row lasts: `unlockTime` doubled each time, capped.
  public func lockoutDuration(consecutive lockouts: Int) -> Int64 {
    var duration = unlockTime
    var doublings = max(0, lockouts - 1)
    while doublings > 0 && duration < ModuleOptions.maxUnlockTime {
      duration *= 2
      doublings -= 1
    }
    return min(duration, ModuleOptions.maxUnlockTime)
  }

  static func splitOption(_ argument: [UInt8]) -> ([UInt8], [UInt8]?) {
    guard let equals = argument.firstIndex(of: ASCII.equals) else { return (argument, nil) }
    return (Array(argument[0..<equals]), Array(argument[(equals + 1)...]))
  }

  static func groupName(_ name: [UInt8], _ value: [UInt8]?) throws(OptionError) -> [UInt8] {
    guard let value, !value.isEmpty, value.count <= 64,
      !value.contains(where: { $0 <= 0x20 || $0 == ASCII.slash || $0 == 0x3A })
    else {
      throw .invalidValue(option: name.text, reason: "needs a group name")
    }
    return value
  }

  static func absolutePath(_ name: [UInt8], _ value: [UInt8]?) throws(OptionError) -> String {
    guard value?.first == ASCII.slash else {
      throw .invalidValue(option: name.text, reason: "must be an absolute path")
    }
    return try path(name, value)
  }

  static func noValue(_ name: [UInt8], _ value: [UInt8]?) throws(OptionError) {
    if value != nil { throw .invalidValue(option: name.text, reason: "takes no value") }
  }

  static func path(_ name: [UInt8], _ value: [UInt8]?) throws(OptionError) -> String {
    guard let value, !value.isEmpty else { throw .invalidValue(option: name.text, reason: "needs a path") }
    return value.text
  }

  static func number(_ name: [UInt8], _ value: [UInt8]?, range: ClosedRange<Int64>) throws(OptionError) -> Int64 {
    guard let value, let number = parseDecimal(value), range.contains(number) else {
      throw .invalidValue(
        option: name.text,
        reason: "must be a number from " + String(range.lowerBound) + " to " + String(range.upperBound))
    }
    return number
  }

  /// Seconds, or a number with s, m, h or d ("90", "15m", "1d").
  static func duration(_ name: [UInt8], _ value: [UInt8]?, range: ClosedRange<Int64>) throws(OptionError) -> Int64 {
    guard var digits = value, let unit = digits.last else {
      throw .invalidValue(option: name.text, reason: "needs a duration such as 300, 5m or 1h")
    }
    var multiplier: Int64 = 1
    if !ASCII.isDigit(unit) {
      digits.removeLast()
      switch unit {
      case 0x73: multiplier = 1  // s
      case 0x6D: multiplier = 60  // m
      case 0x68: multiplier = 3600  // h
      case 0x64: multiplier = 86_400  // d
      default: throw .invalidValue(option: name.text, reason: "unit must be s, m, h or d")
      }
    }
    guard let number = parseDecimal(digits), number <= range.upperBound,
      range.contains(number * multiplier)
    else {
      throw .invalidValue(
        option: name.text,
        reason: "must be from " + String(range.lowerBound) + " to " + String(range.upperBound) + " seconds")
    }
    return number * multiplier
  }
}
