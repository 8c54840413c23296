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
    Login(
      host: host, options: options,
      context: LoginContext(user: [UInt8]("alice"), service: [UInt8]("sshd"), remoteHost: rhost.map { [UInt8]($0) }),
      local: store
    ).authenticate()
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
    Login(
      host: host, options: options,
      context: LoginContext(user: [UInt8]("alice"), service: [UInt8]("sshd"), remoteHost: nil), local: store
    ).authenticate()
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
    // Nothing is written until the application reports that the whole stack succeeded.
    #expect(!SafeFile.exists(host.secretPath))
    let context = LoginContext(user: [UInt8]("alice"), service: [UInt8]("sshd"), remoteHost: nil)
    #expect(Login.finishEnrollment(host: host, context: context) == .accepted)
    #expect(Login.finishEnrollment(host: host, context: context) == nil)
    let saved = try SecretFileFormat.parse([UInt8](host.directory.read(".config/pam_mfa/secret") ?? ""))
    #expect(saved.backupCodes.count == 10)
    #expect(saved.authenticators.first?.confirmedStep == Int64(step))
    #expect(host.told.contains { $0.hasPrefix("Right code. Once this login succeeds") })
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

@Suite struct MoreWaysInTests {
  static let key = [UInt8]("12345678901234567890")

  func run(_ host: FakeHost, _ store: MemoryStore, _ options: ModuleOptions) -> LoginOutcome {
    Login(
      host: host, options: options,
      context: LoginContext(user: [UInt8]("alice"), service: [UInt8]("vpn"), remoteHost: nil), local: store
    ).authenticate()
  }

  /// RFC 4226 appendix D codes of the test key, counter 0...9.
  static let hotpVectors = [
    "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489",
  ]

  @Test func hotpCountersMoveForwardAndResynchroniseWithinTheWindow() {
    let host = FakeHost()
    host.writeSecret("pam_mfa 1\nhotp name=token counter=1 secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n")
    let store = MemoryStore()
    var options = ModuleOptions()
    options.hotpWindow = 3
    // counter 0 is below the file's floor; 1 works once; 5 is beyond 2+3; 4 is inside it.
    host.answers = [[UInt8](Self.hotpVectors[0]), [UInt8](Self.hotpVectors[1]), [UInt8](Self.hotpVectors[1])]
    #expect(run(host, store, options) == .denied)
    #expect(run(host, store, options) == .accepted)
    #expect(run(host, store, options) == .denied)
    host.answers = [[UInt8](Self.hotpVectors[5]), [UInt8](Self.hotpVectors[4])]
    #expect(run(host, store, options) == .denied)
    #expect(run(host, store, options) == .accepted)
    // Kept under the name and the key's fingerprint (SHA-256 of the RFC 4226 test key).
    #expect(store.states["alice"]?.hotpCounter(of: [UInt8]("token.6ed645ef")) == 5)
    #expect(host.logs.contains { $0.contains("accepted hotp code (authenticator token)") })
  }

  @Test func anyOfSeveralAuthenticatorsWorks() {
    let host = FakeHost()
    host.writeSecret(
      "pam_mfa 1\ntotp name=phone secret=GEZDGNBVGY3TQOJQ\ntotp name=tablet secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n")
    let step = UInt64(OTP.timeStep(at: host.time, period: 30))
    host.answers = [OTP.hotp(key: Self.key, counter: step, digits: 6, algorithm: .sha1)]
    #expect(run(host, MemoryStore(), ModuleOptions()) == .accepted)
    #expect(host.logs.last?.contains("authenticator tablet") == true)
  }

  @Test func onePromptSplitsTheCodeOffAndForwardsThePassword() {
    let host = FakeHost()
    host.writeSecret("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n")
    let step = UInt64(OTP.timeStep(at: host.time, period: 30))
    let code = OTP.hotp(key: Self.key, counter: step, digits: 6, algorithm: .sha1)!
    var options = ModuleOptions()
    options.forwardPass = true
    host.answers = [[UInt8]("s3cret 42") + code]
    #expect(run(host, MemoryStore(), options) == .accepted)
    #expect(host.prompts == ["Password and verification code: "])
    #expect(host.token == [UInt8]("s3cret 42"))
  }

  @Test func oneWrongCombinedAnswerSaysNothing() {
    // With one prompt the password is not checked yet: a word about the code would tell a
    // guesser without the password which half was right.
    let host = FakeHost()
    host.writeSecret("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n")
    var options = ModuleOptions()
    options.forwardPass = true
    host.answers = [[UInt8]("s3cret 000000")]
    #expect(run(host, MemoryStore(), options) == .denied)
    #expect(host.told.isEmpty)
  }

  @Test func useFirstPassTakesTheTokenAndFailsWithoutOne() {
    let host = FakeHost()
    host.writeSecret("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n")
    let step = UInt64(OTP.timeStep(at: host.time, period: 30))
    var options = ModuleOptions()
    options.firstPass = .use
    #expect(run(host, MemoryStore(), options) == .denied)
    #expect(host.prompts.isEmpty)
    host.token = [UInt8]("pw") + OTP.hotp(key: Self.key, counter: step, digits: 6, algorithm: .sha1)!
    #expect(run(host, MemoryStore(), options) == .accepted)
    #expect(host.token == [UInt8]("pw"))
    #expect(host.prompts.isEmpty)
    // try_first_pass asks when there is nothing to take.
    options.firstPass = .try
    host.token = nil
    host.answers = [nil]
    #expect(run(host, MemoryStore(), options) == .conversationFailed)
    #expect(host.prompts == ["Password and verification code: "])
  }

  @Test func aBackupCodeCanEndTheCombinedAnswer() throws {
    let (codes, hashes) = try BackupCodes.generate(count: 2, iterations: 1000)
    let host = FakeHost()
    let enrollment = Enrollment(
      authenticators: [
        Authenticator(name: Authenticator.defaultName, algorithm: .sha1, digits: 6, period: 30, key: Self.key)
      ], backupCodes: hashes)
    host.writeSecret(SecretFileFormat.serialize(enrollment).text)
    var options = ModuleOptions()
    options.forwardPass = true
    host.answers = [[UInt8]("pass123") + codes[0]]
    #expect(run(host, MemoryStore(), options) == .accepted)
    #expect(host.token == [UInt8]("pass123"))
  }

  @Test func importedEightDigitScratchCodesWorkOnce() throws {
    let scratch = [UInt8]("12345678")
    let hash = try BackupCodes.hash(scratch, iterations: 1000)
    let host = FakeHost()
    let enrollment = Enrollment(
      authenticators: [
        Authenticator(name: Authenticator.defaultName, algorithm: .sha1, digits: 6, period: 30, key: Self.key)
      ], backupCodes: [hash])
    host.writeSecret(SecretFileFormat.serialize(enrollment).text)
    host.answers = [scratch, scratch]
    let store = MemoryStore()
    #expect(run(host, store, ModuleOptions()) == .accepted)
    #expect(run(host, store, ModuleOptions()) == .denied)
  }
}

@Suite struct CombinedInputTests {
  @Test func aBackupCodeAsShownIsSplitOffWithItsDashes() {
    let enrollment = Enrollment(authenticators: [])
    let split = CombinedInput.split([UInt8]("pw-1 k7dq-2mxp-w9fh"), enrollment: enrollment, time: 0, window: 1)
    #expect(split.password == [UInt8]("pw-1 "))
    #expect(BackupCodes.normalize(split.code) == [UInt8]("k7dq2mxpw9fh"))
  }

  @Test func anImportedScratchCodeIsSplitOffWhenItMatches() throws {
    let hash = try BackupCodes.hash([UInt8]("12345678"), iterations: 1000)
    var enrollment = Enrollment(authenticators: [
      Authenticator(
        name: Authenticator.defaultName, algorithm: .sha1, digits: 6, period: 30, key: [UInt8]("1234567890"))
    ])
    enrollment.backupCodes = [hash]
    let split = CombinedInput.split([UInt8]("secret12345678"), enrollment: enrollment, time: 0, window: 1)
    #expect(split.password == [UInt8]("secret"))
    #expect(split.code == [UInt8]("12345678"))
  }
}

@Suite struct CodeDeliveryTests {
  /// A delivery program that appends what it reads to `log` and exits with `status`.
  func program(in dir: TemporaryDirectory, status: Int = 0) -> String {
    dir.write("deliver", "#!/bin/sh\ncat >> \(dir.path)/sent\nexit \(status)\n", mode: 0o755)
    return dir.path + "/deliver"
  }

  /// The code in the last message the program was given ("... is 123456. It is valid ...").
  func sentCode(_ dir: TemporaryDirectory) -> [UInt8]? {
    guard let text = dir.read("sent") else { return nil }
    let lines = text.split(separator: "\n").filter { $0.contains(" is ") }
    guard let line = lines.last else { return nil }
    for word in line.split(separator: " ") {
      let digits = Array(word.utf8.prefix(6))
      if digits.count == 6 && digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { return digits }
    }
    return nil
  }

  func run(_ host: FakeHost, _ store: MemoryStore, _ options: ModuleOptions) -> LoginOutcome {
    Login(
      host: host, options: options,
      context: LoginContext(user: [UInt8]("alice"), service: [UInt8]("login"), remoteHost: nil), local: store
    ).authenticate()
  }

  @Test func anEmptyAnswerSendsACodeThatWorksOnce() {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    var options = ModuleOptions()
    options.deliverProgram = program(in: dir)
    // The file is alice's own: the admin's allow-list must take the address.
    options.deliverDomains = [[UInt8]("example.com")]
    let host = FakeHost()
    host.writeSecret("pam_mfa 1\nemail address=alice@example.com\n")
    let store = MemoryStore()
    host.answerProvider = { host in host.prompts.count == 1 ? [] : sentCode(dir) }
    #expect(run(host, store, options) == .accepted)
    #expect(host.prompts == ["Verification code (press Enter to get one by e-mail): ", "Verification code: "])
    #expect(host.told.contains { $0.hasPrefix("A code was sent by e-mail to a***@example.com") })
    let sent = dir.read("sent") ?? ""
    #expect(sent.hasPrefix("user=alice\nmethod=email\naddress=alice@example.com\n\n"))
    #expect(store.states["alice"]?.sentCodes.isEmpty == true)  // used up
    // The same code again: refused.
    host.answerProvider = { _ in sentCode(dir) }
    #expect(run(host, store, options) == .denied)
    for line in host.logs { #expect(!line.contains(String(decoding: sentCode(dir) ?? [], as: UTF8.self))) }
  }

  @Test func sendingIsRateLimitedAndAFailedDeliveryIsNoSuccess() {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    var options = ModuleOptions()
    options.deliverProgram = program(in: dir)
    options.deliverLimit = 2
    options.deliverNumbers = [[UInt8]("+49")]
    options.deliverDomains = [[UInt8]("example.com")]
    let host = FakeHost()
    host.writeSecret("pam_mfa 1\nsms address=+4915112345678\n")
    let store = MemoryStore()
    host.answers = [[], nil, [], nil, [], nil]
    for _ in 0..<3 { _ = run(host, store, options) }
    #expect(host.told.filter { $0.hasPrefix("A code was sent by text message to +49") }.count == 2)
    #expect(host.told.last?.hasPrefix("Too many codes sent.") == true)
    let failing = TemporaryDirectory()
    defer { failing.remove() }
    options.deliverProgram = program(in: failing, status: 3)
    let other = FakeHost()
    other.writeSecret("pam_mfa 1\nemail address=alice@example.com\n")
    other.answers = [[], [UInt8]("123456")]
    #expect(run(other, MemoryStore(), options) == .denied)
    #expect(other.told.contains("The code could not be sent. Use your app or a backup code, or try again later."))
    #expect(other.logs.contains { $0.contains("failed (status 3)") })
  }

  @Test func addressesAreValidatedAndMasked() {
    #expect(DeliveryAddress.isValid([UInt8]("a@b.example"), for: .email))
    #expect(!DeliveryAddress.isValid([UInt8]("a b@c"), for: .email))
    #expect(!DeliveryAddress.isValid([UInt8]("nobody"), for: .email))
    #expect(DeliveryAddress.isValid([UInt8]("+4915112345678"), for: .sms))
    #expect(!DeliveryAddress.isValid([UInt8]("0151-1234"), for: .sms))
    #expect(DeliveryAddress(method: .email, address: [UInt8]("alice@example.com")).masked == "a***@example.com")
    #expect(DeliveryAddress(method: .sms, address: [UInt8]("+4915112345678")).masked == "+49********678")
  }
}
