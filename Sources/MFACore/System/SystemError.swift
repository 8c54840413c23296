import CLibc

/// A failed libc call: which operation, and the errno it left.
public struct SystemError: Error {
  /// What we were doing, e.g. "open", "rename".
  public let operation: String
  /// The errno value.
  public let code: Int32

  public init(_ operation: String, code: Int32) {
    self.operation = operation
    self.code = code
  }

  /// Captures errno right after a failed call.
  public static func last(_ operation: String) -> SystemError {
    SystemError(operation, code: mfa_errno())
  }

  /// "open: Permission denied" — for syslog and the CLI, never containing file contents.
  public var description: String {
    guard let text = strerror(code) else { return operation + ": error " + String(code) }
    return operation + ": " + String(cString: text)
  }
}

/// Retries a call that failed with EINTR; returns its result or throws the errno.
@inline(__always)
func retrying(_ operation: String, _ call: () -> Int32) throws(SystemError) -> Int32 {
  while true {
    let result = call()
    if result >= 0 { return result }
    let code = mfa_errno()
    if code != EINTR { throw SystemError(operation, code: code) }
  }
}
