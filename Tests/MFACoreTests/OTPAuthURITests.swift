import Testing

@testable import MFACore

@Suite struct OTPAuthURITests {
  static let authenticator = Authenticator(
    name: Authenticator.defaultName, algorithm: .sha1, digits: 6, period: 30,
    key: [UInt8]("12345678901234567890"))

  @Test func buildsKeyURIFormat() {
    let uri = OTPAuthURI.totp(issuer: "ACME Corp", label: "alice@example.com", authenticator: Self.authenticator)
    #expect(
      uri
        == "otpauth://totp/ACME%20Corp:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        + "&issuer=ACME%20Corp&algorithm=SHA1&digits=6&period=30")
  }

  @Test func percentEncodesEverythingButUnreserved() {
    #expect(OTPAuthURI.percentEncode([UInt8]("a-b.c_d~e")).text == "a-b.c_d~e")
    #expect(OTPAuthURI.percentEncode([UInt8]("a:b/c?d&e=f g")).text == "a%3Ab%2Fc%3Fd%26e%3Df%20g")
    #expect(OTPAuthURI.percentEncode([UInt8]("é")).text == "%C3%A9")
  }

  @Test func omitsEmptyIssuer() {
    let uri = OTPAuthURI.totp(issuer: "", label: "bob", authenticator: Self.authenticator)
    #expect(uri.hasPrefix("otpauth://totp/bob?secret="))
    #expect(!uri.contains("issuer="))
  }

  @Test func groupsSetupKeyInFours() {
    #expect(OTPAuthURI.groupedKey(Self.authenticator.key) == "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ")
  }
}
