import MFACore

/// XML Schema's dateTime ("2037-12-31T00:00:00Z", fractions and "+01:00" allowed; no zone is
/// taken as UTC) as seconds since the epoch.
enum XMLDateTime {
  static func parse(_ text: [UInt8]) -> Int64? {
    guard text.count >= 19, text[10] == 0x54, text[13] == 0x3A, text[16] == 0x3A,
      let days = CivilDate.parse(Array(text[0..<10])), let hour = number(text[11..<13]),
      let minute = number(text[14..<16]), let second = number(text[17..<19]), hour < 24, minute < 60, second < 60
    else { return nil }
    var rest = text[19...]
    if rest.first == 0x2E {  // fractions of a second
      rest = rest.dropFirst()
      let digits = rest.prefix { ASCIIClass.isDigit($0) }
      guard !digits.isEmpty else { return nil }
      rest = rest.dropFirst(digits.count)
    }
    var offset: Int64 = 0
    if rest.first == 0x5A {  // Z
      rest = rest.dropFirst()
    } else if let sign = rest.first, sign == 0x2B || sign == 0x2D {
      guard rest.count == 6, rest[rest.startIndex + 3] == 0x3A,
        let hours = number(rest.dropFirst().prefix(2)), let minutes = number(rest.suffix(2)), hours <= 14, minutes < 60
      else { return nil }
      offset = (hours * 60 + minutes) * 60 * (sign == 0x2B ? 1 : -1)
      rest = rest.dropFirst(6)
    }
    guard rest.isEmpty else { return nil }
    return days * 86_400 + hour * 3600 + minute * 60 + second - offset
  }

  /// "2037-12-31 00:00 UTC".
  static func format(_ seconds: Int64) -> String {
    let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    let inDay = seconds - days * 86_400
    let hour = inDay / 3600
    let minute = inDay % 3600 / 60
    return CivilDate.format(days: days) + " " + (hour < 10 ? "0" : "") + String(hour) + ":" + (minute < 10 ? "0" : "")
      + String(minute) + " UTC"
  }

  static func number(_ digits: ArraySlice<UInt8>) -> Int64? {
    guard !digits.isEmpty, digits.allSatisfy(ASCIIClass.isDigit) else { return nil }
    return digits.reduce(0) { $0 * 10 + Int64($1 - 0x30) }
  }
}
