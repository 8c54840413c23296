import ArgumentParser
import Glibc
import MFACore

/// `mfa-enroll backup-codes`: a new set of backup codes, replacing the old set entirely.
struct MakeBackupCodes: CLICommand {
  static let configuration = CommandConfiguration(
    commandName: "backup-codes",
    abstract: UserText("Make a new set of backup codes (the old set stops working).").string,
    discussion: UserText(
      "You confirm with a current code from your app first; root acting for another user (--user) does not."
    ).string)

  @ParentCommand var root: MFAEnroll
  @OptionGroup var backup: BackupCodeOptions

  @OptionGroup var storeOptions: StoreOptions

  func validate() throws { try backup.validate() }

  func perform() throws(CLIError) {
    let target = try Target.resolve(root.global)
    let store = try target.secretStore(override: storeOptions.secretFile)
    var enrollment = try target.readEnrollment(store)
    defer { enrollment.wipe() }
    var confirmedSteps: [Int64?] = enrollment.authenticators.map(\.confirmedStep)
    if !target.actingForOther {
      let confirmed = try CodeConfirmation.ask(
        for: enrollment, failure: UserText("the old backup codes stay as they were"))
      confirmedSteps = confirmed.authenticators.map(\.confirmedStep)
    }
    let (codes, hashes) = try backup.generate()
    do throws(FileError) {
      try store.updateEnrollment { current in
        current.backupCodes = hashes
        // The confirming code is spent, as at enrollment.
        for index in current.authenticators.indices where index < confirmedSteps.count {
          if let step = confirmedSteps[index], step > (current.authenticators[index].confirmedStep ?? -1) {
            current.authenticators[index].confirmedStep = step
          }
        }
      }
    } catch {
      throw CLIError(
        UserText(
          "cannot save %s: %s; the old backup codes stay as they were", .verbatim(store.location.place),
          .verbatim(error.description)))
    }
    if target.actingForOther { AuditLog.record("new backup codes user=\(target.account.name) count=\(codes.count)") }
    Terminal.show(
      .plural(
        "A new set of %d backup code replaced the old one.", "A new set of %d backup codes replaced the old one.",
        count: Int64(codes.count)))
    try backup.present(codes, for: target.account)
  }
}
