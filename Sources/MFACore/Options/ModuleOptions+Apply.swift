/// One setting, from a stack line or the configuration file (`fromArguments: false`). The
/// settings are grouped by what they decide; each group says whether the name was one of its own.
extension ModuleOptions {
  mutating func apply(_ argument: [UInt8], fromArguments: Bool) throws(OptionError) {
    let (name, value) = ModuleOptions.splitOption(argument)
    guard ModuleOptions.names.contains(name) else { throw .unknownOption(name.text) }
    // Byte comparisons: String == needs Unicode tables in Embedded Swift.
    if name == [UInt8]("conf") {
      // Handled by resolve(); naming another file from inside a file is not allowed.
      guard fromArguments else { throw .unknownOption(name.text) }
      _ = try ModuleOptions.path(name, value)
      return
    }
    if try applyCheck(name, value) { return }
    if try applyPolicy(name, value) { return }
    if try applyDelivery(name, value) { return }
    if try applyDirectory(name, value) { return }
    throw .unknownOption(name.text)
  }

  /// How a code is checked and counted.
  private mutating func applyCheck(_ name: [UInt8], _ value: [UInt8]?) throws(OptionError) -> Bool {
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
    } else if name == [UInt8]("max_drift") {
      maxDrift = Int(try ModuleOptions.number(name, value, range: 0...Int64(ClockDrift.maxBound)))
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
    } else if name == [UInt8]("remember") {
      if value == [UInt8]("0") || value == [UInt8]("off") {
        remember = 0
      } else {
        remember = try ModuleOptions.duration(name, value, range: ModuleOptions.rememberRange)
      }
    } else if name == [UInt8]("helper") {
      helperPath = try ModuleOptions.absolutePath(name, value)
    } else {
      return false
    }
    return true
  }

  /// Who must use a code, and what a user without one is told.
  private mutating func applyPolicy(_ name: [UInt8], _ value: [UInt8]?) throws(OptionError) -> Bool {
    if name == [UInt8]("require_group") {
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
      contact = try ModuleOptions.shownText(name, value, example: "the help desk's address").text
    } else if name == [UInt8]("prompt") || name == [UInt8]("combined_prompt") {
      var text = try ModuleOptions.shownText(name, value, example: "Code from Contoso Authenticator:")
      // The answer starts after a space, also when the file's trimming removed it.
      if text.last != ASCII.space { text.append(ASCII.space) }
      if name == [UInt8]("prompt") { prompt = text.text } else { combinedPrompt = text.text }
    } else {
      return false
    }
    return true
  }

  /// Codes sent by e-mail or text message.
  private mutating func applyDelivery(_ name: [UInt8], _ value: [UInt8]?) throws(OptionError) -> Bool {
    if name == [UInt8]("deliver") {
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
    } else {
      return false
    }
    return true
  }

  /// store=ldap and its directory.
  private mutating func applyDirectory(_ name: [UInt8], _ value: [UInt8]?) throws(OptionError) -> Bool {
    if name == [UInt8]("store") {
      if value == [UInt8]("files") {
        store = .files
      } else if value == [UInt8]("ldap") {
        store = .ldap
      } else {
        throw .invalidValue(option: name.text, reason: "must be files or ldap")
      }
    } else if name == [UInt8]("store_plugin") {
      directory.plugin = try ModuleOptions.absolutePath(name, value)
    } else if name == [UInt8]("ldap_uri") {
      // One or more URIs separated by spaces; a repeated ldap_uri adds to the list.
      let uris = (value ?? []).fields(separatedBy: ASCII.space).filter { !$0.isEmpty }
      for uri in uris {
        guard uri.starts(with: [UInt8]("ldap://")) || uri.starts(with: [UInt8]("ldaps://")),
          !uri.contains(where: { $0 < 0x20 || $0 >= 0x7F || $0 == 0x2C })
        else {
          throw .invalidValue(
            option: name.text,
            reason: "must be ldap:// (StartTLS) or ldaps:// URIs separated by spaces; TLS is required")
        }
      }
      guard !uris.isEmpty, directory.uris.count + uris.count <= DirectorySettings.maxServers else {
        throw .invalidValue(
          option: name.text, reason: "needs 1 to " + String(DirectorySettings.maxServers) + " ldap:// or ldaps:// URIs")
      }
      directory.uris += uris.map { $0.text }
    } else if name == [UInt8]("ldap_failback") {
      directory.failback = try ModuleOptions.duration(name, value, range: 0...3600)
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
    } else {
      return false
    }
    return true
  }
}
