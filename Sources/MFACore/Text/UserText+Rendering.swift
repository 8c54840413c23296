import CLibc

/// The message in the language of this process's LC_MESSAGES (the application's choice: the
/// module never calls setlocale), with its values filled in by our own code: a catalog's text
/// never reaches printf, so a bad .mo can at worst show a wrong word, never crash sshd.
extension UserText {
  /// The bytes to show, in the encoding of the application's locale (gettext converts).
  public func rendered() -> [UInt8] {
    fill(translated ? translation() : english)
  }

  /// The catalog's text for this message, or the English one.
  func translation() -> [UInt8] {
    // dgettext("") would return the catalog's header.
    guard !english.isEmpty else { return [] }
    let one = english + [0]
    let other = (englishPlural ?? english) + [0]
    let plural = englishPlural != nil
    let amount = UInt(truncatingIfNeeded: count)
    // Copied inside: an untranslated message comes back as a pointer into `one` or `other`.
    return one.withUnsafeBufferPointer { one in
      other.withUnsafeBufferPointer { other in
        one.withMemoryRebound(to: CChar.self) { one in
          other.withMemoryRebound(to: CChar.self) { other in
            guard let singular = one.baseAddress, let pluralForm = other.baseAddress else { return [] }
            let found = plural ? mfa_translate_plural(singular, pluralForm, amount) : mfa_translate(singular)
            return found.map { HostSystem.bytes($0) } ?? []
          }
        }
      }
    }
  }

  /// What the English text's directives stand for, in their order: `%d` the count, each `%s`
  /// the next value. A translation may reorder them with `%1$s`, as C's printf allows.
  func arguments() -> [[UInt8]] {
    var result: [[UInt8]] = []
    var nextValue = 0
    for directive in UserText.directives(in: englishPlural ?? english) {
      if directive == UserText.integer {
        result.append(Array(String(count).utf8))
      } else if nextValue < values.count {
        let value = values[nextValue]
        result.append(value.message.first.map { $0.rendered() } ?? value.bytes)
        nextValue += 1
      }
    }
    return result
  }

  /// `format` with `%s`, `%d`, `%N$s`, `%N$d` and `%%` replaced; anything else (an unknown
  /// directive, a position out of range) stays as it is.
  func fill(_ format: [UInt8]) -> [UInt8] {
    let arguments = arguments()
    var out: [UInt8] = []
    // Sized once (with room for a C string's NUL): a value may be a code, and a growing buffer
    // would leave freed copies of it.
    out.reserveCapacity(format.count + arguments.reduce(1) { $0 + $1.count })
    var sequential = 0
    var index = 0
    while index < format.count {
      guard format[index] == UserText.percent, let directive = UserText.directive(in: format, at: index) else {
        out.append(format[index])
        index += 1
        continue
      }
      index = directive.end
      if directive.kind == UserText.percent {
        out.append(UserText.percent)
        continue
      }
      let position = directive.position ?? sequential
      if directive.position == nil { sequential += 1 }
      if position < arguments.count {
        out += arguments[position]
      } else {
        out += format[directive.start..<directive.end]
      }
    }
    return out
  }

  static let percent = UInt8(ascii: "%")
  static let integer = UInt8(ascii: "d")
  static let string = UInt8(ascii: "s")

  /// One `%…` directive: where it starts and ends, its conversion (`s`, `d`, or `%`), and the
  /// argument it names (0-based) when it has a `N$`.
  struct Directive {
    var start: Int
    var end: Int
    var kind: UInt8
    var position: Int?
  }

  /// The directive at `start` (a `%`); nil when it is not one we fill.
  static func directive(in format: [UInt8], at start: Int) -> Directive? {
    var cursor = start + 1
    guard cursor < format.count else { return nil }
    if format[cursor] == percent { return Directive(start: start, end: cursor + 1, kind: percent, position: nil) }
    var number = 0
    while cursor < format.count, ASCII.isDigit(format[cursor]), number < 1000 {
      number = number * 10 + Int(format[cursor] - ASCII.zero)
      cursor += 1
    }
    var position: Int?
    if cursor > start + 1 {
      guard number > 0, cursor < format.count, format[cursor] == UInt8(ascii: "$") else { return nil }
      position = number - 1
      cursor += 1
    }
    guard cursor < format.count, format[cursor] == string || format[cursor] == integer else { return nil }
    return Directive(start: start, end: cursor + 1, kind: format[cursor], position: position)
  }

  /// The conversions of `format`'s directives (`s` or `d`), in order.
  static func directives(in format: [UInt8]) -> [UInt8] {
    var kinds: [UInt8] = []
    var index = 0
    while index < format.count {
      guard format[index] == percent, let directive = directive(in: format, at: index) else {
        index += 1
        continue
      }
      if directive.kind != percent { kinds.append(directive.kind) }
      index = directive.end
    }
    return kinds
  }
}
