import ArgumentParser
import Glibc
import MFACore

/// `mfa-enroll disable`: the user removes their own enrollment after proving they hold it.
struct Disable: CLICommand {
  static let configuration = CommandConfiguration(
    abstract: "Remove your enrollment after a current code or a backup code (where the policy allows it).")

  @ParentCommand var root: MFAEnroll

  @OptionGroup var storeOptions: StoreOptions

  func perform() throws(CLIError) {
    let target = try Target.resolve(root.global)
    if target.actingForOther {
      throw CLIError("root removes another user's enrollment with: mfa-enroll --user \(target.account.name) reset")
    }
    let store = try target.secretStore(override: storeOptions.secretFile)
    let enrollment = try target.readEnrollment(store)
    try Disable.turnOff(target: target, store: store, enrollment: enrollment)
  }

  /// The policy check, a code, and the file removed (also `remove` of the last authenticator).
  static func turnOff(target: Target, store: any CredentialStore, enrollment: Enrollment) throws(CLIError) {
    let (required, reason) = Policy.requiresCode(target.account, options: target.options)
    if required {
      throw CLIError(
        "your administrator requires a second factor for your account (\(reason)); it cannot be turned off. "
          + "If you lost your phone, use a backup code, or ask them to reset your enrollment.")
    }
    try confirm(enrollment)
    do throws(FileError) {
      try store.removeEnrollment()
    } catch {
      throw CLIError("cannot remove \(store.location.place): \(error.description)")
    }
    print("Two-factor login is turned off for \(target.account.name); \(store.location.place) was removed.")
  }

  /// A current code from the app, or a backup code (which is then used up with the file anyway).
  static func confirm(_ enrollment: Enrollment) throws(CLIError) {
    _ = try CodeConfirmation.ask(
      UserText("Enter a code from your app, or a backup code: "), for: enrollment,
      accepting: FirstCode.Accepting(window: 1, hotpLookAhead: 20, backupCodes: true),
      failure: UserText("nothing was changed")
    ) { _ in Terminal.show(UserText("That code is not right.")) }
  }
}

/// `mfa-enroll --user NAME reset` (root): for a lost phone.
struct Reset: CLICommand {
  static let configuration = CommandConfiguration(
    abstract: "Remove a user's enrollment and clear their lockout and remembered hosts (root only; lost phone).")

  @ParentCommand var root: MFAEnroll

  @OptionGroup var storeOptions: StoreOptions

  func perform() throws(CLIError) {
    let target = try Target.resolve(root.global, requireRoot: true)
    guard target.actingForOther || root.global.user != nil else {
      throw CLIError("name the user: mfa-enroll --user NAME reset")
    }
    let store = try target.secretStore(override: storeOptions.secretFile)
    var removed = true
    do throws(FileError) {
      try store.removeEnrollment()
    } catch .notFound {
      removed = false
    } catch {
      throw CLIError("cannot remove \(store.location.place): \(error.description)")
    }
    do throws(FileError) {
      // The directory keeps the step watermarks: a re-enrollment cannot reuse an old code.
      if store.location.kind == .directory { try store.reset(success: nil) }
      try target.stateStore.update(user: Array(target.account.name.utf8)) { state in
        state.clearFailures()
        state.remembered = []
        // Without an enrollment, a missing file no longer means "out of reach" to the module.
        state.lastSuccess = 0
        state.seenEnrolled = 0
      }
    } catch {
      throw CLIError("removed the enrollment, but cannot clear the state: \(error.description)")
    }
    AuditLog.record("reset user=\(target.account.name) secret=\(store.location.place) removed=\(removed)")
    print(
      removed
        ? "Reset \(target.account.name): \(store.location.place) removed, lockout and remembered hosts cleared."
        : "\(target.account.name) had no enrollment (\(store.location.place)); lockout and remembered hosts cleared.")
    print("They enroll again with mfa-enroll (or at their next login where enroll=login is set).")
  }
}

/// `mfa-enroll forget`: remembered hosts (remember=) need a code again.
struct Forget: CLICommand {
  static let configuration = CommandConfiguration(
    abstract: "Make every remembered host ask for a code again (remember=).")

  @ParentCommand var root: MFAEnroll

  @OptionGroup var storeOptions: StoreOptions

  func perform() throws(CLIError) {
    let target = try Target.resolve(root.global)
    let now = Int64(time(nil))
    // The user cannot write the root-owned state: the revocation goes into their own file.
    let store = try target.secretStore(override: storeOptions.secretFile)
    do throws(FileError) {
      try store.updateEnrollment { $0.forgetBefore = now + 1 }
    } catch .notFound {
      if !target.actingForOther { throw CLIError("you are not enrolled (\(store.location.place) does not exist)") }
    } catch {
      throw CLIError("cannot update \(store.location.place): \(error.description)")
    }
    if getuid() == 0 {
      do throws(FileError) {
        try target.stateStore.update(user: Array(target.account.name.utf8)) { $0.remembered = [] }
      } catch {
        throw CLIError("cannot clear the state: \(error.description)")
      }
    }
    if target.actingForOther { AuditLog.record("forget user=\(target.account.name)") }
    print("Every remembered host of \(target.account.name) asks for a code again.")
  }
}
