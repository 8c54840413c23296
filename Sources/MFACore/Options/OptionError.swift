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
