import ArgumentParser
import Glibc
import MFACore

/// `mfa-enroll add --name tablet`: another authenticator beside the existing ones.
struct Add: CLICommand {
  static let configuration = CommandConfiguration(
    abstract: UserText("Add another authenticator (a second phone, a tablet, a hardware token); any of them works.")
      .string)

  @ParentCommand var root: MFAEnroll

  @Option(help: ArgumentHelp(UserText("A short name for it (letters, digits, . _ -), unique among yours.").string))
  var name: String

  @OptionGroup var storeOptions: StoreOptions

  @OptionGroup var authenticatorOptions: AuthenticatorOptions

  func validate() throws {
    guard Authenticator.isValidName(Array(name.utf8)) else {
      throw ValidationError(UserText("--name must be 1 to 32 letters, digits, '.', '_' or '-'").string)
    }
  }

  func perform() throws(CLIError) {
    let target = try Target.resolve(root.global)
    let store = try target.secretStore(override: storeOptions.secretFile)
    let existing = try target.readEnrollment(store)
    if existing.authenticators.contains(where: { $0.name == Array(name.utf8) }) {
      throw CLIError(UserText("you already have an authenticator named %s (see mfa-enroll list)", .verbatim(name)))
    }
    var added = try authenticatorOptions.makeAndConfirm(
      name: Array(name.utf8), for: target, failure: UserText("nothing was added"))
    defer { added.key.wipe() }
    let saved: Bool
    do throws(FileError) {
      saved = try store.updateEnrollment { current in
        // Checked again under the lock: another add may have taken the name meanwhile.
        guard !current.authenticators.contains(where: { $0.name == added.name }) else { return false }
        current.authenticators.append(added)
        return true
      }
    } catch {
      throw CLIError(
        UserText(
          "cannot save %s: %s; nothing was added", .verbatim(store.location.place), .verbatim(error.description)))
    }
    guard saved else {
      throw CLIError(UserText("an authenticator named %s appeared meanwhile; nothing was added", .verbatim(name)))
    }
    Terminal.show(UserText("Added %s. A code from any of your authenticators now works.", .verbatim(name)))
  }
}

/// `mfa-enroll list`: the authenticators, never their keys.
struct List: CLICommand {
  static let configuration = CommandConfiguration(abstract: UserText("List your authenticators.").string)

  @ParentCommand var root: MFAEnroll

  @OptionGroup var storeOptions: StoreOptions

  func perform() throws(CLIError) {
    let target = try Target.resolve(root.global)
    let enrollment = try target.readEnrollment(try target.secretStore(override: storeOptions.secretFile))
    for authenticator in enrollment.authenticators {
      let name = UserText.Value.verbatim(authenticator.name.text)
      let algorithm = UserText.Value.verbatim(authenticator.algorithm.name)
      let digits = Int64(authenticator.digits)
      Terminal.show(
        authenticator.kind == .hotp
          ? .plural(
            "%s: counter-based (HOTP), %s, %d digit", "%s: counter-based (HOTP), %s, %d digits", count: digits, name,
            algorithm)
          : .plural(
            "%s: time-based (TOTP), every %s s, %s, %d digit", "%s: time-based (TOTP), every %s s, %s, %d digits",
            count: digits, name, .verbatim(String(authenticator.period)), algorithm))
    }
    for delivery in enrollment.deliveries {
      Terminal.show(
        UserText(
          "%s: %s (press Enter at the prompt to get a code)", .verbatim(delivery.method.name),
          .verbatim(delivery.address.text)))
    }
    Terminal.show(
      .plural("Backup codes: %d left", "Backup codes: %d left", count: Int64(enrollment.backupCodes.count)))
  }
}

/// `mfa-enroll remove NAME`: one authenticator fewer; the last one goes the way of `disable`.
struct Remove: CLICommand {
  static let configuration = CommandConfiguration(
    abstract: UserText("Remove one authenticator (after a code); removing the last one is the same as disable.")
      .string)

  @ParentCommand var root: MFAEnroll

  @Argument(help: ArgumentHelp(UserText("The authenticator's name (see mfa-enroll list).").string))
  var name: String

  @OptionGroup var storeOptions: StoreOptions

  func perform() throws(CLIError) {
    let target = try Target.resolve(root.global)
    let store = try target.secretStore(override: storeOptions.secretFile)
    let enrollment = try target.readEnrollment(store)
    let wanted = Array(name.utf8)
    guard enrollment.authenticators.contains(where: { $0.name == wanted }) else {
      throw CLIError(UserText("you have no authenticator named %s (see mfa-enroll list)", .verbatim(name)))
    }
    if enrollment.authenticators.count == 1 {
      try Disable.turnOff(target: target, store: store, enrollment: enrollment)
      return
    }
    if !target.actingForOther { try Disable.confirm(enrollment) }
    do throws(FileError) {
      try store.updateEnrollment { current in current.authenticators.removeAll { $0.name == wanted } }
    } catch {
      throw CLIError(
        UserText(
          "cannot save %s: %s; nothing was removed", .verbatim(store.location.place), .verbatim(error.description)))
    }
    if target.actingForOther { AuditLog.record("removed authenticator \(name) user=\(target.account.name)") }
    Terminal.show(
      .plural(
        "Removed %s; %d authenticator(s) left.", "Removed %s; %d authenticator(s) left.",
        count: Int64(enrollment.authenticators.count - 1), .verbatim(name)))
  }
}
