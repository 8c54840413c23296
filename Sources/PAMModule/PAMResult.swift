import CPAM
import MFACore

/// The one place where an outcome becomes a PAM return code (each has a test through libpam).
enum PAMResult {
  static func code(for outcome: LoginOutcome) -> Int32 {
    switch outcome {
    case .accepted: return PAM_SUCCESS
    case .notEnrolledAllowed: return PAM_IGNORE
    case .denied: return PAM_AUTH_ERR
    // Like pam_faillock: a locked-out user simply fails; the message says when to come back.
    case .lockedOut: return PAM_AUTH_ERR
    case .configurationError: return PAM_SERVICE_ERR
    case .unknownUser: return PAM_USER_UNKNOWN
    case .conversationFailed: return PAM_CONV_ERR
    }
  }
}
