import MFACore

/// A key's <AlgorithmParameters>: the HMAC (Suite) and the code's form (ResponseFormat).
struct PSKCFormat {
  var hash: OTPAlgorithm
  var digits: Int

  /// Refuses codes pam_mfa cannot check: other encodings than DECIMAL, lengths outside 6 to 8,
  /// check digits, and challenge-response.
  init(_ key: XMLReader.Element) throws(PSKCError) {
    guard let parameters = try key.one("AlgorithmParameters"), let response = try parameters.one("ResponseFormat")
    else {
      throw .unsupported("the key has no AlgorithmParameters/ResponseFormat: the code's length is not known")
    }
    hash = .sha1
    if let suite = try parameters.one("Suite") {
      let name = suite.trimmedText.text
      guard let found = PSKCNames.suiteHash(name) else {
        throw .unsupported("the key's Suite \(name) is not supported (only HMAC-SHA1, HMAC-SHA256, HMAC-SHA512)")
      }
      hash = found
    }
    if try parameters.one("ChallengeFormat") != nil {
      throw .unsupported("the key expects a challenge (ChallengeFormat): challenge-response is not supported")
    }
    let encoding = response.attribute("Encoding") ?? "(none)"
    guard encoding == "DECIMAL" else {
      throw .unsupported("the key's codes have Encoding \(encoding); only DECIMAL codes are supported")
    }
    let length = response.attribute("Length") ?? "(none)"
    guard let digits = Int(length), Authenticator.digitRange.contains(digits) else {
      throw .unsupported(
        "the key's codes are \(length) digits long; pam_mfa checks \(Authenticator.digitRange.lowerBound) to "
          + "\(Authenticator.digitRange.upperBound)")
    }
    self.digits = digits
    if let check = response.attribute("CheckDigits"), check == "true" || check == "1" {
      throw .unsupported("the key's codes end in a check digit (CheckDigits), which is not supported")
    }
  }
}
