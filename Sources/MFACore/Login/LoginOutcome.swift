/// How one authentication ended. `PAMResult` maps each case to exactly one PAM code.
public enum LoginOutcome: Equatable {
  /// A right, fresh code.
  case accepted
  /// No secret file and `nullok`: this module has no opinion (PAM_IGNORE).
  case notEnrolledAllowed
  /// Any refusal caused by the user, their file or the state (wrong code, replay, bad file, ...).
  case denied
  /// Too many failures: refused without checking the code until the lockout ends.
  case lockedOut
  /// The module settings are wrong; every login through this stack is refused.
  case configurationError
  /// No such user, or a name that cannot be used safely.
  case unknownUser
  /// The application's conversation function failed or was missing.
  case conversationFailed
}
