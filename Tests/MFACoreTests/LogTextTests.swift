import Testing

@testable import MFACore

@Suite struct LogTextTests {
  @Test func printableASCIIPassesAndEverythingElseIsEscaped() {
    #expect(LogText.escaped("user=alice service=sshd rhost=192.0.2.7") == "user=alice service=sshd rhost=192.0.2.7")
    #expect(LogText.escaped("a\nb") == "a\\x0ab")
    #expect(LogText.escaped("a\\x0ab") == "a\\x5cx0ab")
    #expect(LogText.escaped("\u{1b}[31m\u{7f}\t\r") == "\\x1b[31m\\x7f\\x09\\x0d")
    #expect(LogText.escaped("é") == "\\xc3\\xa9")
  }
}
