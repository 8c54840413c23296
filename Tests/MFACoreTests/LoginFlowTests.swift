import Testing

@testable import MFACore

/// A scripted host: fixed time, canned answers, an in-memory file and a log to inspect.
final class FakeHost: LoginHost {
  var time: Int64 = 1_111_111_111
  var answers: [[UInt8]?] = []
  var file: Result<[UInt8], FileError> = .failure(.notFound)
  var prompts: [String] = []
  var logs: [String] = []
  var accounts = ["alice": UserAccount(name: [UInt8]("alice"), uid: 4242, gid: 4242, home: [UInt8]("/home/alice"))]
  var readPaths: [String] = []

  func lookupUser(_ name: [UInt8]) -> UserAccount? { accounts[name.text] }
  func readSecretFile(_ path: String, as account: UserAccount) throws(FileError) -> [UInt8] {
    readPaths.append(path)
    return try file.get()
  }
  func prompt(_ text: String, echo: Bool) -> [UInt8]? {
    prompts.append(text + (echo ? " [echo]" : ""))
    return answers.isEmpty ? nil : answers.removeFirst()
  }
  func now() -> Int64 { time }
  func log(_ priority: LogPriority, _ message: String) { logs.append(message) }
}

/// Replay state in memory, with a switch to simulate a store that cannot write.
final class MemoryStore: StateStore {
  var steps: [String: Int64] = [:]
  var failing = false
  func acceptStep(user: [UInt8], authenticator: [UInt8], step: Int64) throws(FileError) -> Bool {
    if failing { throw .system(SystemError("write", code: 28)) }
    let key = user.text + "/" + authenticator.text
    if let last = steps[key], last >= step { return false }
    steps[key] = step
    return true
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
    LoginFlow.authenticate(
      host: host, store: store, options: options, user: [UInt8](user), remoteHost: [UInt8]("10.0.0.9"))
  }

  func enrolledHost(answers: [[UInt8]?]) -> FakeHost {
    let host = FakeHost()
    host.file = .success(Self.file)
    host.answers = answers
    return host
  }

  @Test func acceptsTheCurrentCodeOnceThenRefusesTheReplay() {
    let store = MemoryStore()
    let host = enrolledHost(answers: [code(at: 1_111_111_111), code(at: 1_111_111_111)])
    #expect(run(host, store) == .accepted)
    #expect(host.prompts == ["Verification code: "])
    #expect(host.readPaths == ["/home/alice/.config/pam_mfa/secret"])
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
    host.file = .failure(.insecurePermissions(mode: 0o644))
    var options = ModuleOptions()
    options.nullOK = true  // an unusable file is not "not enrolled"
    #expect(run(host, MemoryStore(), options) == .denied)
    #expect(host.logs.last?.contains("chmod 600") == true)
    host.file = .success([UInt8]("pam_mfa 1\ntotp secret=oops\n"))
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
    let outcome = LoginFlow.run(host: host, arguments: [[UInt8]("bogus")], user: [UInt8]("alice"), remoteHost: nil)
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
    #expect(host.logs.contains { $0.contains("user=alice rhost=10.0.0.9") })
  }
}
