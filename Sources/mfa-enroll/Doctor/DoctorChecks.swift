import Glibc
import MFACore

/// The checks themselves, on text the command has read: PAM stacks and `sshd -T` output.
/// Kept apart from the I/O so that each rule is easy to read and to test.
enum DoctorChecks {
  /// Where libpam finds a module given by bare name, or the path the stack spells out.
  static func modulePath(_ rule: PAMRule, moduleDirectory: String) -> String {
    rule.module.hasPrefix("/") ? rule.module : moduleDirectory + "/" + rule.module
  }

  /// pam_mfa's place in one service's auth stack.
  static func stack(_ stack: PAMStack, moduleDirectory: String, requireMFA: Bool) -> [Finding] {
    let rules = stack.mfaRules
    guard !rules.isEmpty else {
      return requireMFA
        ? [
          Finding(
            level: .failure,
            message: UserText(
              "%s/%s does not use pam_mfa, so no code is asked", .verbatim(stack.directory), .verbatim(stack.service)),
            fix: UserText("add after the password lines:  auth required pam_mfa.so"))
        ] : []
    }
    var findings: [Finding] = []
    if rules.count > 1 && !isOnePromptPair(rules) {
      let places = rules.map { UserText("%s line %s", .verbatim($0.file), .verbatim(String($0.line))).string }
      findings.append(
        Finding(
          level: .failure,
          message: .plural(
            "%s: pam_mfa is in the auth stack %d time (%s): the code is asked twice, the second answer is refused as a replay and counts toward the lockout",
            "%s: pam_mfa is in the auth stack %d times (%s): the code is asked twice, the second answer is refused as a replay and counts toward the lockout",
            count: Int64(rules.count), .verbatim(stack.service),
            .verbatim(places.joined(separator: UserText(" and ").string))),
          fix: rules.contains { $0.file.hasSuffix("/common-auth") }
            ? UserText(
              "keep one: either the pam-auth-update profile (pam-auth-update --disable mfa) or the pam_mfa line in %s/%s",
              .verbatim(stack.directory), .verbatim(stack.service))
            : UserText("keep one of the two lines")))
    }
    for rule in rules { findings += line(rule, in: stack, moduleDirectory: moduleDirectory) }
    return findings
  }

  /// One pam_mfa line of a stack: the module file, the control, and what runs before it.
  static func line(_ rule: PAMRule, in stack: PAMStack, moduleDirectory: String) -> [Finding] {
    var findings: [Finding] = []
    // The service first: an included file (common-auth) belongs to every stack that uses it.
    let place = UserText.Value.text(DoctorChecks.place(rule, in: stack))
    let path = modulePath(rule, moduleDirectory: moduleDirectory)
    if access(path, R_OK) == 0 {
      findings.append(Finding(level: .ok, message: UserText("%s: module file %s exists", place, .verbatim(path))))
    } else {
      findings.append(
        Finding(
          level: .failure,
          message: UserText("%s: %s does not exist, so every login through this stack fails", place, .verbatim(path)),
          fix: UserText("install libpam-mfa (or `make install`), or give the module's full path in this line")))
    }
    // The line to write: PAM's syntax, the same in every language.
    let requiredLine = (["auth", "required", rule.module] + rule.arguments).joined(separator: " ")
    switch rule.control {
    case "required", "requisite":
      findings.append(Finding(level: .ok, message: UserText("%s: pam_mfa is %s", place, .verbatim(rule.control))))
    case "sufficient":
      findings.append(
        Finding(
          level: .failure,
          message: UserText("%s: pam_mfa is 'sufficient': a right code alone skips the password", place),
          fix: UserText("change it to:  %s", .verbatim(requiredLine))))
    case "optional":
      findings.append(
        Finding(
          level: .failure, message: UserText("%s: pam_mfa is 'optional': a wrong code still logs in", place),
          fix: UserText("change it to:  %s", .verbatim(requiredLine))))
    default:
      findings.append(
        Finding(
          level: .warning,
          message: UserText(
            "%s: pam_mfa has the control %s; check that a failure cannot be ignored", place, .verbatim(rule.control))))
    }
    if stack.hasPasswordCheck(before: rule) && !stack.wrongPasswordEndsTheStack(before: rule) {
      findings.append(
        Finding(
          level: .failure,
          message: UserText(
            "%s: a wrong password does not end the stack before pam_mfa, so the code is still asked, and its answer tells a guesser without the password whether the code was right",
            place),
          fix: UserText(
            "make the password module requisite, or follow it with  auth requisite pam_deny.so  as Debian's common-auth does"
          )))
    }
    if rule.arguments.contains("nullok") && !stack.hasOtherDecidingAuthModule {
      findings.append(
        Finding(
          level: .failure,
          message: UserText(
            "%s: with nullok and no other auth module, users without a secret file are refused (libpam fails a stack in which every module ignored)",
            place),
          fix: UserText("add after it:  auth required pam_permit.so")))
    }
    return findings
  }

  static let onePromptOptions = ["forward_pass", "use_first_pass", "try_first_pass"]

  /// "sshd: /etc/pam.d/common-auth line 3": the service first, since an included file belongs
  /// to every stack that uses it.
  static func place(_ rule: PAMRule, in stack: PAMStack) -> UserText {
    UserText("%s: %s line %s", .verbatim(stack.service), .verbatim(rule.file), .verbatim(String(rule.line)))
  }

  /// The documented one-prompt stack: a line that asks for password and code, then a plain
  /// line after the password module.
  static func isOnePromptPair(_ rules: [PAMRule]) -> Bool {
    rules.count == 2 && rules[0].arguments.contains(where: onePromptOptions.contains)
      && !rules[1].arguments.contains(where: onePromptOptions.contains)
  }

  /// Each pam_mfa line as the module reads it (with the configuration file): a line it refuses,
  /// and enroll=login where the application would never save the enrollment.
  static func lineOptions(_ stack: PAMStack, resolve: (PAMRule) throws(OptionError) -> ModuleOptions) -> [Finding] {
    var findings: [Finding] = []
    for rule in stack.mfaRules {
      let place = UserText.Value.text(DoctorChecks.place(rule, in: stack))
      let options: ModuleOptions
      do throws(OptionError) {
        options = try resolve(rule)
      } catch {
        findings.append(
          Finding(
            level: .failure,
            message: UserText(
              "%s: pam_mfa refuses every login through this line: %s", place, .verbatim(error.description)),
            fix: UserText("correct the line or %s", .verbatim(ModuleOptions.defaultConfigPath))))
        continue
      }
      if options.isOnePrompt && !hasCountingLine(after: rule, in: stack) {
        findings.append(
          Finding(
            level: .failure,
            message: UserText(
              "%s: one prompt for password and code, but no pam_mfa line after a requisite password module: wrong codes are not counted, so there is no lockout",
              place),
            fix: UserText("add after the password line (made requisite):  auth required pam_mfa.so")))
      }
      let saves = stack.rules.contains { $0.type == "account" && $0.isPAMMFA }
      if options.enrollAtLogin && !saves {
        // sshd's keyboard-interactive child calls only pam_acct_mgmt; login, su and sudo call pam_setcred too.
        findings.append(
          Finding(
            level: stack.service == "sshd" ? .failure : .warning,
            message: stack.service == "sshd"
              ? UserText(
                "%s: enroll=login, but no 'account required pam_mfa.so' line: an enrollment made at login is saved only through it (sshd calls pam_setcred in another process), so it is never saved",
                place)
              : UserText(
                "%s: enroll=login, but no 'account required pam_mfa.so' line: an enrollment made at login is saved only through it",
                place),
            fix: UserText("add after the other account lines:  account required pam_mfa.so")))
      }
    }
    return findings
  }

  /// A pam_mfa line in common-auth also serves screen lockers, which run as the user: there the
  /// helper checks the code with pam_mfa.conf only, and any other argument refuses every login.
  static func unprivilegedLines(_ stack: PAMStack) -> [Finding] {
    stack.mfaRules.compactMap { rule in
      let foreign = rule.arguments.filter { argument in
        !UnprivilegedLogin.passedArguments.contains(Array((argument.split(separator: "=").first ?? "").utf8))
      }
      guard !foreign.isEmpty else { return nil }
      let arguments = UserText.Value.verbatim(foreign.joined(separator: " "))
      return Finding(
        level: .warning,
        message: UserText(
          "%s: %s on this line: applications that do not run as root (screen lockers) refuse every login through it",
          .text(DoctorChecks.place(rule, in: stack)), arguments),
        fix: UserText(
          "move %s to %s; keep only nullok on the line", arguments, .verbatim(ModuleOptions.defaultConfigPath)))
    }
  }

  /// mfa_chkcode must be root's and setuid, and writable by no one else.
  static func helper(path: String, owner: UInt32?, mode: UInt32) -> Finding {
    guard let owner else {
      return Finding(
        level: .warning,
        message: UserText(
          "helper %s does not exist: applications that do not run as root (screen lockers) cannot check codes",
          .verbatim(path)),
        fix: UserText("reinstall libpam-mfa (or run  make install)"))
    }
    guard owner == 0, mode & 0o7777 == 0o4755 else {
      // Commands to type: the same in every language.
      let commands = "chown root:root " + path + "; chmod 4755 " + path
      return Finding(
        level: .failure,
        message: UserText(
          "helper %s is owned by uid %s with mode %s; it must be root's with mode 4755", .verbatim(path),
          .verbatim(String(owner)), .verbatim(String(mode & 0o7777, radix: 8))),
        fix: UserText.verbatim(commands))
    }
    return Finding(level: .ok, message: UserText("helper %s: root's, mode 4755", .verbatim(path)))
  }

  /// A plain pam_mfa line after `rule`, reached only when a password module before it succeeded.
  static func hasCountingLine(after rule: PAMRule, in stack: PAMStack) -> Bool {
    let later = stack.mfaRules.drop { $0.file != rule.file || $0.line != rule.line }.dropFirst()
    return later.contains { next in
      !next.arguments.contains(where: onePromptOptions.contains) && stack.hasPasswordCheck(before: next)
        && stack.wrongPasswordEndsTheStack(before: next)
    }
  }
}
