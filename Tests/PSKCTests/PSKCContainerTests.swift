import Glibc
import MFACore
import Testing

@testable import PSKC

/// PSKC containers (RFC 6030): the RFC's own examples, choosing a key, and what is refused.
@Suite struct PSKCContainerTests {
  /// RFC 6030 §6.1 (figure 6), as published: AES-128-CBC under this pre-shared key; the MAC key
  /// is encrypted too, the ValueMAC is HMAC-SHA1 over IV and ciphertext, the key is RFC 4226's.
  static let rfcPreSharedKey: [UInt8] = [
    0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12,
  ]
  static let figure6 = readFixture("rfc6030-figure6.pskcxml")

  /// A file beside this one (shared with the e2e tests' mfatest.pskc).
  static func readFixture(_ name: String, here: String = #filePath) -> String {
    let directory = here.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    guard let file = try? FileDescriptor.open(directory + "/" + name, O_RDONLY),
      let bytes = try? file.readAll(maxSize: 1 << 16)
    else { return "" }
    return bytes.text
  }

  /// A plain container of `packages`, prefixed "p:" to show that prefixes do not matter.
  static func plain(_ packages: String) -> String {
    "<p:KeyContainer Version=\"1.0\" xmlns:p=\"urn:ietf:params:xml:ns:keyprov:pskc\">\(packages)</p:KeyContainer>"
  }

  /// A plain package in the prefixed container (RFC 6030 figure 3's key).
  static func package(
    serial: String = "987654321", algorithm: String = "urn:ietf:params:xml:ns:keyprov:pskc:hotp",
    format: String = "<p:ResponseFormat Length=\"8\" Encoding=\"DECIMAL\"/>", data: String = "", policy: String = ""
  ) -> String {
    """
    <p:KeyPackage><p:DeviceInfo><p:SerialNo>\(serial)</p:SerialNo></p:DeviceInfo>
    <p:Key Id="k" Algorithm="\(algorithm)"><p:AlgorithmParameters>\(format)</p:AlgorithmParameters>
    <p:Data><p:Secret><p:PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</p:PlainValue></p:Secret>\(data)</p:Data>
    \(policy)</p:Key></p:KeyPackage>
    """
  }

  static let now: Int64 = 1_800_000_000

  static func token(_ text: String, serial: String? = nil, key: [UInt8]? = nil) throws(PSKCError) -> PSKCToken {
    let container = try PSKCContainer.parse(Array(text.utf8))
    let package = try container.select(serial: serial)
    return try container.token(package, name: package.defaultName, preSharedKey: key, now: now)
  }

  static func refusal(_ text: String, key: [UInt8]? = nil) -> PSKCError? {
    do throws(PSKCError) {
      _ = try token(text, key: key)
      return nil
    } catch {
      return error
    }
  }

  @Test func rfc6030Figure6Decrypts() throws {
    let token = try Self.token(Self.figure6, key: Self.rfcPreSharedKey)
    #expect(token.authenticator.key == Array("12345678901234567890".utf8))
    #expect(token.authenticator.kind == .hotp && token.authenticator.counter == 0)
    #expect(token.authenticator.digits == 8 && token.authenticator.algorithm == .sha1)
    #expect(token.authenticator.name.text == "token-987654321")
    #expect(token.wasEncrypted && token.expiry == nil)
    // The imported key gives RFC 4226's codes (8 digits: the same truncation, a larger modulus).
    #expect(OTP.hotp(key: token.authenticator.key, counter: 0, digits: 6, algorithm: .sha1)?.text == "755224")
  }

  @Test func rfc6030Figure6WithoutOrWithAWrongKey() {
    guard case .keyFile(let text) = Self.refusal(Self.figure6) else {
      Issue.record("no key file error")
      return
    }
    #expect(text.contains("KeyName Pre-shared-key"))
    var wrong = Self.rfcPreSharedKey
    wrong[0] ^= 1
    guard case .integrity = Self.refusal(Self.figure6, key: wrong) else {
      Issue.record("a wrong key was not refused")
      return
    }
    guard case .keyFile = Self.refusal(Self.figure6, key: Self.rfcPreSharedKey + Array(repeating: 0, count: 16))
    else {
      Issue.record("a 256-bit key for aes128-cbc was not refused")
      return
    }
  }

  @Test func tamperedCiphertextOrMACIsRefusedBeforeDecrypting() {
    for (from, to) in [("lef1VmNPCMl8", "lef1VmNPCMl9"), ("Su+NvtQf", "Su+MvtQf"), ("ESIzRFVm", "ESIzRFVn")] {
      let tampered = Self.figure6.replacing(from, with: to)
      guard case .integrity(let text) = Self.refusal(tampered, key: Self.rfcPreSharedKey) else {
        Issue.record("\(from) → \(to) was not refused")
        continue
      }
      #expect(text.contains("a wrong key file, or a tampered file"))
    }
  }

  @Test func plainHOTPFromAnyPrefix() throws {
    let token = try Self.token(
      Self.plain(Self.package(data: "<p:Counter><p:PlainValue> 42 </p:PlainValue></p:Counter>")))
    #expect(token.authenticator.key == Array("12345678901234567890".utf8))
    #expect(token.authenticator.counter == 42 && !token.wasEncrypted)
  }

  @Test func plainTOTPWithSuiteAndInterval() throws {
    let token = try Self.token(
      Self.plain(
        Self.package(
          algorithm: "urn:ietf:params:xml:ns:keyprov:pskc:totp",
          format: "<p:Suite>HMAC-SHA512</p:Suite><p:ResponseFormat Length=\"6\" Encoding=\"DECIMAL\"/>",
          data: "<p:Time><p:PlainValue>0</p:PlainValue></p:Time>"
            + "<p:TimeInterval><p:PlainValue>60</p:PlainValue></p:TimeInterval>",
          policy: "<p:Policy><p:ExpiryDate>2037-12-31T00:00:00Z</p:ExpiryDate>"
            + "<p:PINPolicy PINUsageMode=\"Local\" MinLength=\"4\"/><p:KeyUsage>OTP</p:KeyUsage></p:Policy>")))
    #expect(token.authenticator.kind == .totp && token.authenticator.period == 60)
    #expect(token.authenticator.algorithm == .sha512 && token.authenticator.digits == 6)
    #expect(token.expiry == 2_145_830_400)
  }

  @Test func serialPicksOneOfSeveral() throws {
    let text = Self.plain(Self.package(serial: "A1") + Self.package(serial: "B/2") + "<p:KeyPackage/>")
    let container = try PSKCContainer.parse(Array(text.utf8))
    #expect(container.packages.count == 2)
    #expect(throws: PSKCError.self) { try container.select(serial: nil) }
    #expect(throws: PSKCError.self) { try container.select(serial: "C3") }
    let chosen = try container.select(serial: "B/2")
    #expect(chosen.serial == "B/2" && chosen.defaultName.text == "token-B-2")
  }

  @Test(arguments: [
    ("urn:ietf:params:xml:ns:keyprov:pskc#OCRA-1:HOTP-SHA1-6:QN08", "", "", "", "algorithm"),
    ("", "<p:ResponseFormat Length=\"8\" Encoding=\"ALPHANUMERIC\"/>", "", "", "Encoding ALPHANUMERIC"),
    ("", "<p:ResponseFormat Length=\"8\" Encoding=\"HEXADECIMAL\"/>", "", "", "Encoding HEXADECIMAL"),
    ("", "<p:ResponseFormat Length=\"5\" Encoding=\"DECIMAL\"/>", "", "", "5 digits long"),
    ("", "<p:ResponseFormat Length=\"6\" Encoding=\"DECIMAL\" CheckDigits=\"true\"/>", "", "", "check digit"),
    ("", "<p:Suite>HMAC-MD5</p:Suite><p:ResponseFormat Length=\"6\" Encoding=\"DECIMAL\"/>", "", "", "Suite"),
    (
      "",
      "<p:ChallengeFormat Encoding=\"DECIMAL\" Min=\"4\" Max=\"8\"/><p:ResponseFormat Length=\"6\" Encoding=\"DECIMAL\"/>",
      "", "", "challenge"
    ),
    ("", "", "", "<p:Policy><p:PINPolicy PINUsageMode=\"Prepend\"/></p:Policy>", "PINUsageMode Prepend"),
    ("", "", "", "<p:Policy><p:PINPolicy PINUsageMode=\"Append\"/></p:Policy>", "PINUsageMode Append"),
    ("", "", "", "<p:Policy><p:PINPolicy PINUsageMode=\"Local\" Odd=\"1\"/></p:Policy>", "Odd"),
    ("", "", "", "<p:Policy><p:KeyUsage>CR</p:KeyUsage></p:Policy>", "does not include OTP"),
    ("", "", "", "<p:Policy><p:NumberOfTransactions>5</p:NumberOfTransactions></p:Policy>", "NumberOfTransactions"),
    ("", "", "", "<p:Policy><p:Unknown/></p:Policy>", "does not understand"),
    ("", "", "", "<p:Policy><p:ExpiryDate>2020-01-01T00:00:00Z</p:ExpiryDate></p:Policy>", "expired on 2020-01-01"),
    ("", "", "", "<p:Policy><p:StartDate>2099-01-01T00:00:00Z</p:StartDate></p:Policy>", "not valid before"),
    ("", "", "<p:Counter><p:PlainValue>-1</p:PlainValue></p:Counter>", "", "negative Counter"),
    (
      "urn:ietf:params:xml:ns:keyprov:pskc:totp", "",
      "<p:TimeInterval><p:PlainValue>301</p:PlainValue></p:TimeInterval>",
      "", "TimeInterval of 301"
    ),
    ("urn:ietf:params:xml:ns:keyprov:pskc:totp", "", "<p:Time><p:PlainValue>30</p:PlainValue></p:Time>", "", "T0"),
    (
      "urn:ietf:params:xml:ns:keyprov:pskc:totp", "", "<p:TimeDrift><p:PlainValue>2</p:PlainValue></p:TimeDrift>",
      "", "TimeDrift"
    ),
  ])
  func refusals(algorithm: String, format: String, data: String, policy: String, reason: String) {
    let text = Self.plain(
      Self.package(
        algorithm: algorithm.isEmpty ? "urn:ietf:params:xml:ns:keyprov:pskc:hotp" : algorithm,
        format: format.isEmpty ? "<p:ResponseFormat Length=\"8\" Encoding=\"DECIMAL\"/>" : format, data: data,
        policy: policy))
    let found = Self.refusal(text)
    #expect(found?.description.contains(reason) == true, "\(reason): \(found?.description ?? "accepted")")
  }

  @Test func otherEncryptionSetUpsAreRefused() {
    let pbkdf2 = Self.figure6.replacing(
      "<ds:KeyName>Pre-shared-key</ds:KeyName>",
      with: "<xenc11:DerivedKey xmlns:xenc11=\"http://www.w3.org/2009/xmlenc11#\"/>")
    #expect(Self.refusal(pbkdf2, key: Self.rfcPreSharedKey)?.description.contains("PBKDF2") == true)
    let keyWrap = Self.figure6.replacing("aes128-cbc", with: "kw-aes128")
    #expect(Self.refusal(keyWrap, key: Self.rfcPreSharedKey)?.description.contains("key wrap") == true)
    let noMAC = Self.figure6.replacing("<ValueMAC>Su+NvtQfmvfJzF6bmQiJqoLRExc=", with: "<!--")
      .replacing("</ValueMAC>", with: "-->")
    #expect(Self.refusal(noMAC, key: Self.rfcPreSharedKey)?.description.contains("no ValueMAC") == true)
    let md5MAC = Self.figure6.replacing("xmldsig#hmac-sha1", with: "xmldsig#hmac-md5")
    #expect(Self.refusal(md5MAC, key: Self.rfcPreSharedKey)?.description.contains("MAC algorithm") == true)
  }

  @Test func notPSKC() {
    for text in [
      "<KeyContainer Version=\"1.0\"/>", "<KeyContainer xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc:1.0\"/>",
      "<KeyContainer Version=\"2.0\" xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\"/>", "not xml",
    ] {
      #expect(throws: PSKCError.self) { try PSKCContainer.parse(Array(text.utf8)) }
    }
  }
}
