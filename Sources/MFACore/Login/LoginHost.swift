/// syslog priorities the module uses (values of <syslog.h>).
public enum LogPriority: Int32 {
  case error = 3
  case warning = 4
  case notice = 5
  case info = 6
  case debug = 7
}

/// Everything the login check needs from its surroundings. The PAM bridge implements it with
/// the conversation function, getpwnam and pam_syslog; tests implement it with fakes.
public protocol LoginHost: PrivilegeSwitch {
  func lookupUser(_ name: [UInt8]) -> UserAccount?
  /// The admin's configuration file; nil when it does not exist.
  func readConfigFile(_ path: String) throws(FileError) -> [UInt8]?
  /// Asks a question, in the application's language; nil when the conversation failed.
  func prompt(_ text: UserText, echo: Bool) -> [UInt8]?
  /// PAM_AUTHTOK: a password an earlier module or the application has set (nil when none).
  func authToken() -> [UInt8]?
  /// Sets PAM_AUTHTOK for the modules after this one; false when libpam refused.
  func setAuthToken(_ token: [UInt8]) -> Bool
  /// Shows a line to the user (an error or an information), in the application's language.
  func tell(_ text: UserText, isError: Bool)
  /// The QR code of `text`; nil when unavailable.
  func qrCode(_ text: String) -> QRMatrix?
  /// This machine's name, for the issuer and label of an enrollment made at login.
  func hostName() -> [UInt8]
  /// Whether the user belongs to the group (primary or supplementary); nil: no such group.
  func isMember(_ account: UserAccount, ofGroup group: [UInt8]) -> Bool?
  /// Asks the application to pause after a failure (pam_fail_delay).
  func requestFailureDelay()
  /// Seconds since the epoch.
  func now() -> Int64
  /// One audit line; the bridge adds module, service and facility.
  func log(_ priority: LogPriority, _ message: String)
  /// Keeps `bytes` in the PAM handle for a later call (pam_set_data); false when libpam refused.
  func keep(_ bytes: [UInt8], in slot: HandleSlot) -> Bool
  /// What `keep` left in this handle (forgotten once taken); nil when nothing.
  func take(_ slot: HandleSlot) -> [UInt8]?
}

/// What one pam_mfa call leaves in the PAM handle for a later one.
public enum HandleSlot {
  /// enroll=login: the new enrollment, until the application reports the stack succeeded.
  case enrollment
  /// A one-prompt line: how the code typed with the password fared, for the line after the
  /// password module, which counts a failure only then.
  case firstAnswer

  public var name: String {
    switch self {
    case .enrollment: return "pam_mfa_pending_enrollment"
    case .firstAnswer: return "pam_mfa_first_answer"
    }
  }
}
