import ArgumentParser
import Glibc
import MFACore

/// How a new authenticator looks (shared by `enroll` and `add`), and making one: a fresh key,
/// the QR code and setup key, and a first code from the app or token before anything is saved.
struct AuthenticatorOptions: ParsableArguments {
  @Option(help: "Issuer shown in the app (default: this host's name).")
  var issuer: String?

  @Option(help: "Account label shown in the app (default: user@host).")
  var label: String?

  @Option(help: "totp (time-based, authenticator apps) or hotp (counter-based, hardware tokens).")
  var type: OTPType = .totp

  @Option(help: "Code length: 6, 7 or 8.")
  var digits: Int = 6

  @Option(help: "Seconds each code is valid: 15 to 300 (most apps support only 30; totp only).")
  var period: Int = 30

  @Option(help: "HMAC algorithm: SHA1, SHA256 or SHA512 (most apps support only SHA1).")
  var algorithm: AlgorithmChoice = .SHA1

  @Option(help: "How to draw the QR code: utf8, ansi, ascii or none.")
  var qr: QRStyle = .utf8

  func validate() throws {
    guard Authenticator.digitRange.contains(digits) else {
      throw ValidationError("--digits must be 6, 7 or 8")
    }
    guard Authenticator.periodRange.contains(period) else {
      throw ValidationError("--period must be from 15 to 300 seconds")
    }
  }

  /// A new authenticator named `name`, shown to the user and confirmed with a first code.
  func makeAndConfirm(name: [UInt8], for target: Target, failure: UserText) throws(CLIError) -> Authenticator {
    var key: [UInt8]
    do throws(SystemError) {
      key = try SystemRandom.bytes(20)
    } catch {
      throw CLIError("cannot get random bytes: \(error.description)")
    }
    var authenticator = Authenticator(name: name, algorithm: algorithm.value, digits: digits, period: period, key: key)
    authenticator.kind = type == .hotp ? .hotp : .totp
    key.wipe()
    let host = HostSystem.hostName().text
    let issuerText = issuer ?? host
    let labelText = label ?? "\(target.account.name)@\(host)"
    let uri = OTPAuthURI.uri(issuer: issuerText, label: labelText, authenticator: authenticator)
    if target.actingForOther {
      print(
        "Enrolling \(target.account.name). Hand the QR code or setup key to them in person; it is their second factor.\n"
      )
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
      print("Scan this QR code with your authenticator app (or type the setup key below):\n")
      if let matrix = QRMatrix(encoding: uri) {
        for line in matrix.render(qr) { print(line) }
      } else {
        print("(the QR code could not be drawn; use the setup key)")
      }
      print("")
    }
    print("Account:   \(label)  (issuer: \(issuer))")
    print("Setup key: \(OTPAuthURI.groupedKey(authenticator.key))")
    if authenticator.kind == .hotp {
      print("Type:      counter-based (HOTP), \(authenticator.algorithm.name), \(authenticator.digits) digits")
    } else {
      print(
        "Type:      time-based, \(authenticator.algorithm.name), \(authenticator.digits) digits, "
          + "new code every \(authenticator.period) s")
    }
    print("")
    print(uri)
    print("")
  }
}

/// --type values.
enum OTPType: String, ExpressibleByArgument, CaseIterable {
  case totp, hotp
}
