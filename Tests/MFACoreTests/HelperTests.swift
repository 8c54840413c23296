import Glibc
import Testing

@testable import MFACore

/// The module–helper conversation (HelperProtocol), the helper's decision (HelperCheck) and the
/// module's relay (UnprivilegedLogin), without a setuid binary: the e2e tests run the real one.
@Suite struct HelperTests {
  /// Both ends of a socket pair, as the module sets it up: what one sends, the other receives.
  struct Pair: ~Copyable {
    var module: HelperChannel
    var helper: HelperChannel
  }

  func channels() -> Pair {
    var ends: [Int32] = [0, 0]
    // Close-on-exec, as the module's: a test running in parallel that starts a program would
    // otherwise hold the ends open in its child, and "the other side is gone" would not be.
    #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0)
    return Pair(
      module: HelperChannel(socket: FileDescriptor(owning: ends[0])),
      helper: HelperChannel(socket: FileDescriptor(owning: ends[1])))
  }

  @Test func framesCrossThePipeIntact() {
    let pair = channels()
    let sent = [
      pair.helper.send(HelperFrame(.hiddenPrompt, [UInt8]("Verification code: ".utf8))),
      pair.helper.send(HelperFrame(.verdict, [0])),
    ]
    #expect(sent == [true, true])
    let first = pair.module.receive()
    #expect(first?.kind == .hiddenPrompt && first?.payload == [UInt8]("Verification code: ".utf8))
    #expect(pair.module.receive()?.kind == .verdict)
  }

  @Test func malformedFramesEndTheConversation() {
    for bytes: [UInt8] in [[0x7a, 0, 0], [0x70, 0x10, 0x01], [0x70, 0, 5, 0x41]] {
      let pair = channels()
      try? pair.helper.input.writeAll(bytes)
      pair.helper.close()
      #expect(pair.module.receive() == nil, "\(bytes)")
    }
  }

  @Test func theCommandLineCarriesAUserAServiceAndNullokOnly() {
    let good = HelperRequest(user: [UInt8]("alice"), service: [UInt8]("i3lock"), nullOK: true)
    #expect(HelperRequest(arguments: good.arguments) == good)
    #expect(HelperRequest(arguments: [[UInt8]("alice"), [UInt8]("lock")])?.nullOK == false)
    for arguments in [
      ["alice", "lock", "123456"], ["alice"], ["../root", "lock"], ["alice", "../lock"], ["alice", ""],
      ["alice", "lock", "nullok", "x"],
    ] {
      #expect(HelperRequest(arguments: arguments.map { [UInt8]($0.utf8) }) == nil, "\(arguments)")
    }
  }

  @Test func everyOutcomeHasItsOwnVerdictByte() {
    let all: [LoginOutcome] = [
      .accepted, .notEnrolledAllowed, .denied, .lockedOut, .configurationError, .unknownUser, .conversationFailed,
    ]
    #expect(Set(all.map(\.helperCode)).count == all.count)
    for outcome in all { #expect(LoginOutcome(helperCode: outcome.helperCode) == outcome) }
    #expect(LoginOutcome(helperCode: 200) == nil)
  }

  func helperHost(config: String) -> FakeHost {
    let host = FakeHost()
    host.config = [UInt8]((config + "\nstate_dir=" + host.directory.path + "/state\n").utf8)
    mkdir(host.directory.path + "/state", 0o700)
    return host
  }

  let request = HelperRequest(user: [UInt8]("alice"), service: [UInt8]("lock"), nullOK: false)

  @Test func anotherUsersAccountIsRefusedAndLogged() {
    let host = helperHost(config: "")
    host.writeSecret(LoginFlowTests.file.text)
    #expect(HelperCheck.run(host: host, request: request, caller: geteuid() + 1) == .denied)
    #expect(host.prompts.isEmpty)
    #expect(host.logs.last?.contains("asked by uid \(geteuid() + 1), who is not this user; refused") == true)
  }

  @Test func theUsersOwnCodeIsCheckedWithTheFileSettingsOnly() {
    let host = helperHost(config: "")
    host.writeSecret(LoginFlowTests.file.text)
    host.answers = [LoginFlowTests().code(at: host.time)]
    #expect(HelperCheck.run(host: host, request: request, caller: geteuid()) == .accepted)
    #expect(host.logs.last?.contains("user=alice service=lock: accepted totp code") == true)
    // no remote host: remember= never applies
    #expect(host.logs.allSatisfy { !$0.contains("rhost=") })
  }

  @Test func onePromptSettingsAndEnrollmentAtLoginAreRefused() {
    let onePrompt = helperHost(config: "forward_pass")
    #expect(HelperCheck.run(host: onePrompt, request: request, caller: geteuid()) == .configurationError)
    let enroll = helperHost(config: "enroll=login")
    #expect(HelperCheck.run(host: enroll, request: request, caller: geteuid()) == .denied)
    #expect(enroll.told.last?.contains("cannot be set up here") == true)
    #expect(enroll.kept.isEmpty)
  }

  @Test func theRelayShowsPromptsAndMessagesAndReturnsTheVerdict() {
    let pair = channels()
    let host = FakeHost()
    host.answers = [[UInt8]("123456".utf8)]
    // Untranslated, with their values: the module renders them (here in the C locale).
    let sent = [
      pair.helper.send(HelperFrame(.hiddenPrompt, LoginText.prompt.encoded)),
      pair.helper.send(HelperFrame(.info, [UInt8]("not a message".utf8))),
      pair.helper.send(HelperFrame(.error, LoginText.lockedOut(for: 300).encoded)),
      pair.helper.send(HelperFrame(.verdict, [LoginOutcome.lockedOut.helperCode])),
    ]
    #expect(sent == [true, true, true, true])
    #expect(UnprivilegedLogin.relay(host: host, channel: pair.module) == .lockedOut)
    #expect(host.prompts == ["Verification code: "])
    #expect(host.told == ["Too many wrong codes. Try again in 5 minutes."])
    let answer = pair.helper.receive()
    #expect(answer?.kind == .answer && answer?.payload == [UInt8]("123456".utf8))
  }

  @Test func aHelperThatEndsWithoutAVerdictIsNoVerdict() {
    let pair = channels()
    pair.helper.close()
    #expect(UnprivilegedLogin.relay(host: FakeHost(), channel: pair.module) == nil)
  }

  @Test func sendingToAHelperThatIsGoneFailsWithoutSIGPIPE() {
    let pair = channels()
    pair.helper.close()
    // Without MSG_NOSIGNAL this would end the test process.
    let sent = pair.module.send(HelperFrame(.answer, [UInt8]("123456".utf8)))
    #expect(!sent)
  }

  @Test func anAnswerThatNeverComesEndsTheWait() {
    let pair = channels()
    #expect(pair.module.receive(timeoutSeconds: 1) == nil)
  }
}
