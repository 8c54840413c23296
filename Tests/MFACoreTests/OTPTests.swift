import Testing

@testable import MFACore

/// Published vectors: RFC 4226 appendix D (HOTP) and RFC 6238 appendix B (TOTP).
@Suite struct OTPTests {
  static let rfcKey20 = [UInt8]("12345678901234567890")
  static let rfcKey32 = [UInt8]("12345678901234567890123456789012")
  static let rfcKey64 = [UInt8]("1234567890123456789012345678901234567890123456789012345678901234")

  @Test func hotpRFC4226Vectors() {
    let expected = [
      "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489",
    ]
    for (counter, code) in expected.enumerated() {
      let value = OTP.hotp(key: Self.rfcKey20, counter: UInt64(counter), digits: 6, algorithm: .sha1)
      #expect(value.map { $0.text } == code, "counter \(counter)")
    }
  }

  @Test(arguments: [
    (Int64(59), "94287082", "46119246", "90693936"),
    (1_111_111_109, "07081804", "68084774", "25091201"),
    (1_111_111_111, "14050471", "67062674", "99943326"),
    (1_234_567_890, "89005924", "91819424", "93441116"),
    (2_000_000_000, "69279037", "90698825", "38618901"),
    (20_000_000_000, "65353130", "77737706", "47863826"),
  ])
  func totpRFC6238Vectors(time: Int64, sha1: String, sha256: String, sha512: String) {
    let step = UInt64(OTP.timeStep(at: time, period: 30))
    #expect(OTP.hotp(key: Self.rfcKey20, counter: step, digits: 8, algorithm: .sha1)?.text == sha1)
    #expect(OTP.hotp(key: Self.rfcKey32, counter: step, digits: 8, algorithm: .sha256)?.text == sha256)
    #expect(OTP.hotp(key: Self.rfcKey64, counter: step, digits: 8, algorithm: .sha512)?.text == sha512)
    // Six digits are the last six of the eight (same truncation, smaller modulus).
    #expect(
      OTP.hotp(key: Self.rfcKey20, counter: step, digits: 6, algorithm: .sha1)?.text == String(sha1.suffix(6)))
  }

  @Test func timeStepFloorsNegativeTimes() {
    #expect(OTP.timeStep(at: 0, period: 30) == 0)
    #expect(OTP.timeStep(at: 29, period: 30) == 0)
    #expect(OTP.timeStep(at: 30, period: 30) == 1)
    #expect(OTP.timeStep(at: -1, period: 30) == -1)
  }

  @Test func constantTimeEqualCompares() {
    #expect(constantTimeEqual([1, 2, 3], [1, 2, 3]))
    #expect(!constantTimeEqual([1, 2, 3], [1, 2, 4]))
    #expect(!constantTimeEqual([1, 2], [1, 2, 3]))
  }
}

/// RFC 4648 §10 test vectors.
@Suite struct Base32Tests {
  static let vectors = [
    ("", ""), ("f", "MY======"), ("fo", "MZXQ===="), ("foo", "MZXW6==="), ("foob", "MZXW6YQ="),
    ("fooba", "MZXW6YTB"), ("foobar", "MZXW6YTBOI======"),
  ]

  @Test func encodesRFC4648Vectors() {
    for (plain, encoded) in Self.vectors {
      #expect(Base32.encode([UInt8](plain)).text == encoded)
    }
  }

  @Test func decodesRFC4648Vectors() {
    for (plain, encoded) in Self.vectors {
      #expect(Base32.decode([UInt8](encoded)) == [UInt8](plain))
      // Padding is optional and case does not matter (apps and people type both ways).
      let bare = String(encoded.filter { $0 != "=" }).lowercased()
      #expect(Base32.decode([UInt8](bare)) == [UInt8](plain))
    }
  }

  @Test func rejectsInvalidInput() {
    #expect(Base32.decode([UInt8]("MZXW6YT1")) == nil)  // "1" is not in the alphabet
    #expect(Base32.decode([UInt8]("MZX W6")) == nil)  // no spaces
    #expect(Base32.decode([UInt8]("M")) == nil)  // impossible length
    #expect(Base32.decode([UInt8]("MZ")) == nil)  // non-zero trailing bits
  }

  @Test func roundTripsRandomKeys() throws {
    for length in 0..<70 {
      let key = try SystemRandom.bytes(length)
      #expect(Base32.decode(Base32.encode(key, padding: false)) == key)
    }
  }
}
