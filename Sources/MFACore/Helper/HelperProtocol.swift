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

/// What one side of the conversation holds: the module one socket both ways, the helper its
/// stdin and stdout (the same socket, or two pipes when it is run by hand).
public struct HelperChannel: ~Copyable {
  let input: FileDescriptor
  /// nil: `input` is a socket and carries the frames this side sends too.
  let output: FileDescriptor?

  public init(socket: consuming FileDescriptor) {
    input = socket
    output = nil
  }

  public init(input: consuming FileDescriptor, output: consuming FileDescriptor) {
    self.input = input
    self.output = .some(output)
  }

  /// Closes this side: the other sees the end of the stream.
  public consuming func close() {}

  /// False when the other side is gone (a longer payload is cut to the limit).
  public func send(_ frame: HelperFrame) -> Bool {
    let count = min(frame.payload.count, HelperFrame.maxPayload)
    var bytes = [frame.kind.rawValue, UInt8(count >> 8), UInt8(count & 0xff)] + frame.payload[0..<count]
    defer { bytes.wipe() }
    do throws(SystemError) {
      switch output {
      case .some(let output): try output.sendAll(bytes)
      case .none: try input.sendAll(bytes)
      }
    } catch {
      return false
    }
    return true
  }

  /// The next frame; nil at the end of the stream, on anything malformed, or when nothing
  /// arrives within `timeoutSeconds` (nil: wait as long as it takes).
  public func receive(timeoutSeconds: Int32? = nil) -> HelperFrame? {
    if let timeoutSeconds {
      guard (try? input.waitUntilReadable(timeoutSeconds: timeoutSeconds)) == true else { return nil }
    }
    guard let header = input.read(exactly: 3), let kind = HelperFrame.Kind(rawValue: header[0]) else { return nil }
    let count = Int(header[1]) << 8 | Int(header[2])
    guard count <= HelperFrame.maxPayload, let payload = input.read(exactly: count) else { return nil }
    return HelperFrame(kind, payload)
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
