import MFACore

/// A key's <Policy> (RFC 6030 §5) and its device's validity: what pam_mfa can honour. A policy
/// element or attribute a recipient does not understand means the key must not be used.
enum PSKCPolicy {
  static let knownChildren: Set<String> = ["StartDate", "ExpiryDate", "PINPolicy", "KeyUsage", "NumberOfTransactions"]
  static let knownPINAttributes: Set<String> = [
    "PINKeyId", "PINUsageMode", "MaxFailedAttempts", "MinLength", "MaxLength", "PINEncoding",
  ]

  /// The expiry (seconds since the epoch) of a key that may be used now; refuses the rest.
  static func check(key: XMLReader.Element, device: XMLReader.Element?, now: Int64) throws(PSKCError) -> Int64? {
    var expiry: Int64?
    for holder in [device, try key.one("Policy")].compactMap({ $0 }) {
      if let start = try date(holder, "StartDate"), start > now {
        throw .notValid("the key is not valid before \(XMLDateTime.format(start))")
      }
      if let end = try date(holder, "ExpiryDate") {
        guard end > now else { throw .notValid("the key expired on \(XMLDateTime.format(end))") }
        expiry = min(expiry ?? end, end)
      }
    }
    guard let policy = try key.one("Policy") else { return expiry }
    for child in policy.children {
      guard child.namespace == PSKCNames.pskc, knownChildren.contains(child.name) else {
        throw .unsupported(
          "the key's Policy holds <\(child.name)>, which pam_mfa does not understand (RFC 6030 §5: do not use the key)")
      }
      // RFC 6030 gives attributes to PINPolicy only (checked below).
      if child.name != "PINPolicy", let attribute = child.attributes.first {
        throw .unsupported(
          "the key's <\(child.name)> has the attribute \(attribute.name), which pam_mfa does not understand")
      }
    }
    if let attribute = policy.attributes.first {
      throw .unsupported("the key's Policy has the attribute \(attribute.name), which pam_mfa does not understand")
    }
    if try policy.one("NumberOfTransactions") != nil {
      throw .unsupported("the key's Policy limits its NumberOfTransactions, which pam_mfa cannot count")
    }
    let usages = policy.children(PSKCNames.pskc, "KeyUsage").map { $0.trimmedText.text }
    if !usages.isEmpty && !usages.contains("OTP") {
      throw .unsupported("the key's KeyUsage (\(usages.joined(separator: ", "))) does not include OTP")
    }
    if let pin = try policy.one("PINPolicy") { try checkPIN(pin) }
    return expiry
  }

  /// Only a PIN the token checks itself (PINUsageMode Local) leaves the code as it is; with
  /// Prepend, Append or Algorithmic the server would have to know the PIN.
  static func checkPIN(_ pin: XMLReader.Element) throws(PSKCError) {
    for attribute in pin.attributes where attribute.namespace != "" || !knownPINAttributes.contains(attribute.name) {
      throw .unsupported("the key's PINPolicy has \(attribute.name), which pam_mfa does not understand")
    }
    guard pin.children.isEmpty else {
      throw .unsupported("the key's PINPolicy holds elements pam_mfa does not understand")
    }
    let mode = pin.attribute("PINUsageMode") ?? "(none)"
    guard mode == "Local" else {
      throw .unsupported(
        "the key's PINPolicy has PINUsageMode \(mode): the server would have to check a PIN, which pam_mfa cannot "
          + "(only Local, a PIN the token checks itself)")
    }
  }

  static func date(_ holder: XMLReader.Element, _ name: String) throws(PSKCError) -> Int64? {
    guard let element = try holder.one(name) else { return nil }
    guard let seconds = XMLDateTime.parse(element.trimmedText) else {
      throw .malformed("not a valid PSKC file: line \(element.line): \(name) is not a date and time")
    }
    return seconds
  }
}
