/// The state's text form, stored inside the checksummed slots of `StateFile`:
///
///     pam_mfa-state 1
///     totp-step default 59012345
///     failures 2 1764200000
///     lockouts 1 1764200300
///     last-success 1764199000
///     totp-offset default.1a2b3c4d 4
public enum UserStateFormat {
  static let header: [UInt8] = Array("pam_mfa-state".utf8)

  public static func parse(_ contents: [UInt8]) throws(FormatError) -> UserState {
    var state = UserState()
    var sawHeader = false
    var seen: [[UInt8]] = []
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
        continue
      }
      try add(words, line: lineNumber, to: &state, seen: &seen)
    }
    if !sawHeader { throw FormatError(line: 0, "no header") }
    return state
  }

  public static func serialize(_ state: UserState) -> [UInt8] {
    var out = [UInt8]("pam_mfa-state 1\n")
    for mark in state.lastSteps {
      out += [UInt8]("totp-step ")
      out += mark.authenticator
      out += [UInt8](" " + String(mark.step) + "\n")
    }
    for mark in state.hotpCounters {
      out += [UInt8]("hotp-counter ")
      out += mark.authenticator
      out += [UInt8](" " + String(mark.step) + "\n")
    }
    let failure = state.failure
    if failure.failures > 0 {
      out += [UInt8]("failures " + String(failure.failures) + " " + String(failure.firstFailure) + "\n")
    }
    if failure.lockouts > 0 || failure.lockedUntil > 0 {
      out += [UInt8]("lockouts " + String(failure.lockouts) + " " + String(failure.lockedUntil) + "\n")
    }
    for record in state.drift.records { out += record + [ASCII.newline] }
    if state.lastSuccess > 0 { out += [UInt8]("last-success " + String(state.lastSuccess) + "\n") }
    if state.seenEnrolled > 0 { out += [UInt8]("seen-enrolled " + String(state.seenEnrolled) + "\n") }
    for code in state.sentCodes {
      out += [UInt8]("sent ")
      out += Base32.encode(code.salt, padding: false)
      out.append(ASCII.space)
      out += Base32.encode(code.hash, padding: false)
      out += [UInt8](" " + String(code.expires) + "\n")
    }
    for time in state.sendTimes { out += [UInt8]("send-time " + String(time) + "\n") }
    for entry in state.remembered {
      out += [UInt8]("remember ")
      out += entry.host
      out += [UInt8](" " + String(entry.since) + " " + String(entry.until) + "\n")
    }
    return out
  }

  /// One record after the header; `seen` holds the records that may appear once.
  private static func add(_ words: [[UInt8]], line lineNumber: Int, to state: inout UserState, seen: inout [[UInt8]])
    throws(FormatError)
  {
    var numbers: [Int64] = []
    for word in words.dropFirst() {
      if let number = parseDecimal(word) { numbers.append(number) }
    }
    let record = words[0]
    if record == [UInt8]("totp-step"), words.count == 3, Authenticator.isValidName(words[1]),
      let step = parseDecimal(words[2])
    {
      if state.lastStep(of: words[1]) != nil { throw FormatError(line: lineNumber, "duplicate record") }
      state.setLastStep(step, of: words[1])
      return
    }
    if record == [UInt8]("hotp-counter"), words.count == 3, Authenticator.isValidStateName(words[1]),
      let counter = parseDecimal(words[2])
    {
      if state.hotpCounters.contains(where: { $0.authenticator == words[1] }) {
        throw FormatError(line: lineNumber, "duplicate record")
      }
      state.setHOTPCounter(UInt64(counter), of: words[1])
      return
    }
    if ClockDrift.isRecord(record) {
      guard state.drift.add(words) else { throw FormatError(line: lineNumber, "bad clock offset record") }
      return
    }
    if seen.contains(record) { throw FormatError(line: lineNumber, "duplicate record") }
    seen.append(record)
    if record == [UInt8]("failures"), words.count == 3, numbers.count == 2 {
      state.failure.failures = Int(numbers[0])
      // A zero count has no start time; normalising keeps parse and serialize inverse.
      state.failure.firstFailure = state.failure.failures > 0 ? numbers[1] : 0
    } else if record == [UInt8]("lockouts"), words.count == 3, numbers.count == 2 {
      state.failure.lockouts = Int(numbers[0])
      state.failure.lockedUntil = numbers[1]
    } else if record == [UInt8]("remember") {
      // Several remember lines are allowed; undo the duplicate check for them.
      seen.removeLast()
      guard words.count == 4, UserState.isStorableHost(words[1]), let since = parseDecimal(words[2]),
        let until = parseDecimal(words[3])
      else { throw FormatError(line: lineNumber, "bad remember record") }
      state.remembered.append(UserState.RememberedHost(host: words[1], since: since, until: until))
    } else if record == [UInt8]("sent") {
      seen.removeLast()
      guard words.count == 4, let salt = Base32.decode(words[1]), let hash = Base32.decode(words[2]),
        salt.count == 16, hash.count == 32, let expires = parseDecimal(words[3])
      else { throw FormatError(line: lineNumber, "bad sent record") }
      state.sentCodes.append(UserState.SentCode(salt: salt, hash: hash, expires: expires))
    } else if record == [UInt8]("send-time") {
      seen.removeLast()
      guard words.count == 2, numbers.count == 1 else { throw FormatError(line: lineNumber, "bad send-time record") }
      state.sendTimes.append(numbers[0])
    } else if record == [UInt8]("last-success"), words.count == 2, numbers.count == 1 {
      state.lastSuccess = numbers[0]
    } else if record == [UInt8]("seen-enrolled"), words.count == 2, numbers.count == 1 {
      state.seenEnrolled = numbers[0]
    } else {
      throw FormatError(line: lineNumber, "unknown record")
    }
  }
}
