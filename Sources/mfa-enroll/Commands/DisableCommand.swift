import ArgumentParser
import Glibc
import MFACore

/// `mfa-enroll disable`: the user removes their own enrollment after proving they hold it.
struct Disable: CLICommand {
  static let configuration = CommandConfiguration(
    abstract: UserText("Remove your enrollment after a current code or a backup code (where the policy allows it).")
      .string)

  @ParentCommand var root: MFAEnroll

  @OptionGroup var storeOptions: StoreOptions

  func perform() throws(CLIError) {
    let target = try Target.resolve(root.global)
    if target.actingForOther {
      throw CLIError(
        UserText(
          "root removes another user's enrollment with: mfa-enroll --user %s reset", .verbatim(target.account.name)))
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
        UserText(
          "your administrator requires a second factor for your account (%s); it cannot be turned off. If you lost your phone, use a backup code, or ask them to reset your enrollment.",
          .text(reason)))
    }
    try confirm(enrollment)
    do throws(FileError) {
      try store.removeEnrollment()
    } catch {
      throw CLIError(UserText("cannot remove %s: %s", .verbatim(store.location.place), .verbatim(error.description)))
    }
    Terminal.show(
      UserText(
        "Two-factor login is turned off for %s; %s was removed.", .verbatim(target.account.name),
        .verbatim(store.location.place)))
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
    abstract: UserText(
      "Remove a user's enrollment and clear their lockout and remembered hosts (root only; lost phone)."
    ).string)

  @ParentCommand var root: MFAEnroll

  @OptionGroup var storeOptions: StoreOptions

  func perform() throws(CLIError) {
    let target = try Target.resolve(root.global, requireRoot: true)
    guard target.actingForOther || root.global.user != nil else {
      throw CLIError(UserText("name the user: mfa-enroll --user NAME reset"))
    }
    let store = try target.secretStore(override: storeOptions.secretFile)
    var removed = true
    do throws(FileError) {
      try store.removeEnrollment()
    } catch .notFound {
      removed = false
    } catch {
      throw CLIError(UserText("cannot remove %s: %s", .verbatim(store.location.place), .verbatim(error.description)))
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
      throw CLIError(
        UserText("removed the enrollment, but cannot clear the state: %s", .verbatim(error.description)))
    }
    AuditLog.record("reset user=\(target.account.name) secret=\(store.location.place) removed=\(removed)")
    let name = UserText.Value.verbatim(target.account.name)
    let place = UserText.Value.verbatim(store.location.place)
    Terminal.show(
      removed
        ? UserText("Reset %s: %s removed, lockout and remembered hosts cleared.", name, place)
        : UserText("%s had no enrollment (%s); lockout and remembered hosts cleared.", name, place))
    Terminal.show(UserText("They enroll again with mfa-enroll (or at their next login where enroll=login is set)."))
  }
}

/// `mfa-enroll forget`: remembered hosts (remember=) need a code again.
struct Forget: CLICommand {
  static let configuration = CommandConfiguration(
    abstract: UserText("Make every remembered host ask for a code again (remember=).").string)

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
      if !target.actingForOther {
        throw CLIError(UserText("you are not enrolled (%s does not exist)", .verbatim(store.location.place)))
      }
    } catch {
      throw CLIError(UserText("cannot update %s: %s", .verbatim(store.location.place), .verbatim(error.description)))
    }
    if getuid() == 0 {
      do throws(FileError) {
        try target.stateStore.update(user: Array(target.account.name.utf8)) { $0.remembered = [] }
      } catch {
        throw CLIError(UserText("cannot clear the state: %s", .verbatim(error.description)))
      }
    }
    if target.actingForOther { AuditLog.record("forget user=\(target.account.name)") }
    Terminal.show(UserText("Every remembered host of %s asks for a code again.", .verbatim(target.account.name)))
  }
}
