import ArgumentParser
import Glibc
import MFACore

/// How a new authenticator looks (shared by `enroll` and `add`), and making one: a fresh key,
/// the QR code and setup key, and a first code from the app or token before anything is saved.
struct AuthenticatorOptions: ParsableArguments {
  @Option(help: ArgumentHelp(UserText("Issuer shown in the app (default: this host's name).").string))
  var issuer: String?

  @Option(help: ArgumentHelp(UserText("Account label shown in the app (default: user@host).").string))
  var label: String?

  @Option(
    help: ArgumentHelp(
      UserText("totp (time-based, authenticator apps) or hotp (counter-based, hardware tokens).").string))
  var type: OTPType = .totp

  @Option(help: ArgumentHelp(UserText("Code length: 6, 7 or 8.").string))
  var digits: Int = 6

  @Option(
    help: ArgumentHelp(UserText("Seconds each code is valid: 15 to 300 (most apps support only 30; totp only).").string)
  )
  var period: Int = 30

  @Option(
    help: ArgumentHelp(UserText("HMAC algorithm: SHA1, SHA256 or SHA512 (most apps support only SHA1).").string))
  var algorithm: AlgorithmChoice = .SHA1

  @Option(help: ArgumentHelp(UserText("How to draw the QR code: utf8, ansi, ascii or none.").string))
  var qr: QRStyle = .utf8

  func validate() throws {
    guard Authenticator.digitRange.contains(digits) else {
      throw ValidationError(UserText("--digits must be 6, 7 or 8").string)
    }
    guard Authenticator.periodRange.contains(period) else {
      throw ValidationError(UserText("--period must be from 15 to 300 seconds").string)
    }
  }

  /// A new authenticator named `name`, shown to the user and confirmed with a first code.
  func makeAndConfirm(name: [UInt8], for target: Target, failure: UserText) throws(CLIError) -> Authenticator {
    var key: [UInt8]
    do throws(SystemError) {
      key = try SystemRandom.bytes(20)
    } catch {
      throw CLIError(UserText("cannot get random bytes: %s", .verbatim(error.description)))
    }
    var authenticator = Authenticator(name: name, algorithm: algorithm.value, digits: digits, period: period, key: key)
    authenticator.kind = type == .hotp ? .hotp : .totp
    key.wipe()
    let host = HostSystem.hostName().text
    let issuerText = issuer ?? host
    let labelText = label ?? "\(target.account.name)@\(host)"
    let uri = OTPAuthURI.uri(issuer: issuerText, label: labelText, authenticator: authenticator)
    if target.actingForOther {
      Terminal.show(
        UserText(
          "Enrolling %s. Hand the QR code or setup key to them in person; it is their second factor.",
          .verbatim(target.account.name)))
      Terminal.showLine([])
    }
    show(uri: uri, issuer: issuerText, label: labelText, authenticator: authenticator)
    var confirmed = try CodeConfirmation.ask(for: Enrollment(authenticators: [authenticator]), failure: failure)
    authenticator.key.wipe()
    let result = confirmed.authenticators[0]
    confirmed.wipe()
    return result
  }

  func show(uri: String, issuer: String, label: String, authenticator: Authenticator) {
    if qr != .none {
      Terminal.show(UserText("Scan this QR code with your authenticator app (or type the setup key below):"))
      Terminal.showLine([])
      if let matrix = QRMatrix(encoding: uri) {
        for line in matrix.render(qr) { Terminal.showLine(Array(line.utf8)) }
      } else {
        Terminal.show(UserText("(the QR code could not be drawn; use the setup key)"))
      }
      Terminal.showLine([])
    }
    let algorithm = UserText.Value.verbatim(authenticator.algorithm.name)
    let digits = Int64(authenticator.digits)
    let fields = [
      (UserText("Account:"), UserText("%s  (issuer: %s)", .verbatim(label), .verbatim(issuer))),
      (UserText("Setup key:"), UserText.verbatim(OTPAuthURI.groupedKey(authenticator.key))),
      (
        UserText("Type:"),
        authenticator.kind == .hotp
          ? .plural(
            "counter-based (HOTP), %s, %d digit", "counter-based (HOTP), %s, %d digits", count: digits, algorithm)
          : .plural(
            "time-based, %s, %d digit, new code every %s s", "time-based, %s, %d digits, new code every %s s",
            count: digits, algorithm, .verbatim(String(authenticator.period)))
      ),
    ]
    let labels = fields.map { $0.0.string }
    let width = labels.map(\.count).max() ?? 0
    for (label, field) in zip(labels, fields) {
      let padding = String(repeating: " ", count: width + 1 - label.count)
      Terminal.showLine(Array((label + padding).utf8) + field.1.rendered())
    }
    // The machine-readable URI, for tools that take one: never translated.
    Terminal.showLine([])
    Terminal.showLine(Array(uri.utf8))
    Terminal.showLine([])
  }
}

/// --type values.
enum OTPType: String, ExpressibleByArgument, CaseIterable {
  case totp, hotp
}
