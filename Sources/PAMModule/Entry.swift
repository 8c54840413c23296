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
  guard let user = bridge.userName() else { return PAMResult.code(for: .unknownUser) }
  let context = LoginContext(
    user: user, service: bridge.stringItem(PAM_SERVICE), remoteHost: bridge.stringItem(PAM_RHOST))
  let outcome = LoginFlow.run(host: bridge, arguments: PAMBridge.arguments(argc, argv), context: context)
  return PAMResult.code(for: outcome)
}

@c(pam_sm_setcred)
public func pamSetCredentials(
  _ handle: OpaquePointer?, _ flags: Int32, _ argc: Int32,
  _ argv: UnsafeMutablePointer<UnsafePointer<CChar>?>?
) -> Int32 {
  // A one-time code grants no credentials; success keeps `auth required` stacks working.
  PAM_SUCCESS
}
