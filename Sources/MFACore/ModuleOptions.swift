/// A module argument the module cannot use. The login is refused (PAM_SERVICE_ERR).
public enum OptionError: Error {
  case unknownOption(String)
  case invalidValue(option: String, reason: String)

  public var description: String {
    switch self {
    case .unknownOption(let name): return "unknown option '" + name + "'"
    case .invalidValue(let option, let reason): return "invalid value for " + option + ": " + reason
    }
  }
}

/// The admin's settings, from the module arguments in the PAM stack. Defaults live here only.
public struct ModuleOptions {
  /// Where the user's secret file is; `${USER}`, `${HOME}` and `~` are expanded.
  public var secretPath = "~/.config/pam_mfa/secret"
  /// Let users without a secret file through (PAM_IGNORE) instead of denying them.
  public var nullOK = false
  /// Time steps accepted on each side of the current one.
  public var window = 1
  /// Root-owned directory for per-user replay state.
  public var stateDirectory = "/var/lib/pam_mfa/state"
  /// Log the effective settings and each decision (never secrets or codes).
  public var debug = false

  public static let windowRange = 0...10

  public init() {}

  public static func parse(_ arguments: [[UInt8]]) throws(OptionError) -> ModuleOptions {
    var options = ModuleOptions()
    for argument in arguments {
      let (name, value) = splitOption(argument)
      // Byte comparisons: String == needs Unicode tables in Embedded Swift.
      if name == [UInt8]("nullok") {
        try noValue(name, value)
        options.nullOK = true
      } else if name == [UInt8]("debug") {
        try noValue(name, value)
        options.debug = true
      } else if name == [UInt8]("secret") {
        options.secretPath = try path(name, value)
      } else if name == [UInt8]("state_dir") {
        options.stateDirectory = try path(name, value)
        guard value?.first == ASCII.slash else {
          throw .invalidValue(option: name.text, reason: "must be an absolute path")
        }
      } else if name == [UInt8]("window") {
        guard let value, let number = parseDecimal(value), windowRange.contains(Int(number)) else {
          throw .invalidValue(option: name.text, reason: "must be a number from 0 to 10")
        }
        options.window = Int(number)
      } else {
        throw .unknownOption(name.text)
      }
    }
    return options
  }

  /// One line for `debug`: what is in force after parsing.
  public var summary: String {
    "secret=" + secretPath + " state_dir=" + stateDirectory + " window=" + String(window)
      + (nullOK ? " nullok" : "") + " debug"
  }

  static func splitOption(_ argument: [UInt8]) -> ([UInt8], [UInt8]?) {
    guard let equals = argument.firstIndex(of: ASCII.equals) else { return (argument, nil) }
    return (Array(argument[0..<equals]), Array(argument[(equals + 1)...]))
  }

  static func noValue(_ name: [UInt8], _ value: [UInt8]?) throws(OptionError) {
    if value != nil { throw .invalidValue(option: name.text, reason: "takes no value") }
  }

  static func path(_ name: [UInt8], _ value: [UInt8]?) throws(OptionError) -> String {
    guard let value, !value.isEmpty else { throw .invalidValue(option: name.text, reason: "needs a path") }
    return value.text
  }
}
