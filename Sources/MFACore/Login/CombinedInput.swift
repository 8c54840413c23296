/// Password and code typed together in one prompt (clients that show only one: VPN and RADIUS
/// front ends, some graphical logins): the code is split off the end.
public enum CombinedInput {
  /// (password, code). A backup code always ends in a letter and a one-time code in a digit, so
  /// the last character decides. Among the authenticators' code lengths the one that matches is
  /// taken; when none matches, the first authenticator's length (the attempt then fails as a
  /// wrong code).
  public static func split(
    _ combined: [UInt8], enrollment: Enrollment, time: Int64, window: Int, centre: (Int) -> Int64 = { _ in 0 }
  ) -> (password: [UInt8], code: [UInt8]) {
    guard let last = combined.last else { return ([], []) }
    if !ASCII.isDigit(last) {
      // Walk back over the backup code as shown (dashes and spaces allowed) to its 12th symbol.
      var symbols = 0
      var start = combined.count
      while start > 0 && symbols < BackupCodes.length {
        start -= 1
        let byte = combined[start]
        if byte != ASCII.dash && !ASCII.isBlank(byte) { symbols += 1 }
      }
      return (Array(combined[0..<start]), Array(combined[start...]))
    }
    var lengths: [Int] = []
    for authenticator in enrollment.authenticators where !lengths.contains(authenticator.digits) {
      lengths.append(authenticator.digits)
    }
    for length in lengths where length <= combined.count {
      let code = Array(combined.suffix(length))
      guard code.allSatisfy(ASCII.isDigit) else { continue }
      let totp = !TOTPVerifier.matches(code: code, enrollment: enrollment, time: time, window: window, centre: centre)
        .isEmpty
      // HOTP with the file's counter as a floor only (no state here): a hint, not the decision.
      let hotp = HOTPVerifier.match(code: code, enrollment: enrollment, lookAhead: 100) { _ in 0 } != nil
      if totp || hotp { return (Array(combined.dropLast(length)), code) }
    }
    // An imported 8-digit scratch code (checked only when no one-time code fits: it costs PBKDF2).
    let scratch = BackupCodes.importedLength
    if !enrollment.backupCodes.isEmpty && combined.count >= scratch {
      let code = Array(combined.suffix(scratch))
      if code.allSatisfy(ASCII.isDigit) && BackupCodes.match(code, in: enrollment.backupCodes) != nil {
        return (Array(combined.dropLast(scratch)), code)
      }
    }
    let length = min(lengths.first ?? 6, combined.count)
    return (Array(combined.dropLast(length)), Array(combined.suffix(length)))
  }
}
