import CLibc
import MFACore

/// LoginHost for mfa_chkcode: the conversation goes to pam_mfa.so over the pipes, everything
/// else is this root process's own (user database, configuration file, syslog, clock).
final class HelperHost: LoginHost {
  let channel: HelperChannel
  /// The login asked for a pause after a failure; the helper makes it itself, so a caller who
  /// runs it directly waits too.
  private(set) var failureDelayRequested = false

  init(channel: consuming HelperChannel) {
    self.channel = channel
  }

  func lookupUser(_ name: [UInt8]) -> UserAccount? {
    HostSystem.lookupUser(name)
  }

  func readConfigFile(_ path: String) throws(FileError) -> [UInt8]? {
    try HostSystem.readConfigFile(path)
  }

  /// Messages go untranslated: the module renders them in the application's language.
  func prompt(_ text: UserText, echo: Bool) -> [UInt8]? {
    guard channel.send(HelperFrame(echo ? .shownPrompt : .hiddenPrompt, text.encoded)),
      var reply = channel.receive(timeoutSeconds: HelperFrame.answerTimeoutSeconds)
    else { return nil }
    guard reply.kind == .answer else {
      reply.wipe()
      return nil
    }
    return reply.payload
  }

  func tell(_ text: UserText, isError: Bool) {
    var frame = HelperFrame(isError ? .error : .info, text.encoded)
    _ = channel.send(frame)
    frame.wipe()
  }

  // One-prompt modes and enrollment at login are refused before they could use these.
  func authToken() -> [UInt8]? { nil }
  func setAuthToken(_ token: [UInt8]) -> Bool { false }
  func qrCode(_ text: String) -> QRMatrix? { nil }
  func keep(_ bytes: [UInt8], in slot: HandleSlot) -> Bool { false }
  func take(_ slot: HandleSlot) -> [UInt8]? { nil }

  func hostName() -> [UInt8] {
    HostSystem.hostName()
  }

  func isMember(_ account: UserAccount, ofGroup group: [UInt8]) -> Bool? {
    HostSystem.isMember(account, ofGroup: group)
  }

  func requestFailureDelay() {
    failureDelayRequested = true
  }

  func now() -> Int64 {
    Int64(time(nil))
  }

  func log(_ priority: LogPriority, _ message: String) {
    LogText.escaped(message).withCString { mfa_syslog(priority.rawValue, $0) }
  }

  /// The user's own files are read with the user's file-system ids.
  func asUser<Value>(_ account: UserAccount, _ body: () throws(FileError) -> Value) throws(FileError) -> Value {
    try withUserIdentity(account, body)
  }
}
