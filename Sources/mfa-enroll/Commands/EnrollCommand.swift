import ArgumentParser
import Glibc
import MFACore

/// `mfa-enroll [enroll]`: create a TOTP secret, show it, confirm a first code, save it.
struct Enroll: CLICommand {
  static let configuration = CommandConfiguration(
    abstract: UserText("Create a secret, show it as a QR code, and save it after a correct first code.").string)

  @ParentCommand var root: MFAEnroll

  @OptionGroup var storeOptions: StoreOptions

  @OptionGroup var authenticatorOptions: AuthenticatorOptions

  @Flag(
    help: ArgumentHelp(
      UserText("Replace an existing enrollment (the old secret stops working once the new one is saved).").string))
  var force = false

  @OptionGroup var backup: BackupCodeOptions

  func validate() throws {
    try backup.validate()
  }

  func perform() throws(CLIError) {
    let target = try Target.resolve(root.global)
    let account = target.account
    let store = try target.secretStore(override: storeOptions.secretFile)
    let path = store.location.place
    if store.exists && !force {
      throw CLIError(
        target.actingForOther
          ? UserText(
            "%s is already enrolled (%s exists); use --force to replace it", .verbatim(account.name), .verbatim(path))
          : UserText("you are already enrolled (%s exists); use --force to replace it", .verbatim(path)))
    }

    var confirmed = Enrollment(authenticators: [
      try authenticatorOptions.makeAndConfirm(
        name: Authenticator.defaultName, for: target, failure: UserText("nothing was saved"))
    ])
    defer { confirmed.wipe() }
    // Backup codes exist only once the app is proven to work; the file gets their hashes.
    let (codes, hashes) = try backup.generate()
    confirmed.backupCodes = hashes
    // A new secret: hosts remembered for the old one must ask again.
    confirmed.forgetBefore = Int64(time(nil))
    do throws(FileError) {
      try store.save(confirmed, replace: force)
    } catch {
      if case .system(let system) = error, system.code == EEXIST {
        throw CLIError(UserText("%s appeared while enrolling; nothing was changed (use --force)", .verbatim(path)))
      }
      throw CLIError(
        UserText("cannot save %s: %s; nothing was changed", .verbatim(path), .verbatim(error.description)))
    }
    if target.actingForOther { AuditLog.record("enrolled user=\(account.name) secret=\(path)") }
    Terminal.show(UserText("Saved to %s.", .verbatim(path)))
    printWhereCodesAreAsked(for: account.name, actingForOther: target.actingForOther)
    try backup.present(codes, for: account)
  }
}

/// Which logins will now ask for a code: the truth from /etc/pam.d, not a promise.
func printWhereCodesAreAsked(for user: String, actingForOther: Bool) {
  let services = PAMStack.servicesUsingPAMMFA()
  guard !services.isEmpty else {
    Terminal.show(UserText("No PAM service on this host uses pam_mfa yet, so no login asks for the code."))
    if geteuid() == 0 {
      Terminal.show(
        UserText(
          "To require it: add  auth required pam_mfa.so  to /etc/pam.d/sshd (see pam_mfa(8)), or run  pam-auth-update --enable mfa  for every service; then run  mfa-enroll doctor."
        ))
    } else {
      Terminal.show(UserText("Your administrator enables it (pam_mfa(8))."))
    }
    return
  }
  let shown: UserText =
    services.count > 6
    ? .plural(
      "%s and %d other service", "%s and %d other services", count: Int64(services.count - 4),
      .verbatim(services.prefix(4).joined(separator: ", ")))
    : .verbatim(services.joined(separator: ", "))
  Terminal.show(
    actingForOther
      ? UserText("Logins of %s through %s ask for a code.", .verbatim(user), .text(shown))
      : UserText("From now on, your logins through %s ask for a code from your app.", .text(shown)))
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
