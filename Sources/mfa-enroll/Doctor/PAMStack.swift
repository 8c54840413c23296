import Glibc

/// One line of a PAM service file, after `@include` and `-` prefixes are resolved.
struct PAMRule {
  let file: String
  let line: Int
  let type: String
  /// "required", "requisite", "sufficient", "optional" or a bracketed `[...]` expression.
  let control: String
  let module: String
  let arguments: [String]
  let text: String

  var isPAMMFA: Bool { module == "pam_mfa.so" || module.hasSuffix("/pam_mfa.so") }
}

/// A service file as libpam sees it: its own lines with every `@include` expanded in place.
struct PAMStack {
  let service: String
  let directory: String
  let rules: [PAMRule]

  /// Reads `directory/service`; nil when the file does not exist.
  static func load(service: String, directory: String) -> PAMStack? {
    guard let rules = expand(service, directory: directory, depth: 0) else { return nil }
    return PAMStack(service: service, directory: directory, rules: rules)
  }

  static func expand(_ name: String, directory: String, depth: Int) -> [PAMRule]? {
    let path = directory + "/" + name
    guard depth < 8, let text = readTextFile(path) else { return nil }
    var rules: [PAMRule] = []
    for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
      let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
      guard let first = words.first else { continue }
      if first == "@include", words.count >= 2 {
        rules += expand(words[1], directory: directory, depth: depth + 1) ?? []
        continue
      }
      guard words.count >= 3 else { continue }
      let type = first.hasPrefix("-") ? String(first.dropFirst()) : first
      var control = words[1]
      var moduleIndex = 2
      // A bracketed control may contain spaces: [success=1 default=ignore].
      if control.hasPrefix("[") && !control.hasSuffix("]") {
        while moduleIndex < words.count && !words[moduleIndex - 1].hasSuffix("]") {
          control += " " + words[moduleIndex]
          moduleIndex += 1
        }
      }
      guard moduleIndex < words.count else { continue }
      rules.append(
        PAMRule(
          file: path, line: index + 1, type: type, control: control, module: words[moduleIndex],
          arguments: Array(words[(moduleIndex + 1)...]), text: String(raw).trimmingSpaces))
    }
    return rules
  }

  var authRules: [PAMRule] { rules.filter { $0.type == "auth" } }
  var mfaRules: [PAMRule] { authRules.filter(\.isPAMMFA) }

  static let passwordModules = ["pam_unix.so", "pam_sss.so", "pam_ldap.so", "pam_krb5.so", "pam_winbind.so"]

  static func checksPassword(_ rule: PAMRule) -> Bool {
    passwordModules.contains { rule.module.hasSuffix($0) }
  }

  /// An auth module that checks a password (pam_unix and friends) before pam_mfa.
  func hasPasswordCheck(before rule: PAMRule) -> Bool {
    for other in authRules {
      if other.file == rule.file && other.line == rule.line { return false }
      if PAMStack.checksPassword(other) { return true }
    }
    return false
  }

  /// Whether a failing password module before `rule` stops the stack before it: the module is
  /// requisite or dies on failure, or a requisite pam_deny (Debian's common-auth) lies between.
  func wrongPasswordEndsTheStack(before rule: PAMRule) -> Bool {
    var sawPassword = false
    for other in authRules {
      if other.file == rule.file && other.line == rule.line { return false }
      if PAMStack.checksPassword(other) {
        sawPassword = true
        if other.control == "requisite" || other.control.contains("default=die") { return true }
      } else if sawPassword && other.control == "requisite" && other.module.hasSuffix("pam_deny.so") {
        return true
      }
    }
    return false
  }

  /// A password module anywhere in the auth stack.
  var hasPasswordModule: Bool { authRules.contains(where: PAMStack.checksPassword) }

  /// Whether some other auth module would make the stack succeed when pam_mfa returns
  /// PAM_IGNORE (nullok): libpam refuses a stack in which every module ignored.
  var hasOtherDecidingAuthModule: Bool {
    authRules.contains { !$0.isPAMMFA && $0.module.hasSuffix(".so") && !$0.module.hasSuffix("pam_deny.so") }
  }
}

extension PAMStack {
  /// The services in `directory` whose auth stack runs pam_mfa (included files such as
  /// common-auth count through the services that include them): sshd, sudo, su and login
  /// first, then the others by name; backups (`sshd.dpkg-old`, `sudo~`) are not services.
  static func servicesUsingPAMMFA(directory: String = "/etc/pam.d") -> [String] {
    guard let dir = opendir(directory) else { return [] }
    defer { closedir(dir) }
    var services: [String] = []
    while let entry = readdir(dir) {
      // Regular files only: never block on a FIFO someone left there.
      guard entry.pointee.d_type == UInt8(DT_REG) else { continue }
      let name = withUnsafePointer(to: &entry.pointee.d_name) {
        $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
      }
      guard !name.hasPrefix("common-"), !name.contains("."), !name.hasSuffix("~") else { continue }
      if let stack = load(service: name, directory: directory), !stack.mfaRules.isEmpty { services.append(name) }
    }
    let first = ["sshd", "sudo", "su", "login"]
    return first.filter(services.contains) + services.filter { !first.contains($0) }.sorted()
  }
}

func readTextFile(_ path: String) -> String? {
  guard let file = fopen(path, "r") else { return nil }
  defer { fclose(file) }
  var bytes: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 4096)
  while true {
    let count = fread(&buffer, 1, buffer.count, file)
    if count <= 0 { break }
    bytes += buffer[0..<count]
    if bytes.count > 1 << 20 { break }
  }
  return String(decoding: bytes, as: UTF8.self)
}

extension String {
  var trimmingSpaces: String {
    var scalars = Substring(self)
    while let first = scalars.first, first == " " || first == "\t" { scalars = scalars.dropFirst() }
    while let last = scalars.last, last == " " || last == "\t" || last == "\r" { scalars = scalars.dropLast() }
    return String(scalars)
  }
}
