/// What happened to one attempt.
enum Verdict {
  case accepted(authenticator: Int)
  case acceptedBackupCode(remaining: Int)
  case acceptedSentCode
  case locked(until: Int64)
  /// `lockedFor` > 0 when this failure started a lockout.
  case wrongCode(Attempt)
  case wrongBackupCode(Attempt)
  case notACode(Attempt)
  case replayed(Attempt)

  var isSuccess: Bool {
    switch self {
    case .accepted, .acceptedBackupCode, .acceptedSentCode: return true
    default: return false
    }
  }
}
