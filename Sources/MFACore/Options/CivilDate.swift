/// Calendar dates without a time zone library: days since 1970-01-01 (UTC) for YYYY-MM-DD.
public enum CivilDate {
  /// Days since the epoch for "YYYY-MM-DD", or nil for anything else (including 2026-02-30).
  public static func parse(_ text: [UInt8]) -> Int64? {
    guard text.count == 10, text[4] == ASCII.dash, text[7] == ASCII.dash,
      let year = parseDecimal(Array(text[0..<4])), let month = parseDecimal(Array(text[5..<7])),
      let day = parseDecimal(Array(text[8..<10])), (1...12).contains(month), day >= 1,
      day <= daysInMonth(year: year, month: month)
    else { return nil }
    return days(year: year, month: month, day: day)
  }

  /// "2026-11-27" for a day number.
  public static func format(days: Int64) -> String {
    // Inverse of `days`, by the same shifted-March calendar.
    let shifted = days + 719_468
    let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
    let dayOfEra = shifted - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthIndex = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
    let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
  }

  static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
    // Count from 1 March so the leap day is the last day of the year.
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let monthIndex = month > 2 ? month - 3 : month + 9
    let dayOfYear = (153 * monthIndex + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
  }

  static func daysInMonth(year: Int64, month: Int64) -> Int64 {
    switch month {
    case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
  }

  static func pad(_ value: Int64, _ width: Int) -> String {
    var text = String(value)
    while text.utf8.count < width { text = "0" + text }
    return text
  }
}
