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
  public var description: String { operation + ": " + reason }

  /// "Permission denied": strerror's text alone.
  public var reason: String {
    guard let text = strerror(code) else { return "error " + String(code) }
    return String(cString: text)
  }
}

/// The one way MFACore makes a libc call that reports failure as -1 and errno (swift-system's
/// `valueOrErrno(retryOnInterrupt:)`): an interrupted call (EINTR) is made again, any other
/// failure throws a `SystemError` named `operation`. Never for close(2), which must not be retried.
@inline(__always) @discardableResult
func retrying<Value: SignedInteger & FixedWidthInteger>(_ operation: String, _ call: () -> Value) throws(SystemError)
  -> Value
{
  while true {
    let result = call()
    if result >= 0 { return result }
    let code = mfa_errno()
    if code != EINTR { throw SystemError(operation, code: code) }
  }
}
