import Testing

@testable import MFACore

@Suite struct ClockDriftTests {
  let phone: [UInt8] = Array("default.0a1b2c3d".utf8)
  let tablet: [UInt8] = Array("tablet.00000000".utf8)

  @Test func aSightingConfirmsOnlyALaterCodeAtTheSameOffsetInTime() {
    var drift = ClockDrift()
    drift.note(ClockDrift.Seen(authenticator: phone, offset: 4, step: 1000, until: 500), current: [phone], now: 200)
    #expect(drift.confirms(phone, step: 1001, offset: 4, now: 499))
    #expect(drift.confirms(phone, step: 1001, offset: 5, now: 499))  // one step of skew between the two
    #expect(!drift.confirms(phone, step: 1000, offset: 4, now: 499))  // the same code again
    #expect(!drift.confirms(phone, step: 1001, offset: 6, now: 499))
    #expect(!drift.confirms(phone, step: 1001, offset: 4, now: 500))  // expired
    #expect(!drift.confirms(tablet, step: 1001, offset: 4, now: 499))
  }

  @Test func learningCentresTheWindowWithinTheBoundAndDropsWhatIsGone() {
    var drift = ClockDrift()
    drift.learn(7, of: phone, current: [phone, tablet], now: 0)
    drift.learn(-3, of: tablet, current: [phone, tablet], now: 0)
    #expect(drift.centre(of: phone, bound: 10) == 7)
    #expect(drift.centre(of: phone, bound: 5) == 5)  // max_drift lowered since
    #expect(drift.centre(of: tablet, bound: 0) == 0)
    drift.learn(0, of: phone, current: [phone], now: 0)  // the tablet was removed
    #expect(drift.learned.isEmpty)
  }

  @Test func recordsRoundTripThroughTheStateFile() throws {
    var state = UserState()
    state.drift.learn(-4, of: phone, current: [phone, tablet], now: 0)
    state.drift.note(
      ClockDrift.Seen(authenticator: tablet, offset: 9, step: 77, until: 300), current: [phone, tablet], now: 0)
    let text = UserStateFormat.serialize(state)
    #expect(text.text.contains("totp-offset default.0a1b2c3d -4\n"))
    #expect(text.text.contains("totp-offset-seen tablet.00000000 9 77 300\n"))
    #expect(try UserStateFormat.parse(text) == state)
    #expect(throws: FormatError.self) {
      try UserStateFormat.parse([UInt8]("pam_mfa-state 1\ntotp-offset default -x\n"))
    }
  }

  @Test func aCodeOutsideTheWindowIsFoundOnlyByTheWiderScan() throws {
    var key: [UInt8] = Array("12345678901234567890".utf8)
    defer { key.wipe() }
    let enrollment = Enrollment(
      authenticators: [Authenticator(name: Array("default".utf8), algorithm: .sha1, digits: 6, period: 30, key: key)],
      backupCodes: [])
    let time: Int64 = 59 + 30 * 1000
    guard let code = OTP.hotp(key: key, counter: UInt64(time / 30 + 4), digits: 6, algorithm: .sha1) else {
      Issue.record("no code")
      return
    }
    #expect(TOTPVerifier.matches(code: code, enrollment: enrollment, time: time, window: 1).isEmpty)
    #expect(
      TOTPVerifier.matches(code: code, enrollment: enrollment, time: time, window: 1, centre: { _ in 4 }).count == 1)
    let wide = TOTPVerifier.outsideWindow(
      code: code, enrollment: enrollment, time: time, window: 1, bound: 10, centre: { _ in 0 })
    #expect(wide == [TOTPMatch(authenticator: 0, step: time / 30 + 4, offset: 4)])
    // What the window checks, the wide scan skips: a single code never counts twice.
    #expect(
      TOTPVerifier.outsideWindow(
        code: code, enrollment: enrollment, time: time, window: 1, bound: 10, centre: { _ in 4 }
      )
      .isEmpty)
    #expect(
      TOTPVerifier.outsideWindow(
        code: code, enrollment: enrollment, time: time, window: 1, bound: 3, centre: { _ in 0 }
      ).isEmpty)
  }

  @Test func promptsAreOneLineOfPrintableUTF8() throws {
    for good in ["Code from Contoso Authenticator: ", "Código – 6 dígitos:", "認証コード:"] {
      #expect(ShownText.isPrintable(Array(good.utf8)), "\(good)")
    }
    for bad: [UInt8] in [
      [0x41, 0x1B, 0x5B], [0x41, 0x0A], [0x7F], [0xC2, 0x9B], [0xC0, 0x80], [0xFF], [0xE2, 0x82],
      [0xED, 0xA0, 0x80],
    ] {
      #expect(!ShownText.isPrintable(bad), "\(bad)")
    }
    let options = try ModuleOptions.parse([[UInt8]("prompt=Contoso code:")])
    #expect(options.prompt == "Contoso code: ")
    #expect(throws: OptionError.self) { try ModuleOptions.parse([[UInt8]("prompt=")]) }
    #expect(throws: OptionError.self) { try ModuleOptions.parse([[UInt8]("contact=a\u{7F}b")]) }
  }
}
