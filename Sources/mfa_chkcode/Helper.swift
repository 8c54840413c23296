import CLibc
import MFACore

// mfa_chkcode: checks a one-time code for the user who runs it, with root's rights over the
// state, for pam_mfa.so inside an application that does not run as root (a screen locker).
// Installed setuid root; the model is Linux-PAM's unix_chkpwd. Usage (by pam_mfa.so only):
//   mfa_chkcode USER SERVICE [nullok]   with the conversation on stdin/stdout (HelperProtocol).
// Exit status: 0 accepted, 1 anything else; the verdict itself goes to the module as a frame.
// SwiftPM links an executable's entry point as <product>_main and points main at it.
@c(mfa_chkcode_main)
public func helperMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
  // Who ran us, before anything changes it.
  let caller = getuid()
  let started = mfa_helper_start()
  let startError = mfa_errno()
  mfa_openlog("mfa_chkcode")
  // A whole-run deadline: the caller cannot end a root process, so it must end itself (killed
  // at any point, it has counted the attempt before checking the code).
  alarm(UInt32(HelperFrame.answerTimeoutSeconds) + 120)
  guard started == 0 else {
    return refuse(
      "cannot start (must be installed setuid root, mode 4755): " + SystemError("start", code: startError).description)
  }
  var arguments: [[UInt8]] = []
  if let argv {
    for index in 1..<max(Int(argc), 1) {
      if let argument = argv[index] { arguments.append(HostSystem.bytes(argument)) }
    }
  }
  // A terminal on stdin is a person, not pam_mfa.so; a code never comes in argv.
  guard isatty(0) == 0, let request = HelperRequest(arguments: arguments) else {
    return refuse("inappropriate use by uid " + String(caller) + " (run only by pam_mfa.so); refused")
  }
  let host = HelperHost(channel: HelperChannel(input: FileDescriptor(owning: 0), output: FileDescriptor(owning: 1)))
  let outcome = HelperCheck.run(host: host, request: request, caller: caller)
  if outcome != .accepted && outcome != .notEnrolledAllowed && host.failureDelayRequested {
    usleep(LoginText.failureDelayMicroseconds)
  }
  _ = host.channel.send(HelperFrame(.verdict, [outcome.helperCode]))
  return outcome == .accepted ? 0 : 1
}

/// Logs why and pauses, so that a loop of misuse neither floods syslog nor runs fast.
func refuse(_ message: String) -> Int32 {
  LogText.escaped(message).withCString { mfa_syslog(LogPriority.error.rawValue, $0) }
  usleep(LoginText.failureDelayMicroseconds)
  return 1
}
