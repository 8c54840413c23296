import CLibc

/// The module's side of a login when the application does not run as root (a screen locker,
/// `su` from a user's session to themselves): the state, the lockout and a root store are out
/// of its reach, so mfa_chkcode — setuid root, the only privileged code for this path — makes
/// the whole decision with Login, and this side only passes the conversation through.
public enum UnprivilegedLogin {
  /// Line arguments that mean the same to the helper, which reads only pam_mfa.conf (and the
  /// caller's `nullok`, passed on). Any other argument would make the line and the helper
  /// disagree about the rules (another secret path could read as "not enrolled"), so it is a
  /// configuration error here.
  public static let passedArguments: [[UInt8]] = ["nullok", "debug", "helper"].map { Array($0.utf8) }

  public static func run<Host: LoginHost>(host: Host, arguments: [[UInt8]], context: LoginContext) -> LoginOutcome {
    // Only root may read a pam_mfa.conf of mode 0600; the helper reads it in any case.
    let readable = { (path: String) throws(FileError) -> [UInt8]? in
      do throws(FileError) {
        return try host.readConfigFile(path)
      } catch .system(let error) where error.code == EACCES {
        return nil
      }
    }
    guard let options = ModuleOptions.resolve(arguments: arguments, host: host, readConfig: readable) else {
      return .configurationError
    }
    let foreign = arguments.filter { !passedArguments.contains(ModuleOptions.splitOption($0).0) }
    if !foreign.isEmpty {
      host.log(
        .error,
        "configuration error: " + foreign.map { ModuleOptions.splitOption($0).0.text }.joined(separator: ", ")
          + " on this stack line: an application that does not run as root has its codes checked by "
          + options.helperPath + ", which reads only " + ModuleOptions.defaultConfigPath
          + " (move the setting there); refusing every login")
      return .configurationError
    }
    let request = HelperRequest(
      user: context.user,
      service: context.service.flatMap { HelperRequest.isServiceName($0) ? $0 : nil } ?? [UInt8]("unknown".utf8),
      nullOK: options.nullOK)
    let process: HelperProcess
    do throws(SystemError) {
      process = try HelperProcess.start(options.helperPath, request.arguments)
    } catch {
      host.log(.error, context.audit + ": cannot run " + options.helperPath + ": " + error.description + "; denied")
      host.tell(UserText("The code cannot be checked here. Contact %s.", LoginText.contact(options)), isError: true)
      return .denied
    }
    let outcome = relay(host: host, channel: process.channel)
    let status = process.finish()
    guard let outcome else {
      host.log(
        .error,
        context.audit + ": " + options.helperPath + " gave no verdict (exit status " + String(status)
          + "; its own syslog lines say why); denied")
      return .denied
    }
    return outcome
  }

  /// Shows the helper's prompts and messages and returns its verdict; nil when it ended
  /// without one.
  static func relay<Host: LoginHost>(host: Host, channel: borrowing HelperChannel) -> LoginOutcome? {
    // The helper ends itself before this (mfa_chkcode's deadline); this only bounds the wait.
    while var frame = channel.receive(timeoutSeconds: HelperFrame.answerTimeoutSeconds + 180) {
      defer { frame.wipe() }
      switch frame.kind {
      case .hiddenPrompt, .shownPrompt:
        // The helper's messages come untranslated: rendered here, in the application's language.
        guard let text = UserText(encoded: frame.payload),
          var answer = host.prompt(text, echo: frame.kind == .shownPrompt)
        else {
          _ = channel.send(HelperFrame(.noAnswer))
          continue
        }
        var reply = HelperFrame(.answer, answer)
        answer.wipe()
        _ = channel.send(reply)
        reply.wipe()
      case .error, .info:
        guard var text = UserText(encoded: frame.payload) else { continue }
        host.tell(text, isError: frame.kind == .error)
        text.wipe()
      case .verdict:
        guard frame.payload.count == 1 else { return nil }
        return LoginOutcome(helperCode: frame.payload[0])
      case .answer, .noAnswer:
        return nil
      }
    }
    return nil
  }
}

/// A running helper: its pid and our end of its socket.
struct HelperProcess: ~Copyable {
  let pid: pid_t
  let channel: HelperChannel

  static func start(_ path: String, _ arguments: [[UInt8]]) throws(SystemError) -> HelperProcess {
    // argv as C strings, freed once the helper runs.
    var argv: [UnsafeMutablePointer<CChar>?] = ([Array(path.utf8)] + arguments).map { bytes in
      (bytes + [0]).withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { $0.baseAddress.flatMap(strdup) } }
    }
    argv.append(nil)
    defer { for pointer in argv { free(pointer) } }
    var socket: Int32 = 0
    let pid = try retrying("start") {
      path.withCString { program in argv.withUnsafeBufferPointer { mfa_spawn_helper(program, $0.baseAddress, &socket) }
      }
    }
    return HelperProcess(pid: pid, channel: HelperChannel(socket: FileDescriptor(owning: socket)))
  }

  /// Closes our end (a helper still waiting for an answer sees the end) and reaps the helper;
  /// its exit status, or -1.
  consuming func finish() -> Int32 {
    let pid = pid
    channel.close()
    return mfa_wait_helper(pid)
  }
}
