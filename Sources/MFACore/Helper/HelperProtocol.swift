import CLibc

/// What pam_mfa.so, running as the user (a screen locker), and mfa_chkcode, the setuid helper
/// that checks the code with root's rights, say to each other: frames of one kind byte, a
/// two-byte big-endian length and the payload, on the helper's stdin and stdout. The helper
/// speaks first (prompts and messages) and last (the verdict); the module only answers.
public struct HelperFrame {
  public enum Kind: UInt8 {
    // Helper to module.
    case hiddenPrompt = 0x70  // p
    case shownPrompt = 0x50  // P
    case error = 0x65  // e
    case info = 0x69  // i
    case verdict = 0x76  // v
    // Module to helper.
    case answer = 0x61  // a
    case noAnswer = 0x6e  // n
  }

  /// Far more than a prompt, a message or anything a person types at one.
  public static let maxPayload = 4096
  /// How long the helper waits for an answer: a prompt left alone longer ends the attempt, so a
  /// forgotten one does not hold a directory connection.
  public static let answerTimeoutSeconds: Int32 = 600

  public var kind: Kind
  public var payload: [UInt8]

  public init(_ kind: Kind, _ payload: [UInt8] = []) {
    self.kind = kind
    self.payload = payload
  }

  public mutating func wipe() {
    payload.wipe()
  }
}

/// The two pipe ends one side of the conversation holds.
public struct HelperChannel {
  public let input: Int32
  public let output: Int32

  public init(input: Int32, output: Int32) {
    self.input = input
    self.output = output
  }

  /// False when the other side is gone (a longer payload is cut to the limit).
  public func send(_ frame: HelperFrame) -> Bool {
    let count = min(frame.payload.count, HelperFrame.maxPayload)
    var bytes = [frame.kind.rawValue, UInt8(count >> 8), UInt8(count & 0xff)] + frame.payload[0..<count]
    defer { bytes.wipe() }
    var sent = 0
    while sent < bytes.count {
      let result = bytes.withUnsafeBytes { raw -> Int in
        guard let base = raw.baseAddress else { return 0 }
        // MSG_NOSIGNAL: a helper that died must not kill the application with SIGPIPE.
        let done = CLibc.send(output, base + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
        // Not a socket (the helper run by hand on pipes): a plain write; it ignores SIGPIPE.
        return done < 0 && mfa_errno() == ENOTSOCK ? CLibc.write(output, base + sent, raw.count - sent) : done
      }
      if result < 0 && mfa_errno() == EINTR { continue }
      guard result > 0 else { return false }
      sent += result
    }
    return true
  }

  /// The next frame; nil at the end of the stream, on anything malformed, or when nothing
  /// arrives within `timeoutSeconds` (nil: wait as long as it takes).
  public func receive(timeoutSeconds: Int32? = nil) -> HelperFrame? {
    if let timeoutSeconds {
      var ready = pollfd(fd: input, events: Int16(POLLIN), revents: 0)
      var waited: Int32
      repeat { waited = poll(&ready, 1, timeoutSeconds * 1000) } while waited < 0 && mfa_errno() == EINTR
      guard waited > 0 else { return nil }
    }
    guard let header = read(3), let kind = HelperFrame.Kind(rawValue: header[0]) else { return nil }
    let count = Int(header[1]) << 8 | Int(header[2])
    guard count <= HelperFrame.maxPayload, let payload = read(count) else { return nil }
    return HelperFrame(kind, payload)
  }

  private func read(_ count: Int) -> [UInt8]? {
    var buffer = [UInt8](repeating: 0, count: count)
    var filled = 0
    while filled < count {
      let got = buffer.withUnsafeMutableBytes { raw -> Int in
        guard let base = raw.baseAddress else { return 0 }
        return CLibc.read(input, base + filled, count - filled)
      }
      if got < 0 && mfa_errno() == EINTR { continue }
      if got <= 0 {
        buffer.wipe()
        return nil
      }
      filled += got
    }
    return buffer
  }
}

/// The helper's command line: `mfa_chkcode USER SERVICE [nullok]`. The user must be the
/// caller's own account; the service name only goes into audit lines; `nullok` is the one
/// setting a caller may pass (as unix_chkpwd's), because it decides only for a user with no
/// enrollment at all. Everything else comes from pam_mfa.conf.
public struct HelperRequest: Equatable {
  public var user: [UInt8]
  public var service: [UInt8]
  public var nullOK: Bool

  public init(user: [UInt8], service: [UInt8], nullOK: Bool) {
    self.user = user
    self.service = service
    self.nullOK = nullOK
  }

  /// argv after the program name.
  public var arguments: [[UInt8]] {
    [user, service] + (nullOK ? [[UInt8]("nullok")] : [])
  }

  /// nil for anything else, such as a code in argv.
  public init?(arguments: [[UInt8]]) {
    guard arguments.count == 2 || (arguments.count == 3 && arguments[2] == [UInt8]("nullok")) else { return nil }
    guard PathTemplate.isSafeUserName(arguments[0]), HelperRequest.isServiceName(arguments[1]) else { return nil }
    self.init(user: arguments[0], service: arguments[1], nullOK: arguments.count == 3)
  }

  /// PAM service names are file names in /etc/pam.d.
  static func isServiceName(_ name: [UInt8]) -> Bool {
    !name.isEmpty && name.count <= 64 && name.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != ASCII.slash }
  }
}

extension LoginOutcome {
  /// The verdict frame's one byte.
  public var helperCode: UInt8 {
    switch self {
    case .accepted: return 0
    case .notEnrolledAllowed: return 1
    case .denied: return 2
    case .lockedOut: return 3
    case .configurationError: return 4
    case .unknownUser: return 5
    case .conversationFailed: return 6
    }
  }

  public init?(helperCode: UInt8) {
    let all: [LoginOutcome] = [
      .accepted, .notEnrolledAllowed, .denied, .lockedOut, .configurationError, .unknownUser, .conversationFailed,
    ]
    guard let outcome = all.first(where: { $0.helperCode == helperCode }) else { return nil }
    self = outcome
  }
}
