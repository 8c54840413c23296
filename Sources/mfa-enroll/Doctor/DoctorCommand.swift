import ArgumentParser
import Glibc
import MFACore

/// `mfa-enroll doctor`: checks this host's PAM and sshd setup and says what to change.
struct Doctor: CLICommand {
  static let configuration = CommandConfiguration(
    abstract: UserText("Check this host's setup (PAM stacks, sshd, clock, your secret file) and say what to fix.")
      .string,
    discussion: UserText("Exit status 0 only when no check fails; warnings do not fail.").string)

  @ParentCommand var root: MFAEnroll

  @Option(help: ArgumentHelp(UserText("The PAM configuration directory.").string, valueName: "dir"))
  var pamDir = "/etc/pam.d"

  @Option(help: ArgumentHelp(UserText("Where libpam looks for modules.").string, valueName: "dir"))
  var moduleDir = InstallPaths.moduleDirectory

  @Option(
    help: ArgumentHelp(
      UserText("sshd_config to check with `sshd -T -f` (default: sshd's own).").string, valueName: "path"))
  var sshdConfig: String?

  @Option(help: ArgumentHelp(UserText("The sshd binary.").string, valueName: "path"))
  var sshd: String?

  @OptionGroup var storeOptions: StoreOptions

  func perform() throws(CLIError) {
    let findings = try check()
    for finding in findings {
      // The marker as it is (scripts grep it), the finding in the user's language.
      Terminal.showLine(Array((finding.level.rawValue.padding(5) + " ").utf8) + finding.message.rendered())
      if let fix = finding.fix, finding.level != .ok {
        Terminal.showLine(Array(String(repeating: " ", count: 6).utf8) + UserText("fix: %s", .text(fix)).rendered())
      }
    }
    let failures = findings.filter { $0.level == .failure }.count
    let warnings = findings.filter { $0.level == .warning }.count
    Terminal.showLine([])
    Terminal.show(
      // TRANSLATORS: doctor's last line: "2 problem(s), 1 warning(s)." (the two messages below).
      UserText(
        "%s, %s.", .text(.plural("%d problem(s)", "%d problem(s)", count: Int64(failures))),
        .text(.plural("%d warning(s)", "%d warning(s)", count: Int64(warnings)))))
    if failures > 0 { throw CLIError.silentFailure }
  }

  func check() throws(CLIError) -> [Finding] {
    var findings: [Finding] = []
    // sshd is the reason most hosts have pam_mfa; the others are checked where they use it.
    let sshdStack = PAMStack.load(service: "sshd", directory: pamDir)
    var stacks = sshdStack.map { [$0] } ?? []
    if let sshdStack {
      findings += DoctorChecks.stack(sshdStack, moduleDirectory: moduleDir, requireMFA: true)
    } else {
      findings.append(
        Finding(
          level: .warning, message: UserText("%s/sshd does not exist (no sshd PAM stack)", .verbatim(pamDir)),
          fix: UserText("install openssh-server; then add pam_mfa to %s/sshd", .verbatim(pamDir))))
    }
    for service in ["sudo", "login", "su"] {
      if let stack = PAMStack.load(service: service, directory: pamDir) {
        findings += DoctorChecks.stack(stack, moduleDirectory: moduleDir, requireMFA: false)
        stacks.append(stack)
      }
    }
    // common-auth also serves screen lockers, which run as the user (mfa_chkcode(8)).
    if let common = PAMStack.load(service: "common-auth", directory: pamDir) {
      findings += DoctorChecks.unprivilegedLines(common)
      stacks.append(common)
    }
    for stack in stacks {
      findings += DoctorChecks.lineOptions(stack) { (rule) throws(OptionError) -> ModuleOptions in
        try ModuleOptions.resolve(arguments: rule.arguments.map { Array($0.utf8) }, readConfig: readConfigFile)
      }
    }
    if stacks.contains(where: { !$0.mfaRules.isEmpty }) { findings.append(checkHelper()) }
    findings += checkSSHD(stack: sshdStack)
    findings.append(
      DoctorChecks.clock(
        timedatectl: runProgram(["timedatectl", "show", "-p", "NTPSynchronized"]),
        chronyc: runProgram(["chronyc", "tracking"])))
    // Unenrolled root still logs in where every pam_mfa line has nullok.
    findings += checkDirectory()
    let nullokEverywhere = stacks.flatMap(\.mfaRules).allSatisfy { $0.arguments.contains("nullok") }
    findings.append(try checkSecretFile(rootMayBeUnenrolled: nullokEverywhere))
    findings += checkClockOffsets()
    return findings
  }

  /// With store=ldap: every server of ldap_uri on its own, since a standby that cannot be
  /// reached is only noticed when the provider fails. Root's: only root has the credentials.
  func checkDirectory() -> [Finding] {
    guard let options = try? Target.resolve(root.global).options, options.store == .ldap else { return [] }
    guard geteuid() == 0 else {
      return [
        Finding(
          level: .warning,
          message: UserText("directory: only root can reach it (the host's key or password is root's)"),
          fix: UserText("run  sudo mfa-enroll doctor"))
      ]
    }
    let servers = DirectoryServers(settings: options.directory, stateDirectory: options.stateDirectory)
    let results = servers.probe()
    var findings: [Finding] = []
    for (index, result) in results.enumerated() {
      let role =
        results.count == 1
        ? UserText("the directory")
        : index == 0 ? UserText("the first server") : UserText("server %s", .verbatim(String(index + 1)))
      let uri = UserText.Value.verbatim(result.uri)
      if let problem = result.problem {
        let none = !results.contains { $0.problem == nil }
        findings.append(
          Finding(
            level: none ? .failure : .warning,
            message: none
              ? UserText(
                "directory: %s %s cannot be used: %s; every login that needs the directory is denied", .text(role), uri,
                .verbatim(problem))
              : UserText("directory: %s %s cannot be used: %s", .text(role), uri, .verbatim(problem)),
            fix: UserText("check the server, the network and ldap_ca/ldap_cert/ldap_key (pam_mfa-ldap(5))")))
      } else {
        findings.append(
          Finding(level: .ok, message: UserText("directory: %s %s answers and shows ldap_base", .text(role), uri)))
      }
    }
    if let uri = servers.remembered(now: Int64(time(nil))) {
      findings.append(
        Finding(
          level: .warning,
          message: UserText(
            "directory: this host goes to %s first, for at most ldap_failback=%s s, because an earlier server did not answer",
            .verbatim(uri), .verbatim(String(options.directory.failback)))))
    }
    return findings
  }

  /// The helper the module runs for screen lockers: pam_mfa.conf's helper=, or the one beside
  /// the module.
  func checkHelper() -> Finding {
    let configured = (try? ModuleOptions.resolve(arguments: [], readConfig: readConfigFile))?.helperPath
    let path = configured.flatMap { $0 == InstallPaths.helper ? nil : $0 } ?? moduleDir + "/" + InstallPaths.helperName
    var status = stat()
    guard lstat(path, &status) == 0 else { return DoctorChecks.helper(path: path, owner: nil, mode: 0) }
    return DoctorChecks.helper(path: path, owner: status.st_uid, mode: status.st_mode)
  }

  func checkSSHD(stack: PAMStack?) -> [Finding] {
    guard let binary = sshd ?? findExecutable(["/usr/sbin/sshd", "/usr/local/sbin/sshd"]), access(binary, X_OK) == 0
    else {
      return [
        Finding(
          level: .warning, message: UserText("sshd: not installed here; skipped its checks"),
          fix: UserText("install openssh-server, or name the binary with --sshd PATH"))
      ]
    }
    // sshd -T reads the host keys, which only root may: say so instead of blaming sshd_config.
    guard geteuid() == 0 else {
      return [
        Finding(
          level: .warning,
          message: UserText("sshd: its settings can only be checked by root (sshd -T reads the host keys)"),
          fix: UserText("run  sudo mfa-enroll doctor  (or ask your administrator)"))
      ]
    }
    var arguments = [binary, "-T"]
    if let sshdConfig { arguments += ["-f", sshdConfig] }
    guard let result = runProgram(arguments), result.status == 0 else {
      return [sshdRejects(binary: binary)]
    }
    return DoctorChecks.sshd(DoctorChecks.sshdSettings(result.output), stack: stack)
  }

  /// What `sshd -t` says about the configuration, with the file and line it names.
  func sshdRejects(binary: String) -> Finding {
    var arguments = [binary, "-t"]
    if let sshdConfig { arguments += ["-f", sshdConfig] }
    // sshd ends lines with \r\n, which Swift counts as one Character: split on any newline.
    let lines = (runProgram(arguments)?.output ?? "").split(whereSeparator: \.isNewline).map(String.init)
    let said = lines.isEmpty ? UserText("it gave no reason") : UserText.verbatim(lines.joined(separator: "; "))
    let place = lines.lazy.compactMap(DoctorChecks.sshdConfigPlace).first
    return Finding(
      level: .failure,
      message: UserText(
        "sshd: `%s` refuses the configuration: %s", .verbatim(arguments.joined(separator: " ")), .text(said)),
      fix: place.map {
        UserText(
          "fix line %s of %s; then  sshd -t  must be silent before  systemctl reload ssh", .verbatim(String($0.line)),
          .verbatim($0.file))
      } ?? UserText("change the setting sshd names above; then  sshd -t  must be silent before  systemctl reload ssh"))
  }

  func checkSecretFile(rootMayBeUnenrolled: Bool) throws(CLIError) -> Finding {
    let target = try Target.resolve(root.global)
    let store: any CredentialStore
    do throws(CLIError) {
      store = try target.secretStore(override: storeOptions.secretFile)
    } catch {
      // The directory down (or only root's): a finding like the others, not the end of the report.
      return Finding(
        level: .failure,
        message: UserText("enrollment of %s: %s", .verbatim(target.account.name), .text(error.message ?? .verbatim("")))
      )
    }
    do throws(FileError) {
      let enrollment = try store.readEnrollment()
      return Finding(
        level: .ok,
        message: UserText(
          "secret file %s: private, %s, %s", .verbatim(store.location.place),
          .text(.plural("%d authenticator(s)", "%d authenticator(s)", count: Int64(enrollment.authenticators.count))),
          .text(.plural("%d backup code(s)", "%d backup code(s)", count: Int64(enrollment.backupCodes.count)))))
    } catch .notFound {
      // Root often logs in without a code on purpose (nullok): then it is no warning.
      if target.account.uid == 0 && rootMayBeUnenrolled {
        return Finding(
          level: .ok,
          message: UserText(
            "secret file %s does not exist: root is not enrolled (nullok lets root in)", .verbatim(store.location.place)
          ))
      }
      return Finding(
        level: .warning,
        message: UserText(
          "secret file %s does not exist: %s is not enrolled", .verbatim(store.location.place),
          .verbatim(target.account.name)),
        fix: UserText("run  mfa-enroll"))
    } catch {
      // Commands to type: the same in every language.
      let commands = "chmod 600 " + store.location.place + "; chown " + target.account.name + " " + store.location.place
      return Finding(
        level: .failure,
        message: UserText(
          "secret file %s %s; pam_mfa refuses it", .verbatim(store.location.place), .verbatim(error.description)),
        fix: UserText.verbatim(commands))
    }
  }
}

extension Doctor {
  /// As root: an authenticator whose codes arrive minutes off (learned by the module) works,
  /// but its clock, or this host's, is wrong.
  func checkClockOffsets() -> [Finding] {
    guard geteuid() == 0, let target = try? Target.resolve(root.global),
      let store = try? target.secretStore(override: storeOptions.secretFile),
      var enrollment = try? store.readEnrollment(), let state = try? store.readState()
    else { return [] }
    defer { enrollment.wipe() }
    return ClockOffsets.learned(state.drift, enrollment: enrollment).filter { $0.seconds >= ClockOffsets.largeSeconds }
      .map {
        Finding(
          level: .warning,
          message: UserText(
            "clock of %s's authenticator %s is %s off this host's (the module learned it)",
            .verbatim(target.account.name), .verbatim($0.name),
            .text(ClockOffsets.describe($0.offset, period: $0.period))),
          fix: UserText("set the device's time automatically; if every user's is off, fix this host's clock"))
      }
  }
}

extension String {
  /// Left-aligned in `width` columns, always followed by at least one space.
  func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(1, width - count)) }
}

extension CLIError {
  /// Exit status 1 with nothing more to say (the report above said it).
  static let silentFailure = CLIError.silent
}
