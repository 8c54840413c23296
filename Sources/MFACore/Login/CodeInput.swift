/// Why a typed answer is not a code. All of them count as a failed attempt.
public enum CodeInputError: Error, Equatable {
  /// Nothing but spaces.
  case empty
  /// More than `CodeInput.maxLength` bytes, or more digits than any code has.
  case tooLong
  /// Anything but digits and spaces (letters, NUL, non-UTF-8 bytes, ...).
  case invalidCharacter
}

/// Turns what the user typed at the prompt into the digits of a one-time code.
public enum CodeInput {
  /// Longer answers are refused before any parsing work.
  public static let maxLength = 64

  /// The digits of `typed` with spaces and tabs removed ("123 456" → "123456").
  public static func digits(_ typed: [UInt8]) throws(CodeInputError) -> [UInt8] {
    if typed.count > maxLength { throw .tooLong }
    var digits: [UInt8] = []
    for byte in typed {
      if ASCII.isBlank(byte) { continue }
      guard ASCII.isDigit(byte) else {
        digits.wipe()
        throw .invalidCharacter
      }
      digits.append(byte)
    }
    if digits.isEmpty { throw .empty }
    if digits.count > Authenticator.digitRange.upperBound {
      digits.wipe()
      throw .tooLong
    }
    return digits
  }
}
