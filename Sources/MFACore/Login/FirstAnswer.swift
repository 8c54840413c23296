/// With the one-prompt line's arguments, so the line after the password needs none of its own
/// and counts in the same state.
struct FirstAnswer {
  var user: [UInt8]
  var fate: Fate
  var arguments: [[UInt8]]

  var encoded: [UInt8] { HandleFields.encode([[fate.rawValue], user] + arguments) }

  init(user: [UInt8], fate: Fate, arguments: [[UInt8]]) {
    self.user = user
    self.fate = fate
    self.arguments = arguments
  }

  init?(_ bytes: [UInt8]) {
    guard let fields = HandleFields.decode(bytes), fields.count >= 2, fields[0].count == 1,
      let fate = Fate(rawValue: fields[0][0])
    else { return nil }
    self.init(user: fields[1], fate: fate, arguments: Array(fields[2...]))
  }

  /// What the line before the password saw, for the line after it.
  enum Fate: UInt8 {
    case accepted = 1
    case wrongCode = 2
    case wrongBackupCode = 3
    case notACode = 4
    case replayed = 5
    case locked = 6
    /// No code asked of this user (not enrolled with nullok, exempt, outside require_group).
    case noCode = 7
    /// Refused for another reason (unknown user, a file out of reach, an unusable state).
    case refused = 8
  }
}

extension FirstAnswer.Fate {
  var text: String {
    switch self {
    case .accepted: return "a right code"
    case .wrongCode: return "a wrong code"
    case .wrongBackupCode: return "a wrong backup code"
    case .notACode: return "no code"
    case .replayed: return "an already used code"
    case .locked: return "a locked-out user"
    case .noCode: return "no code asked"
    case .refused: return "a refusal"
    }
  }
}

extension FirstAnswer.Fate {
  /// What the line before the password saw of a verdict; nil: accepted.
  init?(_ verdict: Verdict) {
    switch verdict {
    case .accepted, .acceptedBackupCode, .acceptedSentCode: return nil
    case .locked: self = .locked
    case .wrongCode: self = .wrongCode
    case .wrongBackupCode: self = .wrongBackupCode
    case .notACode: self = .notACode
    case .replayed: self = .replayed
    }
  }

}
