import Glibc
import Testing

@testable import MFACore

/// A scripted host: fixed time, canned answers, a real home directory in /tmp and a log to
/// inspect. File work runs as the test process (which owns the files).
final class FakeHost: LoginHost {
  let directory = TemporaryDirectory()
  var time: Int64 = 1_111_111_111
  var answers: [[UInt8]?] = []
  var prompts: [String] = []
  var logs: [String] = []
  var config: [UInt8]?
  var told: [String] = []
  var delays = 0
  lazy var accounts = [
    "alice": UserAccount(name: [UInt8]("alice"), uid: geteuid(), gid: getegid(), home: [UInt8](directory.path))
  ]

  deinit { directory.remove() }

  var secretPath: String { directory.path + "/.config/pam_mfa/secret" }

  /// Writes the default secret file (mode 0600 unless told otherwise).
  func writeSecret(_ text: String, mode: mode_t = 0o600) {
    mkdir(directory.path + "/.config", 0o700)
    mkdir(directory.path + "/.config/pam_mfa", 0o700)
    directory.write(".config/pam_mfa/secret", text, mode: mode)
  }

  func lookupUser(_ name: [UInt8]) -> UserAccount? { accounts[name.text] }
  func asUser<Value>(_ account: UserAccount, _ body: () throws(FileError) -> Value) throws(FileError) -> Value {
    try body()
  }
  func readConfigFile(_ path: String) throws(FileError) -> [UInt8]? { config }
  func tell(_ text: UserText, isError: Bool) { told.append(text.rendered().text) }
  func requestFailureDelay() { delays += 1 }
  var groups: [String: [String]] = [:]
  var token: [UInt8]?
  func authToken() -> [UInt8]? { token }
  func setAuthToken(_ token: [UInt8]) -> Bool {
    self.token = token
    return true
  }
  func qrCode(_ text: String) -> QRMatrix? {
    // A 21 × 21 code, every module dark.
    QRMatrix(encoding: text) { _, out, _ in
      for index in 0..<441 { out?[index] = 1 }
      return 21
    }
  }
  var kept: [String: [UInt8]] = [:]
  func keep(_ bytes: [UInt8], in slot: HandleSlot) -> Bool {
    kept[slot.name] = bytes
    return true
  }
  func take(_ slot: HandleSlot) -> [UInt8]? {
    defer { kept[slot.name] = nil }
    return kept[slot.name]
  }
  func hostName() -> [UInt8] { [UInt8]("testhost") }
  func isMember(_ account: UserAccount, ofGroup group: [UInt8]) -> Bool? {
    groups[group.text].map { $0.contains(account.name.text) }
  }
  /// When set, answers prompts instead of `answers` (for answers that depend on what was shown).
  var answerProvider: ((FakeHost) -> [UInt8]?)?
  func prompt(_ text: UserText, echo: Bool) -> [UInt8]? {
    prompts.append(text.rendered().text + (echo ? " [echo]" : ""))
    if let answerProvider { return answerProvider(self) }
    return answers.isEmpty ? nil : answers.removeFirst()
  }
  func now() -> Int64 { time }
  func log(_ priority: LogPriority, _ message: String) { logs.append(message) }
}

/// State in memory, with a switch to simulate a store that cannot write.
final class MemoryStore: StateStore {
  var states: [String: UserState] = [:]
  var failing = false
  let location = "memory"
  func peek(user: [UInt8]) throws(FileError) -> UserState { states[user.text] ?? UserState() }
  func update<Result>(user: [UInt8], _ body: (inout UserState) throws(FileError) -> Result) throws(FileError)
    -> Result
  {
    var state = states[user.text] ?? UserState()
    // As FileStateStore: what the body changed is kept even when it throws.
    defer {
      if !failing && state != states[user.text] ?? UserState() { states[user.text] = state }
    }
    let result = try body(&state)
    if failing && state != states[user.text] ?? UserState() { throw .system(SystemError("write", code: 28)) }
    return result
  }
}

@Suite struct LoginFlowTests {
  static let key = [UInt8]("12345678901234567890")
  static let file = [UInt8]("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n")

  func code(at time: Int64) -> [UInt8] {
    OTP.hotp(key: Self.key, counter: UInt64(OTP.timeStep(at: time, period: 30)), digits: 6, algorithm: .sha1)!
  }

  func run(_ host: FakeHost, _ store: MemoryStore, _ options: ModuleOptions = ModuleOptions(), user: String = "alice")
    -> LoginOutcome
  {
    Login(
      host: host, options: options,
      context: LoginContext(user: [UInt8](user), service: [UInt8]("sshd"), remoteHost: [UInt8]("10.0.0.9")),
      local: store
    ).authenticate()
  }

  func enrolledHost(answers: [[UInt8]?]) -> FakeHost {
    let host = FakeHost()
    host.writeSecret(Self.file.text)
    host.answers = answers
    return host
  }

  @Test func acceptsTheCurrentCodeOnceThenRefusesTheReplay() {
    let store = MemoryStore()
    let host = enrolledHost(answers: [code(at: 1_111_111_111), code(at: 1_111_111_111)])
    #expect(run(host, store) == .accepted)
    #expect(host.prompts == ["Verification code: "])
    #expect(run(host, store) == .denied)
    #expect(host.logs.last?.contains("replay") == true)
  }

  @Test func windowDecidesWhichNeighbouringStepsCount() {
    var options = ModuleOptions()
    #expect(run(enrolledHost(answers: [code(at: 1_111_111_111 - 30)]), MemoryStore(), options) == .accepted)
    #expect(run(enrolledHost(answers: [code(at: 1_111_111_111 + 30)]), MemoryStore(), options) == .accepted)
    #expect(run(enrolledHost(answers: [code(at: 1_111_111_111 - 60)]), MemoryStore(), options) == .denied)
    options.window = 0
    #expect(run(enrolledHost(answers: [code(at: 1_111_111_111 - 30)]), MemoryStore(), options) == .denied)
    options.window = 2
    #expect(run(enrolledHost(answers: [code(at: 1_111_111_111 - 60)]), MemoryStore(), options) == .accepted)
  }

  @Test func anOlderStepIsRefusedAfterANewerOneWasUsed() {
    let store = MemoryStore()
    #expect(run(enrolledHost(answers: [code(at: 1_111_111_111)]), store) == .accepted)
    #expect(run(enrolledHost(answers: [code(at: 1_111_111_111 - 30)]), store) == .denied)
  }

  @Test func garbageIsDenied() {
    for answer in ["", "abc", "12345", "1234567890123", "12 34 5a", "\u{0}"] {
      #expect(run(enrolledHost(answers: [[UInt8](answer)]), MemoryStore()) == .denied, "\(answer)")
    }
  }

  @Test func notEnrolledDependsOnNullok() {
    var options = ModuleOptions()
    #expect(run(FakeHost(), MemoryStore(), options) == .denied)
    options.nullOK = true
    let host = FakeHost()
    #expect(run(host, MemoryStore(), options) == .notEnrolledAllowed)
    #expect(host.prompts.isEmpty)
    // nullok does not excuse an enrolled user from the code.
    #expect(run(enrolledHost(answers: [[UInt8]("000000")]), MemoryStore(), options) == .denied)
  }

  @Test func unsafeOrMalformedFilesAreDeniedWithAReason() {
    let host = FakeHost()
    host.writeSecret(Self.file.text, mode: 0o644)
    var options = ModuleOptions()
    options.nullOK = true  // an unusable file is not "not enrolled"
    #expect(run(host, MemoryStore(), options) == .denied)
    #expect(host.logs.last?.contains("chmod 600") == true)
    host.writeSecret("pam_mfa 1\ntotp secret=oops\n")
    #expect(run(host, MemoryStore(), options) == .denied)
    #expect(host.logs.last?.contains("line 2") == true)
  }

  @Test func unknownAndUnsafeUsersAreRefused() {
    #expect(run(enrolledHost(answers: []), MemoryStore(), user: "mallory") == .unknownUser)
    #expect(run(enrolledHost(answers: []), MemoryStore(), user: "../alice") == .unknownUser)
  }

  @Test func conversationFailureIsReported() {
    #expect(run(enrolledHost(answers: [nil]), MemoryStore()) == .conversationFailed)
  }

  @Test func stateThatCannotBeWrittenDenies() {
    let store = MemoryStore()
    store.failing = true
    #expect(run(enrolledHost(answers: [code(at: 1_111_111_111)]), store) == .denied)
  }

  @Test func badModuleArgumentsRefuseEveryLogin() {
    let host = enrolledHost(answers: [code(at: 1_111_111_111)])
    let outcome = Login.run(
      host: host, arguments: [[UInt8]("bogus")],
      context: LoginContext(user: [UInt8]("alice"), service: nil, remoteHost: nil))
    #expect(outcome == .configurationError)
    #expect(host.logs.last?.contains("'bogus'") == true)
  }

  @Test func logsNeverContainTheCodeOrTheSecret() {
    let host = enrolledHost(answers: [code(at: 1_111_111_111), code(at: 1_111_111_111), [UInt8]("999999")])
    var options = ModuleOptions()
    options.debug = true
    let store = MemoryStore()
    _ = run(host, store, options)
    _ = run(host, store, options)
    _ = run(host, store, options)
    let code = code(at: 1_111_111_111).text
    for line in host.logs {
      #expect(!line.contains(code))
      #expect(!line.contains("999999"))
      #expect(!line.contains("GEZDGNBV"))
    }
    #expect(host.logs.contains { $0.contains("user=alice service=sshd rhost=10.0.0.9") })
  }

  @Test func failuresLockTheUserOutAndTheLockIsCheckedBeforeTheCode() {
    let store = MemoryStore()
    var options = ModuleOptions()
    options.deny = 3
    options.unlockTime = 300
    let first = enrolledHost(answers: [[UInt8]("000000")])
    #expect(run(first, store, options) == .denied)
    #expect(first.told == [LoginText.wrongCode.rendered().text])
    let second = enrolledHost(answers: [[UInt8]("abc")])
    #expect(run(second, store, options) == .denied)
    #expect(second.told == [LoginText.notACode.rendered().text])
    let third = enrolledHost(answers: [[UInt8]("000001")])
    #expect(run(third, store, options) == .lockedOut)
    #expect(third.told == ["Too many wrong codes. Try again in 5 minutes."])
    #expect(third.logs.contains { $0.contains("lockout") })
    // Locked: even the right code is refused, and the user is told before typing anything.
    let locked = enrolledHost(answers: [code(at: 1_111_111_111)])
    #expect(run(locked, store, options) == .lockedOut)
    #expect(locked.prompts.isEmpty)
    // After the lockout the right code works and clears the count.
    let later = enrolledHost(answers: [code(at: 1_111_111_111 + 301)])
    later.time = 1_111_111_111 + 301
    #expect(run(later, store, options) == .accepted)
    #expect(store.states["alice"]?.failure.failures == 0)
    #expect(store.states["alice"]?.failure.lockouts == 0)
    let lastSuccess: Int64? = store.states["alice"]?.lastSuccess
    #expect(lastSuccess == Int64(1_111_111_412))
  }

  @Test func failuresOutsideTheIntervalDoNotAddUp() {
    let store = MemoryStore()
    var options = ModuleOptions()
    options.deny = 2
    options.failInterval = 60
    let first = enrolledHost(answers: [[UInt8]("000000")])
    #expect(run(first, store, options) == .denied)
    let second = enrolledHost(answers: [[UInt8]("000000")])
    second.time += 61
    #expect(run(second, store, options) == .denied)
    #expect(store.states["alice"]?.failure.failures == 1)
  }

  @Test func lockoutsInARowDoubleUpToADay() {
    var options = ModuleOptions()
    options.unlockTime = 300
    #expect(options.lockoutDuration(consecutive: 1) == 300)
    #expect(options.lockoutDuration(consecutive: 2) == 600)
    #expect(options.lockoutDuration(consecutive: 3) == 1200)
    #expect(options.lockoutDuration(consecutive: 40) == 86_400)
    var record = FailureRecord()
    options.deny = 1
    #expect(record.count(options: options, now: 1000) == .counted(failures: 1, lockedFor: 300))
    #expect(record.lockedUntil == 1300)
    #expect(record.count(options: options, now: 1299) == .locked(until: 1300))
    _ = record.count(options: options, now: 1300)
    #expect(record.lockedUntil == 1900)
  }

  @Test func replaysCountAsFailures() {
    let store = MemoryStore()
    var options = ModuleOptions()
    options.deny = 2
    let host = enrolledHost(answers: [code(at: 1_111_111_111), code(at: 1_111_111_111), code(at: 1_111_111_111)])
    #expect(run(host, store, options) == .accepted)
    #expect(run(host, store, options) == .denied)
    #expect(run(host, store, options) == .lockedOut)
  }

  @Test func everyAttemptAsksForTheFailureDelay() {
    let host = enrolledHost(answers: [[UInt8]("000000")])
    _ = run(host, MemoryStore())
    #expect(host.delays == 1)
  }

  /// The file store runs a login under the state file's lock: counting the attempt and
  /// accepting the code are one durable write (CredentialStore's design note), not two.
  @Test func aRightCodeCostsTheFileStoreOneStateWrite() throws {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    let context = LoginContext(user: [UInt8]("alice"), service: nil, remoteHost: nil)
    let arguments = [[UInt8]("state_dir=" + dir.path + "/state")]
    func sequence() -> UInt64? {
      dir.readBytes("state/alice").flatMap { StateFile.newestSlot($0)?.sequence }
    }
    let first = enrolledHost(answers: [code(at: 1_111_111_111)])
    #expect(Login.run(host: first, arguments: arguments, context: context) == .accepted)
    let before = try #require(sequence())
    let second = enrolledHost(answers: [code(at: 1_111_111_141)])
    second.time = 1_111_111_141
    #expect(Login.run(host: second, arguments: arguments, context: context) == .accepted)
    #expect(sequence() == before + 1)
    // A wrong code is one write too: the count, before anyone is told.
    let third = enrolledHost(answers: [[UInt8]("000000")])
    third.time = 1_111_111_171
    #expect(Login.run(host: third, arguments: arguments, context: context) == .denied)
    #expect(sequence() == before + 2)
  }

  @Test func configurationFileIsReadAndArgumentsWin() {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    let context = LoginContext(user: [UInt8]("alice"), service: nil, remoteHost: nil)
    let stateArgument = [UInt8]("state_dir=" + dir.path + "/state")
    // window=2 from the file lets a code from two steps ago in...
    let wide = enrolledHost(answers: [code(at: 1_111_111_111 - 60)])
    wide.config = [UInt8]("# site policy\nwindow = 2\n")
    #expect(Login.run(host: wide, arguments: [stateArgument], context: context) == .accepted)
    // ...unless an argument overrides it.
    let narrow = enrolledHost(answers: [code(at: 1_111_111_111 - 90)])
    narrow.config = [UInt8]("window = 2\n")
    #expect(Login.run(host: narrow, arguments: [stateArgument, [UInt8]("window=1")], context: context) == .denied)
    let broken = enrolledHost(answers: [code(at: 1_111_111_111)])
    broken.config = [UInt8]("window=2\nfrobnicate\n")
    #expect(Login.run(host: broken, arguments: [stateArgument], context: context) == .configurationError)
    #expect(broken.logs.last?.contains("line 2") == true)
  }

  /// A file with backup codes: the codes stay in memory, only their hashes go to disk.
  func hostWithBackupCodes(_ count: Int, answers: [[UInt8]?]) throws -> (FakeHost, [[UInt8]]) {
    let (codes, hashes) = try BackupCodes.generate(count: count, iterations: 1000)
    let host = FakeHost()
    let enrollment = try SecretFileFormat.parse(Self.file)
    host.writeSecret(
      SecretFileFormat.serialize(Enrollment(authenticators: enrollment.authenticators, backupCodes: hashes)).text)
    host.answers = answers
    return (host, codes)
  }

  @Test func aBackupCodeWorksOnceAndIsRemovedFromTheFile() throws {
    let store = MemoryStore()
    let (host, codes) = try hostWithBackupCodes(3, answers: [])
    let typed = [UInt8](BackupCodes.display(codes[1]).uppercased())  // case and dashes do not matter
    host.answers = [typed, typed]
    #expect(run(host, store) == .accepted)
    #expect(
      host.told == ["Backup code accepted. Only 2 backup codes left: run 'mfa-enroll backup-codes' to make a new set."])
    #expect(host.logs.last?.contains("accepted backup code (2 left)") == true)
    #expect(
      try SecretFileFormat.parse([UInt8](host.directory.read(".config/pam_mfa/secret") ?? "")).backupCodes.count == 2)
    #expect(run(host, store) == .denied)
    #expect(host.logs.last?.contains("wrong backup code") == true)
    for code in codes { #expect(host.directory.read(".config/pam_mfa/secret")?.contains(code.text) == false) }
  }

  @Test func wrongBackupCodesCountTowardsTheLockout() throws {
    let store = MemoryStore()
    var options = ModuleOptions()
    options.deny = 2
    let (host, _) = try hostWithBackupCodes(2, answers: [[UInt8]("2222-3333-4444"), [UInt8]("2222-3333-4445")])
    #expect(run(host, store, options) == .denied)
    #expect(run(host, store, options) == .lockedOut)
  }

  @Test func manyBackupCodesLeftIsPlainInformation() throws {
    let (host, codes) = try hostWithBackupCodes(5, answers: [])
    host.answers = [codes[0]]
    #expect(run(host, MemoryStore()) == .accepted)
    #expect(host.told == ["Backup code accepted. You have 4 backup codes left."])
  }

  @Test func theCodeThatConfirmedTheEnrollmentCannotLogIn() {
    let step = OTP.timeStep(at: 1_111_111_111, period: 30)
    let host = FakeHost()
    host.writeSecret("pam_mfa 1\ntotp confirmed=\(step) secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n")
    host.answers = [code(at: 1_111_111_111), code(at: 1_111_111_111 + 30)]
    let store = MemoryStore()
    #expect(run(host, store) == .denied)
    #expect(host.logs.last?.contains("replay") == true)
    #expect(run(host, store) == .accepted)
  }
}
