import Testing

@testable import MFACore

/// The one confirmation routine (three tries) and the answer classifier behind it.
@Suite struct FirstCodeTests {
  static let key = [UInt8]("12345678901234567890")
  static let time: Int64 = 1_700_000_000

  var totp: Enrollment {
    Enrollment(authenticators: [
      Authenticator(name: [UInt8]("default"), algorithm: .sha1, digits: 6, period: 30, key: Self.key)
    ])
  }

  func code(step: Int64) -> [UInt8] {
    OTP.hotp(key: Self.key, counter: UInt64(step), digits: 6, algorithm: .sha1)!
  }

  /// Asks with `answers` in turn (nil: no answer); returns the outcome and the retry calls.
  func ask(_ enrollment: Enrollment, _ answers: [[UInt8]?], accepting: FirstCode.Accepting = .init()) -> (
    Result<FirstCode.Match, FirstCode.Failure>, [Int]
  ) {
    var queue = answers
    var retries: [Int] = []
    let result = Result { () throws(FirstCode.Failure) -> FirstCode.Match in
      try FirstCode.ask(
        for: enrollment, accepting: accepting, now: { Self.time },
        prompt: { queue.isEmpty ? nil : queue.removeFirst() }, retry: { retries.append($0) })
    }
    return (result, retries)
  }

  @Test func classifiesAnswersByShape() {
    guard case .oneTimeCode(let digits) = CodeAnswer([UInt8]("123 456")) else { Issue.record("digits"); return }
    #expect(digits == [UInt8]("123456"))
    guard case .backupCode = CodeAnswer([UInt8]("abcd-efgh-jkmn")) else { Issue.record("backup"); return }
    guard case .notACode = CodeAnswer([UInt8]("12ab!")) else { Issue.record("not a code"); return }
    var answer = CodeAnswer([UInt8]("123456"))
    answer.wipe()
    guard case .notACode = answer else { Issue.record("wiped"); return }
  }

  @Test func aRightCodeOnTheThirdTryIsMatchedAndSpent() {
    let step = OTP.timeStep(at: Self.time, period: 30)
    let (result, retries) = ask(totp, [[UInt8]("000000x"), [UInt8]("1"), code(step: step - 1)])
    #expect(retries == [2, 1])
    guard case .success(let match) = result else { Issue.record("\(result)"); return }
    #expect(match == .totp(authenticator: 0, step: step - 1))
    var enrollment = totp
    enrollment.authenticators[0].confirmedStep = step
    enrollment.spend(match)
    #expect(enrollment.authenticators[0].confirmedStep == step)  // never moved back
  }

  @Test func threeWrongAnswersOrNoAnswerFail() {
    let (wrong, retries) = ask(totp, [[UInt8]("1"), [UInt8]("2"), [UInt8]("3"), code(step: 0)])
    #expect(retries == [2, 1])
    #expect(throws: FirstCode.Failure.wrong) { try wrong.get() }
    let (none, _) = ask(totp, [[UInt8]("1"), nil])
    #expect(throws: FirstCode.Failure.noAnswer) { try none.get() }
  }

  @Test func hotpAndBackupCodesOnlyWhenAccepted() throws {
    var token = totp
    token.authenticators[0].kind = .hotp
    token.authenticators[0].counter = 5
    let press = code(step: 7)
    #expect(FirstCode.match(CodeAnswer(press), in: token, accepting: .init(), time: Self.time) == nil)
    let match = FirstCode.match(CodeAnswer(press), in: token, accepting: .init(hotpLookAhead: 10), time: Self.time)
    #expect(match == .hotp(authenticator: 0, counter: 7))
    if let match { token.spend(match) }
    #expect(token.authenticators[0].counter == 8)

    let made = try BackupCodes.generate(count: 2)
    var enrollment = totp
    enrollment.backupCodes = made.hashes
    let typed = CodeAnswer(made.codes[1])
    #expect(FirstCode.match(typed, in: enrollment, accepting: .init(), time: Self.time) == nil)
    #expect(
      FirstCode.match(typed, in: enrollment, accepting: .init(backupCodes: true), time: Self.time) == .backupCode(1))
  }

  @Test func aCheckOfItsOwnForACodeSentByMail() {
    var queue: [[UInt8]] = [[UInt8]("111111"), [UInt8]("424242")]
    let sent = [UInt8]("424242")
    let found: Bool? = try? FirstCode.ask(
      prompt: { queue.removeFirst() },
      check: { answer -> Bool? in
        guard case .oneTimeCode(let digits) = answer, digits == sent else { return nil }
        return true
      }, retry: { _ in })
    #expect(found == true)
  }

  @Test func qrMatrixKeepsTheEncodersModulesAndAddsTheQuietZone() {
    let matrix = QRMatrix(encoding: "x") { _, out, _ in
      for index in 0..<4 { out?[index] = index == 0 || index == 3 ? 1 : 0 }
      return 2
    }
    #expect(matrix?.modules == [true, false, false, true])
    #expect(matrix?.size == 2 + 2 * QRText.quietZone)
    #expect(matrix?.isDark(QRText.quietZone, QRText.quietZone) == true)
    #expect(matrix?.isDark(0, 0) == false)
    #expect(QRMatrix(encoding: "x") { _, _, _ in -1 } == nil)
  }
}
