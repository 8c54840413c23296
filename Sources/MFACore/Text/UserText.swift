/// A message for the person at the prompt: English text marked for translation in the text
/// domain `pam_mfa`, and the values it names. It is translated only where it is shown
/// (`rendered()`, in the process of the application whose language it is): mfa_chkcode sends
/// it to the module as it is (UserText+Frame.swift).
///
/// Marking: `UserText("…")` and `UserText.plural("…", "…", count: n)` take string literals
/// only, which `make pot` extracts (xgettext keywords `UserText:1` and `plural:1,2`); one literal
/// each, never `+`-joined. Syslog lines are plain `String`s and stay English.
public struct UserText: Sendable {
  /// The msgid, and the msgid_plural of a message with a count.
  var english: [UInt8]
  var englishPlural: [UInt8]?
  /// Chooses the plural form and fills `%d`.
  var count: UInt64
  /// What fills the `%s` of the text, in order.
  var values: [Value]
  /// Whether `english` is looked up in the catalog (false only for `verbatim`).
  var translated: Bool

  /// A value in a message: bytes shown as they are, or another message.
  public struct Value: Sendable {
    /// Shown as it is (a user name, an address, the admin's `contact=`, a QR code).
    var bytes: [UInt8]
    /// Another message, translated too (a duration, the default contact): none or one.
    var message: [UserText]

    public static func verbatim(_ bytes: [UInt8]) -> Value { Value(bytes: bytes, message: []) }
    public static func verbatim(_ text: String) -> Value { Value(bytes: Array(text.utf8), message: []) }
    public static func text(_ message: UserText) -> Value { Value(bytes: [], message: [message]) }
  }

  /// A message without a count; `%s` in it are filled with `values` in order.
  public init(_ english: StaticString, _ values: Value...) {
    self.init(english: UserText.bytes(english), plural: nil, count: 0, values: values)
  }

  /// A message whose wording depends on `count` (ngettext); `%d` is the count, `%s` the values.
  public static func plural(_ one: StaticString, _ other: StaticString, count: Int64, _ values: Value...)
    -> UserText
  {
    UserText(
      english: bytes(one), plural: bytes(other), count: UInt64(clamping: max(0, count)), values: values)
  }

  /// Text that is not translated (the QR code's lines).
  public static func verbatim(_ text: String) -> UserText {
    UserText(english: Array("%s".utf8), plural: nil, count: 0, values: [.verbatim(text)], translated: false)
  }

  init(english: [UInt8], plural: [UInt8]?, count: UInt64, values: [Value], translated: Bool = true) {
    self.english = english
    self.englishPlural = plural
    self.count = count
    self.values = values
    self.translated = translated
  }

  /// Overwrites the values (a message may carry backup codes or a code being sent).
  public mutating func wipe() {
    for index in values.indices {
      values[index].bytes.wipe()
      for inner in values[index].message.indices { values[index].message[inner].wipe() }
    }
  }

  private static func bytes(_ literal: StaticString) -> [UInt8] {
    literal.withUTF8Buffer { Array($0) }
  }
}
