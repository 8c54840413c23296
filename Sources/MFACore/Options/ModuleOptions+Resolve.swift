/// How settings are read: defaults, then the configuration file, then the stack line's
/// arguments (which win), and the combinations that cannot be made safe.
extension ModuleOptions {
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
    // Servers named on the stack line replace the file's list rather than add to it.
    if arguments.contains(where: { splitOption($0).0 == [UInt8]("ldap_uri") }) { options.directory.uris = [] }
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
      directory.uris.isEmpty
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
}
