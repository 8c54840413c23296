/// Per-user login state the module writes on every success: for now the last accepted TOTP
/// step of each authenticator (replay protection). Kept apart from the secret file, in a
/// root-owned directory, so a user can neither reset it nor lose it by re-enrolling.
public struct UserState: Equatable {
  public struct StepMark: Equatable {
    public var authenticator: [UInt8]
    public var step: Int64
  }

  public var lastSteps: [StepMark] = []

  public init() {}

  public func lastStep(of authenticator: [UInt8]) -> Int64? {
    lastSteps.first { $0.authenticator == authenticator }?.step
  }

  public mutating func setLastStep(_ step: Int64, of authenticator: [UInt8]) {
    if let index = lastSteps.firstIndex(where: { $0.authenticator == authenticator }) {
      lastSteps[index].step = step
    } else {
      lastSteps.append(StepMark(authenticator: authenticator, step: step))
    }
  }
}

/// The state file's text format:
///
///     pam_mfa-state 1
///     totp-step default 59012345
public enum UserStateFormat {
  static let header: [UInt8] = Array("pam_mfa-state".utf8)
  static let stepRecord: [UInt8] = Array("totp-step".utf8)
  public static let maxSize = 64 * 1024

  public static func parse(_ contents: [UInt8]) throws(FormatError) -> UserState {
    var state = UserState()
    var sawHeader = false
    var lineNumber = 0
    for raw in SecretFileFormat.lines(contents) {
      lineNumber += 1
      let words = SecretFileFormat.splitWords(raw.trimmed())
      if words.isEmpty || words[0].first == ASCII.hash { continue }
      if !sawHeader {
        guard words.count == 2, words[0] == header, parseDecimal(words[1]) == 1 else {
          throw FormatError(line: lineNumber, "expected the header 'pam_mfa-state 1'")
        }
        sawHeader = true
      } else if words[0] == stepRecord, words.count == 3, Authenticator.isValidName(words[1]),
        let step = parseDecimal(words[2])
      {
        if state.lastStep(of: words[1]) != nil { throw FormatError(line: lineNumber, "duplicate record") }
        state.setLastStep(step, of: words[1])
      } else {
        throw FormatError(line: lineNumber, "unknown record")
      }
    }
    if !sawHeader { throw FormatError(line: 0, "no header") }
    return state
  }

  public static func serialize(_ state: UserState) -> [UInt8] {
    var out = [UInt8]("pam_mfa-state 1\n")
    for mark in state.lastSteps {
      out += stepRecord
      out.append(ASCII.space)
      out += mark.authenticator
      out += [UInt8](" " + String(mark.step) + "\n")
    }
    return out
  }
}
