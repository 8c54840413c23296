import Testing

@testable import MFACore

/// 32 bytes of base32 (a well-formed hash value).
let hash32 = "AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ"

@Suite struct SecretFileFormatTests {
  static let key = [UInt8]("12345678901234567890")

  func parse(_ text: String) throws(FormatError) -> Enrollment {
    try SecretFileFormat.parse([UInt8](text))
  }

  func lineOfError(_ text: String) -> Int? {
    do throws(FormatError) {
      _ = try parse(text)
      return nil
    } catch {
      return error.line
    }
  }

  @Test func roundTrips() throws {
    var enrollment = Enrollment(authenticators: [
      Authenticator(name: [UInt8]("default"), algorithm: .sha1, digits: 6, period: 30, key: Self.key),
      Authenticator(name: [UInt8]("tablet"), algorithm: .sha512, digits: 8, period: 60, key: Self.key + [1]),
    ])
    enrollment.authenticators[1].confirmedStep = 59_000_000
    let text = SecretFileFormat.serialize(enrollment)
    #expect(try SecretFileFormat.parse(text) == enrollment)
    #expect(text.text.contains("pam_mfa 1\n"))
  }

  @Test func appliesAppDefaults() throws {
    let enrollment = try parse("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n")
    let authenticator = try #require(enrollment.authenticators.first)
    #expect(authenticator.name == Authenticator.defaultName)
    #expect(authenticator.algorithm == .sha1)
    #expect(authenticator.digits == 6)
    #expect(authenticator.period == 30)
    #expect(authenticator.key == Self.key)
  }

  @Test func allowsCommentsBlankLinesAndNoFinalNewline() throws {
    let enrollment = try parse("# hello\n\n  pam_mfa 1\n# x\n\ttotp  secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
    #expect(enrollment.authenticators.count == 1)
  }

  @Test(arguments: [
    ("", 0),
    ("# only a comment\n", 0),
    ("pam_mfa 2\ntotp secret=GEZDGNBVGY3TQOJQ\n", 1),
    ("totp secret=GEZDGNBVGY3TQOJQ\n", 1),
    ("pam_mfa 1\n", 0),
    ("pam_mfa 1\nsms secret=GEZDGNBVGY3TQOJQ\n", 2),
    ("pam_mfa 1\nhotp secret=GEZDGNBVGY3TQOJQ period=30\n", 2),
    ("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQ counter=3\n", 2),
    ("pam_mfa 1\ntotp\n", 2),
    ("pam_mfa 1\n\ntotp secret=GEZDGNBV\n", 3),  // key shorter than 80 bits
    ("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJ1\n", 2),
    ("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQ digits=9\n", 2),
    ("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQ digits=5\n", 2),
    ("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQ period=0\n", 2),
    ("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQ period=99999999999999999999\n", 2),
    ("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQ algorithm=MD5\n", 2),
    ("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQ window=9\n", 2),
    ("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQ secret=GEZDGNBVGY3TQOJQ\n", 2),
    ("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQ name=a/b\n", 2),
    ("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQ GEZDGNBV\n", 2),
    ("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQ\ntotp secret=GEZDGNBVGY3TQOJQ\n", 3),
    ("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQ\u{0}\n", 2),
    (
      "pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQ\nbackup kdf=md5 iterations=10000 salt=GEZDGNBVGY3TQOJQ hash=" + hash32
        + "\n", 3
    ),
    (
      "pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQ\nbackup kdf=pbkdf2-sha256 iterations=10 salt=GEZDGNBVGY3TQOJQ hash="
        + hash32 + "\n", 3
    ),
    (
      "pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQ\nbackup kdf=pbkdf2-sha256 iterations=10000 salt=GEZDGNBVGY3TQOJQ hash=GEZDGNBV\n",
      3
    ),
    ("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQ\nbackup kdf=pbkdf2-sha256 iterations=10000 hash=" + hash32 + "\n", 3),
    ("pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQ\nbackup kdf=pbkdf2-sha256 code=k7dq2mxpw9fh\n", 3),
  ])
  func rejectsMalformedFilesWithLineNumber(text: String, line: Int) {
    #expect(lineOfError(text) == line)
  }

  @Test func errorsNeverQuoteTheFile() {
    for text in [
      "pam_mfa 1\nGEZDGNBVGY3TQOJQ\n", "pam_mfa 1\ntotp GEZDGNBVGY3TQOJQ\n", "pam_mfa 1\ntotp GEZDGNBVGY3TQOJQ=1\n",
    ] {
      do throws(FormatError) {
        _ = try parse(text)
        Issue.record("accepted \(text)")
      } catch {
        #expect(!error.description.contains("GEZDGNBV"))
      }
    }
  }

  @Test func rejectsOversizedFiles() {
    let big = "pam_mfa 1\n" + String(repeating: "#", count: SecretFileFormat.maxSize)
    #expect(lineOfError(big) == 0)
  }
}

@Suite struct BackupRecordTests {
  @Test func wellFormedBackupRecordParses() throws {
    let text =
      "pam_mfa 1\ntotp secret=GEZDGNBVGY3TQOJQ\nbackup kdf=pbkdf2-sha256 iterations=10000 salt=GEZDGNBVGY3TQOJQ hash=\(hash32)\n"
    let enrollment = try SecretFileFormat.parse([UInt8](text))
    #expect(enrollment.backupCodes.count == 1)
    #expect(enrollment.backupCodes.first?.iterations == 10000)
  }
}
