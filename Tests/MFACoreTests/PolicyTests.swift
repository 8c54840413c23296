import Glibc
import Testing

@testable import MFACore

/// require_group, exempt_group, enroll_deadline and remember=, through the login flow.
@Suite struct PolicyTests {
  static let file = "pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n"
  static let key = [UInt8]("12345678901234567890")

  func code(at time: Int64) -> [UInt8] {
    OTP.hotp(key: Self.key, counter: UInt64(OTP.timeStep(at: time, period: 30)), digits: 6, algorithm: .sha1)!
  }

  func run(_ host: FakeHost, _ store: MemoryStore, _ options: ModuleOptions, rhost: String? = nil) -> LoginOutcome {
    LoginFlow.authenticate(
      host: host, store: store, options: options,
      context: LoginContext(user: [UInt8]("alice"), service: [UInt8]("sshd"), remoteHost: rhost.map { [UInt8]($0) }))
  }

  @Test func exemptGroupMembersPassWithoutACodeEvenWhenEnrolled() {
    let host = FakeHost()
    host.writeSecret(Self.file)
    host.groups = ["breakglass": ["alice"]]
    var options = ModuleOptions()
    options.exemptGroup = [UInt8]("breakglass")
    #expect(run(host, MemoryStore(), options) == .notEnrolledAllowed)
    #expect(host.prompts.isEmpty)
    host.groups = ["breakglass": ["bob"]]
    host.answers = [code(at: host.time)]
    #expect(run(host, MemoryStore(), options) == .accepted)
  }

  @Test func requireGroupDecidesWhoMustUseACode() {
    var options = ModuleOptions()
    options.requireGroup = [UInt8]("mfa")
    let outsider = FakeHost()
    outsider.groups = ["mfa": ["bob"]]
    #expect(run(outsider, MemoryStore(), options) == .notEnrolledAllowed)
    let member = FakeHost()
    member.groups = ["mfa": ["alice"]]
    #expect(run(member, MemoryStore(), options) == .denied)
    // An enrolled outsider still needs the code, as with nullok.
    let enrolledOutsider = FakeHost()
    enrolledOutsider.groups = ["mfa": []]
    enrolledOutsider.writeSecret(Self.file)
    enrolledOutsider.answers = [[UInt8]("000000")]
    #expect(run(enrolledOutsider, MemoryStore(), options) == .denied)
  }

  @Test func aMissingGroupRefusesEveryLogin() {
    var options = ModuleOptions()
    options.requireGroup = [UInt8]("nosuchgroup")
    let host = FakeHost()
    #expect(run(host, MemoryStore(), options) == .configurationError)
    #expect(host.logs.last?.contains("nosuchgroup") == true)
  }

  @Test func afterTheDeadlineUnenrolledUsersAreToldWhomToContact() {
    var options = ModuleOptions()
    options.nullOK = true
    options.contact = "helpdesk@example.com"
    let host = FakeHost()
    options.enrollDeadline = host.time + 86_400
    #expect(run(host, MemoryStore(), options) == .notEnrolledAllowed)
    options.enrollDeadline = (host.time / 86_400) * 86_400  // midnight today: passed
    #expect(run(host, MemoryStore(), options) == .denied)
    #expect(host.told.last?.contains("contact helpdesk@example.com") == true)
    #expect(host.told.last?.contains(CivilDate.format(days: host.time / 86_400)) == true)
  }

  @Test func aRememberedHostNeedsNoCodeUntilItExpiresOrIsForgotten() {
    var options = ModuleOptions()
    options.remember = 3600
    let store = MemoryStore()
    let host = FakeHost()
    host.writeSecret(Self.file)
    host.answers = [code(at: host.time)]
    #expect(run(host, store, options, rhost: "192.0.2.7") == .accepted)
    #expect(host.prompts.count == 1)
    // Same host: no prompt at all.
    #expect(run(host, store, options, rhost: "192.0.2.7") == .accepted)
    #expect(host.prompts.count == 1)
    // Another host, or none (console, sudo): the code is asked.
    host.answers = [nil]
    #expect(run(host, store, options, rhost: "198.51.100.1") == .conversationFailed)
    host.answers = [nil]
    #expect(run(host, store, options) == .conversationFailed)
    #expect(host.prompts.count == 3)
    // Expired.
    host.time += 3601
    host.answers = [nil]
    #expect(run(host, store, options, rhost: "192.0.2.7") == .conversationFailed)
  }

  @Test func forgetInTheUsersFileVoidsEarlierRememberedHosts() {
    var options = ModuleOptions()
    options.remember = 3600
    let store = MemoryStore()
    let host = FakeHost()
    host.writeSecret(Self.file)
    host.answers = [code(at: host.time)]
    #expect(run(host, store, options, rhost: "192.0.2.7") == .accepted)
    host.writeSecret(Self.file + "forget before=\(host.time + 1)\n")
    host.answers = [nil]
    #expect(run(host, store, options, rhost: "192.0.2.7") == .conversationFailed)
  }

  @Test func rememberIsOffByDefault() {
    let store = MemoryStore()
    let host = FakeHost()
    host.writeSecret(Self.file)
    host.answers = [code(at: host.time), nil]
    #expect(run(host, store, ModuleOptions(), rhost: "192.0.2.7") == .accepted)
    #expect(run(host, store, ModuleOptions(), rhost: "192.0.2.7") == .conversationFailed)
    #expect(store.states["alice"]?.remembered.isEmpty == true)
  }

  @Test func datesParseAndFormat() {
    #expect(CivilDate.parse([UInt8]("1970-01-01")) == 0)
    #expect(CivilDate.parse([UInt8]("2026-11-27")) == 20_784)
    #expect(CivilDate.parse([UInt8]("2024-02-29")) != nil)
    #expect(CivilDate.parse([UInt8]("2026-02-29")) == nil)
    #expect(CivilDate.parse([UInt8]("2026-13-01")) == nil)
    #expect(CivilDate.parse([UInt8]("26-11-27")) == nil)
    #expect(CivilDate.format(days: 20_784) == "2026-11-27")
    #expect(CivilDate.format(days: 0) == "1970-01-01")
  }
}

@Suite struct LoginEnrollmentTests {
  func run(_ host: FakeHost, _ store: MemoryStore, _ options: ModuleOptions) -> LoginOutcome {
    LoginFlow.authenticate(
      host: host, store: store, options: options,
      context: LoginContext(user: [UInt8]("alice"), service: [UInt8]("sshd"), remoteHost: nil))
  }

  /// The key shown in the "setup key" line, as the user would type it into an app.
  func shownKey(_ host: FakeHost) -> [UInt8]? {
    guard let line = host.told.first(where: { $0.contains("setup key ") }) else { return nil }
    let parts = line.split(separator: "setup key ", maxSplits: 1)
    guard parts.count == 2 else { return nil }
    let grouped = parts[1].prefix { $0 != "(" }.filter { $0 != " " }
    return Base32.decode([UInt8](String(grouped)))
  }

  @Test func aRightFirstCodeWritesTheFileAndLetsTheUserIn() throws {
    var options = ModuleOptions()
    options.enrollAtLogin = true
    let host = FakeHost()
    let store = MemoryStore()
    let step = UInt64(OTP.timeStep(at: host.time, period: 30))
    // First a wrong code (the user is told and asked again), then the app's code for the shown key.
    host.answerProvider = { host in
      if host.prompts.count == 1 { return [UInt8]("000000") }
      return shownKey(host).flatMap { OTP.hotp(key: $0, counter: step, digits: 6, algorithm: .sha1) }
    }
    #expect(run(host, store, options) == .accepted)
    #expect(host.prompts.count == 2)
    #expect(host.told.contains("That code is not right. Check the app and try again."))
    let saved = try SecretFileFormat.parse([UInt8](host.directory.read(".config/pam_mfa/secret") ?? ""))
    #expect(saved.backupCodes.count == 10)
    #expect(saved.authenticators.first?.confirmedStep == Int64(step))
    #expect(host.told.contains { $0.hasPrefix("Saved. Your backup codes") })
    #expect(host.prompts.last == "Code from your app: ")
    #expect(host.told.contains { $0.contains("█") })
  }

  @Test func threeWrongCodesWriteNothingAndDeny() {
    var options = ModuleOptions()
    options.enrollAtLogin = true
    let host = FakeHost()
    host.answers = [[UInt8]("000000"), [UInt8]("111111"), [UInt8]("abc")]
    #expect(run(host, MemoryStore(), options) == .denied)
    #expect(host.prompts.count == 3)
    #expect(!SafeFile.exists(host.secretPath))
  }

  @Test func afterTheDeadlineNoEnrollmentIsOffered() {
    var options = ModuleOptions()
    options.enrollAtLogin = true
    let host = FakeHost()
    options.enrollDeadline = host.time - 1
    #expect(run(host, MemoryStore(), options) == .denied)
    #expect(host.prompts.isEmpty)
  }

  @Test func qrTextHasAQuietZoneAndTwoRowsPerLine() {
    let lines = QRText.halfBlocks(width: 21, modules: [Bool](repeating: true, count: 441))
    #expect(lines.count == 15)  // (21 + 8) / 2 rounded up
    #expect(lines[0].allSatisfy { $0 == " " })
    #expect(lines[2].contains("█"))
  }
}
