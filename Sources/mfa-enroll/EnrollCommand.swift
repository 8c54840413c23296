import ArgumentParser
import Glibc
import MFACore

/// `mfa-enroll [enroll]`: create a TOTP secret, show it, confirm a first code, save it.
struct Enroll: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Create a secret, show it as a QR code, and save it after a correct first code.")

  @ParentCommand var root: MFAEnroll

  @Option(
    help: ArgumentHelp(
      "Where to save the secret (default: secret= of the configuration file, else ~/.config/pam_mfa/secret).",
      valueName: "path"))
  var secretFile: String?

  @Option(help: "Issuer shown in the app (default: this host's name).")
  var issuer: String?

  @Option(help: "Account label shown in the app (default: user@host).")
  var label: String?

  @Option(help: "Code length: 6, 7 or 8.")
  var digits: Int = 6

  @Option(help: "Seconds each code is valid: 15 to 300 (most apps support only 30).")
  var period: Int = 30

  @Option(help: "HMAC algorithm: SHA1, SHA256 or SHA512 (most apps support only SHA1).")
  var algorithm: AlgorithmChoice = .SHA1

  @Option(help: "How to draw the QR code: utf8, ansi, ascii or none.")
  var qr: QRStyle = .utf8

  @Flag(help: "Replace an existing enrollment (the old secret stops working once the new one is saved).")
  var force = false

  @OptionGroup var backup: BackupCodeOptions

  static let maxTries = 3

  func validate() throws {
    try backup.validate()
    guard Authenticator.digitRange.contains(digits) else {
      throw ValidationError("--digits must be 6, 7 or 8")
    }
    guard Authenticator.periodRange.contains(period) else {
      throw ValidationError("--period must be from 15 to 300 seconds")
    }
  }

  func run() throws {
    // `mfa-enroll --user NAME --unlock` reaches the default subcommand; hand it over.
    if root.unlock {
      try CLIError.reporting { () throws(CLIError) in try Unlock.perform(root.global) }
      return
    }
    try CLIError.reporting { () throws(CLIError) in try enroll() }
  }

  func enroll() throws(CLIError) {
    let target = try Target.resolve(root.global)
    let account = target.account
    let path = try target.secretPath(override: secretFile)
    if SafeFile.exists(path) && !force {
      let whose = target.actingForOther ? "\(account.name) is" : "you are"
      throw CLIError("\(whose) already enrolled (\(path) exists); use --force to replace it")
    }

    var key: [UInt8]
    do throws(SystemError) {
      key = try SystemRandom.bytes(20)
    } catch {
      throw CLIError("cannot get random bytes: \(error.description)")
    }
    var authenticator = Authenticator(
      name: Authenticator.defaultName, algorithm: algorithm.value, digits: digits, period: period, key: key)
    key.wipe()
    defer { authenticator.key.wipe() }

    let host = hostName()
    let issuerText = issuer ?? host
    let labelText = label ?? "\(account.name)@\(host)"
    let uri = OTPAuthURI.totp(issuer: issuerText, label: labelText, authenticator: authenticator)
    if target.actingForOther {
      print("Enrolling \(account.name). Hand the QR code or setup key to them in person; it is their second factor.\n")
    }
    show(uri: uri, issuer: issuerText, label: labelText, authenticator: authenticator)

    var confirmed = try CodeConfirmation.ask(
      for: Enrollment(authenticators: [authenticator]), failure: "nothing was saved")
    defer { confirmed.wipe() }
    // Backup codes exist only once the app is proven to work; the file gets their hashes.
    let (codes, hashes) = try backup.generate()
    confirmed.backupCodes = hashes
    // A new secret: hosts remembered for the old one must ask again.
    confirmed.forgetBefore = Int64(time(nil))
    try save(confirmed, to: path, target: target)
    if target.actingForOther {
      AuditLog.record("enrolled user=\(account.name) secret=\(path)")
      print("Saved to \(path). Logins of \(account.name) through pam_mfa now ask for a code.")
    } else {
      print("Saved to \(path). From now on, logins through pam_mfa ask for a code from your app.")
    }
    try backup.present(codes, for: account)
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
    print(
      "Type:      time-based, \(authenticator.algorithm.name), \(authenticator.digits) digits, "
        + "new code every \(authenticator.period) s")
    print("")
    print(uri)
    print("")
  }

  /// Parent directories 0700, the file 0600, written atomically: a failure keeps any old file.
  /// In a root-owned store root writes it; in a home directory it is written as the user.
  func save(_ enrollment: Enrollment, to path: String, target: Target) throws(CLIError) {
    var contents = SecretFileFormat.serialize(enrollment)
    defer { contents.wipe() }
    let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
    let write = { () throws(FileError) in
      if !directory.isEmpty { try SafeFile.makeDirectories(directory, mode: 0o700) }
      // The lock serialises rewrites of this file (another mfa-enroll, the module).
      try withExclusiveLock(path + ".lock") { () throws(FileError) in
        try SafeFile.write(path: path, contents: contents, mode: 0o600, replace: force)
      }
    }
    do throws(FileError) {
      if target.isRootStore(path) {
        try write()
      } else {
        try CLIPrivileges().asUser(target.account.core, write)
      }
    } catch {
      if case .system(let system) = error, system.code == EEXIST {
        throw CLIError("\(path) appeared while enrolling; nothing was changed (use --force)")
      }
      throw CLIError("cannot save \(path): \(error.description); nothing was changed")
    }
  }
}

/// --algorithm values, spelled as in otpauth URIs.
enum AlgorithmChoice: String, ExpressibleByArgument, CaseIterable {
  case SHA1, SHA256, SHA512

  init?(argument: String) {
    switch argument.uppercased() {
    case "SHA1": self = .SHA1
    case "SHA256": self = .SHA256
    case "SHA512": self = .SHA512
    default: return nil
    }
  }

  var value: OTPAlgorithm {
    switch self {
    case .SHA1: return .sha1
    case .SHA256: return .sha256
    case .SHA512: return .sha512
    }
  }
}
