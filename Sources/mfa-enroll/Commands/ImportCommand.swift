import ArgumentParser
import Glibc
import MFACore

/// `mfa-enroll import SOURCE`: keys that exist already, elsewhere.
struct Import: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Import keys that exist already: a ~/.google_authenticator file, or a hardware token from a PSKC file.",
    subcommands: [ImportGoogleAuthenticator.self, ImportPSKC.self])
}

/// `mfa-enroll import google-authenticator [FILE]`: keep the user's app working while moving
/// from pam_google_authenticator; its scratch codes become hashed backup codes.
struct ImportGoogleAuthenticator: CLICommand {
  static let configuration = CommandConfiguration(
    commandName: "google-authenticator",
    abstract: "Convert a ~/.google_authenticator file into a pam_mfa enrollment (the same app keeps working).")

  @ParentCommand var root: MFAEnroll

  @Argument(help: "The file (default: ~/.google_authenticator of the user).")
  var file: String?

  @OptionGroup var storeOptions: StoreOptions

  @Flag(help: "Replace an existing pam_mfa enrollment.")
  var force = false

  func perform() throws(CLIError) {
    let target = try Target.resolve(root.global)
    let path = absolute(file ?? target.account.home + "/.google_authenticator")
    let store = try target.secretStore(override: storeOptions.secretFile)
    if store.exists && !force {
      throw CLIError("already enrolled (\(store.location.place) exists); use --force to replace it")
    }
    // Read as the user, like the module reads its own files: no links followed, private file.
    var text: [UInt8]
    do throws(FileError) {
      text = try CLIPrivileges().asUser(target.account.core) { () throws(FileError) -> [UInt8] in
        try TrustedFile.privateFile(owners: [target.account.uid]).read(path, maxSize: 64 * 1024)
      }
    } catch {
      throw CLIError("cannot read \(path): \(error.description)")
    }
    defer { text.wipe() }
    var imported = try GoogleAuthenticatorFile.parse(text, path: path)
    defer { imported.enrollment.wipe() }
    do throws(FileError) {
      try store.save(imported.enrollment, replace: force)
    } catch {
      throw CLIError("cannot save \(store.location.place): \(error.description); nothing was changed")
    }
    let authenticator = imported.enrollment.authenticators[0]
    let kind =
      authenticator.kind == .hotp
      ? "HOTP (counter \(authenticator.counter))" : "TOTP, every \(authenticator.period) s"
    print(
      "Imported \(path) into \(store.location.place): \(kind), \(authenticator.digits) digits, "
        + "\(imported.enrollment.backupCodes.count) scratch code(s) as backup codes (stored hashed).")
    for ignored in imported.ignored {
      print("Ignored \(ignored): the administrator's policy in pam_mfa.conf applies instead.")
    }
    print("Your authenticator app keeps working. Remove \(path) once pam_mfa is in the PAM stack.")
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
      throw CLIError("\(path) does not start with a base32 secret: not a google-authenticator file")
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
            throw CLIError("\(path): STEP_SIZE must be 15 to 300")
          }
          authenticator.period = step
        case "RATE_LIMIT", "WINDOW_SIZE", "DISALLOW_REUSE": ignored.append(words.first ?? "")
        default: break  // timestamps of used codes and other bookkeeping of google-authenticator
        }
      } else if line.count == BackupCodes.importedLength, line.allSatisfy(\.isASCII), line.allSatisfy(\.isNumber) {
        do throws(SystemError) {
          scratch.append(try BackupCodes.hash(Array(line.utf8)))
        } catch {
          throw CLIError("cannot hash the scratch codes: \(error.description)")
        }
      } else if !line.trimmingSpaces.isEmpty {
        throw CLIError("\(path): unexpected line (neither an option nor an 8-digit scratch code)")
      }
    }
    return (Enrollment(authenticators: [authenticator], backupCodes: scratch), ignored)
  }
}
