import Testing

@testable import MFACore

/// Messages for the person at the prompt: our own substitution (never printf with a catalog's
/// text), plural forms, and the untranslated form mfa_chkcode sends to the module.
@Suite struct UserTextTests {
  func filled(_ format: String, _ text: UserText) -> String {
    text.fill([UInt8](format)).text
  }

  @Test func theEnglishTextIsShownWhereThereIsNoCatalog() {
    // The test process never calls setlocale: the C locale, in which gettext returns the msgid.
    #expect(LoginText.lockedOut(for: 300).rendered().text == "Too many wrong codes. Try again in 5 minutes.")
    #expect(LoginText.describe(seconds: 1).rendered().text == "1 second")
    #expect(LoginText.describe(seconds: 61).rendered().text == "2 minutes")
    #expect(LoginText.describe(seconds: 7200).rendered().text == "2 hours")
  }

  @Test func valuesFillTheTranslationInOrderOrByPosition() {
    let text = UserText.plural(
      "%d code for %s at %s", "%d codes for %s at %s", count: 3, .verbatim("alice"), .verbatim("host"))
    #expect(filled("%d Codes für %s auf %s", text) == "3 Codes für alice auf host")
    #expect(filled("auf %3$s für %2$s: %1$d", text) == "auf host für alice: 3")
    #expect(text.rendered().text == "3 codes for alice at host")
  }

  @Test func aBadTranslationShowsWrongWordsButNeverReadsPastTheValues() {
    let text = UserText("Try again in %s.", .verbatim("5 minutes"))
    #expect(filled("%s %s %n %5d %0$s %9$s 100%% %", text) == "5 minutes %s %n %5d %0$s %9$s 100% %")
    #expect(filled("", text) == "")
  }

  @Test func aValueIsNeverReadAsAFormat() {
    #expect(UserText("Contact %s.", .verbatim("%s %d %n")).rendered().text == "Contact %s %d %n.")
    #expect(UserText.verbatim("50% %s").rendered().text == "50% %s")
  }

  @Test func theHelpersFormRoundTripsAndRefusesAnythingElse() {
    var codes = [UInt8]("    k7dq-2mxp-w9fh\n".utf8)
    let text = UserText(
      "Or add an account by hand: %s, setup key %s (time-based, 6 digits).", .verbatim(codes),
      .text(LoginText.describe(seconds: 90)))
    let decoded = UserText(encoded: text.encoded)
    #expect(decoded?.rendered() == text.rendered())
    #expect(UserText(encoded: UserText.verbatim("%d").encoded)?.rendered().text == "%d")
    #expect(UserText(encoded: [UInt8]("Wrong code.".utf8)) == nil)
    // Nested deeper than the limit: refused, not followed.
    var deep = UserText("x")
    for _ in 0..<5 { deep = UserText("%s", .text(deep)) }
    #expect(UserText(encoded: deep.encoded) == nil)
    codes.wipe()
  }

  @Test func wipingClearsTheValues() {
    var text = UserText("%s", .verbatim([UInt8]("k7dq-2mxp-w9fh".utf8)), .text(UserText("%s", .verbatim("secret"))))
    text.wipe()
    #expect(text.values[0].bytes.allSatisfy { $0 == 0 })
    #expect(text.values[1].message[0].values[0].bytes.allSatisfy { $0 == 0 })
  }
}
