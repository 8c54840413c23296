/// Why a document was refused, with the line where the reader stopped.
public struct XMLError: Error, Equatable, CustomStringConvertible {
  /// 1-based line of the input.
  public let line: Int
  public let reason: String

  public init(line: Int, _ reason: String) {
    self.line = line
    self.reason = reason
  }

  public var description: String { "line \(line): \(reason)" }
}
