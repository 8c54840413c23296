/// The shapes a setting's value may have, each checked one way.
extension ModuleOptions {
  static func splitOption(_ argument: [UInt8]) -> ([UInt8], [UInt8]?) {
    guard let equals = argument.firstIndex(of: ASCII.equals) else { return (argument, nil) }
    return (Array(argument[0..<equals]), Array(argument[(equals + 1)...]))
  }

  static func groupName(_ name: [UInt8], _ value: [UInt8]?) throws(OptionError) -> [UInt8] {
    guard let value, !value.isEmpty, value.count <= 64,
      !value.contains(where: { $0 <= 0x20 || $0 == ASCII.slash || $0 == 0x3A })
    else {
      throw .invalidValue(option: name.text, reason: "needs a group name")
    }
    return value
  }

  /// Words shown to the person at the prompt (contact=, prompt=): one short line of UTF-8 with
  /// no control characters, so no setting can move the cursor or rewrite the terminal.
  static func shownText(_ name: [UInt8], _ value: [UInt8]?, example: String) throws(OptionError) -> [UInt8] {
    guard let value, !value.isEmpty, value.count <= 200, ShownText.isPrintable(value) else {
      throw .invalidValue(
        option: name.text, reason: "needs a short line of text without control characters, e.g. " + example)
    }
    return value
  }

  static func absolutePath(_ name: [UInt8], _ value: [UInt8]?) throws(OptionError) -> String {
    guard value?.first == ASCII.slash else {
      throw .invalidValue(option: name.text, reason: "must be an absolute path")
    }
    return try path(name, value)
  }

  static func noValue(_ name: [UInt8], _ value: [UInt8]?) throws(OptionError) {
    if value != nil { throw .invalidValue(option: name.text, reason: "takes no value") }
  }

  static func path(_ name: [UInt8], _ value: [UInt8]?) throws(OptionError) -> String {
    guard let value, !value.isEmpty else { throw .invalidValue(option: name.text, reason: "needs a path") }
    return value.text
  }

  static func number(_ name: [UInt8], _ value: [UInt8]?, range: ClosedRange<Int64>) throws(OptionError) -> Int64 {
    guard let value, let number = parseDecimal(value), range.contains(number) else {
      throw .invalidValue(
        option: name.text,
        reason: "must be a number from " + String(range.lowerBound) + " to " + String(range.upperBound))
    }
    return number
  }

  /// Seconds, or a number with s, m, h or d ("90", "15m", "1d").
  static func duration(_ name: [UInt8], _ value: [UInt8]?, range: ClosedRange<Int64>) throws(OptionError) -> Int64 {
    guard var digits = value, let unit = digits.last else {
      throw .invalidValue(option: name.text, reason: "needs a duration such as 300, 5m or 1h")
    }
    var multiplier: Int64 = 1
    if !ASCII.isDigit(unit) {
      digits.removeLast()
      switch unit {
      case 0x73: multiplier = 1  // s
      case 0x6D: multiplier = 60  // m
      case 0x68: multiplier = 3600  // h
      case 0x64: multiplier = 86_400  // d
      default: throw .invalidValue(option: name.text, reason: "unit must be s, m, h or d")
      }
    }
    guard let number = parseDecimal(digits), number <= range.upperBound,
      range.contains(number * multiplier)
    else {
      throw .invalidValue(
        option: name.text,
        reason: "must be from " + String(range.lowerBound) + " to " + String(range.upperBound) + " seconds")
    }
    return number * multiplier
  }
}
