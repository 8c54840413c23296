import ArgumentParser
import Glibc
import MFACore

/// `mfa-enroll import SOURCE`: keys that exist already, elsewhere.
struct Import: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: UserText(
      "Import keys that exist already: a ~/.google_authenticator file, or a hardware token from a PSKC file."
    ).string,
    subcommands: [ImportGoogleAuthenticator.self, ImportPSKC.self])
}

/// `mfa-enroll import google-authenticator [FILE]`: keep the user's app working while moving
/// from pam_google_authenticator; its scratch codes become hashed backup codes.
struct ImportGoogleAuthenticator: CLICommand {
  static let configuration = CommandConfiguration(
    commandName: "google-authenticator",
    abstract: UserText(
      "Convert a ~/.google_authenticator file into a pam_mfa enrollment (the same app keeps working)."
    ).string)

  @ParentCommand var root: MFAEnroll

  @Argument(help: ArgumentHelp(UserText("The file (default: ~/.google_authenticator of the user).").string))
  var file: String?

  @OptionGroup var storeOptions: StoreOptions

  @Flag(help: ArgumentHelp(UserText("Replace an existing pam_mfa enrollment.").string))
  var force = false

  func perform() throws(CLIError) {
    let target = try Target.resolve(root.global)
    let path = absolute(file ?? target.account.home + "/.google_authenticator")
    let store = try target.secretStore(override: storeOptions.secretFile)
    if store.exists && !force {
      throw CLIError(
        UserText("already enrolled (%s exists); use --force to replace it", .verbatim(store.location.place)))
    }
    // Read as the user, like the module reads its own files: no links followed, private file.
    var text: [UInt8]
    do throws(FileError) {
      text = try CLIPrivileges().asUser(target.account.core) { () throws(FileError) -> [UInt8] in
        try TrustedFile.privateFile(owners: [target.account.uid]).read(path, maxSize: 64 * 1024)
      }
    } catch {
      throw CLIError(UserText("cannot read %s: %s", .verbatim(path), .verbatim(error.description)))
    }
    defer { text.wipe() }
    var imported = try GoogleAuthenticatorFile.parse(text, path: path)
    defer { imported.enrollment.wipe() }
    do throws(FileError) {
      try store.save(imported.enrollment, replace: force)
    } catch {
      throw CLIError(
        UserText(
          "cannot save %s: %s; nothing was changed", .verbatim(store.location.place), .verbatim(error.description)))
    }
    let authenticator = imported.enrollment.authenticators[0]
    let kind =
      authenticator.kind == .hotp
      ? UserText("HOTP (counter %s)", .verbatim(String(authenticator.counter)))
      : UserText("TOTP, every %s s", .verbatim(String(authenticator.period)))
    let digits = UserText.plural("%d digit", "%d digits", count: Int64(authenticator.digits))
    Terminal.show(
      .plural(
        "Imported %s into %s: %s, %s, %d scratch code(s) as backup codes (stored hashed).",
        "Imported %s into %s: %s, %s, %d scratch code(s) as backup codes (stored hashed).",
        count: Int64(imported.enrollment.backupCodes.count), .verbatim(path), .verbatim(store.location.place),
        .text(kind), .text(digits)))
    for ignored in imported.ignored {
      Terminal.show(
        UserText("Ignored %s: the administrator's policy in pam_mfa.conf applies instead.", .verbatim(ignored)))
    }
    Terminal.show(
      UserText("Your authenticator app keeps working. Remove %s once pam_mfa is in the PAM stack.", .verbatim(path)))
    if target.actingForOther { AuditLog.record("imported google-authenticator user=\(target.account.name)") }
  }
}

/// The ~/.google_authenticator format: the base32 secret, `" OPTION ...` lines, then 8-digit
/// scratch codes one per line.
enum GoogleAuthenticatorFile {
  static func parse(_ text: [UInt8], path: String) throws(CLIError) -> (enrollment: Enrollment, ignored: [String]) {
    let lines = String(decoding: text, as: UTF8.self).split(whereSeparator: \.isNewline).map(String.init)
    guard let first = lines.first, var key = Base32.decode(Array(first.utf8)),
      Authenticator.keyLengthRange.contains(key.count)
    else {
      throw CLIError(
        UserText("%s does not start with a base32 secret: not a google-authenticator file", .verbatim(path)))
    }
    var authenticator = Authenticator(
      name: Authenticator.defaultName, algorithm: .sha1, digits: 6, period: 30, key: key)
    key.wipe()
    var ignored: [String] = []
    var scratch: [BackupCodeHash] = []
    for line in lines.dropFirst() {
      if line.hasPrefix("\"") {
        let words = line.dropFirst().split(separator: " ").map(String.init)
        switch words.first {
        case "TOTP_AUTH": authenticator.kind = .totp
        case "HOTP_COUNTER":
          authenticator.kind = .hotp
          authenticator.counter = UInt64(words.count > 1 ? words[1] : "") ?? 1
        case "STEP_SIZE":
          guard let step = Int(words.count > 1 ? words[1] : ""), Authenticator.periodRange.contains(step) else {
            throw CLIError(UserText("%s: STEP_SIZE must be 15 to 300", .verbatim(path)))
          }
          authenticator.period = step
        case "RATE_LIMIT", "WINDOW_SIZE", "DISALLOW_REUSE": ignored.append(words.first ?? "")
        default: break  // timestamps of used codes and other bookkeeping of google-authenticator
        }
      } else if line.count == BackupCodes.importedLength, line.allSatisfy(\.isASCII), line.allSatisfy(\.isNumber) {
        do throws(SystemError) {
          scratch.append(try BackupCodes.hash(Array(line.utf8)))
        } catch {
          throw CLIError(UserText("cannot hash the scratch codes: %s", .verbatim(error.description)))
        }
      } else if !line.trimmingSpaces.isEmpty {
        throw CLIError(
          UserText("%s: unexpected line (neither an option nor an 8-digit scratch code)", .verbatim(path)))
      }
    }
    return (Enrollment(authenticators: [authenticator], backupCodes: scratch), ignored)
  }
}
