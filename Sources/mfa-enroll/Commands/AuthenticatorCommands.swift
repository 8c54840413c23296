import ArgumentParser
import Glibc
import MFACore

/// `mfa-enroll add --name tablet`: another authenticator beside the existing ones.
struct Add: CLICommand {
  static let configuration = CommandConfiguration(
    abstract: "Add another authenticator (a second phone, a tablet, a hardware token); any of them works.")

  @ParentCommand var root: MFAEnroll

  @Option(help: "A short name for it (letters, digits, . _ -), unique among yours.")
  var name: String

  @OptionGroup var storeOptions: StoreOptions

  @OptionGroup var authenticatorOptions: AuthenticatorOptions

  func validate() throws {
    guard Authenticator.isValidName(Array(name.utf8)) else {
      throw ValidationError("--name must be 1 to 32 letters, digits, '.', '_' or '-'")
    }
  }

  func perform() throws(CLIError) {
    let target = try Target.resolve(root.global)
    let store = try target.secretStore(override: storeOptions.secretFile)
    let existing = try target.readEnrollment(store)
    if existing.authenticators.contains(where: { $0.name == Array(name.utf8) }) {
      throw CLIError("you already have an authenticator named \(name) (see mfa-enroll list)")
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
      throw CLIError("cannot save \(store.location.place): \(error.description); nothing was added")
    }
    guard saved else { throw CLIError("an authenticator named \(name) appeared meanwhile; nothing was added") }
    print("Added \(name). A code from any of your authenticators now works.")
  }
}

/// `mfa-enroll list`: the authenticators, never their keys.
struct List: CLICommand {
  static let configuration = CommandConfiguration(abstract: "List your authenticators.")

  @ParentCommand var root: MFAEnroll

  @OptionGroup var storeOptions: StoreOptions

  func perform() throws(CLIError) {
    let target = try Target.resolve(root.global)
    let enrollment = try target.readEnrollment(try target.secretStore(override: storeOptions.secretFile))
    for authenticator in enrollment.authenticators {
      let kind =
        authenticator.kind == .hotp
        ? "counter-based (HOTP)" : "time-based (TOTP), every \(authenticator.period) s"
      print("\(authenticator.name.text): \(kind), \(authenticator.algorithm.name), \(authenticator.digits) digits")
    }
    for delivery in enrollment.deliveries {
      print("\(delivery.method.name): \(delivery.address.text) (press Enter at the prompt to get a code)")
    }
    print("Backup codes: \(enrollment.backupCodes.count) left")
  }
}

/// `mfa-enroll remove NAME`: one authenticator fewer; the last one goes the way of `disable`.
struct Remove: CLICommand {
  static let configuration = CommandConfiguration(
    abstract: "Remove one authenticator (after a code); removing the last one is the same as disable.")

  @ParentCommand var root: MFAEnroll

  @Argument(help: "The authenticator's name (see mfa-enroll list).")
  var name: String

  @OptionGroup var storeOptions: StoreOptions

  func perform() throws(CLIError) {
    let target = try Target.resolve(root.global)
    let store = try target.secretStore(override: storeOptions.secretFile)
    let enrollment = try target.readEnrollment(store)
    let wanted = Array(name.utf8)
    guard enrollment.authenticators.contains(where: { $0.name == wanted }) else {
      throw CLIError("you have no authenticator named \(name) (see mfa-enroll list)")
    }
    if enrollment.authenticators.count == 1 {
      try Disable.turnOff(target: target, store: store, enrollment: enrollment)
      return
    }
    if !target.actingForOther { try Disable.confirm(enrollment) }
    do throws(FileError) {
      try store.updateEnrollment { current in current.authenticators.removeAll { $0.name == wanted } }
    } catch {
      throw CLIError("cannot save \(store.location.place): \(error.description); nothing was removed")
    }
    if target.actingForOther { AuditLog.record("removed authenticator \(name) user=\(target.account.name)") }
    print("Removed \(name); \(enrollment.authenticators.count - 1) authenticator(s) left.")
  }
}
