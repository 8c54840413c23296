import CLibc
import CPAM
import MFACore

// The module's entry points: turn PAM's arguments into Swift values, run the core, map the
// outcome. Everything else lives in MFACore (logic) and PAMBridge (pointer work).

@c(pam_sm_authenticate)
public func pamAuthenticate(
  _ handle: OpaquePointer?, _ flags: Int32, _ argc: Int32,
  _ argv: UnsafeMutablePointer<UnsafePointer<CChar>?>?
) -> Int32 {
  guard let handle else { return PAMResult.code(for: .configurationError) }
  let bridge = PAMBridge(handle: handle)
  // A retry in the same handle starts over: only this attempt's enrollment may be kept.
  var dropped = bridge.take(.enrollment)
  dropped?.wipe()
  guard let user = bridge.userName() else { return PAMResult.code(for: .unknownUser) }
  let arguments = PAMBridge.arguments(argc, argv)
  // An application running as the user (a screen locker) has mfa_chkcode decide.
  let outcome =
    geteuid() == 0
    ? Login.run(host: bridge, arguments: arguments, context: bridge.context(user))
    : UnprivilegedLogin.run(host: bridge, arguments: arguments, context: bridge.context(user))
  return PAMResult.code(for: outcome)
}

/// Called only after the whole auth stack succeeded (sshd runs it in the same process as the
/// keyboard-interactive authentication): an enrollment made at login is saved here.
@c(pam_sm_acct_mgmt)
public func pamAccountManagement(
  _ handle: OpaquePointer?, _ flags: Int32, _ argc: Int32,
  _ argv: UnsafeMutablePointer<UnsafePointer<CChar>?>?
) -> Int32 {
  guard let handle else { return PAM_SERVICE_ERR }
  let bridge = PAMBridge(handle: handle)
  guard let outcome = finishEnrollment(bridge) else { return PAM_IGNORE }
  return outcome == .accepted ? PAM_SUCCESS : PAM_PERM_DENIED
}

@c(pam_sm_setcred)
public func pamSetCredentials(
  _ handle: OpaquePointer?, _ flags: Int32, _ argc: Int32,
  _ argv: UnsafeMutablePointer<UnsafePointer<CChar>?>?
) -> Int32 {
  // A one-time code grants no credentials; success keeps `auth required` stacks working. Like
  // pam_acct_mgmt, this comes only after the stack succeeded: a kept enrollment is saved.
  guard let handle, UInt32(bitPattern: flags) & UInt32(PAM_ESTABLISH_CRED | PAM_REINITIALIZE_CRED) != 0 else {
    return PAM_SUCCESS
  }
  let bridge = PAMBridge(handle: handle)
  guard let outcome = finishEnrollment(bridge) else { return PAM_SUCCESS }
  return outcome == .accepted ? PAM_SUCCESS : PAM_CRED_ERR
}

/// Saves the enrollment kept by pam_sm_authenticate, if any, for the current PAM_USER.
func finishEnrollment(_ bridge: PAMBridge) -> LoginOutcome? {
  Login.finishEnrollment(host: bridge, context: bridge.context(bridge.stringItem(PAM_USER) ?? []))
}
